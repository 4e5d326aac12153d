import { readFileSync } from 'node:fs';
import type { Stack } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import { AssetManifestArtifact } from 'aws-cdk-lib/cx-api';
import { beforeAll, describe, expect, it } from 'vitest';
import { pipelineEnvironment } from '../../lib/constructs/lambda-function.ts';
import {
  DRAIN_SECONDS,
  HEALTH_FILE,
  MEMORY_LIMIT_MIB,
  MEMORY_RESERVATION_MIB,
  STOP_TIMEOUT_SECONDS,
  TRT_CACHE_DIR,
  WORKER_UID,
} from '../../lib/constructs/worker-service.ts';
import { fleetStack } from './fleet-support.ts';
import { allowStatements } from './support.ts';

const asArray = <T>(value: T | T[] | undefined): T[] =>
  value === undefined ? [] : Array.isArray(value) ? value : [value];

interface Container {
  Environment: { Name: string; Value: unknown }[];
  [key: string]: unknown;
}

describe('WorkerService', () => {
  let fleet: ReturnType<typeof fleetStack>;
  let template: Template;
  let container: Container;

  beforeAll(() => {
    fleet = fleetStack();
    template = Template.fromStack(fleet.stack);
    const [taskDefinition] = Object.values(template.findResources('AWS::ECS::TaskDefinition'));
    [container] = (taskDefinition?.Properties.ContainerDefinitions ?? []) as [Container];
  });

  const environment = () =>
    Object.fromEntries(container.Environment.map(({ Name, Value }) => [Name, Value])) as Record<
      string,
      unknown
    >;

  it('reserves one GPU and memory for the engine', () => {
    expect(container.ResourceRequirements).toEqual([{ Type: 'GPU', Value: '1' }]);
    expect(container.MemoryReservation).toBe(MEMORY_RESERVATION_MIB);
    expect(container.Memory).toBe(MEMORY_LIMIT_MIB);
    // Both fit the 16 GiB of a GPU xlarge instance with room for the agent and the OS.
    expect(MEMORY_LIMIT_MIB).toBeLessThanOrEqual(15 * 1024);
    expect(MEMORY_RESERVATION_MIB).toBeLessThan(MEMORY_LIMIT_MIB);
  });

  it("stops after the worker's drain grace period: 120 s, ECS's maximum", () => {
    expect(container.StopTimeout).toBe(120);
    expect(STOP_TIMEOUT_SECONDS).toBe(120);
    expect(environment().OCRQ_WORKER_DRAIN_SECONDS).toBe(String(DRAIN_SECONDS));
    expect(DRAIN_SECONDS).toBeLessThan(STOP_TIMEOUT_SECONDS);
  });

  it('checks the health file the worker touches', () => {
    expect(container.HealthCheck).toEqual({
      Command: [
        'CMD-SHELL',
        `node -e "const s=require('fs').statSync(process.env.OCRQ_HEALTH_FILE);process.exit(Date.now()-s.mtimeMs<90000?0:1)"`,
      ],
      Interval: 30,
      Timeout: 5,
      Retries: 3,
      StartPeriod: 300,
    });
  });

  it("hands the worker the functions' environment plus its own", () => {
    const stackEnv = fleet.stack.resolve(
      pipelineEnvironment(fleet.resources, { limits: { chunkPages: fleet.settings.chunkPages } }),
    );
    expect(environment()).toMatchObject(stackEnv);
    expect(environment()).toMatchObject({
      AWS_REGION: { Ref: 'AWS::Region' },
      OCRQ_EXECUTION_PROVIDERS: 'tensorrt,cuda,cpu',
      OCRQ_HEALTH_FILE: HEALTH_FILE,
      OCRQ_TRT_CACHE_DIR: TRT_CACHE_DIR,
      OCRQ_CHUNK_PAGES: '8',
      POWERTOOLS_SERVICE_NAME: 'gpu-worker',
      OCRQ_TABLE_NAME: { Ref: expect.stringMatching(/^JobsTable/) },
      OCRQ_EXPRESS_QUEUE_URL: { Ref: expect.stringMatching(/^QueuesExpress/) },
    });
    // Spot draining is the ECS agent's setting, on the instance, not the task's.
    expect(environment().ECS_ENABLE_SPOT_INSTANCE_DRAINING).toBeUndefined();
  });

  it('logs through awslogs to a group with retention', () => {
    expect(container.LogConfiguration).toMatchObject({
      LogDriver: 'awslogs',
      Options: {
        'awslogs-group': { Ref: expect.stringMatching(/^WorkerLogs/) },
        'awslogs-stream-prefix': 'worker',
        mode: 'non-blocking',
      },
    });
    template.hasResourceProperties('AWS::Logs::LogGroup', { RetentionInDays: 30 });
  });

  it('mounts the TensorRT engine cache from EFS with TLS, IAM and an access point for the worker uid', () => {
    template.hasResourceProperties('AWS::ECS::TaskDefinition', {
      Volumes: [
        {
          Name: 'trt-engines',
          EFSVolumeConfiguration: {
            FilesystemId: { Ref: Match.stringLikeRegexp('^WorkerEngineCache') },
            TransitEncryption: 'ENABLED',
            AuthorizationConfig: {
              AccessPointId: { Ref: Match.stringLikeRegexp('^WorkerEngineCacheWorkerAccess') },
              IAM: 'ENABLED',
            },
          },
        },
      ],
    });
    expect(container.MountPoints).toEqual([
      { ContainerPath: TRT_CACHE_DIR, SourceVolume: 'trt-engines', ReadOnly: false },
    ]);
    template.hasResourceProperties('AWS::EFS::FileSystem', {
      Encrypted: true,
      FileSystemPolicy: {
        Statement: Match.arrayWith([
          Match.objectLike({ Effect: 'Deny', Condition: { Bool: { 'aws:SecureTransport': 'false' } } }),
        ]),
      },
    });
    template.hasResourceProperties('AWS::EFS::AccessPoint', {
      PosixUser: { Uid: WORKER_UID, Gid: WORKER_UID },
      RootDirectory: { CreationInfo: { OwnerUid: WORKER_UID, OwnerGid: WORKER_UID, Permissions: '750' } },
    });
    // NFS from the instances' security group only.
    template.hasResourceProperties('AWS::EC2::SecurityGroupIngress', {
      IpProtocol: 'tcp',
      FromPort: 2049,
      ToPort: 2049,
      SourceSecurityGroupId: {
        'Fn::GetAtt': [Match.stringLikeRegexp('^GpuCapacitySecurityGroup'), 'GroupId'],
      },
    });
  });

  it('runs as a service at zero tasks on the GPU capacity provider, with the circuit breaker', () => {
    template.hasResourceProperties('AWS::ECS::Service', {
      DesiredCount: 0,
      CapacityProviderStrategy: [
        { CapacityProvider: { Ref: Match.stringLikeRegexp('^GpuCapacityCapacityProvider') }, Weight: 1 },
      ],
      DeploymentConfiguration: {
        DeploymentCircuitBreaker: { Enable: true, Rollback: true },
        MinimumHealthyPercent: 100,
        MaximumPercent: 200,
      },
    });
  });

  it('is created after the capacity provider joins the cluster, and deleted before it leaves', () => {
    const [association] = Object.keys(
      template.findResources('AWS::ECS::ClusterCapacityProviderAssociations'),
    );
    const [service] = Object.values(template.findResources('AWS::ECS::Service'));
    expect(association).toBeDefined();
    expect(service?.DependsOn).toContain(association);
  });

  it('pulls the image and writes logs with an execution role scoped to them', () => {
    const statements = allowStatements(template)
      .filter(({ policy }) => policy.startsWith('WorkerTaskDefinitionExecutionRole'))
      .map(({ statement }) => statement);
    expect(statements).toEqual([
      expect.objectContaining({
        Action: ['ecr:BatchCheckLayerAvailability', 'ecr:BatchGetImage', 'ecr:GetDownloadUrlForLayer'],
        Resource: expect.stringMatching(/:repository\/cdk-[a-z0-9]+-container-assets-/),
      }),
      // AWS grants the registry login on "*" only; it reads no image by itself.
      expect.objectContaining({ Action: 'ecr:GetAuthorizationToken', Resource: '*' }),
      expect.objectContaining({
        Action: ['logs:CreateLogStream', 'logs:PutLogEvents'],
        Resource: { 'Fn::GetAtt': [expect.stringMatching(/^WorkerLogs/), 'Arn'] },
      }),
    ]);
  });

  it('builds the image from gpu-worker/Dockerfile at the repository root for linux/amd64', () => {
    const assembly = fleet.app.synth();
    const manifests = assembly.artifacts.filter(
      (artifact): artifact is AssetManifestArtifact => artifact instanceof AssetManifestArtifact,
    );
    const images = manifests.flatMap((manifest) =>
      Object.values(
        (
          JSON.parse(readFileSync(manifest.file, 'utf8')) as {
            dockerImages?: Record<string, { source: unknown }>;
          }
        ).dockerImages ?? {},
      ),
    );
    expect(images.map((image) => image.source)).toEqual([
      expect.objectContaining({ dockerFile: 'gpu-worker/Dockerfile', platform: 'linux/amd64' }),
    ]);
  });

  describe('the task role', () => {
    let roleId: string;
    const statements = () =>
      allowStatements(template)
        .filter(({ policy }) => policy.startsWith(roleId))
        .map(({ statement }) => statement as typeof statement & { Condition?: unknown });
    const grantsOn = (resourcePattern: RegExp) =>
      statements()
        .filter((statement) =>
          asArray(statement.Resource).some((r) => resourcePattern.test(JSON.stringify(r))),
        )
        .flatMap((statement) => asArray(statement.Action));

    beforeAll(() => {
      // The role's policy is named after the role, without the role's own hash.
      roleId = (fleet.stack as Stack)
        .getLogicalId(
          fleet.worker.taskDefinition.taskRole.node.defaultChild as Parameters<Stack['getLogicalId']>[0],
        )
        .replace(/[0-9A-F]{8}$/, '');
    });

    it('names no "*" action and no "*" resource', () => {
      expect(statements().length).toBeGreaterThan(0);
      for (const statement of statements()) {
        expect(asArray(statement.Resource)).not.toContain('*');
        expect(asArray(statement.Action)).not.toContain('*');
        for (const action of asArray(statement.Action)) expect(action).not.toMatch(/^[a-z0-9-]+:\*$/);
      }
    });

    it('consumes the two work queues and nothing else of SQS', () => {
      const sqs = statements().filter((s) => asArray(s.Action).some((a) => a.startsWith('sqs:')));
      const queues = sqs.flatMap((s) => asArray(s.Resource)).map((r) => JSON.stringify(r));
      expect(queues.sort()).toEqual([
        expect.stringMatching(/QueuesBulk[0-9A-F]{8}"/),
        expect.stringMatching(/QueuesExpress[0-9A-F]{8}"/),
      ]);
      const actions = sqs.flatMap((s) => asArray(s.Action));
      expect(actions).toEqual(
        expect.arrayContaining(['sqs:ReceiveMessage', 'sqs:DeleteMessage', 'sqs:ChangeMessageVisibility']),
      );
      expect(actions).not.toContain('sqs:SendMessage');
    });

    it('reads inputs/*, reads and writes results/*, and deletes nothing', () => {
      const inputs = grantsOn(/\/inputs\/\*/);
      const results = grantsOn(/\/results\/\*/);
      expect(inputs).toEqual(expect.arrayContaining(['s3:GetObject*']));
      expect(inputs.filter((a) => a.startsWith('s3:Put'))).toEqual([]);
      expect(results).toEqual(expect.arrayContaining(['s3:GetObject*', 's3:PutObject']));
      const everything = statements().flatMap((s) => asArray(s.Action));
      expect(everything.filter((a) => /^s3:Delete/.test(a))).toEqual([]);
    });

    it('updates the job table, publishes events and uses the keys of the bucket and topic', () => {
      expect(grantsOn(/JobsTable/)).toEqual(
        expect.arrayContaining(['dynamodb:UpdateItem', 'dynamodb:GetItem', 'dynamodb:Query']),
      );
      expect(grantsOn(/NotificationsEvents/)).toEqual(['sns:Publish']);
      expect(grantsOn(/StorageKey/)).toEqual(expect.arrayContaining(['kms:Decrypt', 'kms:GenerateDataKey*']));
      expect(grantsOn(/NotificationsKey/)).toEqual(expect.arrayContaining(['kms:GenerateDataKey*']));
    });

    it("turns scale-in protection on and off for the cluster's tasks only", () => {
      const protection = statements().find((s) => asArray(s.Action).includes('ecs:UpdateTaskProtection'));
      expect(asArray(protection?.Action)).toEqual(['ecs:UpdateTaskProtection']);
      expect(protection?.Resource).toEqual({
        'Fn::Join': [
          '',
          [
            'arn:aws:ecs:us-east-1:123456789012:task/',
            { Ref: expect.stringMatching(/^NetworkCluster/) },
            '/*',
          ],
        ],
      });
    });

    it('mounts the engine cache only through its access point', () => {
      const efs = statements().find((s) => asArray(s.Action).includes('elasticfilesystem:ClientMount'));
      expect(asArray(efs?.Action).sort()).toEqual([
        'elasticfilesystem:ClientMount',
        'elasticfilesystem:ClientWrite',
      ]);
      expect(efs?.Resource).toEqual({ 'Fn::GetAtt': [expect.stringMatching(/^WorkerEngineCache/), 'Arn'] });
      expect(efs?.Condition).toEqual({
        StringEquals: {
          'elasticfilesystem:AccessPointArn': {
            'Fn::Join': [
              '',
              [
                'arn:aws:elasticfilesystem:us-east-1:123456789012:access-point/',
                { Ref: expect.stringMatching(/^WorkerEngineCacheWorkerAccess/) },
              ],
            ],
          },
        },
      });
    });
  });

  it('takes the execution providers and log retention from its settings', () => {
    const custom = fleetStack({ executionProviders: 'cuda,cpu', logRetentionDays: 7 });
    const customTemplate = Template.fromStack(custom.stack);
    customTemplate.hasResourceProperties('AWS::ECS::TaskDefinition', {
      ContainerDefinitions: [
        Match.objectLike({
          Environment: Match.arrayWith([{ Name: 'OCRQ_EXECUTION_PROVIDERS', Value: 'cuda,cpu' }]),
        }),
      ],
    });
    customTemplate.hasResourceProperties('AWS::Logs::LogGroup', { RetentionInDays: 7 });
  });
});
