import { describe, expect, it } from 'vitest';
import { onceUnlessFailed } from '../../gpu-worker/src/ocr/once.ts';

describe('onceUnlessFailed', () => {
  it('makes its value once and shares it, with the first call’s arguments', async () => {
    const made: number[] = [];
    const get = onceUnlessFailed(async (n: number) => {
      made.push(n);
      return n * 10;
    });
    expect(await Promise.all([get(1), get(2)])).toEqual([10, 10]);
    expect(await get(3)).toBe(10);
    expect(made).toEqual([1]);
  });

  it('tries again after a failure, and keeps the success that follows', async () => {
    let calls = 0;
    const get = onceUnlessFailed(async () => {
      calls += 1;
      if (calls === 1) throw new Error('model unreadable');
      return 'session';
    });
    await expect(get()).rejects.toThrow('model unreadable');
    expect(await get()).toBe('session');
    expect(await get()).toBe('session');
    expect(calls).toBe(2);
  });
});
