import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import { EncryptedDocumentError, InvalidDocumentError } from '../../lambdas/shared/documents/errors.ts';
import {
  countPages,
  countTiffPages,
  countTiffPagesRanged,
  TIFF_READ_BLOCK_BYTES,
} from '../../lambdas/shared/documents/page-count.ts';
import { isPermanent, jobErrorOf } from '../../lambdas/shared/errors.ts';
import {
  bigEndianTiff,
  encryptedPdf,
  garbage,
  image,
  multiPageTiff,
  numberedPdf,
  rc4EncryptedPdf,
  textPdf,
} from '../support/documents.ts';

describe('countPages', () => {
  it('counts PNG, JPEG and WebP as one page', async () => {
    for (const format of ['png', 'jpeg', 'webp'] as const) {
      expect(await countPages(await image(format), `image/${format}`)).toBe(1);
    }
    expect(await countPages(await image('png'), 'IMAGE/PNG; charset=binary')).toBe(1);
  });

  it('counts the pages of PDFs with PDFium', async () => {
    expect(await countPages(await textPdf(), 'application/pdf')).toBe(1);
    expect(await countPages(await numberedPdf(40), 'application/pdf')).toBe(40);
    expect(await countPages(await numberedPdf(7, { objectStreams: false }), 'application/pdf')).toBe(7);
  });

  it('counts the IFDs of TIFFs sharp writes, classic and BigTIFF, as sharp sees them', async () => {
    for (const pages of [1, 3, 12]) {
      const tiff = await multiPageTiff(pages);
      expect(await countPages(tiff, 'image/tiff')).toBe(pages);
      expect((await sharp(tiff).metadata()).pages).toBe(pages);
    }
    const big = await multiPageTiff(4, { bigtiff: true });
    expect(new DataView(big.buffer, big.byteOffset).getUint16(2, true)).toBe(43);
    expect(await countPages(big, 'image/tiff')).toBe(4);
  });

  it('counts big-endian TIFFs', async () => {
    const tiff = bigEndianTiff(5);
    expect(String.fromCharCode(tiff[0]!, tiff[1]!)).toBe('MM');
    expect(countTiffPages(tiff)).toBe(5);
    // The hand-made file is a real TIFF: libvips reads all five pages.
    expect((await sharp(tiff).metadata()).pages).toBe(5);
  });

  it('refuses TIFF chains that loop, leave the file or are cut short', () => {
    const loops = bigEndianTiff(3, (page, next) => (page === 2 ? 8 : next));
    expect(() => countTiffPages(loops)).toThrow(/loops/);
    const outside = bigEndianTiff(3, (page, next) => (page === 1 ? 0x7fff_fff0 : next));
    expect(() => countTiffPages(outside)).toThrow(/outside the file/);
    const intoHeader = bigEndianTiff(2, (page, next) => (page === 0 ? 4 : next));
    expect(() => countTiffPages(intoHeader)).toThrow(InvalidDocumentError);
    const whole = bigEndianTiff(4);
    expect(() => countTiffPages(whole.subarray(0, 8 + 2 * 114 + 50))).toThrow(/truncated/);
    expect(() => countTiffPages(whole.subarray(0, 6))).toThrow(/truncated/);
    const noPages = Uint8Array.from([0x49, 0x49, 42, 0, 0, 0, 0, 0]);
    expect(() => countTiffPages(noPages)).toThrow(/no pages/);
    expect(() => countTiffPages(Uint8Array.from([0x49, 0x49, 44, 0, 8, 0, 0, 0]))).toThrow(/not a TIFF/);
    expect(() => countTiffPages(garbage(64))).toThrow(InvalidDocumentError);
  });

  it('counts a TIFF through ranged reads of its page directories alone, with the same refusals', async () => {
    const ranged = async (bytes: Uint8Array) => {
      const reads: Array<[number, number]> = [];
      const pages = await countTiffPagesRanged(bytes.byteLength, async (offset, length) => {
        reads.push([offset, length]);
        return bytes.subarray(offset, offset + length);
      });
      return { pages, reads };
    };
    for (const tiff of [
      await multiPageTiff(12),
      await multiPageTiff(4, { bigtiff: true }),
      bigEndianTiff(5),
    ]) {
      const { pages, reads } = await ranged(tiff);
      expect(pages).toBe(countTiffPages(tiff));
      expect(reads.every(([offset, length]) => offset >= 0 && offset + length <= tiff.byteLength)).toBe(true);
    }
    // A 40 MB file whose directories sit 10 MB apart: four pages, a handful of block reads.
    const spread = bigEndianTiff(4, (page, next) => (page < 3 ? (page + 1) * 10_000_000 : next));
    const padded = new Uint8Array(40_000_200);
    padded.set(spread.subarray(0, 8 + 114));
    for (const page of [1, 2, 3])
      padded.set(spread.subarray(8 + page * 114, 8 + (page + 1) * 114), page * 10_000_000);
    const counted = await ranged(padded);
    expect(counted.pages).toBe(countTiffPages(padded));
    expect(counted.pages).toBe(4);
    expect(counted.reads.length).toBeLessThanOrEqual(5);
    expect(counted.reads.every(([, length]) => length <= TIFF_READ_BLOCK_BYTES)).toBe(true);
    const loops = bigEndianTiff(3, (page, next) => (page === 2 ? 8 : next));
    await expect(ranged(loops)).rejects.toThrow(/loops/);
    await expect(ranged(bigEndianTiff(4).subarray(0, 8 + 2 * 114 + 50))).rejects.toThrow(/truncated/);
  });

  it('throws typed permanent errors for encrypted and broken documents', async () => {
    for (const bytes of [encryptedPdf(), rc4EncryptedPdf('secret')]) {
      const encrypted = await countPages(bytes, 'application/pdf').catch((e: unknown) => e);
      expect(encrypted).toBeInstanceOf(EncryptedDocumentError);
      expect(encrypted).toMatchObject({ code: 'DOCUMENT_ENCRYPTED' });
      expect(isPermanent(encrypted) && jobErrorOf(encrypted).code).toBe('ENCRYPTED_DOCUMENT');
    }
    // Encrypted for permissions only (no user password): readable, so counted.
    expect(await countPages(rc4EncryptedPdf(''), 'application/pdf')).toBe(1);

    const pdf = await numberedPdf(3);
    for (const bytes of [new Uint8Array(0), pdf.subarray(0, pdf.length >> 1), garbage(500)]) {
      const error = await countPages(bytes, 'application/pdf').catch((e: unknown) => e);
      expect(error).toBeInstanceOf(InvalidDocumentError);
      expect(error).toMatchObject({ code: 'DOCUMENT_INVALID' });
      expect(isPermanent(error) && jobErrorOf(error).code).toBe('INVALID_INPUT');
    }
    await expect(countPages(new Uint8Array(0), 'image/tiff')).rejects.toBeInstanceOf(InvalidDocumentError);
    await expect(countPages(pdf, 'text/plain')).rejects.toBeInstanceOf(InvalidDocumentError);
  });
});
