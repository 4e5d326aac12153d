import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import { DEFAULT_ENGINE_OPTIONS } from '../../gpu-worker/src/ocr/options.ts';
import {
  DEFAULT_MAX_PAGE_PIXELS,
  IMAGE_HEADER_BYTES,
  imageDimensions,
  PageTooLargeError,
  pageTooLargeFor,
} from '../../lambdas/shared/documents/index.ts';
import { jobErrorOf } from '../../lambdas/shared/errors.ts';
import { multiPageTiff, numberedPdf, pngHeader } from '../support/documents.ts';

const picture = (width: number, height: number) =>
  sharp({ create: { width, height, channels: 3, background: '#6a7' } });

/** Copies, so a truncated input has no bytes past its end (a subarray would keep its neighbours). */
const head = (bytes: Uint8Array, length: number) => Uint8Array.from(bytes.subarray(0, length));

describe('imageDimensions', () => {
  it('reads the size of PNG, JPEG, WebP (lossy, lossless, extended) and TIFF from the header', async () => {
    const cases: [Uint8Array, string][] = [
      [await picture(301, 203).png().toBuffer(), 'image/png'],
      [await picture(301, 203).jpeg().toBuffer(), 'image/jpeg'],
      [await picture(301, 203).webp().toBuffer(), 'image/webp'],
      [await picture(301, 203).webp({ lossless: true }).toBuffer(), 'image/webp'],
      [await picture(301, 203).ensureAlpha(0.5).webp().toBuffer(), 'image/webp'],
      [await picture(301, 203).tiff().toBuffer(), 'image/tiff'],
    ];
    for (const [bytes, type] of cases) {
      expect(imageDimensions(bytes, type), type).toMatchObject({ width: 301, height: 203 });
    }
    expect(imageDimensions(cases[0]![0], 'image/png; charset=binary')).toEqual({ width: 301, height: 203 });
  });

  it('reads a 30000×30000 PNG from its 33-byte header alone', () => {
    expect(imageDimensions(pngHeader(30_000, 30_000), 'image/png')).toEqual({
      width: 30_000,
      height: 30_000,
    });
  });

  it('finds a JPEG SOF after a large EXIF segment, within IMAGE_HEADER_BYTES', async () => {
    const jpeg = await picture(640, 480)
      .withExif({ IFD0: { ImageDescription: 'x'.repeat(60_000) } })
      .jpeg()
      .toBuffer();
    const sof = jpeg.indexOf(Buffer.from([0xff, 0xc0]));
    expect(sof).toBeGreaterThan(60_000);
    expect(imageDimensions(head(jpeg, IMAGE_HEADER_BYTES), 'image/jpeg')).toEqual({
      width: 640,
      height: 480,
    });
    expect(imageDimensions(head(jpeg, sof + 9), 'image/jpeg')).toEqual({ width: 640, height: 480 });
    expect(imageDimensions(head(jpeg, sof), 'image/jpeg')).toBeUndefined();
  });

  it('is undefined when the header is not within the bytes given', async () => {
    const png = await picture(301, 203).png().toBuffer();
    const webp = await picture(301, 203).webp().toBuffer();
    const jpeg = await picture(301, 203).jpeg().toBuffer();
    for (const length of [0, 8, 16, 23])
      expect(imageDimensions(head(png, length), 'image/png')).toBeUndefined();
    for (const length of [0, 12, 16, 29])
      expect(imageDimensions(head(webp, length), 'image/webp')).toBeUndefined();
    for (const length of [0, 2, 16, 100])
      expect(imageDimensions(head(jpeg, length), 'image/jpeg')).toBeUndefined();
    // A view of a short head inside a larger buffer is not read past its end either.
    const pool = Buffer.concat([webp, webp]);
    expect(imageDimensions(pool.subarray(0, 16), 'image/webp')).toBeUndefined();
    expect(imageDimensions(pool.subarray(webp.length), 'image/webp')).toEqual({ width: 301, height: 203 });
  });

  it('is undefined for another format than declared, and for PDFs', async () => {
    const png = await picture(30, 20).png().toBuffer();
    expect(imageDimensions(png, 'image/jpeg')).toBeUndefined();
    expect(imageDimensions(png, 'application/pdf')).toBeUndefined();
    expect(imageDimensions(await numberedPdf(1), 'application/pdf')).toBeUndefined();
    expect(imageDimensions(Buffer.from('not an image at all, just some text'), 'image/png')).toBeUndefined();
  });

  it("gives a TIFF's first page size, and its page count when the whole file is given", async () => {
    const tiff = await multiPageTiff(3);
    const whole = imageDimensions(tiff, 'image/tiff');
    expect(whole).toMatchObject({ pages: 3 });
    expect(whole!.width).toBeGreaterThan(0);
    const first = imageDimensions(await picture(64, 32).tiff().toBuffer(), 'image/tiff');
    expect(first).toEqual({ width: 64, height: 32, pages: 1 });
  });
});

describe('pageTooLargeFor', () => {
  it("uses the engine's pixel limit, so ingest refuses what the worker would", () => {
    expect(DEFAULT_ENGINE_OPTIONS.maxPagePixels).toBe(DEFAULT_MAX_PAGE_PIXELS);
    expect(pageTooLargeFor({ width: 5_000, height: 10_000 })).toBeUndefined();
    expect(pageTooLargeFor({ width: 5_000, height: 10_001 })).toBeInstanceOf(PageTooLargeError);
  });

  it('refuses a 30000×30000 PNG header with PAGE_TOO_LARGE, naming its size', () => {
    const size = imageDimensions(pngHeader(30_000, 30_000), 'image/png');
    const error = size && pageTooLargeFor(size);
    expect(error).toMatchObject({ width: 30_000, height: 30_000, maxPixels: DEFAULT_MAX_PAGE_PIXELS });
    expect(jobErrorOf(error!)).toEqual({
      code: 'PAGE_TOO_LARGE',
      message: 'the image is 30000×30000 pixels, more than the limit of 50000000',
    });
    expect(pageTooLargeFor({ width: 100, height: 100 }, 9_999)).toBeInstanceOf(PageTooLargeError);
  });
});
