import { describe, expect, it } from 'vitest';
import { planDetection } from '../../gpu-worker/src/ocr/detector.ts';
import { threadCounts } from '../../gpu-worker/src/ocr/engine-threads.ts';
import type { DecodedPage } from '../../gpu-worker/src/ocr/image.ts';
import { DEFAULT_ENGINE_OPTIONS } from '../../gpu-worker/src/ocr/options.ts';
import { PageBatcher } from '../../gpu-worker/src/ocr/page-batcher.ts';
import {
  CPU_REC_BATCH_PIXELS,
  planRecognition,
  recBatchByWidth,
  recBatchPixels,
} from '../../gpu-worker/src/ocr/recognizer.ts';
import type { PageResult, Quad, RgbImage } from '../../gpu-worker/src/ocr/types.ts';

const image = (width: number, height: number): RgbImage => ({ data: new Uint8Array(0), width, height });
const page = (n: number): DecodedPage => ({ page: n, image: image(10, 10) });
const rect = (width: number, height: number): Quad => [
  [0, 0],
  [width, 0],
  [width, height],
  [0, height],
];

describe('detection plan', () => {
  it('groups pages of the same detection input size, detBatchSize at a time', () => {
    const pages = [
      image(1654, 2339),
      image(500, 300),
      image(1654, 2339),
      image(1650, 2340),
      image(1654, 2339),
    ];
    // 1654×2339 and 1650×2340 both scale to 672×960; 500×300 stays 512×288.
    expect(
      planDetection(pages, { detLimitSideLen: 960, detBatchSize: 2, executionProviders: ['cpu'] }),
    ).toEqual([[0, 2], [3, 4], [1]]);
    expect(
      planDetection(pages, { detLimitSideLen: 960, detBatchSize: 8, executionProviders: ['cpu'] }),
    ).toEqual([[0, 2, 3, 4], [1]]);
  });
});

describe('recognition plan', () => {
  const options = {
    recImageHeight: 48,
    recMinWidth: 48,
    recBatchSize: 2,
    recWidthBucket: 32,
    executionProviders: ['cuda' as const],
  };

  it('sorts lines by aspect ratio and pads each batch to its widest member, bucketed', () => {
    const page = image(2000, 1000);
    // Ratios 10, 1, 4 and 2 (width / height).
    const lines = [rect(400, 40), rect(40, 40), rect(160, 40), rect(80, 40)].map((box) => ({
      image: page,
      box,
    }));
    const batches = planRecognition(lines, options);
    expect(batches.map((b) => b.items.map((i) => i.index))).toEqual([
      [1, 3],
      [2, 0],
    ]);
    // Widest ratios 2 → 96 px, and 10 → 480 px; both multiples of 32.
    expect(batches.map((b) => b.width)).toEqual([96, 480]);
  });

  it('closes a batch before it goes over the pixel budget; the CPU has one by default', () => {
    const page = image(4000, 1000);
    // Ratios 2, 3, 4, 20 → widths 96, 160, 192, 960 px.
    const lines = [rect(80, 40), rect(120, 40), rect(160, 40), rect(800, 40)].map((box) => ({
      image: page,
      box,
    }));
    const budget = { ...options, recBatchSize: 6, recBatchPixels: 2 * 160 * 48 };
    const batches = planRecognition(lines, budget);
    // 96 + 160 fit two rows of 160; 192 alone; 960 alone though over the budget.
    expect(batches.map((b) => b.items.map((i) => i.index))).toEqual([[0, 1], [2], [3]]);
    expect(batches.map((b) => b.width)).toEqual([160, 192, 960]);
    expect(recBatchPixels({ executionProviders: ['cpu'] })).toBe(CPU_REC_BATCH_PIXELS);
    expect(recBatchPixels({ executionProviders: ['tensorrt', 'cuda', 'cpu'] })).toBe(
      Number.POSITIVE_INFINITY,
    );
    expect(planRecognition(lines, { ...budget, recBatchPixels: undefined })).toHaveLength(1);
  });

  it('on the CPU, batches only lines of one bucketed width, so none is padded past its own', () => {
    const page = image(4000, 1000);
    // Ratios 2, 2.5, 3, 3.2, 10 → widths 96, 120, 144, 154, 480 px → buckets 96, 128, 160, 160, 480.
    const lines = [rect(80, 40), rect(100, 40), rect(120, 40), rect(128, 40), rect(400, 40)].map((box) => ({
      image: page,
      box,
    }));
    const cpu = { ...options, recBatchSize: 6, executionProviders: ['cpu' as const] };
    const batches = planRecognition(lines, cpu);
    expect(batches.map((b) => b.items.map((i) => i.index))).toEqual([[0], [1], [2, 3], [4]]);
    expect(batches.map((b) => b.width)).toEqual([96, 128, 160, 480]);
    expect(recBatchByWidth(cpu)).toBe(true);
    // A GPU provider keeps mixed widths (fewer, fuller runs); either can be asked for.
    expect(recBatchByWidth(options)).toBe(false);
    expect(planRecognition(lines, { ...cpu, recBatchByWidth: false }).map((b) => b.width)).toEqual([
      160, 480,
    ]);
    expect(planRecognition(lines, { ...options, recBatchSize: 6, recBatchByWidth: true })).toHaveLength(4);
  });

  it('pads narrow batches to the minimum width, and turns tall crops', () => {
    const page = image(2000, 1000);
    const [batch] = planRecognition([{ image: page, box: rect(20, 40) }], { ...options, recMinWidth: 320 });
    expect(batch!.width).toBe(320);
    const [tall] = planRecognition([{ image: page, box: rect(40, 400) }], options);
    expect(tall!.items[0]).toMatchObject({ rotate: true, ratio: 10 });
  });
});

