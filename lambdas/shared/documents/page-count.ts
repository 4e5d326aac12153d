import { InvalidDocumentError } from './errors.ts';
import { pdfPageCount } from './pdf.ts';

/** Most IFDs followed in a TIFF: far above any page limit, so more is a hostile file. */
const MAX_TIFF_PAGES = 100_000;

const SINGLE_PAGE_TYPES = new Set(['image/png', 'image/jpeg', 'image/webp']);

/**
 * Pages of an uploaded document, for chunking: PNG, JPEG and WebP are one page, a TIFF has one
 * per IFD, a PDF as many as PDFium (the renderer the worker uses) finds, so ingest and worker
 * agree on the numbering.
 *
 * @throws {InvalidDocumentError} a corrupt, truncated or empty document, or an unknown type
 * @throws {EncryptedDocumentError} a password-protected PDF
 */
export async function countPages(bytes: Uint8Array, contentType: string): Promise<number> {
  const type = contentType.split(';', 1)[0]!.trim().toLowerCase();
  if (type === 'application/pdf') return pdfPageCount(bytes);
  if (type === 'image/tiff') return countTiffPages(bytes);
  if (SINGLE_PAGE_TYPES.has(type)) return 1;
  throw new InvalidDocumentError(`cannot count the pages of a ${contentType} file`);
}

/**
 * Pages of a TIFF: the length of its IFD chain, walked from the header. Classic TIFF and
 * BigTIFF, either byte order. A chain that loops, points outside the file or runs past its end
 * is refused rather than guessed at.
 */
export function countTiffPages(bytes: Uint8Array): number {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (bytes.byteLength < 8) throw new InvalidDocumentError('the TIFF file is truncated (no header)');
  const order = view.getUint16(0);
  if (order !== 0x4949 && order !== 0x4d4d) throw new InvalidDocumentError('the file is not a TIFF');
  const little = order === 0x4949;
  const version = view.getUint16(2, little);
  let big: boolean;
  if (version === 42) big = false;
  else if (version === 43) big = true;
  else throw new InvalidDocumentError('the file is not a TIFF');
  if (big && (bytes.byteLength < 16 || view.getUint16(4, little) !== 8 || view.getUint16(6, little) !== 0)) {
    throw new InvalidDocumentError('the BigTIFF header is corrupt');
  }
  const headerSize = big ? 16 : 8;
  const countSize = big ? 8 : 2;
  const entrySize = big ? 20 : 12;
  const pointerSize = big ? 8 : 4;
  /** An offset stored at `at`; BigTIFF offsets beyond 2^53 are past any file and fail the range check. */
  const offsetAt = (at: number) => (big ? Number(view.getBigUint64(at, little)) : view.getUint32(at, little));

  const seen = new Set<number>();
  let pages = 0;
  for (let ifd = offsetAt(big ? 8 : 4); ifd !== 0; pages++) {
    if (seen.has(ifd)) throw new InvalidDocumentError('the TIFF file is corrupt (its page chain loops)');
    if (pages >= MAX_TIFF_PAGES)
      throw new InvalidDocumentError(`the TIFF has more than ${MAX_TIFF_PAGES} pages`);
    if (ifd < headerSize || ifd + countSize > bytes.byteLength) {
      throw new InvalidDocumentError(
        'the TIFF file is corrupt or truncated (a page offset is outside the file)',
      );
    }
    seen.add(ifd);
    const entries = big ? Number(view.getBigUint64(ifd, little)) : view.getUint16(ifd, little);
    const next = ifd + countSize + entries * entrySize;
    if (next + pointerSize > bytes.byteLength) {
      throw new InvalidDocumentError('the TIFF file is truncated (a page directory runs past its end)');
    }
    ifd = offsetAt(next);
  }
  if (pages === 0) throw new InvalidDocumentError('the TIFF has no pages');
  return pages;
}
