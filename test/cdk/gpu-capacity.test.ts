import { Match, Template } from 'aws-cdk-lib/assertions';
import { LogGroup, RetentionDays } from 'aws-cdk-lib/aws-logs';
import { beforeAll, describe, expect, it } from 'vitest';
import { ECS_AGENT_CONFIG, GpuCapacity, ROOT_VOLUME_GIB } from '../../lib/constructs/gpu-capacity.ts';
import { WorkerNetwork } from '../../lib/constructs/network.ts';
import { allowStatements, ECS_AGENT_WILDCARD_ACTIONS, testStack } from './support.ts';

const asArray = <T>(value: T | T[]): T[] => (Array.isArray(value) ? value : [value]);

function capacityTemplate(
  options: { instanceTypes?: string[]; onDemandPercent?: number; maxInstances?: number } = {},
) {
  const stack = testStack();
  const network = new WorkerNetwork(stack, 'Network', { logRetention: RetentionDays.ONE_MONTH });
  const capacity = new GpuCapacity(stack, 'GpuCapacity', {
    cluster: network.cluster,
    vpc: network.vpc,
    subnets: network.privateSubnets,
    instanceTypes: options.instanceTypes ?? ['g6.xlarge', 'g5.xlarge', 'g4dn.xlarge'],
    onDemandPercent: options.onDemandPercent ?? 0,
    maxInstances: options.maxInstances ?? 4,
  });
  const workerLogs = new LogGroup(stack, 'WorkerLogs');
  capacity.allowLogsTo(workerLogs);
  return { template: Template.fromStack(stack), stack, capacity, workerLogs };
}

