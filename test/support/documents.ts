import { createHash } from 'node:crypto';
import { crc32 } from 'node:zlib';
import { PDFDocument, StandardFonts } from 'pdf-lib';
import sharp from 'sharp';

/**
 * Documents generated on the fly for every test that needs one (documents library, engine,
 * worker bundle, end to end): nothing binary is checked in, and nothing needs the network or
 * ../shared.
 */

/** A4 in points. */
export const A4 = { width: 595.28, height: 841.89 } as const;

/** Where {@link textPdf} draws its line, in points from the page's bottom-left corner. */
export const TEXT_LINE = { text: 'Hello OCR 2024', x: 72, baseline: 700, size: 48 } as const;

/** A one-page A4 PDF with one line of large black text ({@link TEXT_LINE}) and nothing else. */
export async function textPdf(): Promise<Uint8Array> {
  const doc = await PDFDocument.create();
  const font = await doc.embedFont(StandardFonts.Helvetica);
  const page = doc.addPage([A4.width, A4.height]);
  page.drawText(TEXT_LINE.text, { x: TEXT_LINE.x, y: TEXT_LINE.baseline, size: TEXT_LINE.size, font });
  return doc.save();
}

/** Size and place of the page number in {@link numberedPdf}'s `label` layout. */
export const PAGE_NUMBER = { x: 72, baseline: 600, size: 120 } as const;

/** Where the `report` layout of {@link numberedPdf} writes its two lines (Helvetica). */
export const REPORT_LINES = {
  x: 72,
  heading: { baseline: 740, size: 30 },
  sentence: { baseline: 680, size: 16, text: 'The quick brown fox jumps over the lazy dog.' },
} as const;

export interface NumberedPdfOptions {
  /**
   * `report` (default): "Page N of the report" over a sentence, lines an OCR run reads back
   * whole to check page order. `label`: "Page N" alone in 120-pt bold, whose right edge a
   * rendering test can find ({@link pageLabelWidth}).
   */
  layout?: 'report' | 'label';
  /** pdf-lib writes object streams (PDF 1.5) unless this is false: a classic cross-reference table. */
  objectStreams?: boolean;
}

/** A4 pages numbered 1..`pages`, so a count, a render or an OCR run can check which page is which. */
export async function numberedPdf(pages: number, options: NumberedPdfOptions = {}): Promise<Buffer> {
  const doc = await PDFDocument.create();
  const label = options.layout === 'label';
  const font = await doc.embedFont(label ? StandardFonts.HelveticaBold : StandardFonts.Helvetica);
  for (let n = 1; n <= pages; n++) {
    const page = doc.addPage([A4.width, A4.height]);
    if (label) {
      page.drawText(`Page ${n}`, { x: PAGE_NUMBER.x, y: PAGE_NUMBER.baseline, size: PAGE_NUMBER.size, font });
      continue;
    }
    const { x, heading, sentence } = REPORT_LINES;
    page.drawText(`Page ${n} of the report`, { x, y: heading.baseline, size: heading.size, font });
    page.drawText(sentence.text, { x, y: sentence.baseline, size: sentence.size, font });
  }
  return Buffer.from(await doc.save({ useObjectStreams: options.objectStreams ?? true }));
}

/** The advance width in points of page `n`'s label in {@link numberedPdf}'s `label` layout. */
export async function pageLabelWidth(n: number): Promise<number> {
  const font = await (await PDFDocument.create()).embedFont(StandardFonts.HelveticaBold);
  return font.widthOfTextAtSize(`Page ${n}`, PAGE_NUMBER.size);
}

/** A one-page PDF of `width` × `height` points (PDF allows up to 14,400: 200 inches). */
export async function sizedPdf(width: number, height: number): Promise<Uint8Array> {
  const doc = await PDFDocument.create();
  doc.addPage([width, height]);
  return doc.save();
}

/**
 * A well-formed PDF encrypted with the standard security handler (RC4, revision 2) whose
 * user password is not empty, so no reader opens it without one. pdf-lib cannot encrypt; the
 * /Encrypt dictionary is what readers detect, and its O and U entries are arbitrary bytes
 * (no password matches them), which is as locked as a file can be.
 */
