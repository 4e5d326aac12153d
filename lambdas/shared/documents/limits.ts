/**
 * Most pixels (width × height) a page may have: a decompression-bomb guard. The engine's
 * `maxPagePixels` defaults to it and ingest checks image headers against it, so an image the
 * worker would refuse is refused at upload from its header. 50 MP is A4 at ~720 DPI.
 */
export const DEFAULT_MAX_PAGE_PIXELS = 50_000_000;
