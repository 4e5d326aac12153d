import { Stack, Validations } from 'aws-cdk-lib';
import { AutoScalingGroup, SpotAllocationStrategy } from 'aws-cdk-lib/aws-autoscaling';
import {
  BlockDeviceVolume,
  EbsDeviceVolumeType,
  InstanceType,
  type IVpc,
  LaunchTemplate,
  LaunchTemplateHttpTokens,
  SecurityGroup,
  type SubnetSelection,
  UserData,
} from 'aws-cdk-lib/aws-ec2';
import {
  AmiHardwareType,
  AsgCapacityProvider,
  type Cluster,
  EcsOptimizedImage,
  MachineImageType,
} from 'aws-cdk-lib/aws-ecs';
import { PolicyStatement, Role, ServicePrincipal } from 'aws-cdk-lib/aws-iam';
import type { ILogGroup } from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';

/**
 * Root volume of a worker instance. The worker image (CUDA runtime with cuDNN, TensorRT, the
 * onnxruntime GPU providers and the models) unpacks to roughly 12 GiB; a deploy keeps the old
 * and the new image side by side, and the AMI itself takes about 10 GiB.
 */
export const ROOT_VOLUME_GIB = 60;

/** The ECS agent's settings, appended to /etc/ecs/ecs.config at boot. */
export const ECS_AGENT_CONFIG = {
  // The agent drains the instance when EC2 announces a spot interruption (two minutes ahead),
  // so the worker gets its SIGTERM and stop timeout instead of dying with the instance.
  ECS_ENABLE_SPOT_INSTANCE_DRAINING: 'true',
  // The GPU AMI sets this too; stated here so the GPU reservation never depends on the AMI's file.
  ECS_ENABLE_GPU_SUPPORT: 'true',
} as const;

/**
 * A string as cdk-nag writes it inside a finding id: references as `<LogicalId>` or
 * `<LogicalId.Attribute>`, pseudo parameters as `<AWS::Region>`; literal where the stack's
 * environment is known.
 */
export function nagText(scope: Construct, value: string): string {
  const render = (part: unknown): string => {
    if (typeof part === 'string' || typeof part === 'number') return String(part);
    const intrinsic = part as Record<string, unknown>;
    if (typeof intrinsic.Ref === 'string') return `<${intrinsic.Ref}>`;
    if (Array.isArray(intrinsic['Fn::GetAtt'])) return `<${intrinsic['Fn::GetAtt'].join('.')}>`;
    const join = intrinsic['Fn::Join'];
    if (Array.isArray(join)) return (join[1] as unknown[]).map(render).join(String(join[0]));
    return JSON.stringify(part);
  };
  return render(Stack.of(scope).resolve(value));
}

export interface GpuCapacityProps {
  readonly cluster: Cluster;
  readonly vpc: IVpc;
  readonly subnets: SubnetSelection;
  /** GPU instance types of one size, in order of preference for on-demand. */
  readonly instanceTypes: readonly string[];
  /** Percent of instances bought on demand; the rest are spot. */
  readonly onDemandPercent: number;
  /** Most instances at once: one worker task per instance. */
  readonly maxInstances: number;
}

/**
 * The EC2 GPU capacity of the cluster: a launch template on the ECS GPU-optimized Amazon Linux
 * 2023 AMI (resolved through its public SSM parameter at deploy time, so synth needs no account),
 * one Auto Scaling group from zero instances over several GPU types, spot first, and an ECS
 * capacity provider that starts and stops instances as tasks need them.
 *
 * The instances' role is written here statement by statement (the cluster's generic additions,
 * which include log writes on `*`, are dropped): see {@link GpuCapacity.instanceRole}.
 */
export class GpuCapacity extends Construct {
  readonly launchTemplate: LaunchTemplate;
  readonly autoScalingGroup: AutoScalingGroup;
  readonly capacityProvider: AsgCapacityProvider;
  readonly securityGroup: SecurityGroup;
  /** What the ECS agent and Docker on the instances may do; the tasks have roles of their own. */
  readonly instanceRole: Role;

