import { Annotations, Duration } from 'aws-cdk-lib';
import type { NodejsFunction } from 'aws-cdk-lib/aws-lambda-nodejs';
import { Construct } from 'constructs';
import { API_ROUTES, type RouteDefinition } from '../../lambdas/shared/routes.ts';
import {
  PipelineFunction,
  type PipelineResources,
  type PipelineSettings,
  pipelineEnvironment,
  timeBudgetEnvironment,
} from './lambda-function.ts';
import { KEY_PREFIXES } from './storage.ts';

/** Grants one API handler's function what its route does. */
type Access = (fn: PipelineFunction, resources: PipelineResources) => void;

/**
 * What each API handler (folder under `lambdas/`) may do. Every handler that takes an API key
 * resolves it in the job table, so all of them read it. A route whose handler is missing here
 * still deploys, with table reads only, and synth warns.
 */
export const API_HANDLER_ACCESS: Readonly<Record<string, Access>> = {
  'create-job': (fn, { table, bucket, queues }) => {
    table.grantReadWriteData(fn);
    // A presigned URL carries the signer's permissions: the client's PUT runs as this role.
    bucket.grantPut(fn, `${KEY_PREFIXES.inputs}*`);
    // Backpressure: no new jobs while the work queues are deeper than OCRQ_MAX_QUEUE_DEPTH.
    queues.grantReadDepth(fn);
  },
  'list-jobs': (fn, { table }) => {
    table.grantReadData(fn);
  },
  'get-job': (fn, { table, bucket }) => {
    table.grantReadData(fn);
    bucket.grantRead(fn, `${KEY_PREFIXES.results}*`);
  },
  'cancel-job': (fn, { table, bucket, eventsTopic }) => {
    table.grantReadWriteData(fn);
    eventsTopic.grantPublish(fn);
    // Cancelling a job that uploads in parts aborts its multipart upload (s3:AbortMultipartUpload).
    bucket.grantPut(fn, `${KEY_PREFIXES.inputs}*`);
  },
  // Lists, presigns and completes the parts of multipart uploads: the part URLs run as this role,
  // and parts of an SSE-KMS object need the key to encrypt and to be joined.
  upload: (fn, { table, bucket }) => {
    table.grantReadData(fn);
    // ListParts (s3:List*) and the key to decrypt parts; PutObject and the key to encrypt them.
    bucket.grantRead(fn, `${KEY_PREFIXES.inputs}*`);
    bucket.grantPut(fn, `${KEY_PREFIXES.inputs}*`);
  },
  'retry-job': (fn, { table, queues, eventsTopic }) => {
    table.grantReadWriteData(fn);
    queues.grantSendMessages(fn);
    eventsTopic.grantPublish(fn);
  },
  'get-result': (fn, { table, bucket }) => {
    table.grantReadData(fn);
    bucket.grantRead(fn, `${KEY_PREFIXES.results}*`);
  },
  'queue-stats': (fn, { table, queues }) => {
    table.grantReadData(fn);
    queues.grantReadDepth(fn, { deadLetters: true });
  },
  redrive: (fn, { table, queues }) => {
    table.grantReadWriteData(fn);
    queues.grantConsumeDeadLetters(fn);
    queues.grantSendMessages(fn);
  },
  // Reads the tenant's secret, creating it on first use, and writes it on rotation.
  'webhook-secret': (fn, { table }) => {
    table.grantReadWriteData(fn);
  },
  // Serves the OpenAPI document built from the route table: no AWS access, no API key.
  openapi: () => {},
};

/**
 * Handlers that need more than the default 10 s, each with `OCRQ_TIME_BUDGET_MS` to stop in.
 * API Gateway gives up on an integration after 29 s, so none may be longer.
 */
export const API_HANDLER_TIMEOUTS: Readonly<Record<string, Duration>> = {
  redrive: Duration.seconds(29),
};

export interface ApiFunctionsProps {
  readonly resources: PipelineResources;
  readonly settings?: PipelineSettings;
  /** @default API_ROUTES from `lambdas/shared/routes.ts` */
  readonly routes?: readonly RouteDefinition[];
}

/** `create-job` → `CreateJob`: construct ids that read like the handler folders. */
const constructIdOf = (handler: string) =>
  handler.replace(/(^|-)([a-z0-9])/g, (_, _dash: string, c: string) => c.toUpperCase());

/**
 * One function per API handler named in the route table (the same table the local API server
 * and the OpenAPI document are built from), each granted what its route does.
 */
export class ApiFunctions extends Construct {
  /** The functions by handler folder (`create-job`, `get-job`, ...). */
  readonly functions: ReadonlyMap<string, NodejsFunction>;

  constructor(scope: Construct, id: string, props: ApiFunctionsProps) {
    super(scope, id);
    const environment = pipelineEnvironment(props.resources, props.settings);
    const functions = new Map<string, NodejsFunction>();
    for (const route of props.routes ?? API_ROUTES) {
      if (functions.has(route.handler)) continue;
      const timeout = API_HANDLER_TIMEOUTS[route.handler];
      const fn = new PipelineFunction(this, constructIdOf(route.handler), {
        handler: route.handler,
        description: `${route.method} ${route.path}: ${route.summary}`,
        logRetention: props.settings?.logRetention,
        environment: timeout ? { ...environment, ...timeBudgetEnvironment(timeout) } : environment,
        timeout,
      });
      const access = API_HANDLER_ACCESS[route.handler];
      if (access) {
        access(fn, props.resources);
      } else {
        props.resources.table.grantReadData(fn);
        Annotations.of(fn).addWarningV2(
          'ocr-pipeline:api-handler-access',
          `no access is defined for lambdas/${route.handler} in API_HANDLER_ACCESS: it may only read the job table`,
        );
      }
      functions.set(route.handler, fn.function);
    }
    this.functions = functions;
  }

  /** The function of a handler folder; throws for one no route names. */
  functionFor(handler: string): NodejsFunction {
    const fn = this.functions.get(handler);
    if (!fn) throw new Error(`no API route is served by lambdas/${handler}`);
    return fn;
  }
}
