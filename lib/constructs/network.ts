import { RemovalPolicy } from 'aws-cdk-lib';
import {
  FlowLogDestination,
  FlowLogTrafficType,
  GatewayVpcEndpointAwsService,
  InterfaceVpcEndpointAwsService,
  IpAddresses,
  Peer,
  type SubnetSelection,
  SubnetType,
  Vpc,
} from 'aws-cdk-lib/aws-ec2';
import { Cluster, ContainerInsights } from 'aws-cdk-lib/aws-ecs';
import { LogGroup, type RetentionDays } from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';

/** The VPC's address range, a literal so security group rules can name it. */
export const VPC_CIDR = '10.40.0.0/16';

/** How the private subnets reach the AWS APIs that have no gateway endpoint. */
export type Egress = 'nat' | 'endpoints';

/** The AWS APIs the worker instances and tasks call besides S3 and DynamoDB. */
export const INTERFACE_ENDPOINT_SERVICES = {
  Sqs: InterfaceVpcEndpointAwsService.SQS,
  Sns: InterfaceVpcEndpointAwsService.SNS,
  // Image pulls: the registry API and the Docker endpoint; the layers come from S3.
  Ecr: InterfaceVpcEndpointAwsService.ECR,
  EcrDocker: InterfaceVpcEndpointAwsService.ECR_DOCKER,
  Logs: InterfaceVpcEndpointAwsService.CLOUDWATCH_LOGS,
  // The ECS agent: the control plane, its polling endpoint and Container Insights telemetry.
  Ecs: InterfaceVpcEndpointAwsService.ECS,
  EcsAgent: InterfaceVpcEndpointAwsService.ECS_AGENT,
  EcsTelemetry: InterfaceVpcEndpointAwsService.ECS_TELEMETRY,
} as const;

export interface WorkerNetworkProps {
  /**
   * `nat`: one NAT gateway (one AZ: it is the cheapest way out, and a lost AZ only delays work,
   * which waits in SQS). `endpoints`: no route out at all, an interface endpoint per API in both
   * AZs (about four times the idle cost of the NAT gateway).
   * @default 'nat'
   */
  readonly egress?: Egress;
  /** Retention of the VPC's rejected-traffic flow logs. */
  readonly logRetention: RetentionDays;
}

/**
 * Where the GPU workers run: a VPC over two AZs whose instances sit in private subnets, and the
 * ECS cluster. S3 and DynamoDB, the bulk of the worker's traffic (image layers included), go
 * through free gateway endpoints whatever the egress.
 *
 * Container Insights is on: the scaling alarms divide the backlog by the service's task count,
 * which only Container Insights publishes.
 */
export class WorkerNetwork extends Construct {
  readonly vpc: Vpc;
  readonly cluster: Cluster;
  /** The private subnets the instances and the EFS mount targets use. */
  readonly privateSubnets: SubnetSelection;
  readonly flowLogs: LogGroup;

  constructor(scope: Construct, id: string, props: WorkerNetworkProps) {
    super(scope, id);
    const egress = props.egress ?? 'nat';
    const privateType = egress === 'nat' ? SubnetType.PRIVATE_WITH_EGRESS : SubnetType.PRIVATE_ISOLATED;
    this.privateSubnets = { subnetType: privateType };

    this.flowLogs = new LogGroup(this, 'FlowLogs', {
      retention: props.logRetention,
      removalPolicy: RemovalPolicy.DESTROY,
    });
    this.vpc = new Vpc(this, 'Vpc', {
      ipAddresses: IpAddresses.cidr(VPC_CIDR),
      maxAzs: 2,
      natGateways: egress === 'nat' ? 1 : 0,
      subnetConfiguration: [
        // Only the NAT gateway lives in a public subnet; nothing else gets a public address.
        ...(egress === 'nat' ? [{ name: 'Public', subnetType: SubnetType.PUBLIC, cidrMask: 24 }] : []),
        { name: 'Private', subnetType: privateType, cidrMask: 20 },
      ],
      gatewayEndpoints: {
        S3: { service: GatewayVpcEndpointAwsService.S3, subnets: [this.privateSubnets] },
        DynamoDb: { service: GatewayVpcEndpointAwsService.DYNAMODB, subnets: [this.privateSubnets] },
      },
      flowLogs: {
        // Rejected traffic only: enough to debug a missing route or security group, cheap to keep.
        Rejected: {
          destination: FlowLogDestination.toCloudWatchLogs(this.flowLogs),
          trafficType: FlowLogTrafficType.REJECT,
        },
      },
    });

    if (egress === 'endpoints') {
      for (const [name, service] of Object.entries(INTERFACE_ENDPOINT_SERVICES)) {
        const endpoint = this.vpc.addInterfaceEndpoint(name, {
          service,
          subnets: this.privateSubnets,
          privateDnsEnabled: true,
          open: false,
        });
        endpoint.connections.allowDefaultPortFrom(Peer.ipv4(VPC_CIDR), 'HTTPS from inside the VPC');
      }
    }

    this.cluster = new Cluster(this, 'Cluster', {
      vpc: this.vpc,
      containerInsightsV2: ContainerInsights.ENABLED,
    });
  }
}
