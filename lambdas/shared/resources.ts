/**
 * Names, key layouts and settings of the AWS resources, shared by the CDK stack (lib/) and
 * the embedded local stack (local/) so both create the same things.
 */
export const RESOURCE_NAMES = {
  bucket: 'ocr-pipeline-documents',
  table: 'ocr-pipeline-jobs',
  expressQueue: 'ocr-pipeline-express',
  expressDlq: 'ocr-pipeline-express-dlq',
  bulkQueue: 'ocr-pipeline-bulk',
  bulkDlq: 'ocr-pipeline-bulk-dlq',
  eventsTopic: 'ocr-pipeline-events',
  ingestFailures: 'ocr-pipeline-ingest-failures',
  webhookQueue: 'ocr-pipeline-webhooks',
  webhookDlq: 'ocr-pipeline-webhooks-dlq',
} as const;

/** DynamoDB layout: one table, generic keys, items told apart by prefix. */
export const TABLE = {
  partitionKey: 'pk',
  sortKey: 'sk',
  ttlAttribute: 'expiresAt',
  /** All of a tenant's jobs, newest first: listings. */
  tenantIndex: { name: 'byTenantCreated', partitionKey: 'gsi1pk', sortKey: 'gsi1sk' },
  /** Sparse: only unfinished jobs carry its keys, so counting a tenant's active jobs is cheap. */
  activeIndex: { name: 'byTenantActive', partitionKey: 'gsi2pk', sortKey: 'gsi2sk' },
  /**
   * Sparse, by partition: QUEUED jobs per queue by queue time (position, ETA, oldest age, unsent
   * chunks), PROCESSING jobs per queue by last progress (stalled jobs), and settled jobs whose
   * event is not published yet (`UNANNOUNCED`): the reconciler's lists, each a query away.
   */
  waitingIndex: { name: 'byQueueWaiting', partitionKey: 'gsi3pk', sortKey: 'gsi3sk' },
} as const;

/** The indexes, in the order the table defines them. */
export const TABLE_INDEXES = [TABLE.tenantIndex, TABLE.activeIndex, TABLE.waitingIndex] as const;

export const QUEUE_SETTINGS = {
  /** Long enough for a batch of pages on a cold worker; the worker extends it while busy. */
  visibilityTimeoutSeconds: 120,
  /**
   * Deliveries before a message moves to its DLQ. Failed attempts are counted on the job (the
   * worker fails it after 3 of one chunk), so this is only the net for crash loops: high enough
   * that messages returned at shutdown and the worker's fairness deferrals (at most 2 each)
   * cannot dead-letter a healthy job.
   */
  maxReceiveCount: 10,
  receiveWaitTimeSeconds: 20,
  retentionDays: 4,
  dlqRetentionDays: 14,
} as const;

/**
 * The webhook dispatcher's queue. The events topic feeds it through a subscription with raw
 * delivery that takes only the events a job's webhook wants (the `webhook` message attribute).
 */
export const WEBHOOK_QUEUE_SETTINGS = {
  /** Six times the dispatcher's longest timeout (30 s), as Lambda's SQS event source asks. */
  visibilityTimeoutSeconds: 180,
  /** Deliveries of one message before its DLQ: only crashes count, a failed POST is a new message. */
  maxReceiveCount: 5,
  retentionDays: 4,
  /** The subscription's filter policy. */
  filterPolicy: { webhook: ['true'] },
} as const;

/** S3 key layout: inputs and results live under the tenant so prefixes scope everything. */
export const objectKeys = {
  input: (tenantId: string, jobId: string) => `inputs/${tenantId}/${jobId}/source`,
  resultJson: (tenantId: string, jobId: string) => `results/${tenantId}/${jobId}/result.json`,
  resultText: (tenantId: string, jobId: string) => `results/${tenantId}/${jobId}/result.txt`,
  resultHocr: (tenantId: string, jobId: string) => `results/${tenantId}/${jobId}/result.hocr`,
  /** The searchable PDF: the document's pages (or images) with an invisible text layer. */
  resultPdf: (tenantId: string, jobId: string) => `results/${tenantId}/${jobId}/result.pdf`,
  /** One page's result, written by the worker of its chunk; assembled in page order at the end. */
  pageResult: (tenantId: string, jobId: string, page: number) =>
    `results/${tenantId}/${jobId}/pages/${String(page).padStart(5, '0')}.json`,
  /** Parses an input key back to its tenant and job; undefined for keys outside `inputs/`. */
  parseInput(key: string): { tenantId: string; jobId: string } | undefined {
    const match = /^inputs\/([^/]+)\/([^/]+)\/source$/.exec(key);
    return match ? { tenantId: match[1]!, jobId: match[2]! } : undefined;
  },
} as const;

export const UPLOAD_URL_TTL_SECONDS = 15 * 60;

/**
 * Days after which the bucket's lifecycle rule aborts an unfinished multipart upload (and frees
 * its parts): how long a large upload may be resumed.
 */
export const INCOMPLETE_UPLOAD_DAYS = 2;
