import type { Logger } from '@aws-lambda-powertools/logger';
import { TextractDocumentError } from '../../../lambdas/shared/adapters/textract.ts';
import { PermanentJobError } from '../../../lambdas/shared/errors.ts';
import type { Engine } from '../../../lambdas/shared/job.ts';
import type { DecodedPage, OcrResult, PageResult, PageSelection } from '../ocr/index.ts';
import { type EscalationThresholds, inkShare, pageDifficulty } from './escalation.ts';
import { mapWithLimit } from './map-with-limit.ts';
import type { TextractChunk, TextractRecognizer } from './textract-recognizer.ts';

/** The engine that produced a page of a result. */
export type PageEngine = 'paddle' | 'textract';

/**
 * A page of a result with the engine that read it and its time (additive fields of the result
 * format): `ms` is the page's share of its chunk's engine time, plus Textract's time for an
 * escalated page, which also carries `escalated: true`.
 */
export interface EnginePage extends PageResult {
  engine: PageEngine;
  ms: number;
  escalated?: true;
}

/** What the worker needs of PP-OCR: documents in, pages out; decoding apart for `auto`. */
export interface PaddleRecognizer {
  /** OCRs pages `firstPage` … `firstPage + pageCount - 1` (1-based), numbered as in the document. */
  recognize(input: Buffer, pages?: PageSelection): Promise<OcrResult>;
  /** Decodes the selected pages (the `auto` engine measures their ink and may send them on). */
  decode?(input: Buffer, selection?: PageSelection): Promise<DecodedPage[]>;
  /** OCRs decoded pages, batched with the other documents in hand. */
  recognizeDecoded?(pages: DecodedPage[]): Promise<PageResult[]>;
}

/** One chunk's request: the job's engine, its document and the pages to read. */
export interface EngineRequest extends TextractChunk {
  engine: Engine;
}

/** The pages of a chunk and how many of them `auto` sent on to Textract. */
export interface EngineOutcome {
  pages: EnginePage[];
  escalations: number;
}

/**
 * Runs a chunk on the engine its job asked for: `paddle` (PP-OCR), `textract`, or `auto`, which
 * reads every page with PP-OCR and sends the hard ones ({@link pageDifficulty}) to Textract as
 * images, keeping Textract's page. Without Textract, `auto` keeps PP-OCR's pages and `textract`
 * fails the job with ENGINE_UNAVAILABLE (create refuses such jobs; this is a deployment that lost
 * its Textract settings between create and work).
 */
export class EngineRouter {
  constructor(
    private readonly paddle: PaddleRecognizer,
    private readonly textract: TextractRecognizer | undefined,
    private readonly thresholds: EscalationThresholds,
    private readonly logger?: Pick<Logger, 'warn'>,
  ) {}

  async recognize(request: EngineRequest): Promise<EngineOutcome> {
    switch (request.engine) {
      case 'textract':
        return { pages: await this.viaTextract(request), escalations: 0 };
      case 'auto':
        return this.auto(request);
      default:
        return { pages: await this.viaPaddle(request), escalations: 0 };
    }
  }

  private async viaPaddle(request: EngineRequest): Promise<EnginePage[]> {
    const started = performance.now();
    const { pages } = await this.paddle.recognize(request.input, request.selection);
    const ms = perPage(performance.now() - started, pages.length);
    return pages.map((page) => ({ ...page, engine: 'paddle', ms }));
  }

  private async viaTextract(request: EngineRequest): Promise<EnginePage[]> {
    const { textract, paddle } = this;
    if (!textract)
      throw new PermanentJobError('ENGINE_UNAVAILABLE', 'Textract is not configured on this deployment');
    if (!paddle.decode) throw new Error('the OCR engine cannot decode pages for Textract');
    const decode = paddle.decode.bind(paddle);
    const started = performance.now();
    const { engine: _engine, ...chunk } = request;
    const pages = await textract.recognizeDocument(chunk, (input, selection) => decode(input, selection));
    const ms = perPage(performance.now() - started, pages.length);
    return pages.map((page) => ({ ...page, engine: 'textract', ms }));
  }

  private async auto(request: EngineRequest): Promise<EngineOutcome> {
    const { paddle, textract } = this;
    if (!textract || !paddle.decode || !paddle.recognizeDecoded)
      return { pages: await this.viaPaddle(request), escalations: 0 };
    const started = performance.now();
    const decoded = await paddle.decode(request.input, request.selection);
    const read = await paddle.recognizeDecoded(decoded);
    const ms = perPage(performance.now() - started, read.length);
    let escalations = 0;
    const pages = await mapWithLimit(read, ESCALATIONS_IN_FLIGHT, async (page, i): Promise<EnginePage> => {
      const image = decoded[i]!.image;
      const difficulty = pageDifficulty(page, inkShare(image), this.thresholds);
      if (!difficulty.reason) return { ...page, engine: 'paddle', ms };
      const textractStarted = performance.now();
      try {
        const better = await textract.recognizeImage(image, page.page);
        escalations++;
        return {
          ...better,
          engine: 'textract',
          ms: ms + Math.round(performance.now() - textractStarted),
          escalated: true,
        };
      } catch (error) {
        // A page Textract refuses (too large as an image) keeps PP-OCR's reading; anything else
        // (throttling) sends the chunk back to the queue.
        if (!(error instanceof TextractDocumentError)) throw error;
        this.logger?.warn('Textract refused a hard page; PP-OCR keeps it', {
          page: page.page,
          code: error.code,
        });
        return { ...page, engine: 'paddle', ms };
      }
    });
    return { pages, escalations };
  }
}

/**
 * Hard pages of one chunk sent to Textract at once: its synchronous quota is per account (1 to 25
 * calls per second by region), and several chunks escalate at the same time.
 */
const ESCALATIONS_IN_FLIGHT = 2;

function perPage(ms: number, pages: number): number {
  return pages > 0 ? Math.round(ms / pages) : 0;
}
