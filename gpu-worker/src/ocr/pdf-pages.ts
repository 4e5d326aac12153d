import { openPdf } from '../../../lambdas/shared/documents/pdf.ts';
import { InvalidImageError } from './errors.ts';
import type { DecodedPage, PageSelection } from './image.ts';
import type { RgbImage } from './types.ts';

/** The same pixels in a SharedArrayBuffer, so engine threads read them without a copy each. */
export function shareImage(image: RgbImage): RgbImage {
  if (image.data.buffer instanceof SharedArrayBuffer) return image;
  const data = new Uint8Array(new SharedArrayBuffer(image.data.length));
  data.set(image.data);
  return { data, width: image.width, height: image.height };
}

/**
 * Renders the selected pages of a PDF to RGB with PDFium (`lambdas/shared/documents`). The
 * engine runs it on an engine thread (see `engine-thread.ts`), so pages come back shared.
 */
export async function renderPdfPages(
  input: Uint8Array,
  maxPixels: number,
  dpi: number,
  selection?: PageSelection,
): Promise<DecodedPage[]> {
  const doc = await openPdf(input);
  try {
    const first = selection?.firstPage ?? 1;
    const last = selection ? Math.min(doc.pageCount, first + selection.pageCount - 1) : doc.pageCount;
    if (first > doc.pageCount) {
      throw new InvalidImageError(`page ${first} was asked for but the PDF has ${doc.pageCount}`);
    }
    const pages: DecodedPage[] = [];
    for (let page = first; page <= last; page++)
      pages.push({ page, image: shareImage(await doc.renderPage(page - 1, { dpi, maxPixels })) });
    return pages;
  } finally {
    doc.close();
  }
}
