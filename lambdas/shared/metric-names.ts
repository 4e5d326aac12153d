/**
 * The pipeline's own CloudWatch metrics: what the worker and the functions emit as EMF lines,
 * what the local stack serves at `GET /metrics`, and what the dashboard and alarms read. One
 * table so the emitters and the readers cannot drift apart.
 */
export const METRICS_NAMESPACE = 'OcrPipeline';

/** Every metric carries the emitting service as its one default dimension (Powertools' `service`). */
export const SERVICE_DIMENSION = 'service';
export const WORKER_SERVICE = 'gpu-worker';

/** Extra dimension of the error and outcome counters. */
export const ERROR_CODE_DIMENSION = 'ErrorCode';
/** Extra dimension of the per-engine metrics: the engine that read the pages (`paddle`, `textract`). */
export const ENGINE_DIMENSION = 'Engine';

export const METRIC = {
  /** Pages the engine finished (Count). */
  pages: 'PagesProcessed',
  /** Pages in one engine batch (Count, one value per batch). */
  batchPages: 'BatchPages',
  /** Queue wait of a work message: sent → received (Milliseconds). */
  queueWait: 'QueueWaitMs',
  /** Engine time of a chunk: detection + recognition (Milliseconds). */
  engineTime: 'EngineMs',
  /** Download and decode time of a chunk's document (Milliseconds). */
  decodeTime: 'DecodeMs',
  /** Jobs that reached SUCCEEDED (Count). */
  jobsSucceeded: 'JobsSucceeded',
  /** Jobs that reached FAILED (Count), with the error code as a second dimension set. */
  jobsFailed: 'JobsFailed',
  /** Failures the worker met while processing (Count), transient or permanent, by code. */
  workerErrors: 'WorkerErrors',
  /** Webhook delivery attempts (Count), by outcome (`delivered`, `retrying`, `gave-up`) in the ErrorCode dimension. */
  webhookAttempts: 'WebhookAttempts',
  /** Pages read by each engine (Count), by Engine. */
  enginePages: 'EnginePages',
  /** Engine time per page (Milliseconds, one value per chunk and engine), by Engine. */
  enginePageTime: 'EnginePageMs',
  /** Pages `auto` sent on to another engine after PP-OCR found them hard (Count), by Engine. */
  escalations: 'Escalations',
} as const;
