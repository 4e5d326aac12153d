import { createHash } from 'node:crypto';
import type { EngineTally } from '../../lambdas/shared/adapters/stats-store.ts';
import { DEFAULT_AUTO_THRESHOLDS } from '../../lambdas/shared/config.ts';
import { PermanentJobError } from '../../lambdas/shared/errors.ts';
import type { Job } from '../../lambdas/shared/job.ts';
import { isTerminal } from '../../lambdas/shared/job.ts';
import type { WorkMessage } from '../../lambdas/shared/messages.ts';
import { objectKeys } from '../../lambdas/shared/resources.ts';
import type { Runtime } from '../../lambdas/shared/runtime.ts';
import { type EnginePage, EngineRouter, type PaddleRecognizer } from './engines/engine-router.ts';
import { TextractRecognizer } from './engines/textract-recognizer.ts';
import type { OcrResult, PageResult } from './ocr/index.ts';
import { resultHocr } from './outputs/hocr.ts';
import { resultText } from './result-format.ts';

/**
 * What the worker needs of the OCR engine: a document's bytes in, pages of lines out; decoding
 * apart (`decode`, `recognizeDecoded`) for the `auto` and `textract` engines, and the DPI PDF
 * pages are rendered at, which Textract's boxes are scaled to.
 */
export interface DocumentRecognizer extends PaddleRecognizer {
  readonly options?: { pdfDpi: number };
}

/** What became of a chunk: `chunk-done` when the job still has other chunks to go. */
export type ChunkOutcome = 'succeeded' | 'chunk-done' | 'dropped';

/**
 * Inputs above this size get no searchable PDF: pdf-lib parses and rewrites the whole document
 * in memory (several times its size) in the worker that assembles, beside the engine's batches.
 */
const SEARCHABLE_PDF_MAX_BYTES = 200 * 1024 * 1024;

/** Page results read at once when a job's result is assembled. */
const ASSEMBLY_READS = 16;

/** Timings of one chunk, for the worker's metrics. */
export interface ChunkTimings {
  decodeMs?: number;
  engineMs?: number;
  pages?: number;
  /** What each engine did (the per-engine metrics). */
  engines?: EngineTally[];
}

/**
 * One work message's step of a job's life, apart from the queue it came from: PROCESSING,
 * the chunk's pages OCR'd and stored, the chunk counted once, and, for whoever sees every
 * chunk counted, the result assembled and the job SUCCEEDED. Errors propagate: the worker
 * decides what a failure means for the message.
 */
export class ChunkProcessor {
  private readonly engines: EngineRouter;

  constructor(
    private readonly runtime: Runtime,
    engine: DocumentRecognizer,
  ) {
    const textract = runtime.textract
      ? new TextractRecognizer(runtime.textract, runtime.textractCompletions, {
          ...(engine.options ? { pdfDpi: engine.options.pdfDpi } : {}),
        })
      : undefined;
    this.engines = new EngineRouter(
      engine,
      textract,
      runtime.config.auto ?? DEFAULT_AUTO_THRESHOLDS,
      runtime.logger,
    );
  }

  async process(work: WorkMessage, timings: ChunkTimings = {}): Promise<ChunkOutcome> {
    const { jobs, logger } = this.runtime;
    const job = await jobs.get(work.tenantId, work.jobId);
    if (!job || isTerminal(job.status)) {
      logger.info('dropping work for a job that is gone or settled', {
        jobId: work.jobId,
        status: job?.status,
      });
      return 'dropped';
    }
    const started = await jobs.transition(job.tenantId, job.jobId, 'PROCESSING', {
      startedAt: new Date().toISOString(),
      priority: job.priority,
    });
    // A later chunk of a job already started: its progress clock restarts (the reconciler
    // takes a PROCESSING job without progress for one that lost its messages).
    if (!started.changed) await jobs.touchProgress(job.tenantId, job.jobId);
    let current = job;
    // The document, when this delivery downloaded it: assembly reuses it for the searchable PDF.
    let input: Buffer | undefined;
    if (!job.chunksDone?.has(work.chunk.index)) {
      const { pages, engines, input: downloaded } = await this.recognizeChunk(job, work, timings);
      input = downloaded;
      const counted = await jobs.completeChunk(job.tenantId, job.jobId, work.chunk.index, pages);
      if (counted.changed) {
        await this.runtime.stats.recordPages(pages).catch((error: unknown) => {
          logger.warn('could not record pages in the throughput stats', { pages, error: error as Error });
        });
        await this.runtime.stats.recordEngines(engines).catch((error: unknown) => {
          logger.warn('could not record the engines in the throughput stats', { error: error as Error });
        });
        await this.runtime.lifecycle.progress(counted.job, work.chunk.index);
      }
      current = counted.job;
    }
    const total = current.chunks?.total ?? 1;
    if ((current.chunksDone?.size ?? 0) < total) return 'chunk-done';
    // Every chunk is stored: whoever sees that first (or again, after a crash) assembles.
    await this.assemble(current, input);
    return 'succeeded';
  }

