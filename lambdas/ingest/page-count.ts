import { inflateSync } from 'node:zlib';
import { PermanentJobError } from '../shared/errors.ts';

/** Most IFDs followed in a TIFF: more is a loop or a hostile file. */
const MAX_TIFF_PAGES = 100_000;

/** Pages of a TIFF: the length of its IFD chain (classic TIFF, either byte order; BigTIFF too). */
export function countTiffPages(bytes: Uint8Array): number {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (bytes.length < 8) throw new PermanentJobError('INVALID_INPUT', 'the TIFF file is truncated');
  const little = bytes[0] === 0x49;
  const magic = view.getUint16(2, little);
  const big = magic === 43;
  if (magic !== 42 && !big) throw new PermanentJobError('INVALID_INPUT', 'the file is not a TIFF');
  const readOffset = (at: number) =>
    big ? Number(view.getBigUint64(at, little)) : view.getUint32(at, little);
  let offset = big ? readOffset(8) : readOffset(4);
  const seen = new Set<number>();
  let pages = 0;
  while (offset !== 0) {
    const entrySize = big ? 20 : 12;
    const countSize = big ? 8 : 2;
    if (seen.has(offset) || offset + countSize > bytes.length || pages >= MAX_TIFF_PAGES) {
      throw new PermanentJobError('INVALID_INPUT', 'the TIFF file is corrupt (its page directory is broken)');
    }
    seen.add(offset);
    const entries = big ? Number(view.getBigUint64(offset, little)) : view.getUint16(offset, little);
    const next = offset + countSize + entries * entrySize;
    if (next + (big ? 8 : 4) > bytes.length)
      throw new PermanentJobError('INVALID_INPUT', 'the TIFF file is truncated');
    pages += 1;
    offset = readOffset(next);
  }
  if (pages === 0) throw new PermanentJobError('INVALID_INPUT', 'the TIFF file has no pages');
  return pages;
}

const latin1 = (bytes: Uint8Array) =>
  Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('latin1');

/**
 * Pages of a PDF, from its page tree: the largest `/Count` of a `/Type /Pages` node is the
 * root's. Object streams (PDF 1.5+) are inflated to find nodes stored compressed. An
 * `/Encrypt` dictionary means a password-protected document, which cannot be read.
 */
export function countPdfPages(bytes: Uint8Array): number {
  const text = latin1(bytes);
  if (!text.startsWith('%PDF-')) throw new PermanentJobError('INVALID_INPUT', 'the file is not a PDF');
  if (/\/Encrypt\s*(\d+\s+\d+\s+R|<<)/.test(text)) {
    throw new PermanentJobError(
      'ENCRYPTED_DOCUMENT',
      'the PDF is encrypted (password protected) and cannot be read',
    );
  }
  const counts: number[] = [];
  const collect = (source: string) => {
    // Innermost dictionaries (no nested << >>) that are page-tree nodes, keys in any order.
    for (const m of source.matchAll(/<<((?:(?!<<|>>)[\s\S])*)>>/g)) {
      const body = m[1] ?? '';
      const count = /\/Count\s+(\d+)/.exec(body);
      if (count && /\/Type\s*\/Pages\b/.test(body)) counts.push(Number(count[1]));
    }
  };
  collect(text);
  if (counts.length === 0) {
    for (const m of text.matchAll(/stream\r?\n/g)) {
      const start = (m.index ?? 0) + m[0].length;
      const end = text.indexOf('endstream', start);
      if (end < 0) break;
      try {
        collect(inflateSync(bytes.subarray(start, end)).toString('latin1'));
      } catch {
        // not a Flate stream, or damaged: other streams may still hold the page tree
      }
    }
  }
  if (counts.length === 0 || !text.includes('%%EOF')) {
    throw new PermanentJobError('INVALID_INPUT', 'the PDF is corrupt or truncated (no page tree found)');
  }
  const pages = Math.max(...counts);
  if (pages === 0) throw new PermanentJobError('INVALID_INPUT', 'the PDF has no pages');
  return pages;
}

/** Pages of an uploaded document, for chunking: PNG, JPEG and WebP are one page. */
export async function countPages(bytes: Uint8Array, contentType: string): Promise<number> {
  if (contentType === 'image/tiff') return countTiffPages(bytes);
  if (contentType === 'application/pdf') return countPdfPages(bytes);
  return 1;
}
