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
  const [h0, h1, h2, h3, h4, h5, h6, h7] = h as [
    number,
    number,
    number,
    number,
    number,
    number,
    number,
    number,
  ];
  const maxX = width - 1;
  const maxY = height - 1;
  let o = 0;
  for (let y = 0; y < outHeight; y++) {
    // Sample at the pixel's centre.
    const dy = y + 0.5;
    for (let x = 0; x < outWidth; x++) {
      const dx = x + 0.5;
      const w = h6 * dx + h7 * dy + 1;
      const sx = (h0 * dx + h1 * dy + h2) / w - 0.5;
      const sy = (h3 * dx + h4 * dy + h5) / w - 0.5;
      const fx0 = Math.floor(sx);
      const fy0 = Math.floor(sy);
      const fx = sx - fx0;
      const fy = sy - fy0;
      // Clamp to the image: samples outside repeat the edge pixels.
      const x0 = fx0 < 0 ? 0 : fx0 > maxX ? maxX : fx0;
      const x1 = fx0 + 1 < 0 ? 0 : fx0 + 1 > maxX ? maxX : fx0 + 1;
      const y0 = fy0 < 0 ? 0 : fy0 > maxY ? maxY : fy0;
      const y1 = fy0 + 1 < 0 ? 0 : fy0 + 1 > maxY ? maxY : fy0 + 1;
      const a = (y0 * width + x0) * 3;
      const b = (y0 * width + x1) * 3;
      const c = (y1 * width + x0) * 3;
      const d = (y1 * width + x1) * 3;
      const wa = (1 - fx) * (1 - fy);
      const wb = fx * (1 - fy);
      const wc = (1 - fx) * fy;
      const wd = fx * fy;
      out[o] = data[a]! * wa + data[b]! * wb + data[c]! * wc + data[d]! * wd + 0.5;
      out[o + 1] = data[a + 1]! * wa + data[b + 1]! * wb + data[c + 1]! * wc + data[d + 1]! * wd + 0.5;
      out[o + 2] = data[a + 2]! * wa + data[b + 2]! * wb + data[c + 2]! * wc + data[d + 2]! * wd + 0.5;
      o += 3;
    }
  }
  return { data: out, width: outWidth, height: outHeight };
}
