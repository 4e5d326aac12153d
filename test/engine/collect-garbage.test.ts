import { setTimeout as sleep } from 'node:timers/promises';
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
    // The registry's callbacks run in a later task, not inside the collection.
    for (let turn = 0; turn < 100 && freed.length === 0; turn++) await sleep(10);
    expect(freed).toEqual(['dropped']);
    expect(held.length).toBe(1 << 20);
  });
});
