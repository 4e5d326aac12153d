import type { OcrResult, Quad } from '../ocr/index.ts';

/**
 * The result as hOCR 1.2 (http://kba.github.io/hocr-spec/1.2/): XHTML with one `ocr_page` per
 * page, an `ocr_line` per line and an `ocrx_word` per word, each with its `bbox` (the axis-aligned
 * box around the result's quad, in the page's pixels) and `x_wconf` (confidence 0..100). A line
 * without words becomes one word spanning it, so every piece of text sits in an `ocrx_word`.
 * Pages carry `ppageno` (0-based) and, as `x_engine` (hOCR leaves `x_*` properties to engines),
 * the engine that read them when known.
 */
export function resultHocr(result: OcrResult, options: { title?: string } = {}): string {
  const out: string[] = [
    '<?xml version="1.0" encoding="UTF-8"?>',
    '<!DOCTYPE html PUBLIC "-//W3C//DTD XHTML 1.0 Transitional//EN" "http://www.w3.org/TR/xhtml1/DTD/xhtml1-transitional.dtd">',
    '<html xmlns="http://www.w3.org/1999/xhtml" xml:lang="en" lang="en">',
    ' <head>',
    `  <title>${escapeXml(options.title ?? 'OCR result')}</title>`,
    '  <meta http-equiv="Content-Type" content="text/html; charset=utf-8" />',
    '  <meta name="ocr-system" content="ocr-pipeline" />',
    '  <meta name="ocr-capabilities" content="ocr_page ocr_line ocrx_word" />',
    ' </head>',
    ' <body>',
  ];
  for (const page of result.pages) {
    const p = page.page;
    const engine = (page as { engine?: string }).engine;
    const source = engine ? `; x_engine ${engine}` : '';
    out.push(
      `  <div class="ocr_page" id="page_${p}" title="bbox 0 0 ${page.width} ${page.height}; ppageno ${p - 1}${source}">`,
    );
    page.lines.forEach((line, l) => {
      out.push(
        `   <span class="ocr_line" id="line_${p}_${l + 1}" title="bbox ${bbox(line.box)}; x_wconf ${wconf(line.confidence)}">`,
      );
      const words = line.words && line.words.length > 0 ? line.words : [line];
      words.forEach((word, w) => {
        out.push(
          `    <span class="ocrx_word" id="word_${p}_${l + 1}_${w + 1}" title="bbox ${bbox(word.box)}; x_wconf ${wconf(word.confidence)}">${escapeXml(word.text)}</span>`,
        );
      });
      out.push('   </span>');
    });
    out.push('  </div>');
  }
  out.push(' </body>', '</html>', '');
  return out.join('\n');
}

/** `x0 y0 x1 y1`: the whole-pixel box around a quad (hOCR boxes are axis-aligned). */
function bbox(box: Quad): string {
  const xs = box.map((p) => p[0]);
  const ys = box.map((p) => p[1]);
  return [Math.min(...xs), Math.min(...ys), Math.max(...xs), Math.max(...ys)]
    .map((v) => Math.max(0, Math.round(v)))
    .join(' ');
}

function wconf(confidence: number): number {
  return Math.round(Math.min(1, Math.max(0, confidence)) * 100);
}

/** Text as XML character data: the five markup characters escaped, characters XML forbids dropped. */
function escapeXml(text: string): string {
  return text
    .replace(/[^\t\n\r\u0020-\uD7FF\uE000-\uFFFD\u{10000}-\u{10FFFF}]/gu, '')
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;')
    .replace(/'/g, '&apos;');
}
