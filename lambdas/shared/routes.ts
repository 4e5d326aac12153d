/**
 * The API's routes: method, path and the Lambda (folder under lambdas/) that serves each.
 * The CDK API, the local API server and the OpenAPI document are all built from this table.
 */
export interface RouteDefinition {
  method: 'GET' | 'POST' | 'DELETE';
  /** API Gateway resource path, parameters in braces. */
  path: string;
  /** The handler's folder under lambdas/. */
  handler: string;
  operationId: string;
  summary: string;
}

export const API_ROUTES: readonly RouteDefinition[] = [
  {
    method: 'POST',
    path: '/v1/jobs',
    handler: 'create-job',
    operationId: 'createJob',
    summary: 'Create a job and get its upload URL',
  },
  {
    method: 'GET',
    path: '/v1/jobs',
    handler: 'list-jobs',
    operationId: 'listJobs',
    summary: "List the tenant's jobs, newest first",
  },
  {
    method: 'GET',
    path: '/v1/jobs/{jobId}',
    handler: 'get-job',
    operationId: 'getJob',
    summary: 'Status, progress, timings, ETA and result links',
  },
  {
    method: 'DELETE',
    path: '/v1/jobs/{jobId}',
    handler: 'cancel-job',
    operationId: 'cancelJob',
    summary: 'Cancel an unfinished job',
  },
  {
    method: 'POST',
    path: '/v1/jobs/{jobId}/retry',
    handler: 'retry-job',
    operationId: 'retryJob',
    summary: "Requeue a failed job's unfinished pages",
  },
  {
    method: 'GET',
    path: '/v1/jobs/{jobId}/upload',
    handler: 'upload',
    operationId: 'getUpload',
    summary: "A multipart upload's plan and the parts already uploaded (to resume)",
  },
  {
    method: 'POST',
    path: '/v1/jobs/{jobId}/upload/parts',
    handler: 'upload',
    operationId: 'presignUploadParts',
    summary: 'Presigned URLs for parts of a multipart upload',
  },
  {
    method: 'POST',
    path: '/v1/jobs/{jobId}/upload/complete',
    handler: 'upload',
    operationId: 'completeUpload',
    summary: 'Join the uploaded parts into the document, which then goes to ingest',
  },
  {
    method: 'GET',
    path: '/v1/jobs/{jobId}/result',
    handler: 'get-result',
    operationId: 'getResult',
    summary: 'Redirect to the result (json or text)',
  },
  {
    method: 'GET',
    path: '/v1/queues/stats',
    handler: 'queue-stats',
    operationId: 'getQueueStats',
    summary: 'Queue depth, dead letters, oldest age, workers, pages per minute',
  },
  {
    method: 'POST',
    path: '/v1/queues/redrive',
    handler: 'redrive',
    operationId: 'redrive',
    summary: "Move the tenant's dead letters back to their queue",
  },
  {
    method: 'GET',
    path: '/v1/webhook-secret',
    handler: 'webhook-secret',
    operationId: 'getWebhookSecret',
    summary: "The tenant's webhook signing secret (created on first use)",
  },
  {
    method: 'POST',
    path: '/v1/webhook-secret/rotate',
    handler: 'webhook-secret',
    operationId: 'rotateWebhookSecret',
    summary: 'A new webhook signing secret; the old one still signs for a grace period',
  },
  {
    method: 'GET',
    path: '/v1/openapi.json',
    handler: 'openapi',
    operationId: 'getOpenApi',
    summary: 'This document',
  },
];
