import type { Metadata, default as Sharp } from 'sharp';
import { detectionSize } from './detector.ts';
import { ImageTooLargeError, InvalidImageError } from './errors.ts';
import { onceUnlessFailed } from './once.ts';
import type { RgbImage } from './types.ts';

export interface DecodedPage {
  /** 1-based page number within the document. */
  page: number;
  image: RgbImage;
}

export interface PageSelection {
  firstPage: number;
  pageCount: number;
}

/**
 * Lets decodes run side by side, and a rerun of a failed one run alone: no other decode starts
 * while one waits, and it starts when those in flight have ended.
 */
class DecodeGate {
  private inFlight = 0;
  private alone: Promise<void> | undefined;
  private drained: (() => void) | undefined;

  async shared<T>(work: () => Promise<T>): Promise<T> {
    while (this.alone) await this.alone;
    this.inFlight++;
    try {
      return await work();
    } finally {
      if (--this.inFlight === 0) this.drained?.();
    }
  }

  async exclusive<T>(work: () => Promise<T>): Promise<T> {
    while (this.alone) await this.alone;
    let release = () => {};
    this.alone = new Promise<void>((resolve) => {
      release = resolve;
    });
    try {
      if (this.inFlight > 0) await new Promise<void>((resolve) => (this.drained = resolve));
      return await work();
    } finally {
      this.drained = undefined;
      this.alone = undefined;
      release();
    }
  }
}

const gate = new DecodeGate();

/**
 * Runs other libvips work (resizes, encodes) beside the decodes: every sharp pipeline clears
 * libvips's one error buffer when it ends, failed or not, so a failed decode's lone rerun (below)
 * reads its own reason only if nothing else in the process runs libvips meanwhile. Hence all of
 * the engine's libvips work runs on the main thread, through here: the engine threads get pages
 * already resized for detection.
 */
export function withLibvips<T>(work: () => Promise<T>): Promise<T> {
  return gate.shared(work);
}

/**
 * sharp (libvips), loaded at its first use rather than with this module: with its dependencies
 * ~70 ms of the main thread at start, which the engine spends while its threads build their
 * sessions instead of before it starts them (`EngineThreads.start`). A failed load is tried again
 * at the next call; callers await it outside their decode errors, so a missing library is never
 * taken for a bad image.
 */
export const libvips: () => Promise<typeof Sharp> = onceUnlessFailed(
  async () => (await import('sharp')).default,
);

/**
 * A page scaled to its detection input size (bilinear, libvips): the page itself when it already
 * has that size. The engine resizes on its main thread (see `withLibvips`) and hands the result to
 * the detecting thread; engine threads never load this module (nor libvips).
 */
export async function resizeForDetection(image: RgbImage, limit: number): Promise<RgbImage> {
  const size = detectionSize(image.width, image.height, limit);
  if (size.width === image.width && size.height === image.height) return image;
  const sharp = await libvips();
  const data = await withLibvips(() =>
    sharp(image.data, { raw: { width: image.width, height: image.height, channels: 3 } })
      .resize(size.width, size.height, { fit: 'fill', kernel: 'linear' })
      .raw()
      .toBuffer(),
  );
  return { data: new Uint8Array(data.buffer, data.byteOffset, data.length), ...size };
}

/**
 * A libvips error as one reason: libvips repeats a reason on lines of its own (sharp 0.35 reads a
 * corrupt JPEG's header as "Input buffer has corrupt header: VipsJpeg: Bogus Huffman table
 * definition" and the last part twice more), so a line that an earlier one already says is dropped.
 */
function reason(error: unknown): string {
  const lines: string[] = [];
  for (const line of String((error as Error)?.message ?? error).split('\n')) {
    if (line && !lines.some((said) => said.endsWith(line))) lines.push(line);
  }
  return lines.join('\n') || 'Unknown error';
}

