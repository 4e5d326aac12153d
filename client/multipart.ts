import { OcrApiError, OcrNetworkError } from './errors.ts';
import { pause } from './transport.ts';
import type { PartUpload, UploadState } from './types.ts';

/** Most part URLs one `POST …/upload/parts` hands out. */
export const MAX_PARTS_PER_REQUEST = 100;
/** Attempts per part PUT: a dropped connection or a storage 5xx costs one part, not the upload. */
const PART_ATTEMPTS = 4;

/** The API calls a multipart upload needs (the client's own methods). */
export interface MultipartSteps {
  state(): Promise<UploadState>;
  presign(partNumbers: number[]): Promise<PartUpload[]>;
  /** PUTs one part and returns its ETag. */
  put(part: PartUpload, body: Blob): Promise<string>;
  complete(parts: Array<{ partNumber: number; etag: string }>): Promise<void>;
}

export interface MultipartOptions {
  /** Parts in flight at once (default 4); memory stays at most this many parts' buffers. */
  concurrency?: number;
  /** Bytes stored so far (parts already there count from the start) and the file's size. */
  onProgress?: (uploadedBytes: number, totalBytes: number) => void;
  signal?: AbortSignal;
}

/**
 * Uploads `file` part by part: asks which parts are already stored (so a second call after an
 * interruption sends only the rest), presigns the missing ones a hundred at a time, PUTs them
 * with bounded concurrency, each read from `file` as it goes (a file-backed Blob streams from
 * disk), and completes the upload with every part's ETag.
 */
export async function uploadMultipart(
  steps: MultipartSteps,
  file: Blob,
  options: MultipartOptions = {},
): Promise<void> {
  const state = await steps.state();
  if (state.sizeBytes !== file.size) {
    throw new OcrApiError(
      400,
      'SIZE_MISMATCH',
      `the job was created for ${state.sizeBytes} bytes but the file has ${file.size}`,
    );
  }
  const etags = new Map(state.parts.map((p) => [p.partNumber, p.etag]));
  let uploaded = state.parts.reduce((sum, p) => sum + p.sizeBytes, 0);
  options.onProgress?.(uploaded, file.size);
  const missing: number[] = [];
  for (let n = 1; n <= state.partCount; n++) if (!etags.has(n)) missing.push(n);
  const bodyOf = (n: number) =>
    file.slice((n - 1) * state.partSizeBytes, Math.min(n * state.partSizeBytes, file.size));

  for (let at = 0; at < missing.length; at += MAX_PARTS_PER_REQUEST) {
    const batch = missing.slice(at, at + MAX_PARTS_PER_REQUEST);
    const urls = new Map((await steps.presign(batch)).map((p) => [p.partNumber, p]));
    const queue = [...batch];
    const sendParts = async () => {
      for (let n = queue.shift(); n !== undefined; n = queue.shift()) {
        options.signal?.throwIfAborted();
        const etag = await putPart(steps, urls, n, bodyOf(n), options.signal);
        etags.set(n, etag);
        uploaded += bodyOf(n).size;
        options.onProgress?.(uploaded, file.size);
      }
    };
    await Promise.all(Array.from({ length: Math.min(options.concurrency ?? 4, batch.length) }, sendParts));
  }
  await steps.complete(
    [...etags].sort(([a], [b]) => a - b).map(([partNumber, etag]) => ({ partNumber, etag })),
  );
}

/** One part, again after a broken connection or a storage 5xx, with a fresh URL after a 403 (expired). */
async function putPart(
  steps: MultipartSteps,
  urls: Map<number, PartUpload>,
  partNumber: number,
  body: Blob,
  signal: AbortSignal | undefined,
): Promise<string> {
  for (let attempt = 1; ; attempt++) {
    let part = urls.get(partNumber);
    if (!part) {
      [part] = await steps.presign([partNumber]);
      if (!part) throw new OcrApiError(500, 'NO_PART_URL', `the API presigned no URL for part ${partNumber}`);
      urls.set(partNumber, part);
    }
    try {
      return await steps.put(part, body);
    } catch (error) {
      const retryable =
        error instanceof OcrNetworkError ||
        (error instanceof OcrApiError && (error.status >= 500 || error.status === 403));
      if (!retryable || attempt >= PART_ATTEMPTS) throw error;
      if (error instanceof OcrApiError && error.status === 403) urls.delete(partNumber);
      await pause(250 * 2 ** attempt, signal);
    }
  }
}
