import type { Quad } from './types.ts';

/**
 * Reading order: top to bottom, and left to right among boxes on the same row. Boxes are
 * sorted by their top-left corner; then, as in PaddleOCR's sorted_boxes, neighbours whose tops
 * differ by less than half the smaller box's height count as one row and are ordered by x.
 */
export function readingOrder<T extends { box: Quad }>(items: readonly T[]): T[] {
  const top = (q: Quad) => Math.min(q[0][1], q[1][1]);
  const left = (q: Quad) => Math.min(q[0][0], q[3][0]);
  const height = (q: Quad) => Math.max(q[3][1] - q[0][1], q[2][1] - q[1][1], 1);
  const sorted = [...items].sort((a, b) => top(a.box) - top(b.box) || left(a.box) - left(b.box));
  for (let i = 0; i < sorted.length - 1; i++) {
    for (let j = i; j >= 0; j--) {
      const a = sorted[j]!;
      const b = sorted[j + 1]!;
      const sameRow = Math.abs(top(b.box) - top(a.box)) < Math.min(height(a.box), height(b.box)) / 2;
      if (sameRow && left(b.box) < left(a.box)) {
        sorted[j] = b;
        sorted[j + 1] = a;
      } else break;
    }
  }
  return sorted;
}
