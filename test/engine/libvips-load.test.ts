import { readFile } from 'node:fs/promises';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { listSamples } from '../../local/samples/index.ts';

/**
 * image.ts loads sharp at its first decode (start-up, issue 14): a library that cannot load must
 * fail as itself, never as a bad image (that error is permanent and would fail the job's pages).
 */
describe('libvips loaded at the first decode', () => {
  afterEach(() => {
    vi.doUnmock('sharp');
    vi.resetModules();
  });

  it('reports a sharp that cannot load as such, and loads it at the next call once it can', async () => {
    vi.resetModules();
    vi.doMock('sharp', () => {
      throw new Error('libvips-cpp.so: cannot open shared object file');
    });
    const image = await import('../../gpu-worker/src/ocr/image.ts');
    const { InvalidImageError } = await import('../../gpu-worker/src/ocr/errors.ts');
    const input = await readFile(listSamples()[0]!.imagePath);
    const failure = await image.decodeImagePages(input, 1e8).catch((error: unknown) => error);
    expect(failure).toBeInstanceOf(Error);
    expect(failure).not.toBeInstanceOf(InvalidImageError);
    // vitest wraps the factory's error in its own; the decode's words for a bad image must not appear.
    expect(String(failure)).not.toMatch(/readable image|cannot be decoded/);
    vi.doUnmock('sharp');
    const [page] = await image.decodeImagePages(input, 1e8);
    expect(page!.image.width).toBeGreaterThan(100);
  });
});
