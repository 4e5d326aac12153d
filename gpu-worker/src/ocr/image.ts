import sharp, { type Metadata } from 'sharp';
import { ImageTooLargeError, InvalidImageError } from './errors.ts';
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

/** How many pages an image file holds (TIFF may hold many; the rest one). */
export async function imagePageCount(input: Buffer): Promise<number> {
  try {
    const meta = await sharp(input, { pages: 1, limitInputPixels: false }).metadata();
    return meta.pages ?? 1;
  } catch (error) {
    throw new InvalidImageError(`the file is not a readable image: ${(error as Error).message}`);
  }
}

async function decodePage(input: Buffer, index: number, maxPixels: number): Promise<RgbImage> {
  let meta: Metadata;
  try {
    meta = await sharp(input, { page: index, limitInputPixels: false }).metadata();
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
    const { data, info } = await sharp(input, { page: index, limitInputPixels: maxPixels, failOn: 'error' })
      .rotate()
      .flatten({ background: '#ffffff' })
      .toColourspace('srgb')
      .removeAlpha()
      .raw()
      .toBuffer({ resolveWithObject: true });
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
