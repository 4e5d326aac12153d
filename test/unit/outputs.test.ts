import { XMLParser, XMLValidator } from 'fast-xml-parser';
import { degrees, PDFDocument } from 'pdf-lib';
import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import type { OcrResult, PageResult, Quad } from '../../gpu-worker/src/ocr/index.ts';
import { resultHocr } from '../../gpu-worker/src/outputs/hocr.ts';
import { searchablePdf } from '../../gpu-worker/src/outputs/searchable-pdf.ts';
import { openPdf } from '../../lambdas/shared/documents/pdf.ts';
import { type PdfRect, pdfPageTexts, pdfTextInRect } from '../../lambdas/shared/documents/pdf-text.ts';
import { numberedPdf } from '../support/documents.ts';

const rect = (x0: number, y0: number, x1: number, y1: number): Quad => [
  [x0, y0],
  [x1, y0],
  [x1, y1],
  [x0, y1],
];

/** A page of lines, each split into words laid out left to right (boxes in page pixels). */
function page(n: number, width: number, height: number, lines: string[], engine?: string): PageResult {
  return {
    page: n,
    width,
    height,
    ...(engine ? { engine } : {}),
    lines: lines.map((text, l) => {
      const y0 = 100 + l * 80;
      let x = 100;
      const words = text.split(' ').map((word, w) => {
        const box = rect(x, y0, x + word.length * 30, y0 + 50);
        x += word.length * 30 + 25;
        return { text: word, confidence: 0.9 - w * 0.01, box };
      });
      return { text, confidence: 0.91, box: rect(100, y0, x - 25, y0 + 50), words };
    }),
  };
}

describe('hOCR', () => {
  const result: OcrResult = {
    pages: [
      page(1, 1654, 2339, ['Invoice <42> & "co"', 'Total 12.00'], 'paddle'),
      page(2, 1654, 2339, ['Page two']),
    ],
  };
  const hocr = resultHocr(result, { title: 'scan.pdf' });

  it('is well-formed XHTML with the hOCR metadata', () => {
    expect(XMLValidator.validate(hocr)).toBe(true);
    expect(hocr).toContain('<meta name="ocr-system" content="ocr-pipeline" />');
    expect(hocr).toContain('<meta name="ocr-capabilities" content="ocr_page ocr_line ocrx_word" />');
  });

  it('has an ocr_page per page, ocr_line per line, ocrx_word per word, with boxes and confidences of the JSON', () => {
    const parsed = new XMLParser({
      ignoreAttributes: false,
      attributeNamePrefix: '',
      parseTagValue: false,
    }).parse(hocr);
    const pages = [parsed.html.body.div].flat();
    expect(pages.map((p: { class: string }) => p.class)).toEqual(['ocr_page', 'ocr_page']);
    expect(pages[0].title).toBe('bbox 0 0 1654 2339; ppageno 0; x_engine paddle');
    result.pages.forEach((jsonPage, p) => {
      const lines = [pages[p].span].flat();
      expect(lines).toHaveLength(jsonPage.lines.length);
      jsonPage.lines.forEach((jsonLine, l) => {
        const [x0, y0, x1, y1] = [
          jsonLine.box[0][0],
          jsonLine.box[0][1],
          jsonLine.box[2][0],
          jsonLine.box[2][1],
        ];
        expect(lines[l].class).toBe('ocr_line');
        expect(lines[l].title).toBe(`bbox ${x0} ${y0} ${x1} ${y1}; x_wconf 91`);
        const words = [lines[l].span].flat();
        expect(words.map((w: { '#text': unknown }) => String(w['#text']))).toEqual(
          jsonLine.words!.map((w) => w.text),
        );
        jsonLine.words!.forEach((word, w) => {
          const box = `${word.box[0][0]} ${word.box[0][1]} ${word.box[2][0]} ${word.box[2][1]}`;
          expect(words[w].class).toBe('ocrx_word');
          expect(words[w].title).toBe(`bbox ${box}; x_wconf ${Math.round(word.confidence * 100)}`);
        });
      });
    });
  });
});

/** Words of a page's text as PDFium extracts it. */
const wordsOf = (text: string) => text.split(/\s+/).filter(Boolean);

