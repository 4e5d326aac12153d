import type { APIGatewayProxyResult } from 'aws-lambda';
import { z } from 'zod';
import { WEBHOOK_HEADERS } from '../../client/webhook-signature.ts';
import { CreateJobBodySchema } from '../create-job/create-job.ts';
import { RESULT_FORMATS } from '../get-job/get-job.ts';
import { ListJobsQuerySchema } from '../list-jobs/list-jobs.ts';
import { RedriveBodySchema } from '../redrive/redrive.ts';
import { API_ROUTES } from '../shared/routes.ts';
import { CompleteUploadBodySchema, UploadPartsBodySchema } from '../upload/upload.ts';
import {
  CompletedUploadSchema,
  CreatedJobSchema,
  ErrorResponseSchema,
  JobEventSchema,
  JobListSchema,
  JobViewSchema,
  QueueStatsSchema,
  RedriveResultSchema,
  UploadPartsSchema,
  UploadStateSchema,
  WebhookSecretSchema,
} from './schemas.ts';

const schema = (s: z.ZodType) => z.toJSONSchema(s, { target: 'draft-2020-12', io: 'output' });
const jsonContent = (ref: string) => ({
  'application/json': { schema: { $ref: `#/components/schemas/${ref}` } },
});
const error = (description: string) => ({ description, content: jsonContent('Error') });

const JOB_ID = { name: 'jobId', in: 'path', required: true, schema: { type: 'string' } };

/** What each operation answers, besides the errors every authenticated route shares. */
const OPERATIONS: Record<string, Record<string, unknown>> = {
  createJob: {
    parameters: [
      { name: 'Idempotency-Key', in: 'header', required: false, schema: { type: 'string', maxLength: 255 } },
    ],
    requestBody: { required: true, content: { 'application/json': { schema: schema(CreateJobBodySchema) } } },
    responses: {
      '201': {
        description: 'Created: PUT the file to upload.url with exactly upload.headers',
        content: jsonContent('CreatedJob'),
      },
      '200': {
        description: 'Replay of an earlier request with the same Idempotency-Key',
        content: jsonContent('CreatedJob'),
      },
      '409': error('The Idempotency-Key was used with another request'),
      '413': error('The declared size is over the limit'),
      '415': error('The content type is not supported'),
      '429': error('Too many unfinished jobs for this tenant (see Retry-After)'),
      '503': error('The queues are full (see Retry-After)'),
    },
  },
  listJobs: {
    parameters: Object.entries(schema(ListJobsQuerySchema).properties ?? {}).map(([name, s]) => ({
      name,
      in: 'query',
      required: false,
      schema: s,
    })),
    responses: { '200': { description: 'A page of jobs', content: jsonContent('JobList') } },
  },
  getJob: {
    parameters: [JOB_ID],
    responses: {
      '200': { description: 'The job', content: jsonContent('Job') },
      '404': error('No such job'),
    },
  },
  cancelJob: {
    parameters: [JOB_ID],
    responses: {
      '200': { description: 'The cancelled job', content: jsonContent('Job') },
      '404': error('No such job'),
      '409': error('The job has finished'),
    },
  },
  retryJob: {
    parameters: [JOB_ID],
    responses: {
      '202': { description: 'The job, queued again', content: jsonContent('Job') },
      '404': error('No such job'),
      '409': error('The job is not FAILED, or failed before it was queued'),
    },
  },
  getResult: {
    parameters: [
      JOB_ID,
      { name: 'format', in: 'query', required: false, schema: { enum: [...RESULT_FORMATS] } },
    ],
    responses: {
      '302': {
        description: 'Redirect to a presigned download',
        headers: { Location: { schema: { type: 'string' } } },
      },
      '404': error(
        'No such job, or a format this job does not have (hOCR and PDF of jobs finished before them)',
      ),
      '409': error('The job has not succeeded'),
    },
  },
  getUpload: {
    parameters: [JOB_ID],
    responses: {
      '200': { description: 'The part plan and the parts S3 holds', content: jsonContent('UploadState') },
      '404': error('No such job'),
      '409': error(
        'Not a multipart job (UPLOAD_NOT_MULTIPART), or its upload is over (UPLOAD_COMPLETED, UPLOAD_EXPIRED)',
      ),
    },
  },
  presignUploadParts: {
    parameters: [JOB_ID],
    requestBody: {
      required: true,
      content: { 'application/json': { schema: schema(UploadPartsBodySchema) } },
    },
    responses: {
      '200': {
        description:
          "Presigned PUTs (15 min): send exactly the part's bytes with its headers, keep the ETag answered",
        content: jsonContent('UploadParts'),
      },
      '404': error('No such job'),
      '409': error('Not a multipart job, or its upload is over'),
    },
  },
  completeUpload: {
    parameters: [JOB_ID],
    requestBody: {
      required: false,
      content: { 'application/json': { schema: schema(CompleteUploadBodySchema) } },
    },
    responses: {
      '202': {
        description: 'The parts were joined; the document goes to ingest',
        content: jsonContent('CompletedUpload'),
      },
      '404': error('No such job'),
      '409': error('Not a multipart job, or its upload expired'),
    },
  },
  getQueueStats: {
    responses: { '200': { description: 'Queue figures', content: jsonContent('QueueStats') } },
  },
  redrive: {
    requestBody: { required: false, content: { 'application/json': { schema: schema(RedriveBodySchema) } } },
    responses: { '200': { description: 'What was moved', content: jsonContent('RedriveResult') } },
  },
  getWebhookSecret: {
    responses: {
      '200': { description: "The tenant's signing secret", content: jsonContent('WebhookSecret') },
    },
  },
  rotateWebhookSecret: {
    responses: {
      '200': {
        description: 'The new secret; deliveries are signed with the old one too until previousExpiresAt',
        content: jsonContent('WebhookSecret'),
      },
    },
  },
  getOpenApi: { security: [], responses: { '200': { description: 'The OpenAPI document' } } },
};

