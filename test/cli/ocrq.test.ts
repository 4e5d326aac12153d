import { execFile } from 'node:child_process';
import { mkdtemp, readdir, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { collectDocuments, outputStem } from '../../bin/ocrq/files.ts';

const run = promisify(execFile);

describe('ocrq ocr', () => {
  it('writes NAME.json and NAME.txt per input and ends with pages and pages/s', async () => {
    const out = await mkdtemp(join(tmpdir(), 'ocrq-'));
    const { stdout } = await run(
      'npx',
      ['tsx', 'bin/ocrq.ts', 'ocr', 'local/samples/pages/receipt.png', '--out', out],
      {
        timeout: 120_000,
      },
    );
    expect(stdout).toMatch(/1 pages from 1 files in [\d.]+ s · [\d.]+ pages\/s/);
    expect((await readdir(out)).sort()).toEqual(['receipt.json', 'receipt.txt']);
    const result = JSON.parse(await readFile(join(out, 'receipt.json'), 'utf8'));
    expect(result.pages[0].lines.map((l: { text: string }) => l.text)).toContain('TOTAL');
    expect(await readFile(join(out, 'receipt.txt'), 'utf8')).toContain('Paid by card');
  }, 120_000);

  it('reads with the float models when asked (--precision fp32), and refuses a precision it has not', async () => {
    const out = await mkdtemp(join(tmpdir(), 'ocrq-'));
    const args = ['tsx', 'bin/ocrq.ts', 'ocr', 'local/samples/pages/receipt.png', '--out', out];
    await run('npx', [...args, '--precision', 'fp32'], { timeout: 120_000 });
    const result = JSON.parse(await readFile(join(out, 'receipt.json'), 'utf8'));
    expect(result.pages[0].lines.map((l: { text: string }) => l.text)).toContain('TOTAL');
    await expect(run('npx', [...args, '--precision', 'int4'], { timeout: 60_000 })).rejects.toMatchObject({
      stderr: expect.stringContaining('Allowed choices are fp32, int8'),
    });
  }, 180_000);

  it('refuses a path that does not exist', async () => {
    await expect(
      run('npx', ['tsx', 'bin/ocrq.ts', 'ocr', 'no/such/file.png'], { timeout: 60_000 }),
    ).rejects.toMatchObject({
      stderr: expect.stringContaining('no such file or folder'),
    });
  }, 60_000);
});

describe('document collection', () => {
  it('finds supported files in folders and names outputs after them', async () => {
    const files = await collectDocuments(['local/samples']);
    expect(files.map(outputStem)).toEqual(['letter', 'receipt']);
  });
});
