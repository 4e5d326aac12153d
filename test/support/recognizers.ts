import type { OcrResult, PageSelection } from '../../gpu-worker/src/ocr/index.ts';
import type { DocumentRecognizer } from '../../gpu-worker/src/worker.ts';

/**
 * Recognizers for tests of the control plane: they read page N as "page N" at once, so a job
 * runs end to end without the OCR's time. The engine itself is tested in test/engine and
 * test/e2e/pipeline.test.ts.
 */

/** The result of the selected pages, each one line "page N". */
export function pageNumberResult(pages: PageSelection = { firstPage: 1, pageCount: 1 }): OcrResult {
  return {
    pages: Array.from({ length: pages.pageCount }, (_, i) => ({
      page: pages.firstPage + i,
      width: 100,
      height: 100,
      lines: [
        {
          text: `page ${pages.firstPage + i}`,
          confidence: 0.99,
          box: [
            [0, 0],
            [50, 0],
            [50, 10],
            [0, 10],
          ],
        },
      ],
    })),
  };
}

/** Reads page N as "page N", after `delayMs` per call (a test that must catch work in flight). */
export class PageRecognizer implements DocumentRecognizer {
  delayMs = 0;
  calls = 0;
  async recognize(_input: Buffer, pages?: PageSelection): Promise<OcrResult> {
    this.calls += 1;
    if (this.delayMs > 0) await new Promise((done) => setTimeout(done, this.delayMs));
    return pageNumberResult(pages);
  }
}