/** The OpenAPI 3.1 document of the API, built from the route table and the zod schemas. */
export function openApiDocument(serverUrl?: string) {
  const paths: Record<string, Record<string, unknown>> = {};
  for (const route of API_ROUTES) {
    const operation = OPERATIONS[route.operationId] ?? {};
    const authenticated = route.operationId !== 'getOpenApi';
    const item = paths[route.path] ?? {};
    paths[route.path] = item;
    item[route.method.toLowerCase()] = {
      operationId: route.operationId,
      summary: route.summary,
      ...operation,
      responses: {
        ...(operation.responses as Record<string, unknown>),
        ...(authenticated
          ? { '400': error('The request is malformed'), '401': error('No valid API key') }
          : {}),
        '500': error('Internal error'),
      },
    };
  }
  return {
    openapi: '3.1.0',
    info: {
      title: 'ocr-pipeline API',
      version: '1.0.0',
      description:
        'Create OCR jobs, upload documents to presigned URLs, and fetch text with boxes and confidences.',
    },
    ...(serverUrl ? { servers: [{ url: serverUrl }] } : {}),
    security: [{ apiKey: [] }],
    paths,
    webhooks: {
      jobEvent: {
        post: {
          summary: "A job's event, POSTed to the job's webhook.url",
          description:
            'Signed: ocrq-signature holds v1=hex(HMAC-SHA256(secret, ocrq-timestamp + "." + raw body)), one entry per valid secret. ' +
            'Verify it over the raw body and refuse old timestamps (verifyWebhook in ocr-pipeline/client). ' +
            'ocrq-delivery-id is the event id, the same on every attempt. Answer 2xx within 10 s; anything else is retried with backoff for 24 h.',
          parameters: Object.values(WEBHOOK_HEADERS).map((name) => ({
            name,
            in: 'header',
            required: true,
            schema: { type: 'string' },
          })),
          requestBody: { required: true, content: jsonContent('JobEvent') },
          responses: { '200': { description: 'Received (any 2xx)' } },
        },
      },
    },
    components: {
      securitySchemes: { apiKey: { type: 'apiKey', in: 'header', name: 'x-api-key' } },
      schemas: {
        Error: schema(ErrorResponseSchema),
        Job: schema(JobViewSchema),
        CreatedJob: schema(CreatedJobSchema),
        JobList: schema(JobListSchema),
        QueueStats: schema(QueueStatsSchema),
        RedriveResult: schema(RedriveResultSchema),
        WebhookSecret: schema(WebhookSecretSchema),
        JobEvent: schema(JobEventSchema),
        UploadState: schema(UploadStateSchema),
        UploadParts: schema(UploadPartsSchema),
        CompletedUpload: schema(CompletedUploadSchema),
      },
    },
  };
}

/** GET /v1/openapi.json: public, like any API's documentation. */
export function makeOpenApiHandler() {
  const body = JSON.stringify(openApiDocument());
  return async (): Promise<APIGatewayProxyResult> => ({
    statusCode: 200,
    headers: { 'content-type': 'application/json', 'cache-control': 'public, max-age=300' },
    body,
  });
}
