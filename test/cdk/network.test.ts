import { Stack } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import { RetentionDays } from 'aws-cdk-lib/aws-logs';
import { beforeAll, describe, expect, it } from 'vitest';
import { INTERFACE_ENDPOINT_SERVICES, VPC_CIDR, WorkerNetwork } from '../../lib/constructs/network.ts';
import { testStack } from './support.ts';

function networkTemplate(egress?: 'nat' | 'endpoints'): Template {
  const stack = testStack();
  new WorkerNetwork(stack, 'Network', { egress, logRetention: RetentionDays.TWO_WEEKS });
  return Template.fromStack(stack);
}

/** The `com.amazonaws.REGION.SERVICE` names of the template's endpoints of one type. */
function endpointServices(template: Template, type: 'Gateway' | 'Interface'): string[] {
  return Object.values(template.findResources('AWS::EC2::VPCEndpoint'))
    .filter((endpoint) => (endpoint.Properties.VpcEndpointType ?? 'Gateway') === type)
    .map((endpoint) => {
      const name: unknown = endpoint.Properties.ServiceName;
      // Some services are named through a join over the region.
      const text =
        typeof name === 'string'
          ? name
          : ((name as { 'Fn::Join': [string, unknown[]] })['Fn::Join'][1] ?? [])
              .map((part) => (typeof part === 'string' ? part : 'REGION'))
              .join('');
      return text.replace(/^com\.amazonaws\.(us-east-1|REGION)\./, '');
    })
    .sort();
}

describe('WorkerNetwork', () => {
  describe('with a NAT gateway (default)', () => {
    let template: Template;
    beforeAll(() => {
      template = networkTemplate();
    });

    it('spans two AZs with a private subnet in each, none giving public addresses', () => {
      template.resourceCountIs('AWS::EC2::VPC', 1);
      template.hasResourceProperties('AWS::EC2::VPC', { CidrBlock: VPC_CIDR });
      const subnets = Object.values(template.findResources('AWS::EC2::Subnet'));
      const privateSubnets = subnets.filter((s) => s.Properties.MapPublicIpOnLaunch === false);
      expect(privateSubnets).toHaveLength(2);
      expect(new Set(privateSubnets.map((s) => JSON.stringify(s.Properties.AvailabilityZone))).size).toBe(2);
    });

    it('leaves through one NAT gateway and reaches S3 and DynamoDB through gateway endpoints', () => {
      template.resourceCountIs('AWS::EC2::NatGateway', 1);
      expect(endpointServices(template, 'Gateway')).toEqual(['dynamodb', 's3']);
      expect(endpointServices(template, 'Interface')).toEqual([]);
      // The gateway endpoints serve the private subnets' route tables.
      template.hasResourceProperties('AWS::EC2::VPCEndpoint', {
        RouteTableIds: Match.arrayWith([
          { Ref: Match.stringLikeRegexp('NetworkVpcPrivateSubnet1RouteTable') },
        ]),
      });
    });

    it('runs an ECS cluster with Container Insights, which the scaling alarms read', () => {
      template.resourceCountIs('AWS::ECS::Cluster', 1);
      template.hasResourceProperties('AWS::ECS::Cluster', {
        ClusterSettings: [{ Name: 'containerInsights', Value: 'enabled' }],
      });
    });

    it('logs rejected traffic to a log group with retention', () => {
      template.hasResourceProperties('AWS::EC2::FlowLog', { TrafficType: 'REJECT' });
      template.hasResourceProperties('AWS::Logs::LogGroup', { RetentionInDays: 14 });
    });
  });

  describe('with interface endpoints', () => {
    let template: Template;
    beforeAll(() => {
      template = networkTemplate('endpoints');
    });

    it('has no route out of the VPC', () => {
      template.resourceCountIs('AWS::EC2::NatGateway', 0);
      template.resourceCountIs('AWS::EC2::InternetGateway', 0);
    });

    it('reaches SQS, SNS, ECR, logs and ECS through private endpoints', () => {
      const services = Object.values(INTERFACE_ENDPOINT_SERVICES).map((service) =>
        Stack.of(testStack()).resolve(service.shortName),
      );
      expect(services).toEqual(
        expect.arrayContaining([
          'sqs',
          'sns',
          'ecr.api',
          'ecr.dkr',
          'logs',
          'ecs',
          'ecs-agent',
          'ecs-telemetry',
        ]),
      );
      expect(endpointServices(template, 'Interface')).toEqual([...services].sort());
      for (const endpoint of Object.values(
        template.findResources('AWS::EC2::VPCEndpoint', { Properties: { VpcEndpointType: 'Interface' } }),
      )) {
        expect(endpoint.Properties.PrivateDnsEnabled).toBe(true);
      }
    });

    it('opens the endpoints to HTTPS from inside the VPC only', () => {
      const groups = Object.values(template.findResources('AWS::EC2::SecurityGroup'));
      expect(groups).toHaveLength(Object.keys(INTERFACE_ENDPOINT_SERVICES).length);
      for (const group of groups) {
        expect(group.Properties.SecurityGroupIngress).toEqual([
          expect.objectContaining({ CidrIp: VPC_CIDR, FromPort: 443, ToPort: 443, IpProtocol: 'tcp' }),
        ]);
      }
    });
  });
});
