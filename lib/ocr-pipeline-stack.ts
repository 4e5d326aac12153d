import { CfnOutput, RemovalPolicy, Stack, type StackProps } from 'aws-cdk-lib';
import type { Construct } from 'constructs';
import { JobsApi } from './constructs/api.ts';
import { ApiFunctions } from './constructs/api-functions.ts';
import { ApiKeyAuthorizer } from './constructs/authorizer.ts';
import { DeadLetterSweep } from './constructs/dlq.ts';
import { GpuCapacity } from './constructs/gpu-capacity.ts';
import { Ingest } from './constructs/ingest.ts';
import { JobTable } from './constructs/job-table.ts';
import type { PipelineResources, PipelineSettings } from './constructs/lambda-function.ts';
import { WorkerNetwork } from './constructs/network.ts';
import { Notifications } from './constructs/notifications.ts';
import { Observability } from './constructs/observability.ts';
import { Reconciler } from './constructs/reconciler.ts';
import { DocumentStorage } from './constructs/storage.ts';
import { TextractEngine } from './constructs/textract.ts';
import { WebhookDispatcher } from './constructs/webhook-dispatcher.ts';
import { WorkQueues } from './constructs/work-queues.ts';
import { WorkerScaling } from './constructs/worker-scaling.ts';
import { WorkerService } from './constructs/worker-service.ts';
import { parseSettings, type Settings, type SettingsInput, scaleOutBacklogPerTask } from './settings.ts';

export interface OcrPipelineStackProps extends StackProps {
  /**
   * What happens to the data (bucket, its key, table) when the stack is deleted. DESTROY
   * suits throwaway stacks; a non-empty bucket still blocks its own deletion.
   * @default RemovalPolicy.RETAIN
   */
  readonly dataRemovalPolicy?: RemovalPolicy;
  /**
   * Browser origins allowed by the bucket's and the API's CORS rules.
   * @default deployment.allowedOrigins (none)
   */
  readonly allowedOrigins?: string[];
  /** The settings of `lib/settings.ts` (CDK context in `bin/app.ts`); absent keys take their defaults. */
  readonly deployment?: SettingsInput;
  /** Days before uploads and results are deleted. @default 7 */
  readonly objectExpirationDays?: number;
  /** Limits handed to the functions. */
  readonly settings?: PipelineSettings;
  /** @default 'prod' */
  readonly apiStageName?: string;
  /** Create API Gateway's account-wide CloudWatch role (see JobsApi). @default true */
  readonly apiGatewayCloudWatchRole?: boolean;
  /** An address subscribed to the operators' alarm topic. @default none */
  readonly alarmEmail?: string;
}

/** The OCR pipeline: composes one construct per concern and publishes what clients need. */
export class OcrPipelineStack extends Stack {
  readonly storage: DocumentStorage;
  readonly jobs: JobTable;
  readonly queues: WorkQueues;
  readonly notifications: Notifications;
  readonly apiFunctions: ApiFunctions;
  readonly apiAuthorizer: ApiKeyAuthorizer;
  readonly api: JobsApi;
  readonly ingest: Ingest;
  readonly deadLetterSweep: DeadLetterSweep;
  readonly reconciler: Reconciler;
  readonly webhooks: WebhookDispatcher;
  /** Textract's completion topic, queue and role; absent where the deployment turned it off. */
  readonly textract?: TextractEngine;
  /** The validated deployment settings the stack was built with. */
  readonly deployment: Settings;
  readonly network: WorkerNetwork;
  readonly gpuCapacity: GpuCapacity;
  readonly worker: WorkerService;
  readonly workerScaling: WorkerScaling;
  readonly observability: Observability;