export function encryptedPdf(): Uint8Array {
  const filler = '<' + 'a5'.repeat(32) + '>';
  const objects = [
    '<< /Type /Catalog /Pages 2 0 R >>',
    '<< /Type /Pages /Kids [3 0 R] /Count 1 >>',
    '<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] >>',
    `<< /Filter /Standard /V 1 /R 2 /Length 40 /P -3904 /O ${filler} /U ${filler} >>`,
  ];
  let body = '%PDF-1.4\n';
  const offsets: number[] = [];
  objects.forEach((object, i) => {
    offsets.push(body.length);
    body += `${i + 1} 0 obj\n${object}\nendobj\n`;
  });
  const xref = body.length;
  body += `xref\n0 ${objects.length + 1}\n0000000000 65535 f \n`;
  for (const offset of offsets) body += `${String(offset).padStart(10, '0')} 00000 n \n`;
  body +=
    `trailer\n<< /Size ${objects.length + 1} /Root 1 0 R /Encrypt 4 0 R ` +
    `/ID [<0123456789abcdef0123456789abcdef> <0123456789abcdef0123456789abcdef>] >>\n` +
    `startxref\n${xref}\n%%EOF\n`;
  return new TextEncoder().encode(body);
}

/** The standard security handler's password padding (PDF 32000-1, 7.6.3.3). */
const PASSWORD_PAD = Uint8Array.from([
  0x28, 0xbf, 0x4e, 0x5e, 0x4e, 0x75, 0x8a, 0x41, 0x64, 0x00, 0x4e, 0x56, 0xff, 0xfa, 0x01, 0x08, 0x2e, 0x2e,
  0x00, 0xb6, 0xd0, 0x68, 0x3e, 0x80, 0x2f, 0x0c, 0xa9, 0xfe, 0x64, 0x53, 0x69, 0x7a,
]);

function rc4(key: Uint8Array, data: Uint8Array): Uint8Array {
  const s = Uint8Array.from({ length: 256 }, (_, i) => i);
  for (let i = 0, j = 0; i < 256; i++) {
    j = (j + s[i]! + key[i % key.length]!) & 0xff;
    [s[i], s[j]] = [s[j]!, s[i]!];
  }
  const out = new Uint8Array(data.length);
  for (let n = 0, i = 0, j = 0; n < data.length; n++) {
    i = (i + 1) & 0xff;
    j = (j + s[i]!) & 0xff;
    [s[i], s[j]] = [s[j]!, s[i]!];
    out[n] = data[n]! ^ s[(s[i]! + s[j]!) & 0xff]!;
  }
  return out;
}

const md5 = (...parts: Uint8Array[]) =>
  new Uint8Array(createHash('md5').update(Buffer.concat(parts)).digest());
const pad = (password: string) =>
  Uint8Array.from([...new TextEncoder().encode(password), ...PASSWORD_PAD].slice(0, 32));
const hex = (bytes: Uint8Array) => `<${Buffer.from(bytes).toString('hex')}>`;

/**
 * A one-page PDF with {@link TEXT_LINE}, really encrypted by the standard security handler
 * (revision 2, 40-bit RC4, the PDF 1.1 scheme), built by hand since pdf-lib cannot encrypt.
 * With an empty `userPassword` it is the common "owner password only" file that readers open
 * without asking; with one, no reader opens it without that password.
 */
