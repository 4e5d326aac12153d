import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { Piscina } from 'piscina';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildWorker } from '../../gpu-worker/build.ts';
import { engineThreadData } from '../../gpu-worker/src/ocr/engine-threads.ts';
import { DEFAULT_ENGINE_OPTIONS } from '../../gpu-worker/src/ocr/options.ts';
import { numberedPdf } from '../support/documents.ts';

/**
 * The worker image runs bundles, not sources: the worker and, beside it, the engine thread
 * module its threads load. Built inside the repository so the bundles find node_modules as
 * they do in the image.
 */
describe('worker bundle (gpu-worker/Dockerfile)', () => {
  let dir: string;
  beforeAll(async () => {
    await mkdir('tmp', { recursive: true });
    dir = await mkdtemp(join(process.cwd(), 'tmp', 'worker-bundle-'));
    await buildWorker(dir);
  }, 60_000);
  afterAll(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('starts, and stops at once with the name of a missing setting', async () => {
    const run = promisify(execFile)(process.execPath, [join(dir, 'worker.mjs')], {
      env: { PATH: process.env.PATH, AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true' },
    });
    await expect(run).rejects.toMatchObject({
      code: 1,
      stderr: expect.stringMatching(/worker failed to start: .*OCRQ_/s),
    });
  });

  it('has an engine thread module that starts without libvips, PDFium or the ONNX protobuf library', async () => {
    // Each engine thread loads its module before its sessions: sharp alone took ~100 ms of a
    // thread's start (2026-12-02). Pages come resized; PDFium loads at the first PDF page.
    const source = await readFile(join(dir, 'engine-thread.mjs'), 'utf8');
    const packages = [...source.matchAll(/^import\s[^;]*?from\s*"([^"]+)"/gm)].map((m) => m[1]);
    expect(new Set(packages.filter((p) => !p!.startsWith('node:')))).toEqual(new Set(['onnxruntime-node']));
    expect(source).toMatch(/import\(\s*"@hyzyla\/pdfium"\s*\)/);
  });

  it('has an engine thread module that loads the models, renders PDF pages and reads a batch', async () => {
    const { data, models } = await engineThreadData({ ...DEFAULT_ENGINE_OPTIONS, intraOpNumThreads: 1 });
    const pool = new Piscina({ filename: join(dir, 'engine-thread.mjs'), maxThreads: 1, workerData: data });
    try {
      expect(await pool.run({ models }, { name: 'load' })).toEqual({ ok: true });
      const white = new Uint8Array(new SharedArrayBuffer(64 * 32 * 3)).fill(255);
      const page = { data: white, width: 64, height: 32 };
      const boxes = await pool.run({ models, images: [page], resized: [page] }, { name: 'detect' });
      expect(boxes).toEqual([[]]);
      const rendered = await pool.run(
        {
          input: await numberedPdf(2),
          maxPixels: 50_000_000,
          dpi: 72,
          selection: { firstPage: 2, pageCount: 1 },
        },
        { name: 'render' },
      );
      expect(rendered).toMatchObject({ ok: true, value: [{ page: 2, image: { width: 595, height: 842 } }] });
    } finally {
      await pool.destroy();
    }
  });
});
