/** A point in page pixels. */
export type Point = [number, number];
/** Four corners, clockwise from the top left. */
export type Quad = [Point, Point, Point, Point];

export interface WordResult {
  text: string;
  confidence: number;
  box: Quad;
}

export interface LineResult {
  text: string;
  confidence: number;
  box: Quad;
  words?: WordResult[];
}

export interface PageResult {
  /** 1-based page number within the document. */
  page: number;
  width: number;
  height: number;
  lines: LineResult[];
}

/** The result format of the engine and the pipeline alike (DESIGN.md's contract). */
export interface OcrResult {
  pages: PageResult[];
}

/** 8-bit pixels, 3 channels (RGB), row-major. */
export interface RgbImage {
  data: Uint8Array;
  width: number;
  height: number;
}
