import { PDFDocument, StandardFonts } from 'pdf-lib';

/** A PDF of `pages` A4 pages, each saying which page it is in large type, then a sentence. */
export async function numberedPdf(pages: number): Promise<Buffer> {
  const doc = await PDFDocument.create();
  const font = await doc.embedFont(StandardFonts.Helvetica);
  for (let i = 1; i <= pages; i++) {
    const page = doc.addPage([595, 842]);
    page.drawText(`Page ${i} of the report`, { x: 72, y: 740, size: 30, font });
    page.drawText('The quick brown fox jumps over the lazy dog.', { x: 72, y: 680, size: 16, font });
  }
  return Buffer.from(await doc.save());
}

/** A minimal PDF whose trailer has an /Encrypt dictionary, as password-protected files do. */
export function encryptedPdf(): Buffer {
  return Buffer.from(
    '%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj\n2 0 obj<</Type/Pages/Kids[]/Count 0>>endobj\n' +
      'trailer<</Root 1 0 R/Encrypt<</Filter/Standard/V 1/R 2/O(xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx)' +
      '/U(xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx)/P -4>>/ID[<01><01>]>>\n%%EOF',
  );
}