export function rc4EncryptedPdf(userPassword: string, ownerPassword = 'owner'): Uint8Array {
  const permissions = -4;
  const id = md5(new TextEncoder().encode(`${userPassword}/${ownerPassword}`));
  const owner = rc4(md5(pad(ownerPassword)).subarray(0, 5), pad(userPassword));
  const p = new Uint8Array(4);
  new DataView(p.buffer).setInt32(0, permissions, true);
  const key = md5(pad(userPassword), owner, p, id).subarray(0, 5);
  const user = rc4(key, PASSWORD_PAD);
  const content = new TextEncoder().encode(
    `BT /F1 ${TEXT_LINE.size} Tf ${TEXT_LINE.x} ${TEXT_LINE.baseline} Td (${TEXT_LINE.text}) Tj ET`,
  );
  // Each object's strings and streams are encrypted with a key salted by its number (here 4 0).
  const encrypted = rc4(md5(key, Uint8Array.from([4, 0, 0, 0, 0])).subarray(0, 10), content);
  const objects: Array<string | Uint8Array> = [
    '<< /Type /Catalog /Pages 2 0 R >>',
    '<< /Type /Pages /Kids [3 0 R] /Count 1 >>',
    `<< /Type /Page /Parent 2 0 R /MediaBox [0 0 ${A4.width} ${A4.height}] /Contents 4 0 R ` +
      '/Resources << /Font << /F1 5 0 R >> >> >>',
    encrypted,
    '<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>',
    `<< /Filter /Standard /V 1 /R 2 /O ${hex(owner)} /U ${hex(user)} /P ${permissions} >>`,
  ];
  const chunks: Buffer[] = [Buffer.from('%PDF-1.4\n', 'latin1')];
  let length = chunks[0]!.length;
  const offsets: number[] = [];
  const push = (chunk: string | Uint8Array) => {
    const bytes = typeof chunk === 'string' ? Buffer.from(chunk, 'latin1') : Buffer.from(chunk);
    chunks.push(bytes);
    length += bytes.length;
  };
  objects.forEach((object, i) => {
    offsets.push(length);
    if (typeof object === 'string') push(`${i + 1} 0 obj\n${object}\nendobj\n`);
    else {
      push(`${i + 1} 0 obj\n<< /Length ${object.length} >>\nstream\n`);
      push(object);
      push('\nendstream\nendobj\n');
    }
  });
  const xref = length;
  push(`xref\n0 ${objects.length + 1}\n0000000000 65535 f \n`);
  for (const offset of offsets) push(`${String(offset).padStart(10, '0')} 00000 n \n`);
  push(
    `trailer\n<< /Size ${objects.length + 1} /Root 1 0 R /Encrypt 6 0 R /ID [${hex(id)} ${hex(id)}] >>\n` +
      `startxref\n${xref}\n%%EOF\n`,
  );
  return new Uint8Array(Buffer.concat(chunks));
}

/** Bytes that look like nothing: a fixed pseudo-random sequence, so failures reproduce. */
export function garbage(length: number, seed = 1): Uint8Array {
  const bytes = new Uint8Array(length);
  let state = seed >>> 0 || 1;
  for (let i = 0; i < length; i++) {
    state ^= state << 13;
    state ^= state >>> 17;
    state ^= state << 5;
    bytes[i] = state & 0xff;
  }
  return bytes;
}

/** A small PNG (or another single-image format sharp writes). */
export async function image(format: 'png' | 'jpeg' | 'webp'): Promise<Uint8Array> {
  const base = sharp({
    create: { width: 32, height: 24, channels: 3, background: { r: 200, g: 30, b: 30 } },
  });
  return base.toFormat(format).toBuffer();
}

/**
 * A multi-page TIFF written by sharp (libvips): little-endian, one IFD per page, each page a
 * different grey so a decoder can tell them apart. `bigtiff` writes the 64-bit variant.
 */
export async function multiPageTiff(pages: number, options: { bigtiff?: boolean } = {}): Promise<Uint8Array> {
  const frames = await Promise.all(
    Array.from({ length: pages }, (_, i) =>
      sharp({ create: { width: 40, height: 30, channels: 3, background: { r: i, g: i, b: i } } })
        .png()
        .toBuffer(),
    ),
  );
  // sharp joins two images or more; one page is just that image.
  return sharp(
    frames.length === 1 ? frames[0] : frames,
    frames.length === 1 ? {} : { join: { animated: true } },
  )
    .tiff({ compression: 'lzw', bigtiff: options.bigtiff ?? false })
    .toBuffer();
}

