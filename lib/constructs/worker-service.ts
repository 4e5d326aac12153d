import { fileURLToPath } from 'node:url';
import { Aws, Duration, RemovalPolicy, Validations } from 'aws-cdk-lib';
import type { IVpc, SubnetSelection } from 'aws-cdk-lib/aws-ec2';
import { Platform } from 'aws-cdk-lib/aws-ecr-assets';
import {
  AwsLogDriverMode,
  type Cluster,
  type ContainerDefinition,
  ContainerImage,
  Ec2Service,
  Ec2TaskDefinition,
  LinuxParameters,
  LogDrivers,
  NetworkMode,
  PropagatedTagSource,
} from 'aws-cdk-lib/aws-ecs';
import { type AccessPoint, FileSystem, ThroughputMode } from 'aws-cdk-lib/aws-efs';
import { AnyPrincipal, Effect, PolicyStatement } from 'aws-cdk-lib/aws-iam';
import { LogGroup, type RetentionDays } from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';
import { METRICS_NAMESPACE, WORKER_SERVICE } from '../../lambdas/shared/metric-names.ts';
import { type GpuCapacity, nagText } from './gpu-capacity.ts';
import { type PipelineResources, type PipelineSettings, pipelineEnvironment } from './lambda-function.ts';
import { KEY_PREFIXES } from './storage.ts';

const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));

/** The image's user (gpu-worker/Dockerfile): owner of the TensorRT cache on EFS. */
export const WORKER_UID = '10001';
/** Where the worker looks for built TensorRT engines: the EFS volume's mount point. */
export const TRT_CACHE_DIR = '/var/cache/ocr/trt';
export const HEALTH_FILE = '/tmp/ocr-worker.alive';
/**
 * ECS's ceiling for a container's stop timeout: the time between SIGTERM and SIGKILL. A spot
 * interruption gives two minutes, so this is also all the time there is.
 */
export const STOP_TIMEOUT_SECONDS = 120;
/** The worker's own grace period after SIGTERM, ten seconds short of the kill to flush and exit. */
export const DRAIN_SECONDS = 110;

/**
 * Memory of the worker container. Placement reserves the soft limit, which no other task of the
 * service fits beside on a 16 GiB xlarge instance (one GPU each anyway); the hard limit leaves
 * the ECS agent and the OS about 1.5 GiB. The engine holds two engine threads' ONNX sessions,
 * the CUDA/TensorRT host-side state and a batch of up to 32 decoded pages (960 px, float32,
 * about 11 MiB each) in flight twice.
 */
export const MEMORY_RESERVATION_MIB = 8192;
export const MEMORY_LIMIT_MIB = 14_336;
/** CPU units (1024 a vCPU) reserved of the xlarge's 4 vCPUs: decoding and PDF rendering. */
export const CPU_UNITS = 3072;

/**
 * The container health check: the worker touches the health file every 15 s while its loop is
 * healthy and stops when a message hangs, so a file older than 90 s means a stuck worker. ECS
 * ignores the Dockerfile's HEALTHCHECK; the start period covers model loading (TensorRT engine
 * builds are cached on EFS after the first task).
 */
export const HEALTH_CHECK = {
  command: [
    'CMD-SHELL',
    `node -e "const s=require('fs').statSync(process.env.OCRQ_HEALTH_FILE);process.exit(Date.now()-s.mtimeMs<90000?0:1)"`,
  ],
  interval: Duration.seconds(30),
  timeout: Duration.seconds(5),
  retries: 3,
  startPeriod: Duration.seconds(300),
};

export interface WorkerServiceProps {
  readonly cluster: Cluster;
  readonly vpc: IVpc;
  /** Subnets of the EFS mount targets: the instances' subnets. */
  readonly subnets: SubnetSelection;
  readonly capacity: GpuCapacity;
  readonly resources: PipelineResources;
  readonly settings?: PipelineSettings;
  /** `OCRQ_EXECUTION_PROVIDERS`, e.g. `tensorrt,cuda,cpu`. */
  readonly executionProviders: string;
  readonly logRetention: RetentionDays;
}

