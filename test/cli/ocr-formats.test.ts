import { execFile } from 'node:child_process';
import { mkdtemp, readdir, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { pdfPageTexts } from '../../lambdas/shared/documents/pdf-text.ts';

const run = promisify(execFile);

describe('ocrq ocr --format pdf', () => {
  it('turns a scanned receipt into a one-page searchable PDF whose text is what the engine read', async () => {
    const out = await mkdtemp(join(tmpdir(), 'ocrq-pdf-'));
    await run(
      'npx',
      ['tsx', 'bin/ocrq.ts', 'ocr', 'local/samples/pages/receipt.png', '--out', out, '--format', 'pdf'],
      {
        timeout: 120_000,
      },
    );
    expect(await readdir(out)).toEqual(['receipt.pdf']);
    const texts = await pdfPageTexts(await readFile(join(out, 'receipt.pdf')));
    expect(texts).toHaveLength(1);
    const words = texts[0]!.split(/\s+/);
    expect(words).toContain('TOTAL');
    expect(words.length).toBeGreaterThan(10);
  }, 120_000);
});