  constructor(scope: Construct, id: string, props: GpuCapacityProps) {
    super(scope, id);
    const { cluster } = props;

    this.instanceRole = new Role(this, 'InstanceRole', {
      assumedBy: new ServicePrincipal('ec2.amazonaws.com'),
      description: 'ECS agent on the GPU worker instances',
    });
    const containerInstances = Stack.of(this).formatArn({
      service: 'ecs',
      resource: 'container-instance',
      resourceName: `${cluster.clusterName}/*`,
    });
    this.instanceRole.addToPolicy(
      new PolicyStatement({
        sid: 'JoinTheCluster',
        actions: [
          'ecs:RegisterContainerInstance',
          'ecs:DeregisterContainerInstance',
          'ecs:SubmitContainerStateChange',
          'ecs:SubmitTaskStateChange',
          'ecs:SubmitAttachmentStateChanges',
        ],
        resources: [cluster.clusterArn],
      }),
    );
    this.instanceRole.addToPolicy(
      new PolicyStatement({
        // The agent marks its own instance DRAINING on a spot interruption notice.
        sid: 'DrainOwnInstance',
        actions: ['ecs:UpdateContainerInstancesState'],
        resources: [containerInstances],
      }),
    );
    this.instanceRole.addToPolicy(
      new PolicyStatement({
        // AWS requires "*" for these: Poll and StartTelemetrySession name no resource, only the
        // cluster in a condition key, which pins them to this cluster.
        sid: 'AgentSessionsInThisCluster',
        actions: ['ecs:Poll', 'ecs:StartTelemetrySession'],
        resources: ['*'],
        conditions: { ArnEquals: { 'ecs:cluster': cluster.clusterArn } },
      }),
    );
    this.instanceRole.addToPolicy(
      new PolicyStatement({
        // AWS requires "*" for these: neither action supports resource-level permissions. Neither
        // reads data: one returns the agent's endpoint, the other a registry login that can pull
        // nothing without the execution role's repository grants.
        sid: 'AgentEndpointAndRegistryLogin',
        actions: ['ecs:DiscoverPollEndpoint', 'ecr:GetAuthorizationToken'],
        resources: ['*'],
      }),
    );

    this.securityGroup = new SecurityGroup(this, 'SecurityGroup', {
      vpc: props.vpc,
      description: 'GPU worker instances: no inbound; outbound to AWS APIs and EFS',
      allowAllOutbound: true,
    });

    const userData = UserData.forLinux();
    userData.addCommands(
      ...Object.entries(ECS_AGENT_CONFIG).map(
        ([key, value]) => `echo ${key}=${value} >> /etc/ecs/ecs.config`,
      ),
    );
    this.launchTemplate = new LaunchTemplate(this, 'LaunchTemplate', {
      machineImage: EcsOptimizedImage.amazonLinux2023(AmiHardwareType.GPU),
      userData,
      // The cluster appends its own statements through the group's role; an immutable view keeps
      // them out, so the role holds exactly the statements above.
      role: this.instanceRole.withoutPolicyUpdates(),
      securityGroup: this.securityGroup,
      requireImdsv2: true,
      httpTokens: LaunchTemplateHttpTokens.REQUIRED,
      // One hop: containers on the bridge network are a hop further and cannot reach the
      // metadata service, so they never see the instance's credentials.
      httpPutResponseHopLimit: 1,
      blockDevices: [
        {
          deviceName: '/dev/xvda',
          volume: BlockDeviceVolume.ebs(ROOT_VOLUME_GIB, {
            volumeType: EbsDeviceVolumeType.GP3,
            encrypted: true,
            deleteOnTermination: true,
          }),
        },
      ],
    });

    this.autoScalingGroup = new AutoScalingGroup(this, 'Group', {
      vpc: props.vpc,
      vpcSubnets: props.subnets,
      minCapacity: 0,
      maxCapacity: props.maxInstances,
      mixedInstancesPolicy: {
        launchTemplate: this.launchTemplate,
        launchTemplateOverrides: props.instanceTypes.map((type) => ({
          instanceType: new InstanceType(type),
        })),
        instancesDistribution: {
          onDemandBaseCapacity: 0,
          onDemandPercentageAboveBaseCapacity: props.onDemandPercent,
          // Spot from the pools least likely to be interrupted, among the cheaper ones.
          spotAllocationStrategy: SpotAllocationStrategy.PRICE_CAPACITY_OPTIMIZED,
        },
      },
      // Replace a spot instance at risk before it is interrupted.
      capacityRebalance: true,
    });

    this.capacityProvider = new AsgCapacityProvider(this, 'CapacityProvider', {
      autoScalingGroup: this.autoScalingGroup,
      machineImageType: MachineImageType.AMAZON_LINUX_2,
      enableManagedScaling: true,
      enableManagedTerminationProtection: true,
      enableManagedDraining: true,
      targetCapacityPercent: 100,
    });
    cluster.addAsgCapacityProvider(this.capacityProvider);

    Validations.of(this.instanceRole).acknowledge(
      {
        id: 'AwsSolutions-IAM5[Resource::*]',
        reason:
          'ecs:Poll and ecs:StartTelemetrySession take "*" with the ecs:cluster condition on this cluster; ecs:DiscoverPollEndpoint and ecr:GetAuthorizationToken support no resource-level permissions',
      },
      {
        id: `AwsSolutions-IAM5[Resource::${nagText(this, containerInstances)}]`,
        reason:
          'Container instances of this cluster only (their ids exist once instances boot): the agent marks its own instance DRAINING on a spot interruption',
      },
    );
    Validations.of(this.autoScalingGroup).acknowledge(
      {
        id: 'AwsSolutions-EC26',
        reason:
          'The rule cannot read a mixed-instances launch template; its one block device is an encrypted gp3 volume (test/cdk/gpu-capacity.test.ts checks it)',
      },
      {
        id: 'AwsSolutions-AS3',
        reason:
          "ECS's capacity provider starts and stops these instances to follow the tasks; the worker service's scaling alarms and the observability alarms report what matters, per-instance notifications would only repeat them",
      },
    );
  }

  /**
   * Lets Docker on the instances ship container logs to this group: on EC2 the awslogs driver
   * writes with the instance's credentials.
   */
  allowLogsTo(logGroup: ILogGroup): void {
    logGroup.grantWrite(this.instanceRole);
  }
}