/**
 * The GPU worker as an ECS service on the cluster's GPU capacity provider: the image built from
 * `gpu-worker/Dockerfile`, one GPU per task, a log group with retention, the TensorRT engine
 * cache on EFS and a task role that can do exactly what the worker does. The service starts at
 * zero tasks; {@link WorkerScaling} moves it.
 */
export class WorkerService extends Construct {
  readonly service: Ec2Service;
  readonly taskDefinition: Ec2TaskDefinition;
  readonly container: ContainerDefinition;
  readonly logGroup: LogGroup;
  /** Built TensorRT engines, shared by every task so only the first one pays for the build. */
  readonly engineCache: FileSystem;
  readonly engineCacheAccessPoint: AccessPoint;

  constructor(scope: Construct, id: string, props: WorkerServiceProps) {
    super(scope, id);
    const { resources } = props;

    this.logGroup = new LogGroup(this, 'Logs', {
      retention: props.logRetention,
      removalPolicy: RemovalPolicy.DESTROY,
    });

    this.engineCache = new FileSystem(this, 'EngineCache', {
      vpc: props.vpc,
      vpcSubnets: props.subnets,
      encrypted: true,
      throughputMode: ThroughputMode.ELASTIC,
      // A cache: rebuilt by the next task if lost, so neither kept nor backed up.
      removalPolicy: RemovalPolicy.DESTROY,
      enableAutomaticBackups: false,
    });
    this.engineCache.addToResourcePolicy(
      new PolicyStatement({
        sid: 'DenyWithoutTls',
        effect: Effect.DENY,
        principals: [new AnyPrincipal()],
        actions: ['*'],
        conditions: { Bool: { 'aws:SecureTransport': 'false' } },
      }),
    );
    this.engineCacheAccessPoint = this.engineCache.addAccessPoint('WorkerAccess', {
      path: '/trt-engines',
      createAcl: { ownerUid: WORKER_UID, ownerGid: WORKER_UID, permissions: '750' },
      posixUser: { uid: WORKER_UID, gid: WORKER_UID },
    });
    // Bridge networking: the tasks reach EFS from the instance's address and security group.
    this.engineCache.connections.allowDefaultPortFrom(props.capacity.securityGroup, 'GPU worker instances');

    this.taskDefinition = new Ec2TaskDefinition(this, 'TaskDefinition', {
      networkMode: NetworkMode.BRIDGE,
      volumes: [
        {
          name: 'trt-engines',
          efsVolumeConfiguration: {
            fileSystemId: this.engineCache.fileSystemId,
            transitEncryption: 'ENABLED',
            authorizationConfig: { accessPointId: this.engineCacheAccessPoint.accessPointId, iam: 'ENABLED' },
          },
        },
      ],
    });

    this.container = this.taskDefinition.addContainer('Worker', {
      image: ContainerImage.fromAsset(REPO_ROOT, {
        file: 'gpu-worker/Dockerfile',
        platform: Platform.LINUX_AMD64,
      }),
      gpuCount: 1,
      memoryReservationMiB: MEMORY_RESERVATION_MIB,
      memoryLimitMiB: MEMORY_LIMIT_MIB,
      cpu: CPU_UNITS,
      stopTimeout: Duration.seconds(STOP_TIMEOUT_SECONDS),
      // An init process forwards SIGTERM to node and reaps the engine's child processes.
      linuxParameters: new LinuxParameters(this, 'LinuxParameters', { initProcessEnabled: true }),
      environment: {
        ...pipelineEnvironment(resources, props.settings),
        // Lambda sets the region itself; a container must be told.
        AWS_REGION: Aws.REGION,
        POWERTOOLS_SERVICE_NAME: WORKER_SERVICE,
        POWERTOOLS_METRICS_NAMESPACE: METRICS_NAMESPACE,
        OCRQ_EXECUTION_PROVIDERS: props.executionProviders,
        OCRQ_WORKER_DRAIN_SECONDS: String(DRAIN_SECONDS),
        OCRQ_HEALTH_FILE: HEALTH_FILE,
        OCRQ_TRT_CACHE_DIR: TRT_CACHE_DIR,
      },
      healthCheck: HEALTH_CHECK,
      logging: LogDrivers.awsLogs({
        logGroup: this.logGroup,
        streamPrefix: 'worker',
        // A slow log delivery must not stall the worker's stdout and with it the worker.
        mode: AwsLogDriverMode.NON_BLOCKING,
      }),
    });
    this.container.addMountPoints({
      sourceVolume: 'trt-engines',
      containerPath: TRT_CACHE_DIR,
      readOnly: false,
    });
    props.capacity.allowLogsTo(this.logGroup);

    const taskRole = this.taskDefinition.taskRole;
    resources.queues.grantConsumeMessages(taskRole);
    resources.bucket.grantRead(taskRole, `${KEY_PREFIXES.inputs}*`);
    // Page results are written first and read back when the last chunk assembles the document.
    resources.bucket.grantRead(taskRole, `${KEY_PREFIXES.results}*`);
    resources.bucket.grantPut(taskRole, `${KEY_PREFIXES.results}*`);
    resources.table.grantReadWriteData(taskRole);
    resources.eventsTopic.grantPublish(taskRole);
    // The worker turns scale-in protection on while it holds messages (through the ECS agent,
    // which calls ECS with the task's role), so scaling in never stops a task mid-chunk.
    props.cluster.grantTaskProtection(taskRole);
    taskRole.addToPrincipalPolicy(
      new PolicyStatement({
        sid: 'MountEngineCacheThroughAccessPoint',
        actions: ['elasticfilesystem:ClientMount', 'elasticfilesystem:ClientWrite'],
        resources: [this.engineCache.fileSystemArn],
        conditions: {
          StringEquals: { 'elasticfilesystem:AccessPointArn': this.engineCacheAccessPoint.accessPointArn },
        },
      }),
    );

    this.service = new Ec2Service(this, 'Service', {
      cluster: props.cluster,
      taskDefinition: this.taskDefinition,
      // The scaling policies own the count from here; CloudFormation leaves it alone while this
      // value is unchanged.
      desiredCount: 0,
      capacityProviderStrategies: [
        { capacityProvider: props.capacity.capacityProvider.capacityProviderName, weight: 1 },
      ],
      // New tasks start (on new instances) before old ones stop: a deploy never drops throughput.
      minHealthyPercent: 100,
      maxHealthyPercent: 200,
      circuitBreaker: { enable: true, rollback: true },
      enableECSManagedTags: true,
      propagateTags: PropagatedTagSource.SERVICE,
    });

    // The strategy names a capacity provider that must be the cluster's before the service exists
    // (and after it is gone, on deletion); the reference alone does not order the association.
    this.service.node.addDependency(props.cluster);

    Validations.of(this.taskDefinition).acknowledge({
      id: 'AwsSolutions-ECS2',
      reason:
        'The environment holds resource names, URLs and settings, no secret: the worker reaches AWS with its task role',
    });
    Validations.of(taskRole).acknowledge({
      id: `AwsSolutions-IAM5[Resource::${nagText(this, props.cluster.arnForTasks('*'))}]`,
      reason:
        "Task scale-in protection on the cluster's own tasks: a task's id exists only once it runs, so the grant names the cluster's tasks",
    });
    Validations.of(this.taskDefinition.obtainExecutionRole()).acknowledge({
      id: 'AwsSolutions-IAM5[Resource::*]',
      reason:
        'ecr:GetAuthorizationToken supports no resource-level permissions; the image pull itself is granted on the asset repository only',
    });
  }
}
