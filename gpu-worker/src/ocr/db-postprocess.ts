import { distance, expandRect, insideConvex, minAreaRect, orderQuad, rectCorners } from './geometry.ts';
import type { Point, Quad } from './types.ts';

export interface DbPostprocessOptions {
  thresh: number;
  boxThresh: number;
  unclipRatio: number;
  maxCandidates: number;
  minSize: number;
}

export interface DetectedBox {
  box: Quad;
  score: number;
}

interface Component {
  minX: number;
  maxX: number;
  minY: number;
  maxY: number;
  label: number;
}

/** 8-connected regions of the bitmap, in scan order; `labels` holds each pixel's region (1-based). */
export function connectedComponents(bitmap: Uint8Array, width: number, height: number) {
  const labels = new Int32Array(width * height);
  const components: Component[] = [];
  const stack = new Int32Array(width * height);
  for (let start = 0; start < bitmap.length; start++) {
    if (!bitmap[start] || labels[start]) continue;
    const label = components.length + 1;
    const c: Component = { minX: width, maxX: -1, minY: height, maxY: -1, label };
    let top = 0;
    stack[top++] = start;
    labels[start] = label;
    while (top > 0) {
      const i = stack[--top]!;
      const x = i % width;
      const y = (i - x) / width;
      if (x < c.minX) c.minX = x;
      if (x > c.maxX) c.maxX = x;
      if (y < c.minY) c.minY = y;
      if (y > c.maxY) c.maxY = y;
      for (let dy = -1; dy <= 1; dy++) {
        const ny = y + dy;
        if (ny < 0 || ny >= height) continue;
        for (let dx = -1; dx <= 1; dx++) {
          const nx = x + dx;
          if (nx < 0 || nx >= width) continue;
          const j = ny * width + nx;
          if (bitmap[j] && !labels[j]) {
            labels[j] = label;
            stack[top++] = j;
          }
        }
      }
    }
    components.push(c);
  }
  return { labels, components };
}

/** The leftmost and rightmost pixel of each row of a region: enough for its convex hull. */
function rowExtremes(labels: Int32Array, width: number, c: Component): Point[] {
  const points: Point[] = [];
  for (let y = c.minY; y <= c.maxY; y++) {
    let left = -1;
    let right = -1;
    const row = y * width;
    for (let x = c.minX; x <= c.maxX; x++) {
      if (labels[row + x] === c.label) {
        if (left < 0) left = x;
        right = x;
      }
    }
    if (left >= 0) {
      points.push([left, y]);
      if (right !== left) points.push([right, y]);
    }
  }
  return points;
}

/** Mean probability over the pixels inside the box (PaddleOCR's box_score_fast). */
export function boxScore(prob: Float32Array, width: number, height: number, box: Quad): number {
  const xs = box.map((p) => p[0]);
  const ys = box.map((p) => p[1]);
  const x0 = Math.max(0, Math.floor(Math.min(...xs)));
  const x1 = Math.min(width - 1, Math.ceil(Math.max(...xs)));
  const y0 = Math.max(0, Math.floor(Math.min(...ys)));
  const y1 = Math.min(height - 1, Math.ceil(Math.max(...ys)));
  let sum = 0;
  let count = 0;
  for (let y = y0; y <= y1; y++) {
    for (let x = x0; x <= x1; x++) {
      if (!insideConvex(box, [x, y])) continue;
      sum += prob[y * width + x]!;
      count++;
    }
  }
  return count > 0 ? sum / count : 0;
}

/**
 * DB post-processing: binarize the probability map, take each text region's minimum-area
 * rectangle, keep those whose mean probability reaches `boxThresh`, grow them back by
 * area × unclipRatio / perimeter (DB shrinks text regions in training), and scale them to
 * the original page (`scaleX`, `scaleY`), clipped to `pageWidth` × `pageHeight`.
 */
export function dbPostprocess(
  prob: Float32Array,
  width: number,
  height: number,
  options: DbPostprocessOptions,
  page: { scaleX: number; scaleY: number; width: number; height: number },
): DetectedBox[] {
  const bitmap = new Uint8Array(width * height);
  for (let i = 0; i < bitmap.length; i++) bitmap[i] = prob[i]! > options.thresh ? 1 : 0;
  const { labels, components } = connectedComponents(bitmap, width, height);
  const boxes: DetectedBox[] = [];
  for (const c of components.slice(0, options.maxCandidates)) {
    const points = rowExtremes(labels, width, c);
    if (points.length < 2) continue;
    const rect = minAreaRect(points);
    if (Math.min(rect.width, rect.height) < options.minSize) continue;
    const score = boxScore(prob, width, height, rectCorners(rect));
    if (score < options.boxThresh) continue;
    const area = rect.width * rect.height;
    const perimeter = 2 * (rect.width + rect.height);
    const grown = expandRect(rect, (area * options.unclipRatio) / perimeter);
    if (Math.min(grown.width, grown.height) < options.minSize + 2) continue;
    const box = rectCorners(grown).map(
      ([x, y]): Point => [
        Math.min(page.width, Math.max(0, Math.round(x * page.scaleX))),
        Math.min(page.height, Math.max(0, Math.round(y * page.scaleY))),
      ],
    );
    const quad = orderQuad(box);
    // PaddleOCR's filter_tag_det_res: boxes that clipping flattened are dropped.
    if (distance(quad[0], quad[1]) <= 3 || distance(quad[0], quad[3]) <= 3) continue;
    boxes.push({ box: quad, score });
  }
  return boxes;
}
