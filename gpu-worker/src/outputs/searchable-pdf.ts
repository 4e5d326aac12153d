import { PDFDocument, type PDFPage, type PDFRef, PDFString } from 'pdf-lib';
import sharp from 'sharp';
import { withLibvips } from '../ocr/image.ts';
import type { OcrResult, PageResult, Point, Quad } from '../ocr/index.ts';

/**
 * The searchable PDF: the document's own pages with an invisible text layer on the recognised
 * words, so any viewer can select and search them.
 *
 * - A PDF input keeps its pages as they are (pdf-lib copies the objects: vector content, fonts,
 *   annotations untouched); each page gets one more content stream, wrapped so the page's own
 *   graphics state cannot move it (`q … Q` around the original streams).
 * - An image input (PNG, JPEG, WebP, TIFF with its pages) becomes one page per image, the image
 *   drawn full-page (a JPEG embedded as it is, others as PNG), with the same text layer.
 *
 * The text is drawn in render mode 3 (invisible) with a "glyphless" Type0 font: Identity-H
 * encoding whose two-byte codes are the text's UTF-16 code units, a ToUnicode CMap that maps every
 * code to itself (so extraction gives the text back in any script: PP-OCR reads Chinese, a
 * standard 14 font would not encode it), every glyph 1000 units wide, no font program (nothing is
 * drawn). Each word gets a text matrix that maps its characters onto its box: the baseline along
 * the box's bottom edge, the glyph height the box's height, so a selection covers the word and a
 * tilted box gives tilted text.
 *
 * Coordinates: result boxes are pixels of the page as rendered (after /Rotate, over the CropBox,
 * at the worker's DPI), or of the image. They are scaled by the page's displayed size over the
 * result page's size (so the DPI need not be known) and mapped through the page's rotation into
 * the unrotated user space of its CropBox.
 */
export interface SourceDocument {
  bytes: Uint8Array;
  contentType: string;
}

/** Images without a resolution of their own are laid out at this many pixels per inch. */
const DEFAULT_IMAGE_DPI = 300;
const FONT_TAG = 'OcrText';

export async function searchablePdf(result: OcrResult, source: SourceDocument): Promise<Uint8Array> {
  if (source.contentType === 'application/pdf') return overlayPdf(result, source.bytes);
  return imagesPdf(result, source);
}

async function overlayPdf(result: OcrResult, bytes: Uint8Array): Promise<Uint8Array> {
  const doc = await PDFDocument.load(bytes, { updateMetadata: false });
  const font = glyphlessFont(doc);
  const pages = doc.getPages();
  for (const page of result.pages) {
    const pdfPage = pages[page.page - 1];
    if (!pdfPage) continue;
    addTextLayer(doc, pdfPage, page, font, { wrap: true });
  }
  return doc.save();
}

async function imagesPdf(result: OcrResult, source: SourceDocument): Promise<Uint8Array> {
  const doc = await PDFDocument.create();
  const font = glyphlessFont(doc);
  const isJpeg = source.contentType === 'image/jpeg';
  for (const page of result.pages) {
    const input = sharp(source.bytes, { page: page.page - 1, limitInputPixels: false });
    const meta = await withLibvips(() => input.metadata());
    const image = isJpeg
      ? await doc.embedJpg(source.bytes)
      : await doc.embedPng(await withLibvips(() => input.toColourspace('srgb').png().toBuffer()));
    const dpi = meta.density && meta.density > 72 ? meta.density : DEFAULT_IMAGE_DPI;
    const width = (image.width * 72) / dpi;
    const height = (image.height * 72) / dpi;
    const pdfPage = doc.addPage([width, height]);
    pdfPage.drawImage(image, { x: 0, y: 0, width, height });
    addTextLayer(doc, pdfPage, page, font, { wrap: false });
  }
  return doc.save();
}

