import { crc32 } from 'node:zlib';
import type ort from 'onnxruntime-node';
import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import { cropSize, warpQuad } from '../../gpu-worker/src/ocr/crop.ts';
import { ctcGreedyDecode, type DecodedChar, decodeLine, splitWords } from '../../gpu-worker/src/ocr/ctc.ts';
import { dbPostprocess } from '../../gpu-worker/src/ocr/db-postprocess.ts';
import { detectionSize, normalizeForDetection, TextDetector } from '../../gpu-worker/src/ocr/detector.ts';
import { ImageTooLargeError, InvalidImageError } from '../../gpu-worker/src/ocr/errors.ts';
import { convexHull, minAreaRect, rectCorners } from '../../gpu-worker/src/ocr/geometry.ts';
import { decodeImagePages, resizeForDetection } from '../../gpu-worker/src/ocr/image.ts';
import { DEFAULT_ENGINE_OPTIONS } from '../../gpu-worker/src/ocr/options.ts';
import { readingOrder } from '../../gpu-worker/src/ocr/reading-order.ts';
import { batchWidth } from '../../gpu-worker/src/ocr/recognizer.ts';
import type { Quad } from '../../gpu-worker/src/ocr/types.ts';

const DB = { thresh: 0.3, boxThresh: 0.6, unclipRatio: 1.5, maxCandidates: 1000, minSize: 3 };

function probabilityMap(
  width: number,
  height: number,
  rects: Array<[number, number, number, number, number]>,
) {
  const map = new Float32Array(width * height);
  for (const [x0, y0, x1, y1, p] of rects) {
    for (let y = y0; y <= y1; y++) for (let x = x0; x <= x1; x++) map[y * width + x] = p;
  }
  return map;
}

describe('DB post-processing', () => {
  it('finds one box per text region, grown back by the unclip distance and scaled to the page', () => {
    // Two regions: 41×9 and 21×5 pixels of probability 0.9.
    const map = probabilityMap(100, 60, [
      [10, 10, 50, 18, 0.9],
      [60, 40, 80, 44, 0.9],
    ]);
    const boxes = dbPostprocess(map, 100, 60, DB, { scaleX: 2, scaleY: 2, width: 200, height: 120 });
    expect(boxes).toHaveLength(2);
    // The first region's rectangle (pixel coordinates 10..50 × 10..18: 40×8) grows by
    // 40·8·1.5 / (2·48) = 5 on each side, then doubles: x 10..110, y 10..46.
    expect(boxes[0]!.box).toEqual([
      [10, 10],
      [110, 10],
      [110, 46],
      [10, 46],
    ]);
    expect(boxes[0]!.score).toBeCloseTo(0.9, 5);
  });

  it('drops regions whose mean probability is under the box threshold, and specks', () => {
    const map = probabilityMap(100, 60, [
      [10, 10, 50, 18, 0.5],
      [70, 30, 71, 31, 0.99],
    ]);
    expect(dbPostprocess(map, 100, 60, DB, { scaleX: 1, scaleY: 1, width: 100, height: 60 })).toEqual([]);
  });

  it('clips boxes to the page', () => {
    const map = probabilityMap(64, 32, [[0, 0, 40, 10, 0.95]]);
    const [box] = dbPostprocess(map, 64, 32, DB, { scaleX: 1, scaleY: 1, width: 64, height: 32 });
    for (const [x, y] of box!.box) {
      expect(x).toBeGreaterThanOrEqual(0);
      expect(y).toBeGreaterThanOrEqual(0);
    }
  });
});

describe('geometry', () => {
  it('finds the minimum-area rectangle of a rotated rectangle', () => {
    const angle = (20 * Math.PI) / 180;
    const corners = [
      [0, 0],
      [100, 0],
      [100, 20],
      [0, 20],
    ].map(
      ([x, y]) =>
        [x! * Math.cos(angle) - y! * Math.sin(angle), x! * Math.sin(angle) + y! * Math.cos(angle)] as [
          number,
          number,
        ],
    );
    const rect = minAreaRect([...corners, [50 * Math.cos(angle), 50 * Math.sin(angle)]]);
    expect(Math.max(rect.width, rect.height)).toBeCloseTo(100, 6);
    expect(Math.min(rect.width, rect.height)).toBeCloseTo(20, 6);
    const quad = rectCorners(rect);
    expect(quad[0][0]).toBeLessThan(quad[1][0]);
    expect(quad[0][1]).toBeLessThan(quad[3][1]);
  });

  it('keeps only the hull of a point set', () => {
    const hull = convexHull([
      [0, 0],
      [2, 0],
      [1, 1],
      [2, 2],
      [0, 2],
    ]);
    expect(hull).toHaveLength(4);
    expect(hull).not.toContainEqual([1, 1]);
  });
});