/**
 * Runs a libvips decode; when it fails, runs it again alone for the reason. libvips keeps one
 * error buffer per process, so when two decodes fail at once one may read both reasons and the
 * other "Unknown error". Measured with sharp 0.35 (three corrupt PNGs decoding beside six good
 * pages, 60 rounds): 35 of 180 failures said "Unknown error" and 16 gave their reason twice.
 * Failures are rare; good pages pay only the count of decodes in flight.
 */
async function decoding<T>(work: () => Promise<T>): Promise<T> {
  try {
    return await gate.shared(work);
  } catch {
    try {
      return await gate.exclusive(work);
    } catch (error) {
      throw new Error(reason(error));
    }
  }
}

/** How many pages an image file holds (TIFF may hold many; the rest one). */
export async function imagePageCount(input: Buffer): Promise<number> {
  const sharp = await libvips();
  try {
    const meta = await decoding(() => sharp(input, { pages: 1, limitInputPixels: false }).metadata());
    return meta.pages ?? 1;
  } catch (error) {
    throw new InvalidImageError(`the file is not a readable image: ${(error as Error).message}`);
  }
}

async function decodePage(input: Buffer, index: number, maxPixels: number): Promise<RgbImage> {
  const sharp = await libvips();
  let meta: Metadata;
  try {
    meta = await decoding(() => sharp(input, { page: index, limitInputPixels: false }).metadata());
  } catch (error) {
    throw new InvalidImageError(`page ${index + 1} is not a readable image: ${(error as Error).message}`);
  }
  const pixels = (meta.width ?? 0) * (meta.height ?? 0);
  if (pixels > maxPixels) {
    throw new ImageTooLargeError(
      `page ${index + 1} is ${meta.width}×${meta.height} pixels, more than the limit of ${maxPixels}`,
    );
  }
  try {
    const { data, info } = await decoding(() =>
      sharp(input, { page: index, limitInputPixels: maxPixels, failOn: 'error' })
        .rotate()
        .flatten({ background: '#ffffff' })
        .toColourspace('srgb')
        .removeAlpha()
        .raw()
        .toBuffer({ resolveWithObject: true }),
    );
    if (info.channels !== 3) throw new Error(`unexpected ${info.channels} channels`);
    return {
      data: new Uint8Array(data.buffer, data.byteOffset, data.length),
      width: info.width,
      height: info.height,
    };
  } catch (error) {
    throw new InvalidImageError(`page ${index + 1} cannot be decoded: ${(error as Error).message}`);
  }
}

/**
 * Decodes the selected pages of an image file (PNG, JPEG, WebP: one page; TIFF: every page)
 * to RGB, upright by its EXIF orientation, transparency flattened on white. Pages over
 * `maxPixels` are refused from their header, before any pixel is decoded.
 */
export async function decodeImagePages(
  input: Buffer,
  maxPixels: number,
  selection?: PageSelection,
): Promise<DecodedPage[]> {
  if (input.length === 0) throw new InvalidImageError('the file is empty');
  const total = await imagePageCount(input);
  const first = selection?.firstPage ?? 1;
  const last = selection ? Math.min(total, first + selection.pageCount - 1) : total;
  if (first > total) throw new InvalidImageError(`page ${first} was asked for but the image has ${total}`);
  const pages: DecodedPage[] = [];
  for (let page = first; page <= last; page++)
    pages.push({ page, image: await decodePage(input, page - 1, maxPixels) });
  return pages;
}

/**
 * Whether a page holds only black and white pixels (RGB 0,0,0 or 255,255,255): a fax or a 1-bit
 * scan, or a page binarised before OCR. Stops at the first grey or coloured pixel, so a photo or a
 * rendered page costs little (2 ms for a 1700 × 2200 paper with white margins); a bilevel page
 * costs one pass (38 ms for a 3312 × 2550 scan).
 */
export function isBilevel(image: RgbImage): boolean {
  const { data } = image;
  for (let i = 0; i + 2 < data.length; i += 3) {
    const v = data[i]!;
    if ((v !== 0 && v !== 255) || data[i + 1] !== v || data[i + 2] !== v) return false;
  }
  return data.length > 0;
}