/** The glyphless Type0 font (see the module's comment), added once per document. */
function glyphlessFont(doc: PDFDocument): PDFRef {
  const { context } = doc;
  const ranges: string[] = [];
  for (let high = 0; high < 256; high++) {
    const hex = high.toString(16).padStart(2, '0').toUpperCase();
    ranges.push(`<${hex}00> <${hex}FF> <${hex}00>`);
  }
  // bfrange entries may only vary in their last byte, hence one range per high byte.
  const cmap = [
    '/CIDInit /ProcSet findresource begin',
    '12 dict begin',
    'begincmap',
    '/CIDSystemInfo << /Registry (Adobe) /Ordering (UCS) /Supplement 0 >> def',
    '/CMapName /Adobe-Identity-UCS def',
    '/CMapType 2 def',
    '1 begincodespacerange',
    '<0000> <FFFF>',
    'endcodespacerange',
    ...[0, 100, 200].flatMap((start) => {
      const chunk = ranges.slice(start, start + 100);
      return [`${chunk.length} beginbfrange`, ...chunk, 'endbfrange'];
    }),
    'endcmap',
    'CMapName currentdict /CMap defineresource pop',
    'end',
    'end',
  ].join('\n');
  const toUnicode = context.register(context.flateStream(cmap));
  const descriptor = context.register(
    context.obj({
      Type: 'FontDescriptor',
      FontName: 'GlyphLessFont',
      Flags: 4,
      FontBBox: [0, 0, 1000, 1000],
      ItalicAngle: 0,
      Ascent: 1000,
      Descent: 0,
      CapHeight: 1000,
      StemV: 80,
    }),
  );
  const cidFont = context.register(
    context.obj({
      Type: 'Font',
      Subtype: 'CIDFontType2',
      BaseFont: 'GlyphLessFont',
      CIDSystemInfo: context.obj({
        Registry: PDFString.of('Adobe'),
        Ordering: PDFString.of('Identity'),
        Supplement: 0,
      }),
      FontDescriptor: descriptor,
      DW: 1000,
      CIDToGIDMap: 'Identity',
    }),
  );
  return context.register(
    context.obj({
      Type: 'Font',
      Subtype: 'Type0',
      BaseFont: 'GlyphLessFont',
      Encoding: 'Identity-H',
      DescendantFonts: [cidFont],
      ToUnicode: toUnicode,
    }),
  );
}

/** Adds the page's words as invisible text in one new content stream of the page. */
function addTextLayer(
  doc: PDFDocument,
  pdfPage: PDFPage,
  page: PageResult,
  font: PDFRef,
  options: { wrap: boolean },
): void {
  const toUser = userSpaceMapping(pdfPage, page);
  const fontName = pdfPage.node.newFontDictionary(FONT_TAG, font);
  const ops: string[] = [];
  for (const line of page.lines) {
    const words = line.words && line.words.length > 0 ? line.words : [line];
    for (const word of words) {
      const op = wordOperators(word.text, word.box, toUser, fontName.asString());
      if (op) ops.push(op);
    }
  }
  if (ops.length === 0) return;
  const { context } = doc;
  if (options.wrap) {
    pdfPage.node.wrapContentStreams(
      context.register(context.stream('q\n')),
      context.register(context.stream('\nQ\n')),
    );
  }
  pdfPage.node.addContentStream(context.register(context.flateStream(ops.join('\n'))));
}

/**
 * `BT … ET` for one word: invisible, its code units as two-byte codes, the text matrix spanning
 * the box from the bottom-left corner (origin) to the bottom-right (advance) and top-left (height).
 */
function wordOperators(
  text: string,
  box: Quad,
  toUser: (point: Point) => Point,
  fontName: string,
): string | undefined {
  const units = text.trim();
  if (units.length === 0) return undefined;
  const [topLeft, , bottomRight, bottomLeft] = box;
  const origin = toUser(bottomLeft);
  const right = toUser(bottomRight);
  const top = toUser(topLeft);
  const advance: Point = [(right[0] - origin[0]) / units.length, (right[1] - origin[1]) / units.length];
  const up: Point = [top[0] - origin[0], top[1] - origin[1]];
  if (Math.hypot(...advance) < 1e-3 || Math.hypot(...up) < 1e-3) return undefined;
  let hex = '';
  for (let i = 0; i < units.length; i++) hex += units.charCodeAt(i).toString(16).padStart(4, '0');
  const matrix = [...advance, ...up, ...origin].map((v) => num(v)).join(' ');
  return `BT ${fontName} 1 Tf 3 Tr ${matrix} Tm <${hex}> Tj ET`;
}

/** Maps a point in the result page's pixels (top-left origin, as displayed) to PDF user space. */
function userSpaceMapping(pdfPage: PDFPage, page: PageResult): (point: Point) => Point {
  const crop = pdfPage.getCropBox();
  const rotation = (((pdfPage.getRotation().angle % 360) + 360) % 360) as 0 | 90 | 180 | 270;
  const quarter = rotation === 90 || rotation === 270;
  const shownWidth = quarter ? crop.height : crop.width;
  const shownHeight = quarter ? crop.width : crop.height;
  const sx = shownWidth / Math.max(1, page.width);
  const sy = shownHeight / Math.max(1, page.height);
  return ([x, y]) => {
    const dx = x * sx;
    const dy = y * sy;
    switch (rotation) {
      case 90:
        return [crop.x + dy, crop.y + dx];
      case 180:
        return [crop.x + crop.width - dx, crop.y + dy];
      case 270:
        return [crop.x + crop.width - dy, crop.y + crop.height - dx];
      default:
        return [crop.x + dx, crop.y + crop.height - dy];
    }
  };
}

function num(value: number): string {
  return (Math.round(value * 1000) / 1000).toString();
}
