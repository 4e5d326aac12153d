/**
 * libuv's thread-pool size for an `ocrq` command line, which the installed CLI's entry
 * (`bin/launch.ts`) sets before anything is read; undefined leaves libuv's default (4 threads).
 *
 * `ocrq ocr` gets 1. Every thread that allocates gets a glibc malloc arena of its own (up to 8 per
 * core), and memory freed in one arena is not reused by another; the pool's threads are where
 * sharp decodes pages (up to 25 MB of pixels each for a photographed receipt), so each of them kept
 * its own peak. With one pool thread `ocrq ocr`'s peak RSS over the 110 receipts and papers was
 * 756–845 MB in nine runs against 826–888 MB in six with four (docs/architecture.md), at the same
 * pages/s: the pixel work runs on libvips' own threads, and the pool thread only drives it.
 *
 * A UV_THREADPOOL_SIZE the user set is kept; other commands (uploads, status) keep the default.
 */
export function threadPoolSize(
  args: readonly string[],
  env: Readonly<Record<string, string | undefined>>,
): string | undefined {
  if (env.UV_THREADPOOL_SIZE !== undefined) return undefined;
  return args[0] === 'ocr' ? '1' : undefined;
}
