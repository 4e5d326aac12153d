import { setImmediate as nextTurn } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { fullCollection } from '../../gpu-worker/src/ocr/collect-garbage.ts';

describe('fullCollection', () => {
  it('gives a collection without --expose-gc, and it frees what nothing holds', async () => {
    expect(process.execArgv).not.toContain('--expose-gc');
    const collect = fullCollection();
    expect(collect).toBeTypeOf('function');
    const freed: string[] = [];
    const registry = new FinalizationRegistry<string>((name) => freed.push(name));
    const held = new Float32Array(1 << 20);
    ((): void => {
      // a detection's input floats, dropped when its run ends
      registry.register(new Float32Array(1 << 20), 'dropped');
      registry.register(held, 'held');
    })();
    collect!();
    for (let turn = 0; turn < 10 && freed.length === 0; turn++) await nextTurn();
    expect(freed).toEqual(['dropped']);
    expect(held.length).toBe(1 << 20);
  });
});