describe('GpuCapacity', () => {
  let template: Template;
  let templateJson: { Parameters: Record<string, { Default?: string }> };

  beforeAll(() => {
    ({ template } = capacityTemplate());
    templateJson = template.toJSON() as typeof templateJson;
  });

  const userData = (): string => {
    const [launchTemplate] = Object.values(template.findResources('AWS::EC2::LaunchTemplate'));
    const parts = launchTemplate?.Properties.LaunchTemplateData.UserData['Fn::Base64'][
      'Fn::Join'
    ][1] as unknown[];
    return parts.map((part) => (typeof part === 'string' ? part : JSON.stringify(part))).join('');
  };

  it('launches the ECS GPU-optimized Amazon Linux 2023 AMI through its SSM parameter', () => {
    const [launchTemplate] = Object.values(template.findResources('AWS::EC2::LaunchTemplate'));
    const imageParameter = launchTemplate?.Properties.LaunchTemplateData.ImageId.Ref as string;
    expect(templateJson.Parameters[imageParameter]?.Default).toBe(
      '/aws/service/ecs/optimized-ami/amazon-linux-2023/gpu/recommended/image_id',
    );
  });

  it('requires IMDSv2 with a hop limit of 1', () => {
    template.hasResourceProperties('AWS::EC2::LaunchTemplate', {
      LaunchTemplateData: { MetadataOptions: { HttpTokens: 'required', HttpPutResponseHopLimit: 1 } },
    });
  });

  it('boots from an encrypted gp3 root volume sized for the worker image', () => {
    expect(ROOT_VOLUME_GIB).toBeGreaterThanOrEqual(40);
    template.hasResourceProperties('AWS::EC2::LaunchTemplate', {
      LaunchTemplateData: {
        BlockDeviceMappings: [
          {
            DeviceName: '/dev/xvda',
            Ebs: {
              Encrypted: true,
              VolumeType: 'gp3',
              VolumeSize: ROOT_VOLUME_GIB,
              DeleteOnTermination: true,
            },
          },
        ],
      },
    });
  });

  it('joins the cluster with spot draining on, through ecs.config', () => {
    const script = userData();
    expect(ECS_AGENT_CONFIG.ECS_ENABLE_SPOT_INSTANCE_DRAINING).toBe('true');
    expect(script).toContain('echo ECS_ENABLE_SPOT_INSTANCE_DRAINING=true >> /etc/ecs/ecs.config');
    expect(script).toContain('echo ECS_ENABLE_GPU_SUPPORT=true >> /etc/ecs/ecs.config');
    expect(script).toMatch(
      /echo ECS_CLUSTER=\{"Ref":"NetworkCluster[0-9A-F]{8}"\} >> \/etc\/ecs\/ecs.config/,
    );
  });

  it('runs one Auto Scaling group from zero over GPU xlarge types, spot by price and capacity', () => {
    template.resourceCountIs('AWS::AutoScaling::AutoScalingGroup', 1);
    template.hasResourceProperties('AWS::AutoScaling::AutoScalingGroup', {
      MinSize: '0',
      MaxSize: '4',
      CapacityRebalance: true,
      NewInstancesProtectedFromScaleIn: true,
      VPCZoneIdentifier: [
        { Ref: Match.stringLikeRegexp('^NetworkVpcPrivateSubnet1') },
        { Ref: Match.stringLikeRegexp('^NetworkVpcPrivateSubnet2') },
      ],
      MixedInstancesPolicy: {
        InstancesDistribution: {
          OnDemandBaseCapacity: 0,
          OnDemandPercentageAboveBaseCapacity: 0,
          SpotAllocationStrategy: 'price-capacity-optimized',
        },
        LaunchTemplate: {
          Overrides: [
            { InstanceType: 'g6.xlarge' },
            { InstanceType: 'g5.xlarge' },
            { InstanceType: 'g4dn.xlarge' },
          ],
        },
      },
    });
    // The desired size belongs to the capacity provider.
    const [group] = Object.values(template.findResources('AWS::AutoScaling::AutoScalingGroup'));
    expect(group?.Properties.DesiredCapacity).toBeUndefined();
  });

  it('is a capacity provider of the cluster with managed scaling, termination protection and draining', () => {
    template.hasResourceProperties('AWS::ECS::CapacityProvider', {
      AutoScalingGroupProvider: {
        AutoScalingGroupArn: { Ref: Match.stringLikeRegexp('^GpuCapacityGroupASG') },
        ManagedScaling: { Status: 'ENABLED', TargetCapacity: 100 },
        ManagedTerminationProtection: 'ENABLED',
        ManagedDraining: 'ENABLED',
      },
    });
    template.hasResourceProperties('AWS::ECS::ClusterCapacityProviderAssociations', {
      CapacityProviders: [{ Ref: Match.stringLikeRegexp('^GpuCapacityCapacityProvider') }],
    });
  });

  it('accepts no inbound traffic on the instances', () => {
    const [group] = Object.values(
      template.findResources('AWS::EC2::SecurityGroup', {
        Properties: { GroupDescription: Match.stringLikeRegexp('GPU worker instances') },
      }),
    );
    expect(group?.Properties.SecurityGroupIngress).toBeUndefined();
    template.resourceCountIs('AWS::EC2::SecurityGroupIngress', 0);
  });

  describe("the instances' role", () => {
    const statements = () =>
      allowStatements(template).filter(({ policy }) => policy.startsWith('GpuCapacityInstanceRole'));

    it('holds only its own statements, with no wildcard action', () => {
      const actions = statements().flatMap(({ statement }) => asArray(statement.Action));
      expect(actions.sort()).toEqual(
        [
          'ecs:RegisterContainerInstance',
          'ecs:DeregisterContainerInstance',
          'ecs:SubmitContainerStateChange',
          'ecs:SubmitTaskStateChange',
          'ecs:SubmitAttachmentStateChanges',
          'ecs:UpdateContainerInstancesState',
          'ecs:Poll',
          'ecs:StartTelemetrySession',
          'ecs:DiscoverPollEndpoint',
          'ecr:GetAuthorizationToken',
          'logs:CreateLogStream',
          'logs:PutLogEvents',
        ].sort(),
      );
      expect(actions.filter((action) => action.includes('*'))).toEqual([]);
    });

    it('names "*" only for the actions AWS grants on nothing else, the cluster ones pinned by condition', () => {
      const onStar = statements().filter(({ statement }) => asArray(statement.Resource).includes('*'));
      const actions = onStar.flatMap(({ statement }) => asArray(statement.Action));
      expect(actions.sort()).toEqual([...ECS_AGENT_WILDCARD_ACTIONS, 'ecr:GetAuthorizationToken'].sort());
      const clusterScoped = onStar.find(({ statement }) => asArray(statement.Action).includes('ecs:Poll'));
      expect((clusterScoped?.statement as { Condition?: unknown } | undefined)?.Condition).toEqual({
        ArnEquals: { 'ecs:cluster': { 'Fn::GetAtt': [expect.stringMatching(/^NetworkCluster/), 'Arn'] } },
      });
    });

    it('writes logs to the worker log group only', () => {
      const logs = statements().find(({ statement }) =>
        asArray(statement.Action).includes('logs:PutLogEvents'),
      )?.statement;
      expect(logs?.Resource).toEqual({ 'Fn::GetAtt': [expect.stringMatching(/^WorkerLogs/), 'Arn'] });
    });

    it('is given no managed policy and is the profile of the launch template', () => {
      const roles = template.findResources('AWS::IAM::Role', {
        Properties: {
          AssumeRolePolicyDocument: { Statement: [{ Principal: { Service: 'ec2.amazonaws.com' } }] },
        },
      });
      expect(Object.keys(roles)).toEqual([expect.stringMatching(/^GpuCapacityInstanceRole/)]);
      expect(Object.values(roles)[0]?.Properties.ManagedPolicyArns).toBeUndefined();
      template.hasResourceProperties('AWS::IAM::InstanceProfile', {
        Roles: [{ Ref: Object.keys(roles)[0] }],
      });
    });
  });

  it('takes instance types, on-demand share and size from its props', () => {
    const custom = capacityTemplate({
      instanceTypes: ['g6.2xlarge', 'g5.2xlarge'],
      onDemandPercent: 50,
      maxInstances: 10,
    }).template;
    custom.hasResourceProperties('AWS::AutoScaling::AutoScalingGroup', {
      MinSize: '0',
      MaxSize: '10',
      MixedInstancesPolicy: {
        InstancesDistribution: { OnDemandPercentageAboveBaseCapacity: 50 },
        LaunchTemplate: { Overrides: [{ InstanceType: 'g6.2xlarge' }, { InstanceType: 'g5.2xlarge' }] },
      },
    });
  });
});