describe('crops', () => {
  // A 40×20 image: left half black, right half white.
  const image = {
    width: 40,
    height: 20,
    data: Uint8Array.from({ length: 40 * 20 * 3 }, (_, i) => (Math.floor(i / 3) % 40 < 20 ? 0 : 255)),
  };

  it('samples an axis-aligned quad pixel for pixel', () => {
    const quad: Quad = [
      [10, 5],
      [30, 5],
      [30, 15],
      [10, 15],
    ];
    expect(cropSize(quad)).toEqual({ width: 20, height: 10, rotate: false });
    const crop = warpQuad(image, quad, 20, 10);
    expect(crop.data[0]).toBe(0); // left edge: black
    expect(crop.data[(5 * 20 + 19) * 3]).toBe(255); // right edge: white
    expect(crop.data[(5 * 20 + 5) * 3]).toBe(0);
  });

  it('turns crops that are much taller than wide', () => {
    const tall: Quad = [
      [0, 0],
      [10, 0],
      [10, 20],
      [0, 20],
    ];
    expect(cropSize(tall)).toEqual({ width: 20, height: 10, rotate: true });
    // Turned: the quad's right edge (white) becomes the top row.
    const crop = warpQuad(image, tall, 20, 10, true);
    expect(crop.width).toBe(20);
    expect(crop.data[0]).toBe(0);
  });
});

