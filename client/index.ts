/**
 * `ocr-pipeline/client`: the pipeline's API for programs. Its modules import only each other
 * and Node's own (`node:*`), so depending on it loads neither the engine, the emulators nor the
 * AWS SDK.
 */
export { contentTypeOf } from './content-types.ts';
export { OcrApiError, OcrNetworkError, OcrTimeoutError } from './errors.ts';
export type { MultipartOptions } from './multipart.ts';
export {
  type DocumentSource,
  type ListJobsOptions,
  OcrClient,
  type OcrClientOptions,
  type ResultOf,
  type SubmitOptions,
  type UploadBody,
  type WaitOptions,
} from './ocr-client.ts';
export type { RetryPolicy } from './transport.ts';
export {
  type CreatedJob,
  type CreateJobRequest,
  type Engine,
  type EngineFigures,
  FINISHED_STATUSES,
  type Job,
  type JobEvent,
  type JobEventType,
  type JobList,
  type JobStatus,
  type JobSummary,
  type JobTimings,
  type MultipartUpload,
  type OcrResult,
  type PartUpload,
  type Priority,
  type QueueFigures,
  type QueueStats,
  type ResultFormat,
  type SingleUpload,
  type UploadState,
  type WebhookAttempt,
} from './types.ts';
export {
  signWebhook,
  type VerifyWebhookOptions,
  verifyWebhook,
  WEBHOOK_HEADERS,
  WebhookVerificationError,
} from './webhook-signature.ts';
