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

/** A byte range the TIFF walk needs next. */
interface TiffRead {
  offset: number;
  length: number;
}

/**
 * Pages of a TIFF: the length of its IFD chain, walked from the header. Classic TIFF and
 * BigTIFF, either byte order. A chain that loops, points outside the file or runs past its end
 * is refused rather than guessed at.
 */
export function countTiffPages(bytes: Uint8Array): number {
  const walk = walkTiff(bytes.byteLength);
  for (let step = walk.next(); ; ) {
    if (step.done) return step.value;
    const { offset, length } = step.value;
    step = walk.next(bytes.subarray(offset, offset + length));
  }
}

/** Bytes a ranged TIFF walk reads at a time: a block often holds several pages' directories. */
export const TIFF_READ_BLOCK_BYTES = 256 * 1024;

/**
 * {@link countTiffPages} for a TIFF that is not in memory (a multi-gigabyte scan in S3): the same
 * walk, reading only the header and the page directories through `read` (ranged GETs), a block
 * of {@link TIFF_READ_BLOCK_BYTES} at a time, so memory stays small whatever the file's size.
 */
export async function countTiffPagesRanged(
  sizeBytes: number,
  read: (offset: number, length: number) => Promise<Uint8Array>,
): Promise<number> {
  let block: { offset: number; bytes: Uint8Array } = { offset: 0, bytes: new Uint8Array() };
  const walk = walkTiff(sizeBytes);
  for (let step = walk.next(); ; ) {
    if (step.done) return step.value;
    const { offset, length } = step.value;
    if (offset < block.offset || offset + length > block.offset + block.bytes.byteLength) {
      const blockLength = Math.min(Math.max(length, TIFF_READ_BLOCK_BYTES), sizeBytes - offset);
      block = { offset, bytes: await read(offset, blockLength) };
    }
    const at = offset - block.offset;
    step = walk.next(block.bytes.subarray(at, at + length));
  }
}

/**
 * The IFD chain walk, as a generator that asks for each byte range it needs (always inside the
 * file: it checks `size` first) and returns the page count, so one walk serves bytes in memory
 * and ranged reads alike.
 */
function* walkTiff(size: number): Generator<TiffRead, number, Uint8Array> {
  const read = function* (offset: number, length: number): Generator<TiffRead, DataView, Uint8Array> {
    const bytes = yield { offset, length };
    if (bytes.byteLength < length) throw new InvalidDocumentError('the TIFF file is truncated');
    return new DataView(bytes.buffer, bytes.byteOffset, length);
  };
  if (size < 8) throw new InvalidDocumentError('the TIFF file is truncated (no header)');
  const header = yield* read(0, Math.min(16, size));
  const order = header.getUint16(0);
  if (order !== 0x4949 && order !== 0x4d4d) throw new InvalidDocumentError('the file is not a TIFF');
  const little = order === 0x4949;
  const version = header.getUint16(2, little);
  let big: boolean;
  if (version === 42) big = false;
  else if (version === 43) big = true;
  else throw new InvalidDocumentError('the file is not a TIFF');
  if (big && (size < 16 || header.getUint16(4, little) !== 8 || header.getUint16(6, little) !== 0)) {
    throw new InvalidDocumentError('the BigTIFF header is corrupt');
  }
  const headerSize = big ? 16 : 8;
  const countSize = big ? 8 : 2;
  const entrySize = big ? 20 : 12;
  const pointerSize = big ? 8 : 4;
  /** An offset stored at `at` of `view`; BigTIFF offsets beyond 2^53 are past any file and fail the range check. */
  const offsetAt = (view: DataView, at: number) =>
    big ? Number(view.getBigUint64(at, little)) : view.getUint32(at, little);

  const seen = new Set<number>();
  let pages = 0;
  for (let ifd = offsetAt(header, big ? 8 : 4); ifd !== 0; pages++) {
    if (seen.has(ifd)) throw new InvalidDocumentError('the TIFF file is corrupt (its page chain loops)');
    if (pages >= MAX_TIFF_PAGES)
      throw new InvalidDocumentError(`the TIFF has more than ${MAX_TIFF_PAGES} pages`);
    if (ifd < headerSize || ifd + countSize > size) {
      throw new InvalidDocumentError(
        'the TIFF file is corrupt or truncated (a page offset is outside the file)',
      );
    }
    seen.add(ifd);
    const countView = yield* read(ifd, countSize);
    const entries = big ? Number(countView.getBigUint64(0, little)) : countView.getUint16(0, little);
    const next = ifd + countSize + entries * entrySize;
    if (next + pointerSize > size) {
      throw new InvalidDocumentError('the TIFF file is truncated (a page directory runs past its end)');
    }
    ifd = offsetAt(yield* read(next, pointerSize), 0);
  }
  if (pages === 0) throw new InvalidDocumentError('the TIFF has no pages');
  return pages;
}