describe('CTC decoding', () => {
  const dictionary = ['', 'a', 'b', 'c', ' '];
  const SPLIT = { spaceProb: 0.05, gapRatio: 1.2, gapSpaceProb: 0.01, closingGapRatio: 2 };
  /**
   * Columns of one-hot-ish probabilities for the given class per column; `space[t]` sets the
   * space class's probability in column t (default `spaceElsewhere`: 0.025, like every losing class).
   */
  const columns = (classes: number[], space: Record<number, number> = {}, spaceElsewhere = 0.025) => {
    const probs = new Float32Array(classes.length * dictionary.length);
    classes.forEach((k, t) => {
      for (let c = 0; c < dictionary.length; c++) probs[t * dictionary.length + c] = c === k ? 0.9 : 0.025;
      if (k !== 4) probs[t * dictionary.length + 4] = space[t] ?? spaceElsewhere;
    });
    return probs;
  };

  it('collapses repeats, drops blanks, keeps doubled letters split by a blank', () => {
    const chars = ctcGreedyDecode(columns([1, 1, 0, 1, 2, 2, 0, 0, 3]), 0, 9, 5, dictionary);
    expect(chars.map((c) => c.char).join('')).toBe('aabc');
    expect(chars.map((c) => [c.start, c.end])).toEqual([
      [0, 1],
      [3, 3],
      [4, 5],
      [8, 8],
    ]);
    expect(decodeLine(chars, SPLIT).confidence).toBeCloseTo(0.9, 5);
  });

  it('recovers a dropped space from a wide gap between characters', () => {
    // "abc" then a gap of 8 columns then "abc": pitch 3 columns.
    const classes = [1, 0, 0, 2, 0, 0, 3, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 2, 0, 0, 3];
    const chars = ctcGreedyDecode(columns(classes), 0, 21, 5, dictionary);
    const words = splitWords(chars, SPLIT);
    expect(words.map((w) => w.text)).toEqual(['abc', 'abc']);
    expect(words[1]!.start).toBe(14);
    expect(splitWords(chars, { ...SPLIT, gapRatio: 10 }).map((w) => w.text)).toEqual(['abcabc']);
    // A wide gap where the space class stays at zero is not a boundary.
    const silent = ctcGreedyDecode(columns(classes, {}, 0), 0, 21, 5, dictionary);
    expect(splitWords(silent, SPLIT).map((w) => w.text)).toEqual(['abcabc']);
  });

  it('splits where the space class rises between two characters, without a wide gap', () => {
    // "abc" "abc" at an even pitch of 3 columns; the space class reaches 0.2 between the words.
    const classes = [1, 0, 0, 2, 0, 0, 3, 0, 0, 1, 0, 0, 2, 0, 0, 3];
    const chars = ctcGreedyDecode(columns(classes, { 7: 0.2 }), 0, 16, 5, dictionary);
    expect(chars[3]!.spaceBefore).toBeCloseTo(0.2, 5);
    expect(chars[1]!.spaceBefore).toBeCloseTo(0.025, 5);
    expect(decodeLine(chars, SPLIT).text).toBe('abc abc');
    expect(decodeLine(chars, { ...SPLIT, spaceProb: 0.5 }).text).toBe('abcabc');
  });

  it('keeps a decimal number whole where the space class rises beside its point', () => {
    // "12.50 x" with the space class at 0.3 right after the point, and at 0.3 before the "x".
    const char = (c: string, t: number, spaceBefore = 0): DecodedChar => ({
      char: c,
      start: t,
      end: t,
      prob: 0.9,
      spaceBefore,
    });
    const line = (text: string) => [...text].map((c, i) => char(c, i * 3, c === '5' || c === 'x' ? 0.3 : 0));
    expect(decodeLine(line('12.50x'), SPLIT).text).toBe('12.50 x');
    // Not after a point that ends a word, nor around a comma.
    expect(decodeLine(line('ab.5'), SPLIT).text).toBe('ab. 5');
    expect(decodeLine(line('1,5'), SPLIT).text).toBe('1, 5');
  });

  it('sets closing punctuation apart only across a clear gap', () => {
    const at = (text: string, columns: number[], spaceBefore: number[]) =>
      [...text].map(
        (c, i): DecodedChar => ({
          char: c,
          start: columns[i]!,
          end: columns[i]!,
          prob: 0.9,
          spaceBefore: spaceBefore[i]!,
        }),
      );
    // "TOTAL" at a pitch of 3 columns, then ":" 12 columns on, a little space between them.
    const wide = at('TOTAL:', [0, 3, 6, 9, 12, 24], [0, 0, 0, 0, 0, 0.02]);
    expect(decodeLine(wide, SPLIT).words.map((w) => w.text)).toEqual(['TOTAL', ':']);
    // The same colon right after the word: the space class alone does not set it apart.
    const close = at('TOTAL:', [0, 3, 6, 9, 12, 15], [0, 0, 0, 0, 0, 0.3]);
    expect(decodeLine(close, SPLIT).text).toBe('TOTAL:');
    // A gap of twice the pitch or less keeps it on the word.
    const near = at('TOTAL:', [0, 3, 6, 9, 12, 17], [0, 0, 0, 0, 0, 0.02]);
    expect(decodeLine(near, SPLIT).text).toBe('TOTAL:');
  });

  it('reads fullwidth ASCII forms as ASCII on a Latin line, and leaves a Chinese line as read', () => {
    const line = (text: string) =>
      [...text].map(
        (c, i): DecodedChar => ({ char: c, start: i * 3, end: i * 3, prob: 0.9, spaceBefore: 0 }),
      );
    expect(decodeLine(line('（CO.REG：933109-X）'), SPLIT).text).toBe('(CO.REG:933109-X)');
    expect(decodeLine(line('RM６，00！'), SPLIT).text).toBe('RM6,00!');
    // The ideographic space is a word boundary once read as a space.
    expect(decodeLine(line('TOTAL\u3000：'), SPLIT).words.map((w) => w.text)).toEqual(['TOTAL', ':']);
    expect(decodeLine(line('谢谢（THANK YOU）'), SPLIT).text).toBe('谢谢（THANK YOU）');
    expect(decodeLine(line('ありがとう，OK'), SPLIT).text).toBe('ありがとう，OK');
  });

  it('keeps spaces the recogniser emitted', () => {
    const chars = ctcGreedyDecode(columns([1, 0, 2, 4, 3, 0, 1]), 0, 7, 5, dictionary);
    expect(decodeLine(chars, SPLIT).text).toBe('ab ca');
  });
});

