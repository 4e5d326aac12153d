import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { type OcrCommandOptions, ocrEngineOptions } from '../../bin/ocrq/ocr.ts';
import { pathKind } from '../../bin/ocrq/relaunch.ts';
import { numberedPdf } from '../support/documents.ts';

const cli: OcrCommandOptions = { out: 'ocr-out', format: 'both', batchSize: 6, providers: ['cpu'], dpi: 200 };

describe('ocrq ocr engine settings', () => {
  it('gives a lone image on the CPU one engine thread on every core, with the detection arena kept', () => {
    expect(ocrEngineOptions(cli, true)).toEqual({
      executionProviders: ['cpu'],
      recBatchSize: 6,
      pdfDpi: 200,
      threads: 1,
      detMemoryArena: true,
    });
  });

  it('keeps the defaults for several pages, for --threads and on a GPU', () => {
    const defaults = { executionProviders: ['cpu'], recBatchSize: 6, pdfDpi: 200 };
    expect(ocrEngineOptions(cli, false)).toEqual(defaults);
    expect(ocrEngineOptions({ ...cli, threads: 2 }, true)).toEqual({ ...defaults, threads: 2 });
    expect(ocrEngineOptions({ ...cli, providers: ['cuda', 'cpu'] }, true)).toEqual({
      ...defaults,
      executionProviders: ['cuda', 'cpu'],
    });
    expect(ocrEngineOptions({ ...cli, precision: 'fp32' }, false)).toEqual({
      ...defaults,
      recPrecision: 'fp32',
      detPrecision: 'fp32',
    });
  });

  it('tells a lone image from a PDF by its bytes, not its name', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'ocrq-lone-'));
    await writeFile(join(dir, 'scan.png'), await numberedPdf(2));
    expect(pathKind(join(dir, 'scan.png'))).toBe('pages');
    expect(pathKind('local/samples/pages/receipt.png')).toBe('file');
    expect(pathKind(dir)).toBe('folder');
  });
});
