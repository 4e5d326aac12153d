import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, symlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import type { CalibrationTable } from '../../gpu-worker/src/ocr/calibration.ts';
import { sha256Hex } from '../../gpu-worker/src/ocr/model-cache.ts';
import { GRAPH_REWRITE_VERSION, optimizeModel } from '../../gpu-worker/src/ocr/model-graph.ts';
import { quantizationPlan } from '../../gpu-worker/src/ocr/model-quantize.ts';
import { modelFiles } from '../../gpu-worker/src/ocr/models.ts';

const run = promisify(execFile);
const dirs: string[] = [];

afterAll(async () => {
  await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })));
});

/** A temporary folder whose `data/samples` holds the two bundled sample pages. */
async function sampleData(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'ocrq-calibrate-'));
  dirs.push(dir);
  await mkdir(join(dir, 'data', 'samples'), { recursive: true });
  for (const name of ['receipt.png', 'letter.png'])
    await symlink(resolve('local/samples/pages', name), join(dir, 'data', 'samples', name));
  return dir;
}

describe('npm run calibrate (bench/calibrate.ts)', () => {
  it('measures a range for every tensor the quantiser needs and writes a table that fits the model (--float-from-stride, as the bundled one)', async () => {
    const dir = await sampleData();
    const out = join(dir, 'table.ts');
    const args = [
      '--float-from-stride',
      '4',
      '--data',
      join(dir, 'data'),
      '--folders',
      'samples',
      '--pick',
      'odd',
      '--out',
      out,
    ];
    const { stderr } = await run('npx', ['tsx', 'bench/calibrate.ts', ...args], { timeout: 120_000 });
    expect(stderr).toMatch(/samples: 1 pages, \d+ recognition runs so far/);
    const table = ((await import(out)) as { default: CalibrationTable }).default;
    const model = await readFile(modelFiles().recognition);
    expect(table).toMatchObject({
      model: 'ch_PP-OCRv4_rec_infer.onnx',
      sha256: sha256Hex(model),
      graphRewriteVersion: GRAPH_REWRITE_VERSION,
      method: 'mean-of-run-extremes',
      floatFromStride: 4,
    });
    expect(table.pages).toContain('1 samples (the odd ones)');
    expect(table.runs).toBeGreaterThan(0);
    const rewritten = optimizeModel(model).model;
    const { tensors } = quantizationPlan(rewritten, { floatFromStride: 4 });
    expect(Object.keys(table.ranges).sort()).toEqual([...tensors].sort());
    // The float tail's tensors are not measured.
    expect(tensors.length).toBeLessThan(quantizationPlan(rewritten).tensors.length);
    for (const [low, high] of Object.values(table.ranges)) expect(low).toBeLessThanOrEqual(high);
    await expect(
      run('npx', [
        'tsx',
        'bench/calibrate.ts',
        '--float-from-stride',
        '1.5',
        '--data',
        dir,
        '--folders',
        'x',
      ]),
    ).rejects.toMatchObject({ stderr: expect.stringContaining('--float-from-stride 1.5') });
  }, 150_000);

  it('measures the detector with its first layers in float (--model detection --float-strides)', async () => {
    const dir = await sampleData();
    const out = join(dir, 'det.ts');
    const args = ['--model', 'detection', '--float-strides', '3', '--data', join(dir, 'data')];
    const { stderr } = await run(
      'npx',
      ['tsx', 'bench/calibrate.ts', ...args, '--folders', 'samples', '--pick', 'all', '--out', out],
      { timeout: 120_000 },
    );
    expect(stderr).toMatch(/samples: 2 pages, 2 detection runs so far/);
    const table = ((await import(out)) as { default: CalibrationTable }).default;
    const model = await readFile(modelFiles().detection);
    expect(table).toMatchObject({
      model: 'ch_PP-OCRv4_det_infer.onnx',
      sha256: sha256Hex(model),
      floatStrides: 3,
    });
    const { tensors } = quantizationPlan(optimizeModel(model).model, { floatStrides: 3 });
    expect(Object.keys(table.ranges).sort()).toEqual([...tensors].sort());
    await expect(
      run('npx', [
        'tsx',
        'bench/calibrate.ts',
        ...args.slice(0, 2),
        '--float-strides',
        '-1',
        '--data',
        dir,
        '--folders',
        'x',
      ]),
    ).rejects.toMatchObject({ stderr: expect.stringContaining('--float-strides -1') });
  }, 150_000);
});