describe('reading order', () => {
  const box = (x: number, y: number, w = 50, h = 20): { box: Quad } => ({
    box: [
      [x, y],
      [x + w, y],
      [x + w, y + h],
      [x, y + h],
    ],
  });

  it('reads rows top to bottom and left to right within a row', () => {
    const items = [box(300, 103), box(10, 100), box(10, 200), box(150, 98)];
    expect(readingOrder(items).map((i) => i.box[0])).toEqual([
      [10, 100],
      [150, 98],
      [300, 103],
      [10, 200],
    ]);
  });
});

describe('sizes', () => {
  it('scales detection input to the limit in multiples of 32', () => {
    expect(detectionSize(1654, 2339, 960)).toEqual({ width: 672, height: 960 });
    expect(detectionSize(500, 300, 960)).toEqual({ width: 512, height: 288 });
    expect(detectionSize(10, 10, 960)).toEqual({ width: 32, height: 32 });
  });

  it('resizes in a detector only with the resize it was given: engine threads get pages resized', async () => {
    const page = { data: new Uint8Array(500 * 300 * 3).fill(255), width: 500, height: 300 };
    let runs = 0;
    const session = {
      inputNames: ['x'],
      outputNames: ['y'],
      run: async (feeds: Record<string, ort.Tensor>) => {
        runs += 1;
        const [, , h, w] = feeds.x!.dims as number[];
        return { y: { data: new Float32Array(h! * w!) } };
      },
    } as unknown as ort.InferenceSession;
    await expect(new TextDetector(session, DEFAULT_ENGINE_OPTIONS).detect(page)).rejects.toThrow(
      /500×300 page reached detection unresized \(its input is 512×288\)/,
    );
    expect(runs).toBe(0);
    expect(await new TextDetector(session, DEFAULT_ENGINE_OPTIONS, resizeForDetection).detect(page)).toEqual(
      [],
    );
    const resized = await resizeForDetection(page, DEFAULT_ENGINE_OPTIONS.detLimitSideLen);
    expect(await new TextDetector(session, DEFAULT_ENGINE_OPTIONS).detect(resized)).toEqual([]);
    expect(runs).toBe(2);
  });

  it('normalises detection input as PaddleOCR does: BGR planes, (v / 255 − ImageNet mean) / std', () => {
    const [mean, std] = [
      [0.485, 0.456, 0.406],
      [0.229, 0.224, 0.225],
    ];
    // Every byte value in every channel: 256 pixels of 3 bytes, RGB.
    const rgb = Uint8Array.from({ length: 768 }, (_, i) => (i * 7 + (i % 3) * 85) % 256);
    const out = new Float32Array(768);
    normalizeForDetection(rgb, 16, 16, out);
    for (let i = 0; i < 256; i++) {
      for (let c = 0; c < 3; c++) {
        const expected = Math.fround((rgb[i * 3 + (2 - c)]! / 255 - mean[c]!) / std[c]!);
        expect(out[c * 256 + i]).toBe(expected);
      }
    }
  });

  it('buckets recognition batch widths', () => {
    expect(batchWidth([2, 3], 48, 320, 32)).toBe(320);
    expect(batchWidth([10.1], 48, 320, 32)).toBe(512);
    expect(batchWidth([10.1], 48, 320, 64)).toBe(512);
    expect(batchWidth([10.5], 48, 320, 64)).toBe(512);
    expect(batchWidth([11], 48, 320, 64)).toBe(576);
  });
});