  /**
   * OCRs the chunk's pages on the job's engine and stores each page's result at its own key;
   * returns the page count and what each engine did (for the per-engine statistics).
   */
  private async recognizeChunk(
    job: Job,
    work: WorkMessage,
    timings: ChunkTimings,
  ): Promise<{ pages: number; engines: EngineTally[]; input: Buffer }> {
    const { blobs } = this.runtime;
    const downloadStarted = performance.now();
    const input = await blobs.get(work.inputKey);
    const engineStarted = performance.now();
    timings.decodeMs = engineStarted - downloadStarted;
    const result = await this.engines.recognize({
      engine: work.engine ?? job.engine ?? 'paddle',
      input,
      inputKey: work.inputKey,
      contentType: work.contentType,
      selection: { firstPage: work.chunk.firstPage, pageCount: work.chunk.pageCount },
      totalPages: job.pages.total,
      // One Textract detection per chunk and queuing: a redelivery finds the same one, a requeue starts anew.
      token: createHash('sha256')
        .update(`${job.jobId}/${work.chunk.index}/${job.queuedAt ?? ''}`)
        .digest('base64url')
        .slice(0, 40),
    });
    timings.engineMs = performance.now() - engineStarted;
    timings.pages = result.pages.length;
    if (result.pages.length === 0) throw new PermanentJobError('INVALID_INPUT', 'the document has no pages');
    await Promise.all(
      result.pages.map((page) =>
        blobs.put(
          objectKeys.pageResult(work.tenantId, work.jobId, page.page),
          JSON.stringify(page),
          'application/json',
        ),
      ),
    );
    timings.engines = tallyEngines(result.pages);
    return { pages: result.pages.length, engines: timings.engines, input };
  }

  /**
   * Joins the page results in page order into result.json, result.txt, the hOCR and the
   * searchable PDF (from `input` when this delivery has the document, else downloaded), then
   * SUCCEEDED (once).
   */
  private async assemble(job: Job, input?: Buffer): Promise<void> {
    const { blobs, lifecycle } = this.runtime;
    // Read several at a time: a 500-page document's results read one by one held its last
    // message for seconds of round trips (bench:pipeline --pages 500).
    const pages: PageResult[] = new Array(job.pages.total);
    let next = 0;
    const reader = async () => {
      for (let index = next++; index < pages.length; index = next++) {
        const bytes = await blobs.get(objectKeys.pageResult(job.tenantId, job.jobId, index + 1));
        pages[index] = JSON.parse(bytes.toString('utf8')) as PageResult;
      }
    };
    await Promise.all(Array.from({ length: Math.min(ASSEMBLY_READS, pages.length) }, reader));
    const result: OcrResult = { pages };
    const jsonKey = objectKeys.resultJson(job.tenantId, job.jobId);
    const textKey = objectKeys.resultText(job.tenantId, job.jobId);
    await blobs.put(jsonKey, JSON.stringify(result), 'application/json');
    await blobs.put(textKey, resultText(result), 'text/plain; charset=utf-8');
    const hocrKey = objectKeys.resultHocr(job.tenantId, job.jobId);
    await blobs.put(
      hocrKey,
      resultHocr(result, { title: job.fileName }),
      'application/xhtml+xml; charset=utf-8',
    );
    const pdfKey = await this.writeSearchablePdf(job, result, input);
    await lifecycle.succeed(job, { jsonKey, textKey, hocrKey, ...(pdfKey ? { pdfKey } : {}) }, pages.length);
  }

  /**
   * The searchable PDF beside the other results. A document pdf-lib cannot rewrite (PDFium read
   * it, pdf-lib's parser is stricter) costs the job this one format, not its OCR: logged, skipped.
   */
  private async writeSearchablePdf(job: Job, result: OcrResult, input?: Buffer): Promise<string | undefined> {
    const { blobs, logger } = this.runtime;
    if (job.sizeBytes > SEARCHABLE_PDF_MAX_BYTES) {
      logger.warn('the document is too large for a searchable PDF; the job has no PDF result', {
        jobId: job.jobId,
        sizeBytes: job.sizeBytes,
      });
      return undefined;
    }
    const source = input ?? (await blobs.get(job.inputKey));
    let pdf: Uint8Array;
    try {
      // pdf-lib (~0.12 s to load) only for jobs that ask for a PDF, not before the first page.
      const { searchablePdf } = await import('./outputs/searchable-pdf.ts');
      pdf = await searchablePdf(result, { bytes: source, contentType: job.contentType });
    } catch (error) {
      logger.warn('could not build the searchable PDF; the job has no PDF result', {
        jobId: job.jobId,
        error: error as Error,
      });
      return undefined;
    }
    const key = objectKeys.resultPdf(job.tenantId, job.jobId);
    await blobs.put(key, Buffer.from(pdf), 'application/pdf');
    return key;
  }
}

/** Pages, engine time and escalations per engine of a chunk's pages. */
function tallyEngines(pages: readonly EnginePage[]): EngineTally[] {
  const tallies = new Map<string, EngineTally>();
  for (const page of pages) {
    const tally = tallies.get(page.engine) ?? { engine: page.engine, pages: 0, ms: 0, escalations: 0 };
    tally.pages++;
    tally.ms += page.ms;
    if (page.escalated) tally.escalations++;
    tallies.set(page.engine, tally);
  }
  return [...tallies.values()];
}