describe('engine threads', () => {
  it('gives each thread its share of the cores, and a GPU two threads', () => {
    const cpu = threadCounts({ ...DEFAULT_ENGINE_OPTIONS, threads: 2, intraOpNumThreads: undefined });
    expect(cpu.threads).toBe(2);
    expect(cpu.intraOpNumThreads).toBeGreaterThanOrEqual(1);
    expect(threadCounts({ ...DEFAULT_ENGINE_OPTIONS, executionProviders: ['cuda', 'cpu'] }).threads).toBe(2);
    expect(threadCounts({ ...DEFAULT_ENGINE_OPTIONS, threads: 3, intraOpNumThreads: 4 })).toEqual({
      threads: 3,
      intraOpNumThreads: 4,
    });
  });
});

/** Lets finished batches hand over to the next. */
const settle = () => new Promise((resolve) => setImmediate(resolve));

/** A batch runner whose batches finish when the test says so. */
function controlledRunner() {
  const batches: Array<{ pages: number[]; finish: (error?: Error) => void }> = [];
  const run = (pages: DecodedPage[]) =>
    new Promise<PageResult[]>((resolve, reject) => {
      batches.push({
        pages: pages.map((p) => p.page),
        finish: (error) =>
          error
            ? reject(error)
            : resolve(pages.map((p) => ({ page: p.page, width: 1, height: 1, lines: [] }))),
      });
    });
  return { run, batches };
}

describe('PageBatcher', () => {
  it('sends a request at once while fewer batches than allowed run', async () => {
    const { run, batches } = controlledRunner();
    const batcher = new PageBatcher(run, { maxBatchPages: 32, batchesInFlight: 2 });
    const a = batcher.submit([page(1)]);
    const b = batcher.submit([page(2), page(3)]);
    expect(batches.map((x) => x.pages)).toEqual([[1], [2, 3]]);
    batches[0]!.finish();
    batches[1]!.finish();
    expect((await a).map((p) => p.page)).toEqual([1]);
    expect((await b).map((p) => p.page)).toEqual([2, 3]);
  });

  it('batches the requests that wait while the engine is busy, up to the page limit, each answered with its own pages', async () => {
    const { run, batches } = controlledRunner();
    const batcher = new PageBatcher(run, { maxBatchPages: 4, batchesInFlight: 1 });
    const first = batcher.submit([page(1)]);
    const waiting = [
      batcher.submit([page(10), page(11)]),
      batcher.submit([page(20)]),
      batcher.submit([page(30), page(31)]),
    ];
    expect(batcher.waitingCount).toBe(3);
    batches[0]!.finish();
    await first;
    await settle();
    // 2 + 1 pages fit in 4; the third request (2 more) waits for the next batch.
    expect(batches[1]!.pages).toEqual([10, 11, 20]);
    batches[1]!.finish();
    expect((await waiting[0]!).map((p) => p.page)).toEqual([10, 11]);
    expect((await waiting[1]!).map((p) => p.page)).toEqual([20]);
    await settle();
    expect(batches[2]!.pages).toEqual([30, 31]);
    batches[2]!.finish();
    expect((await waiting[2]!).map((p) => p.page)).toEqual([30, 31]);
  });

  it('fails every request of a failed batch and goes on with the next', async () => {
    const { run, batches } = controlledRunner();
    const batcher = new PageBatcher(run, { maxBatchPages: 8, batchesInFlight: 1 });
    const first = batcher.submit([page(1)]);
    const second = batcher.submit([page(2)]);
    const third = batcher.submit([page(3)]);
    batches[0]!.finish(new Error('session failed'));
    await expect(first).rejects.toThrow('session failed');
    await settle();
    batches[1]!.finish(new Error('again'));
    await expect(second).rejects.toThrow('again');
    await expect(third).rejects.toThrow('again');
    const fourth = batcher.submit([page(4)]);
    batches[2]!.finish();
    expect((await fourth).map((p) => p.page)).toEqual([4]);
  });

  it('answers an empty request without running a batch', async () => {
    const { run, batches } = controlledRunner();
    expect(await new PageBatcher(run, { maxBatchPages: 8, batchesInFlight: 1 }).submit([])).toEqual([]);
    expect(batches).toHaveLength(0);
  });
});
