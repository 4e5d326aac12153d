import { distance } from './geometry.ts';
import type { Point, Quad, RgbImage } from './types.ts';

/** Crops at least this much taller than wide are turned 90° (PaddleOCR's rule for vertical text). */
export const TALL_CROP_RATIO = 1.5;

/** Size of the upright crop of a quad: its longer top/bottom edge by its longer left/right edge. */
export function cropSize(quad: Quad): { width: number; height: number; rotate: boolean } {
  const [tl, tr, br, bl] = quad;
  const width = Math.max(distance(tl, tr), distance(bl, br));
  const height = Math.max(distance(tl, bl), distance(tr, br));
  const rotate = width > 0 && height / width >= TALL_CROP_RATIO;
  return rotate ? { width: height, height: width, rotate } : { width, height, rotate };
}

/** Solves the 8 unknowns of the homography taking `from[i]` to `to[i]` (Gaussian elimination). */
export function homography(from: readonly Point[], to: readonly Point[]): number[] {
  const a: number[][] = [];
  for (let i = 0; i < 4; i++) {
    const [x, y] = from[i]!;
    const [u, v] = to[i]!;
    a.push([x, y, 1, 0, 0, 0, -u * x, -u * y, u]);
    a.push([0, 0, 0, x, y, 1, -v * x, -v * y, v]);
  }
  for (let col = 0; col < 8; col++) {
    let pivot = col;
    for (let r = col + 1; r < 8; r++) if (Math.abs(a[r]![col]!) > Math.abs(a[pivot]![col]!)) pivot = r;
    [a[col], a[pivot]] = [a[pivot]!, a[col]!];
    const p = a[col]![col]!;
    if (Math.abs(p) < 1e-12) throw new Error('degenerate quad');
    for (let c = col; c < 9; c++) a[col]![c]! /= p;
    for (let r = 0; r < 8; r++) {
      if (r === col) continue;
      const f = a[r]![col]!;
      if (f === 0) continue;
      for (let c = col; c < 9; c++) a[r]![c]! -= f * a[col]![c]!;
    }
  }
  return a.map((row) => row[8]!);
}

/**
 * Samples the quad of `image` into an `outWidth` × `outHeight` upright image (perspective warp,
 * bilinear). With `rotate`, the quad's right edge becomes the top: vertical text reads left to
 * right, as after PaddleOCR's np.rot90.
 */
export function warpQuad(
  image: RgbImage,
  quad: Quad,
  outWidth: number,
  outHeight: number,
  rotate = false,
): RgbImage {
  const [tl, tr, br, bl] = quad;
  const source = rotate ? [tr, br, bl, tl] : [tl, tr, br, bl];
  const dest: Point[] = [
    [0, 0],
    [outWidth, 0],
    [outWidth, outHeight],
    [0, outHeight],
  ];
  const h = homography(dest, source);
  const out = new Uint8Array(outWidth * outHeight * 3);
  const { data, width, height } = image;
  for (let y = 0; y < outHeight; y++) {
    for (let x = 0; x < outWidth; x++) {
      // Sample at the pixel's centre.
      const dx = x + 0.5;
      const dy = y + 0.5;
      const w = h[6]! * dx + h[7]! * dy + 1;
      const sx = (h[0]! * dx + h[1]! * dy + h[2]!) / w - 0.5;
      const sy = (h[3]! * dx + h[4]! * dy + h[5]!) / w - 0.5;
      const x0 = Math.floor(sx);
      const y0 = Math.floor(sy);
      const fx = sx - x0;
      const fy = sy - y0;
      const o = (y * outWidth + x) * 3;
      for (let c = 0; c < 3; c++) {
        const p = (xx: number, yy: number) => {
          const cx = xx < 0 ? 0 : xx >= width ? width - 1 : xx;
          const cy = yy < 0 ? 0 : yy >= height ? height - 1 : yy;
          return data[(cy * width + cx) * 3 + c]!;
        };
        const top = p(x0, y0) * (1 - fx) + p(x0 + 1, y0) * fx;
        const bottom = p(x0, y0 + 1) * (1 - fx) + p(x0 + 1, y0 + 1) * fx;
        out[o + c] = Math.round(top * (1 - fy) + bottom * fy);
      }
    }
  }
  return { data: out, width: outWidth, height: outHeight };
}