/**
 * A big-endian ("MM") TIFF assembled by hand, as sharp only writes little-endian: `pages`
 * 1×1 8-bit grey images, each IFD with the minimal baseline tags. `nextOf` may rewrite the
 * link from page i to the next IFD, to build broken chains.
 */
export function bigEndianTiff(pages: number, nextOf?: (page: number, offset: number) => number): Uint8Array {
  const tags: Array<[tag: number, type: number, value: number]> = [
    [256, 3, 1], // ImageWidth
    [257, 3, 1], // ImageLength
    [258, 3, 8], // BitsPerSample
    [259, 3, 1], // Compression: none
    [262, 3, 1], // PhotometricInterpretation: BlackIsZero
    [273, 4, 0], // StripOffsets (patched below)
    [277, 3, 1], // SamplesPerPixel
    [278, 3, 1], // RowsPerStrip
    [279, 4, 1], // StripByteCounts
  ];
  const ifdSize = 2 + tags.length * 12 + 4;
  const pixelsAt = 8 + pages * ifdSize;
  const bytes = new Uint8Array(pixelsAt + pages);
  const view = new DataView(bytes.buffer);
  view.setUint16(0, 0x4d4d);
  view.setUint16(2, 42);
  view.setUint32(4, 8);
  for (let page = 0; page < pages; page++) {
    const at = 8 + page * ifdSize;
    view.setUint16(at, tags.length);
    tags.forEach(([tag, type, value], i) => {
      const entry = at + 2 + i * 12;
      view.setUint16(entry, tag);
      view.setUint16(entry + 2, type);
      view.setUint32(entry + 4, 1);
      // SHORT values sit left-justified in the 4-byte value field.
      if (type === 3) view.setUint16(entry + 8, value);
      else view.setUint32(entry + 8, tag === 273 ? pixelsAt + page : value);
    });
    const next = page === pages - 1 ? 0 : at + ifdSize;
    view.setUint32(at + ifdSize - 4, nextOf ? nextOf(page, next) : next);
    bytes[pixelsAt + page] = (page * 40) & 0xff;
  }
  return bytes;
}

/**
 * A PNG signature and IHDR chunk claiming `width` × `height`, and no image data: all that
 * ingest needs to refuse a decompression bomb.
 */
export function pngHeader(width: number, height: number): Uint8Array {
  const ihdr = Buffer.alloc(25);
  ihdr.writeUInt32BE(13, 0);
  ihdr.write('IHDR', 4, 'latin1');
  ihdr.writeUInt32BE(width, 8);
  ihdr.writeUInt32BE(height, 12);
  ihdr.set([8, 2, 0, 0, 0], 16); // 8-bit RGB, deflate, no filter, no interlace
  ihdr.writeUInt32BE(crc32(ihdr.subarray(4, 21)), 21);
  return Uint8Array.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, ...ihdr]);
}

/**
 * A PDF of `pages` A4 pages, each one JPEG of random noise filling the page, the whole about
 * `totalBytes` long (within a few percent): noise does not compress, so the size is the images'.
 * For uploads larger than one request may carry (multipart); pdf-lib embeds JPEGs as they are.
 */
export async function noisePdf(pages: number, totalBytes: number, seed = 7): Promise<Buffer> {
  const doc = await PDFDocument.create();
  // Random RGB at JPEG quality 100 takes about 2.9 bytes a pixel (measured with sharp 0.35: 26.4 MB for 8 × 2.25 MP).
  const side = Math.round(Math.sqrt(totalBytes / pages / 2.9));
  for (let n = 0; n < pages; n++) {
    const noise = Buffer.from(garbage(side * side * 3, seed + n));
    const jpeg = await sharp(noise, { raw: { width: side, height: side, channels: 3 } })
      .jpeg({ quality: 100, chromaSubsampling: '4:4:4' })
      .toBuffer();
    const image = await doc.embedJpg(jpeg);
    doc.addPage([A4.width, A4.height]).drawImage(image, { x: 0, y: 0, width: A4.width, height: A4.height });
  }
  return Buffer.from(await doc.save());
}
