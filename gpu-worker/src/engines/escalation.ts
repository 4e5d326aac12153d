import type { PageResult, RgbImage } from '../ocr/index.ts';

/**
 * When the `auto` engine takes a page for hard: PP-OCR's mean line confidence under
 * `minConfidence`, or a page with ink (`minInk` of its pixels dark) on which PP-OCR found fewer
 * than `minTextChars` characters (handwriting, low contrast, text it failed to detect). Read from
 * OCRQ_AUTO_MIN_CONFIDENCE, OCRQ_AUTO_MIN_INK and OCRQ_AUTO_MIN_TEXT (lambdas/shared/config.ts).
 */
export interface EscalationThresholds {
  minConfidence: number;
  minInk: number;
  minTextChars: number;
}

/** What the `auto` engine saw on a page, and why it is hard (absent when it is not). */
export interface PageDifficulty {
  meanConfidence: number | undefined;
  ink: number;
  chars: number;
  reason?: 'low-confidence' | 'ink-without-text';
}

/** A pixel counts as ink below this luma (0..255): dark enough not to be paper or a light tint. */
const INK_LUMA = 128;
/** Pixels looked at per side: every k-th row and column, k chosen so about 250,000 are read. */
const INK_SAMPLES = 250_000;

/**
 * The share of dark pixels on a page, from a regular sample of its RGB pixels: cheap (a quarter
 * million pixels of a 200-DPI A4 page's 3.9 million) and enough to tell a blank page from one
 * with writing on it.
 */
export function inkShare(image: RgbImage): number {
  const { data, width, height } = image;
  if (width === 0 || height === 0) return 0;
  const step = Math.max(1, Math.floor(Math.sqrt((width * height) / INK_SAMPLES)));
  let dark = 0;
  let seen = 0;
  for (let y = 0; y < height; y += step) {
    let offset = y * width * 3;
    for (let x = 0; x < width; x += step, offset += step * 3) {
      const luma = 0.299 * data[offset]! + 0.587 * data[offset + 1]! + 0.114 * data[offset + 2]!;
      if (luma < INK_LUMA) dark++;
      seen++;
    }
  }
  return seen === 0 ? 0 : dark / seen;
}

/** Whether PP-OCR's reading of a page is hard enough to ask Textract, and the figures behind it. */
export function pageDifficulty(
  page: PageResult,
  ink: number,
  thresholds: EscalationThresholds,
): PageDifficulty {
  const chars = page.lines.reduce((sum, line) => sum + line.text.replace(/\s/g, '').length, 0);
  const meanConfidence =
    page.lines.length > 0
      ? page.lines.reduce((sum, line) => sum + line.confidence, 0) / page.lines.length
      : undefined;
  const figures = { meanConfidence, ink, chars };
  if (meanConfidence !== undefined && meanConfidence < thresholds.minConfidence)
    return { ...figures, reason: 'low-confidence' };
  if (ink >= thresholds.minInk && chars < thresholds.minTextChars)
    return { ...figures, reason: 'ink-without-text' };
  return figures;
}
