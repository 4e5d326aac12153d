import { type MultipartSettings, S3_MAX_PARTS } from './config.ts';
import type { MultipartUpload } from './job.ts';

/**
 * How a document of `sizeBytes` is cut into parts: the configured part size, grown (in whole
 * MiB) where that would take more than S3's 10,000 parts. Every part but the last has exactly
 * `partSizeBytes`; the last holds the remainder.
 */
export function planParts(
  sizeBytes: number,
  settings: Pick<MultipartSettings, 'partBytes'>,
): Pick<MultipartUpload, 'partSizeBytes' | 'partCount'> {
  const mib = 1024 * 1024;
  const least = Math.ceil(sizeBytes / S3_MAX_PARTS / mib) * mib;
  const partSizeBytes = Math.max(settings.partBytes, least);
  return { partSizeBytes, partCount: Math.max(1, Math.ceil(sizeBytes / partSizeBytes)) };
}

/** The exact length of part `partNumber` (1-based) of a document of `sizeBytes`. */
export function partLength(
  upload: Pick<MultipartUpload, 'partSizeBytes' | 'partCount'>,
  sizeBytes: number,
  partNumber: number,
): number {
  if (partNumber < upload.partCount) return upload.partSizeBytes;
  return sizeBytes - upload.partSizeBytes * (upload.partCount - 1);
}
