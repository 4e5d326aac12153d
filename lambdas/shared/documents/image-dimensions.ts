import { imageSize } from 'image-size';
import { PageTooLargeError } from './errors.ts';
import { DEFAULT_MAX_PAGE_PIXELS } from './limits.ts';
import { countTiffPages } from './page-count.ts';

/**
 * Bytes from the start of an image file that hold its size for nearly every file: PNG, WebP
 * and TIFF headers sit in the first few dozen bytes (a TIFF's first IFD may be anywhere, and is
 * then not found), a JPEG's SOF after its APPn segments (EXIF, ICC profile, XMP), each at
 * most 64 KiB.
 */
export const IMAGE_HEADER_BYTES = 256 * 1024;

/** An image's size in pixels as its header states it, before anything is decoded. */
export interface ImageDimensions {
  width: number;
  height: number;
  /** Pages in a TIFF, when the bytes given hold its whole IFD chain (the size is the first page's). */
  pages?: number;
}

/** image-size's name for each image type, and the shortest input it reads that type's size from. */
const IMAGE_TYPES: ReadonlyMap<string, { type: string; minBytes: number }> = new Map([
  ['image/png', { type: 'png', minBytes: 24 }], // signature, IHDR length and type, width, height
  ['image/jpeg', { type: 'jpg', minBytes: 4 }],
  ['image/webp', { type: 'webp', minBytes: 30 }], // RIFF, chunk header, VP8/VP8L/VP8X sizes to byte 30
  ['image/tiff', { type: 'tiff', minBytes: 8 }],
]);

/**
 * The size an image's header gives (`image-size`), from the first bytes of the file; undefined
 * when the header is not within `bytes`, the bytes are not a `contentType` image, or the type
 * is not an image (a PDF's pages are sized by PDFium).
 *
 * @example
 * const head = await blobs.readHead(key, IMAGE_HEADER_BYTES);
 * const size = imageDimensions(head, 'image/png'); // { width: 30000, height: 30000 }
 * const tooLarge = size && pageTooLargeFor(size); // PageTooLargeError
 */
export function imageDimensions(bytes: Uint8Array, contentType: string): ImageDimensions | undefined {
  const known = IMAGE_TYPES.get(contentType.split(';', 1)[0]!.trim().toLowerCase());
  // image-size 2.1 reads through a DataView over the whole underlying buffer and indexes past
  // the end of a short WebP: a truncated header gives garbage sizes, not an error.
  if (!known || bytes.byteLength < known.minBytes) return undefined;
  const { type } = known;
  let size: ReturnType<typeof imageSize>;
  try {
    size = imageSize(ownBuffer(bytes));
  } catch {
    return undefined; // truncated before the size, corrupt, or another format
  }
  const { width, height } = size;
  if (
    size.type !== type ||
    !(Number.isInteger(width) && Number.isInteger(height) && width > 0 && height > 0)
  ) {
    return undefined;
  }
  if (type !== 'tiff') return { width, height };
  try {
    return { width, height, pages: countTiffPages(bytes) };
  } catch {
    return { width, height };
  }
}

/**
 * The error a page of `size` fails with when it has more than `maxPixels` pixels (the same
 * `PageTooLargeError` the PDF renderer throws), or undefined when it fits.
 */
export function pageTooLargeFor(
  size: { width: number; height: number },
  maxPixels: number = DEFAULT_MAX_PAGE_PIXELS,
): PageTooLargeError | undefined {
  const { width, height } = size;
  if (width * height <= maxPixels) return undefined;
  return new PageTooLargeError(
    `the image is ${width}×${height} pixels, more than the limit of ${maxPixels}`,
    width,
    height,
    maxPixels,
  );
}

/** `bytes` over a buffer of exactly its length, so reads past its end fail instead of reading a neighbour's bytes. */
function ownBuffer(bytes: Uint8Array): Uint8Array {
  return bytes.byteOffset === 0 && bytes.byteLength === bytes.buffer.byteLength ? bytes : bytes.slice();
}
