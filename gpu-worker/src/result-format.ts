import type { OcrResult } from './ocr/index.ts';

/** The plain-text result: each page's lines in reading order, pages separated by a form feed. */
export function resultText(result: OcrResult): string {
  return `${result.pages.map((page) => page.lines.map((line) => line.text).join('\n')).join('\n\f\n')}\n`;
}