describe('image decoding', () => {
  it('refuses bytes that are no image, and empty files, with a typed permanent error', async () => {
    await expect(decodeImagePages(Buffer.from('not an image'), 1e8)).rejects.toBeInstanceOf(
      InvalidImageError,
    );
    await expect(decodeImagePages(Buffer.alloc(0), 1e8)).rejects.toMatchObject({
      code: 'IMAGE_INVALID',
      permanent: true,
    });
  });

  it('refuses a page over the pixel limit from its header (decompression bomb)', async () => {
    // A real 1×1 PNG whose header is rewritten to claim 30000×30000 pixels (2.7 GB decoded).
    const png = Buffer.from(
      await sharp({ create: { width: 1, height: 1, channels: 3, background: '#fff' } })
        .png()
        .toBuffer(),
    );
    png.writeUInt32BE(30_000, 16);
    png.writeUInt32BE(30_000, 20);
    png.writeUInt32BE(crc32(png.subarray(12, 29)), 29);
    await expect(decodeImagePages(png, 50_000_000)).rejects.toBeInstanceOf(ImageTooLargeError);
  });

  it('refuses a truncated image', async () => {
    const png = await sharp({ create: { width: 200, height: 100, channels: 3, background: '#888' } })
      .png()
      .toBuffer();
    await expect(decodeImagePages(png.subarray(0, png.length - 40), 1e8)).rejects.toBeInstanceOf(
      InvalidImageError,
    );
  });

  it('gives each failed decode its own reason when several fail at once beside good pages', async () => {
    // libvips has one error buffer per process: without the lone rerun, 11 of these 80 failures
    // read "Unknown error" or another file's reason beside their own (one run of this test).
    const page = (format: 'png' | 'jpeg') =>
      sharp({ create: { width: 400, height: 300, channels: 3, background: '#fafafa' } })
        .toFormat(format)
        .toBuffer();
    const good = await page('png');
    const png = Buffer.from(good);
    png[png.indexOf(Buffer.from('IDAT')) + 6]! ^= 0xff;
    const jpeg = Buffer.from(await page('jpeg'));
    const dht = jpeg.indexOf(Buffer.from([0xff, 0xc4]));
    jpeg.fill(0xff, dht + 5, dht + 25);
    const reasons = new Map<Buffer, string>([
      [png, 'page 1 cannot be decoded: vipspng: libpng read error'],
      [
        jpeg,
        'the file is not a readable image: Input buffer has corrupt header: VipsJpeg: Bogus Huffman table definition',
      ],
    ]);
    const wrong: string[] = [];
    for (let round = 0; round < 20; round++) {
      await Promise.all([
        ...[1, 2, 3, 4].map(() => decodeImagePages(good, 1e8)),
        ...[png, jpeg, png, jpeg].map((bytes) =>
          decodeImagePages(bytes, 1e8).then(
            () => wrong.push('decoded'),
            (error: Error) => {
              if (error.message !== reasons.get(bytes)) wrong.push(error.message);
            },
          ),
        ),
      ]);
    }
    expect(wrong).toEqual([]);
  });

  it("keeps a failed decode's reason while the engine resizes pages for detection beside it", async () => {
    // Every sharp pipeline clears libvips's one error buffer when it ends, failed or not: with the
    // detection resizes outside the decoder's gate (on the engine threads, as they were), 39 of
    // these 150 failures read "Unknown error" (one run).
    const good = await sharp({ create: { width: 800, height: 600, channels: 3, background: '#fafafa' } })
      .png()
      .toBuffer();
    const png = Buffer.from(good);
    png[png.indexOf(Buffer.from('IDAT')) + 6]! ^= 0xff;
    const page = { data: new Uint8Array(1200 * 800 * 3).fill(200), width: 1200, height: 800 };
    let busy = true;
    const resizing = Array.from({ length: 3 }, async () => {
      while (busy) await resizeForDetection(page, 960);
    });
    const wrong: string[] = [];
    try {
      for (let round = 0; round < 150; round++) {
        await decodeImagePages(png, 1e8).then(
          () => wrong.push('decoded'),
          (error: Error) => {
            if (error.message !== 'page 1 cannot be decoded: vipspng: libpng read error')
              wrong.push(error.message);
          },
        );
      }
    } finally {
      busy = false;
      await Promise.all(resizing);
    }
    expect(wrong).toEqual([]);
  });

  it('decodes every page of a multi-page TIFF, or the selected ones', async () => {
    const page = (colour: string) =>
      sharp({ create: { width: 64, height: 32, channels: 3, background: colour } });
    const tiff = await sharp([await page('#000').png().toBuffer(), await page('#fff').png().toBuffer()], {
      join: { animated: true },
    })
      .tiff()
      .toBuffer()
      .catch(() => undefined);
    if (!tiff) return; // this sharp build cannot write multi-page TIFF; counting is tested in ingest
    const pages = await decodeImagePages(tiff, 1e8);
    expect(pages.map((p) => p.page)).toEqual([1, 2]);
    const second = await decodeImagePages(tiff, 1e8, { firstPage: 2, pageCount: 1 });
    expect(second.map((p) => p.page)).toEqual([2]);
    expect(second[0]!.image.data[0]).toBe(255);
  });
});