describe('searchable PDF', () => {
  it('keeps a PDF\u2019s pages and content and adds text PDFium extracts on each page', async () => {
    const source = await numberedPdf(3);
    const before = await pdfPageTexts(source);
    const result: OcrResult = {
      pages: [1, 2, 3].map((n) => page(n, 1654, 2339, [`Recognised words ${n}`, `Second line p${n}`])),
    };
    const pdf = await searchablePdf(result, { bytes: source, contentType: 'application/pdf' });
    const doc = await openPdf(pdf);
    expect(doc.pageCount).toBe(3);
    doc.close();
    const texts = await pdfPageTexts(pdf);
    texts.forEach((text, i) => {
      // The original text layer is still there (vector content kept) and the new words were added.
      for (const word of wordsOf(before[i]!)) expect(wordsOf(text)).toContain(word);
      for (const word of ['Recognised', 'words', String(i + 1), 'Second', 'line', `p${i + 1}`])
        expect(wordsOf(text)).toContain(word);
    });
  });

  it('places the text on the rotated page where the words were seen', async () => {
    const source = await PDFDocument.create();
    source.addPage([600, 800]).setRotation(degrees(90));
    const bytes = await source.save();
    // Displayed (rotated) the page is 800 × 600 points; at 2 px per point 1600 × 1200 pixels.
    const result: OcrResult = { pages: [page(1, 1600, 1200, ['Rotated text'])] };
    const pdf = await searchablePdf(result, { bytes, contentType: 'application/pdf' });
    expect(wordsOf((await pdfPageTexts(pdf))[0]!)).toEqual(['Rotated', 'text']);
    // "Rotated" spans pixels x 100–310, y 100–150: shown, points 50–155 across and 50–75 down;
    // /Rotate 90 puts the shown page's top-left at the user space origin, across along y, down along x.
    const around = (rect: PdfRect) => pdfTextInRect(pdf, 0, rect);
    expect((await around({ left: 45, bottom: 45, right: 80, top: 160 })).trim()).toBe('Rotated');
    expect((await around({ left: 45, bottom: 160, right: 80, top: 400 })).trim()).toBe('text');
    expect((await around({ left: 200, bottom: 0, right: 600, top: 800 })).trim()).toBe('');
    // Rendering shows nothing: the text is invisible.
    const doc = await openPdf(pdf);
    const rendered = await doc.renderPage(0, { dpi: 36, maxPixels: 10_000_000 });
    doc.close();
    expect(rendered.data.every((v) => v === 255)).toBe(true);
  });

  it('places the text inside the CropBox of an unrotated page', async () => {
    const source = await PDFDocument.create();
    source.addPage([600, 800]).setCropBox(100, 100, 400, 600);
    const bytes = await source.save();
    // The shown page is the 400 × 600 point CropBox; at 2 px per point 800 × 1200 pixels.
    const pdf = await searchablePdf(
      { pages: [page(1, 800, 1200, ['Cropped words'])] },
      { bytes, contentType: 'application/pdf' },
    );
    // "Cropped" spans pixels x 100–310, y 100–150: points 150–255 across, 625–650 up from the media box.
    expect((await pdfTextInRect(pdf, 0, { left: 145, bottom: 620, right: 260, top: 655 })).trim()).toBe(
      'Cropped',
    );
  });

  it('turns a scanned image into a one-page PDF whose extracted text matches', async () => {
    const png = await sharp({
      create: { width: 800, height: 600, channels: 3, background: { r: 255, g: 255, b: 255 } },
    })
      .png()
      .toBuffer();
    const result: OcrResult = { pages: [page(1, 800, 600, ['Hello scanned world', 'Total 12.00'])] };
    const pdf = await searchablePdf(result, { bytes: png, contentType: 'image/png' });
    const texts = await pdfPageTexts(pdf);
    expect(texts).toHaveLength(1);
    expect(wordsOf(texts[0]!)).toEqual(['Hello', 'scanned', 'world', 'Total', '12.00']);
    const loaded = await PDFDocument.load(pdf);
    // 800 px at the default 300 px per inch: 192 points wide.
    expect(loaded.getPage(0).getWidth()).toBeCloseTo(192, 3);
  });

  it('keeps scripts a standard font could not encode', async () => {
    const jpeg = await sharp({ create: { width: 400, height: 300, channels: 3, background: '#fff' } })
      .jpeg()
      .toBuffer();
    const result: OcrResult = { pages: [page(1, 400, 300, ['发票 合计'])] };
    const pdf = await searchablePdf(result, { bytes: jpeg, contentType: 'image/jpeg' });
    expect(wordsOf((await pdfPageTexts(pdf))[0]!)).toEqual(['发票', '合计']);
  });
});
