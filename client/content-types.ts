/** The document types the API accepts, by file extension (the server checks the bytes too). */
const CONTENT_TYPES: Readonly<Record<string, string>> = {
  '.png': 'image/png',
  '.jpg': 'image/jpeg',
  '.jpeg': 'image/jpeg',
  '.tif': 'image/tiff',
  '.tiff': 'image/tiff',
  '.webp': 'image/webp',
  '.pdf': 'application/pdf',
};

/** The content type a file name's extension stands for; undefined for types the API does not take. */
export function contentTypeOf(fileName: string): string | undefined {
  const slash = Math.max(fileName.lastIndexOf('/'), fileName.lastIndexOf('\\'));
  const dot = fileName.lastIndexOf('.');
  return dot <= slash ? undefined : CONTENT_TYPES[fileName.slice(dot).toLowerCase()];
}
