import { describe, expect, it } from 'vitest';
import { threadPoolSize } from '../../bin/ocrq/thread-pool.ts';

describe('threadPoolSize', () => {
  it('gives `ocrq ocr` one pool thread', () => {
    expect(threadPoolSize(['ocr', 'scans/', '--out', 'o'], {})).toBe('1');
  });

  it("keeps the user's UV_THREADPOOL_SIZE", () => {
    expect(threadPoolSize(['ocr', 'scans/'], { UV_THREADPOOL_SIZE: '8' })).toBeUndefined();
    expect(threadPoolSize(['ocr', 'scans/'], { UV_THREADPOOL_SIZE: '' })).toBeUndefined();
  });

  it('leaves the other commands, and a file named ocr, at the default', () => {
    for (const args of [['submit', 'ocr'], ['status', 'abc'], ['up'], [], ['--help'], ['login', 'ocr']])
      expect(threadPoolSize(args, {})).toBeUndefined();
  });
});
