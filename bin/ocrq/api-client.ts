import { setTimeout as sleep } from 'node:timers/promises';

/** A job as `GET /v1/jobs/{id}` shows it (the fields the client relies on). */
export interface JobView {
  jobId: string;
  status: string;
  fileName?: string;
  pages: { done: number; total: number };
  timings?: { queueWaitMs?: number; processingMs?: number; totalMs?: number };
  error?: { code: string; message: string };
  result?: { json: string; text: string };
  [field: string]: unknown;
}

export interface CreatedJob {
  jobId: string;
  status: string;
  upload: { url: string; method: 'PUT'; headers: Record<string, string>; expiresAt: string };
  links: { self: string };
}

export interface CreateJobRequest {
  fileName: string;
  contentType: string;
  sizeBytes: number;
  priority?: 'express' | 'bulk';
  webhook?: { url: string };
}

/** An error answer of the API, with its HTTP status and stable code. */
export class ApiClientError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(`${status} ${code}: ${message}`);
    this.name = 'ApiClientError';
  }
}

export const FINISHED_STATUSES = new Set(['SUCCEEDED', 'FAILED', 'CANCELLED', 'EXPIRED']);

const CONTENT_TYPES: Record<string, string> = {
  '.png': 'image/png',
  '.jpg': 'image/jpeg',
  '.jpeg': 'image/jpeg',
  '.tif': 'image/tiff',
  '.tiff': 'image/tiff',
  '.webp': 'image/webp',
  '.pdf': 'application/pdf',
};

export function contentTypeOf(fileName: string): string | undefined {
  const dot = fileName.lastIndexOf('.');
  return dot < 0 ? undefined : CONTENT_TYPES[fileName.slice(dot).toLowerCase()];
}

/**
 * The client side of the public API, as any outside program would use it: create a job,
 * PUT the bytes to the presigned URL with exactly the given headers, poll until it ends.
 *
 * @example
 * const client = new OcrqClient({ endpoint: 'http://127.0.0.1:8080', apiKey });
 * const job = await client.submit('scan.png', bytes);
 * const done = await client.waitForJob(job.jobId);
 */
export class OcrqClient {
  private readonly endpoint: string;

  constructor(private readonly options: { endpoint: string; apiKey: string }) {
    this.endpoint = options.endpoint.replace(/\/+$/, '');
  }

  private async request<T>(method: string, path: string, body?: unknown): Promise<T> {
    const response = await fetch(`${this.endpoint}${path}`, {
      method,
      headers: {
        'x-api-key': this.options.apiKey,
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await response.text();
    let parsed: unknown;
    try {
      parsed = text ? JSON.parse(text) : undefined;
    } catch {
      parsed = undefined;
    }
    if (!response.ok) {
      const error = (parsed as { error?: { code?: string; message?: string } } | undefined)?.error;
      throw new ApiClientError(
        response.status,
        error?.code ?? 'HTTP_ERROR',
        error?.message ?? text.slice(0, 200),
      );
    }
    return parsed as T;
  }

  createJob(request: CreateJobRequest): Promise<CreatedJob> {
    return this.request('POST', '/v1/jobs', request);
  }

  getJob(jobId: string): Promise<JobView> {
    return this.request('GET', `/v1/jobs/${encodeURIComponent(jobId)}`);
  }

  async upload(upload: CreatedJob['upload'], bytes: Uint8Array): Promise<void> {
    const response = await fetch(upload.url, { method: upload.method, headers: upload.headers, body: bytes });
    if (!response.ok) {
      throw new ApiClientError(response.status, 'UPLOAD_FAILED', (await response.text()).slice(0, 300));
    }
  }

  /** Creates a job for the bytes and uploads them; the pipeline takes it from there. */
  async submit(
    fileName: string,
    bytes: Uint8Array,
    options: { contentType?: string; priority?: 'express' | 'bulk' } = {},
  ): Promise<CreatedJob> {
    const contentType = options.contentType ?? contentTypeOf(fileName);
    if (!contentType) throw new Error(`cannot tell the content type of ${fileName} from its extension`);
    const job = await this.createJob({
      fileName,
      contentType,
      sizeBytes: bytes.length,
      priority: options.priority,
    });
    await this.upload(job.upload, bytes);
    return job;
  }

  /** Polls until the job ends (or `timeoutMs` passes), reporting each view to `onUpdate`. */
  async waitForJob(
    jobId: string,
    options: { intervalMs?: number; timeoutMs?: number; onUpdate?: (job: JobView) => void } = {},
  ): Promise<JobView> {
    const deadline = Date.now() + (options.timeoutMs ?? 10 * 60_000);
    for (;;) {
      const job = await this.getJob(jobId);
      options.onUpdate?.(job);
      if (FINISHED_STATUSES.has(job.status)) return job;
      if (Date.now() > deadline) throw new Error(`job ${jobId} still ${job.status} after the timeout`);
      await sleep(options.intervalMs ?? 250);
    }
  }

  /** Downloads a result through its presigned URL. */
  async fetchResult(url: string): Promise<string> {
    const response = await fetch(url);
    if (!response.ok)
      throw new ApiClientError(response.status, 'RESULT_DOWNLOAD_FAILED', await response.text());
    return response.text();
  }
}
