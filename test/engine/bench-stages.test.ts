import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, rm, symlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { engineOverrides } from '../../bench/engine-options.ts';

const run = promisify(execFile);
const dirs: string[] = [];

afterAll(async () => {
  await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })));
});

describe('bench --set (bench/engine-options.ts)', () => {
  it('reads numbers, booleans and the string options, and names what it does not know', () => {
    expect(engineOverrides(['recWidthBucket=8', 'collectAfterDetection=false', 'recPrecision=fp32'])).toEqual(
      { recWidthBucket: 8, collectAfterDetection: false, recPrecision: 'fp32' },
    );
    expect(() => engineOverrides(['noSuchOption=1'])).toThrow(/--set noSuchOption=1: not a known/);
    expect(() => engineOverrides(['recBatchSize=six'])).toThrow(/expected a number or true\/false/);
  });
});

describe('npm run bench:stages (bench/stages.ts)', () => {
  it('times decode, detection and recognition per page of each folder', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'ocrq-stages-'));
    dirs.push(dir);
    await mkdir(join(dir, 'samples'), { recursive: true });
    for (const name of ['receipt.png', 'letter.png'])
      await symlink(resolve('local/samples/pages', name), join(dir, 'samples', name));
    const { stdout } = await run(
      'npx',
      ['tsx', 'bench/stages.ts', '--data', dir, '--set', 'recPrecision=fp32'],
      {
        timeout: 120_000,
      },
    );
    expect(stdout).toMatch(/one engine thread, one intra-op thread, recognition fp32/);
    const row = stdout.split('\n').find((l) => l.startsWith('| samples |'));
    expect(row).toBeDefined();
    const cells = row!
      .split('|')
      .slice(2, -1)
      .map((c) => Number(c.trim()));
    const [pages, lines, runs, mpx, decode, det, detRun, rec, recRun, total] = cells as number[];
    expect(pages).toBe(2);
    expect(lines).toBeGreaterThan(5);
    expect(runs).toBeGreaterThan(0);
    expect(mpx).toBeGreaterThan(0);
    // Each stage includes its session runs, and the total is the three stages.
    expect(detRun).toBeGreaterThan(0);
    expect(det).toBeGreaterThanOrEqual(detRun!);
    expect(recRun).toBeGreaterThan(0);
    expect(rec).toBeGreaterThanOrEqual(recRun!);
    expect(total).toBeCloseTo(decode! + det! + rec!, 0);
  }, 150_000);
});