  constructor(scope: Construct, id: string, props: OcrPipelineStackProps = {}) {
    super(scope, id, props);
    const removalPolicy = props.dataRemovalPolicy ?? RemovalPolicy.RETAIN;
    this.deployment = parseSettings(props.deployment);
    const deployment = this.deployment;
    const allowedOrigins = props.allowedOrigins ?? deployment.allowedOrigins;
    this.textract = deployment.textract ? new TextractEngine(this, 'Textract') : undefined;
    const settings: PipelineSettings = {
      ...(this.textract ? { textract: this.textract.settings } : {}),
      jobTtlDays: props.objectExpirationDays,
      ...props.settings,
      allowedOrigins,
      logRetention: deployment.logRetentionDays,
      limits: { chunkPages: deployment.chunkPages, ...props.settings?.limits },
      multipart: {
        thresholdBytes: deployment.multipartThresholdBytes,
        partBytes: deployment.multipartPartBytes,
        maxUploadBytes: deployment.maxMultipartUploadBytes,
        ...props.settings?.multipart,
      },
      webhooks: {
        timeoutMs: deployment.webhookTimeoutSeconds * 1000,
        retrySpanSeconds: deployment.webhookRetryHours * 3600,
        secretGraceSeconds: deployment.webhookSecretGraceHours * 3600,
        ...props.settings?.webhooks,
      },
    };

    this.storage = new DocumentStorage(this, 'Storage', {
      expirationDays: props.objectExpirationDays,
      allowedOrigins,
      removalPolicy,
    });
    this.jobs = new JobTable(this, 'Jobs', { removalPolicy });
    this.queues = new WorkQueues(this, 'Queues');
    this.notifications = new Notifications(this, 'Notifications');

    const resources: PipelineResources = {
      table: this.jobs.table,
      bucket: this.storage.bucket,
      queues: this.queues,
      eventsTopic: this.notifications.topic,
    };
    this.apiFunctions = new ApiFunctions(this, 'ApiFunctions', { resources, settings });
    this.apiAuthorizer = new ApiKeyAuthorizer(this, 'ApiAuthorizer', { resources, settings });
    this.api = new JobsApi(this, 'Api', {
      functions: this.apiFunctions,
      authorizer: this.apiAuthorizer.authorizer,
      stageName: props.apiStageName,
      allowedOrigins,
      cloudWatchRole: props.apiGatewayCloudWatchRole,
    });
    this.ingest = new Ingest(this, 'Ingest', { resources, settings });
    this.webhooks = new WebhookDispatcher(this, 'Webhooks', { resources, settings });
    this.deadLetterSweep = new DeadLetterSweep(this, 'DeadLetterSweep', { resources, settings });
    this.reconciler = new Reconciler(this, 'Reconciler', {
      resources,
      settings,
      ingestFailures: this.ingest.failures,
    });

    this.network = new WorkerNetwork(this, 'Network', {
      egress: deployment.egress,
      logRetention: deployment.logRetentionDays,
    });
    this.gpuCapacity = new GpuCapacity(this, 'GpuCapacity', {
      cluster: this.network.cluster,
      vpc: this.network.vpc,
      subnets: this.network.privateSubnets,
      instanceTypes: deployment.instanceTypes,
      onDemandPercent: deployment.onDemandPercent,
      maxInstances: deployment.maxTasks,
    });
    this.worker = new WorkerService(this, 'Worker', {
      cluster: this.network.cluster,
      vpc: this.network.vpc,
      subnets: this.network.privateSubnets,
      capacity: this.gpuCapacity,
      resources,
      settings,
      executionProviders: deployment.executionProviders,
      logRetention: deployment.logRetentionDays,
    });
    this.textract?.grantUse(this.worker.taskDefinition.taskRole);
    this.workerScaling = new WorkerScaling(this, 'WorkerScaling', {
      service: this.worker.service,
      cluster: this.network.cluster,
      queues: this.queues,
      maxTasks: deployment.maxTasks,
      backlogPerTask: scaleOutBacklogPerTask(deployment),
      idleMinutes: deployment.idleMinutes,
    });

    this.observability = new Observability(this, 'Observability', {
      queues: this.queues,
      failureQueues: {
        'ingest failures': this.ingest.failures,
        'webhook dead letters': this.webhooks.deadLetterQueue,
      },
      api: this.api.api,
      fleet: { cluster: this.network.cluster, service: this.worker.service, logGroup: this.worker.logGroup },
      alarmEmail: props.alarmEmail,
    });

    const output = (id: string, value: string, description: string) =>
      new CfnOutput(this, id, { value, description });
    output('ApiUrl', this.api.url, 'Base URL of the jobs API (routes under v1/)');
    output('BucketName', this.storage.bucket.bucketName, 'Document bucket');
    output('TableName', this.jobs.table.tableName, 'Job table');
    output(
      'UsagePlanId',
      this.api.usagePlan.usagePlanId,
      'Usage plan of the tenants (npm run tenant -- add)',
    );
    output('ExpressQueueUrl', this.queues.express.queueUrl, 'Express work queue');
    output('BulkQueueUrl', this.queues.bulk.queueUrl, 'Bulk work queue');
    output('ExpressDlqUrl', this.queues.expressDlq.queueUrl, 'Express dead-letter queue');
    output('BulkDlqUrl', this.queues.bulkDlq.queueUrl, 'Bulk dead-letter queue');
    output('EventsTopicArn', this.notifications.topic.topicArn, 'Job events topic');
    output(
      'WebhookQueueUrl',
      this.webhooks.queue.queueUrl,
      'Events on their way to webhooks (retries included)',
    );
    output('IngestFailuresQueueUrl', this.ingest.failures.queueUrl, 'S3 events ingest gave up on');
    output('ClusterName', this.network.cluster.clusterName, 'ECS cluster of the GPU workers');
    output('WorkerServiceName', this.worker.service.serviceName, 'GPU worker service (scales from zero)');
    output('WorkerLogGroup', this.worker.logGroup.logGroupName, 'GPU worker logs');
    output('OperatorsTopicArn', this.observability.topic.topicArn, 'Alarms and failed worker starts');
    output('DashboardUrl', this.observability.dashboardUrl, 'The CloudWatch dashboard');
  }
}
