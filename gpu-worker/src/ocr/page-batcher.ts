import type { DecodedPage } from './image.ts';
import type { PageResult } from './types.ts';

interface Request {
  pages: readonly DecodedPage[];
  resolve: (results: PageResult[]) => void;
  reject: (error: unknown) => void;
}

/**
 * Dynamic batching of pages from independent callers (the worker's queue messages): requests
 * that arrive while `batchesInFlight` batches are running wait, and the waiting ones go out
 * together as the next batch (up to `maxBatchPages` pages, never splitting a request), so the
 * pages of several documents are detected and recognised in the same session runs. With fewer
 * batches running, a request goes out at once: batching never adds latency to an idle engine.
 *
 * @example
 * const batcher = new PageBatcher((pages) => engine.recognizePages(pages), { maxBatchPages: 32, batchesInFlight: 2 });
 * const [a, b] = await Promise.all([batcher.submit(pagesOfA), batcher.submit(pagesOfB)]);
 */
export class PageBatcher {
  private readonly waiting: Request[] = [];
  private running = 0;

  constructor(
    private readonly run: (pages: DecodedPage[]) => Promise<PageResult[]>,
    private readonly limits: { maxBatchPages: number; batchesInFlight: number },
  ) {}

  /** Resolves with the results of `pages`, in order, once the batch they joined is done. */
  submit(pages: readonly DecodedPage[]): Promise<PageResult[]> {
    if (pages.length === 0) return Promise.resolve([]);
    return new Promise((resolve, reject) => {
      this.waiting.push({ pages, resolve, reject });
      this.pump();
    });
  }

  /** Requests waiting for a batch (for tests and metrics). */
  get waitingCount(): number {
    return this.waiting.length;
  }

  private pump(): void {
    while (this.running < this.limits.batchesInFlight && this.waiting.length > 0) {
      const batch: Request[] = [this.waiting.shift()!];
      let pages = batch[0]!.pages.length;
      while (this.waiting.length > 0 && pages + this.waiting[0]!.pages.length <= this.limits.maxBatchPages) {
        const next = this.waiting.shift()!;
        pages += next.pages.length;
        batch.push(next);
      }
      this.running += 1;
      this.runBatch(batch).finally(() => {
        this.running -= 1;
        this.pump();
      });
    }
  }

  private async runBatch(batch: Request[]): Promise<void> {
    try {
      const results = await this.run(batch.flatMap((r) => r.pages));
      let offset = 0;
      for (const request of batch) {
        request.resolve(results.slice(offset, offset + request.pages.length));
        offset += request.pages.length;
      }
    } catch (error) {
      for (const request of batch) request.reject(error);
    }
  }
}
