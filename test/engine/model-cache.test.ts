import { createHash } from 'node:crypto';
import { mkdtemp, readdir, readFile, rm, truncate, writeFile } from 'node:fs/promises';
import { homedir, tmpdir } from 'node:os';
import { join } from 'node:path';
import ort from 'onnxruntime-node';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  checkEngineOptions,
  DEFAULT_ENGINE_OPTIONS,
  detBatchSize,
  OcrEngine,
} from '../../gpu-worker/src/ocr/index.ts';
import {
  cachedRewrite,
  defaultModelCacheDir,
  ModelFile,
  modelCacheKey,
  storeCacheEntry,
} from '../../gpu-worker/src/ocr/model-cache.ts';
import { modelFiles } from '../../gpu-worker/src/ocr/models.ts';
import {
  createSession,
  loadModelBytes,
  optimizedModelEntry,
  sessionEnvironment,
} from '../../gpu-worker/src/ocr/session.ts';
import { listSamples } from '../../local/samples/index.ts';

/** A stand-in for the graph rewrites: deterministic, and counts its calls. */
function countingRewrite() {
  const rewrite = (source: Uint8Array) => {
    rewrite.calls += 1;
    return Uint8Array.from(source, (b) => b ^ 0x5a);
  };
  rewrite.calls = 0;
  return rewrite;
}

describe('model cache', () => {
  let dir: string;
  let model: string;
  const source = Uint8Array.from({ length: 4096 }, (_, i) => (i * 31) % 251);
  const rewritten = Uint8Array.from(source, (b) => b ^ 0x5a);

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'model-cache-'));
    model = join(dir, 'det.onnx');
    await writeFile(model, source);
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('rewrites and stores on a miss, then reads the entry back without rewriting', async () => {
    const rewrite = countingRewrite();
    const cache = { dir: join(dir, 'cache'), version: 1, rewrite };
    const first = await cachedRewrite(model, cache);
    expect(first.outcome).toBe('stored');
    expect(Buffer.from(first.bytes).equals(rewritten)).toBe(true);
    const second = await cachedRewrite(model, cache);
    expect(second.outcome).toBe('hit');
    expect(Buffer.from(second.bytes).equals(rewritten)).toBe(true);
    expect(second.path).toBe(first.path);
    expect(rewrite.calls).toBe(1);
    expect(await readdir(cache.dir)).toEqual([modelCacheKey(model, source, 1)]);
  });

  it('keys entries by the model bytes and the rewrite version', async () => {
    const rewrite = countingRewrite();
    const cache = { dir: join(dir, 'cache'), version: 1, rewrite };
    const v1 = await cachedRewrite(model, cache);
    const v2 = await cachedRewrite(model, { ...cache, version: 2 });
    expect(v2.outcome).toBe('stored');
    expect(v2.path).not.toBe(v1.path);
    await writeFile(
      model,
      Uint8Array.from(source, (b) => (b + 1) % 256),
    );
    const changed = await cachedRewrite(model, cache);
    expect(changed.outcome).toBe('stored');
    expect(changed.path).not.toBe(v1.path);
    expect(rewrite.calls).toBe(3);
    expect(modelCacheKey('/m/rec.onnx', source, 7)).toMatch(/^rec\.[0-9a-f]{32}\.rewrite-7\.onnx$/);
  });

  it.each([
    ['truncated', (path: string) => truncate(path, 100)],
    [
      'with a flipped byte',
      async (path: string) => {
        const bytes = await readFile(path);
        bytes[bytes.length - 10]! ^= 1;
        await writeFile(path, bytes);
      },
    ],
    ['empty', (path: string) => writeFile(path, '')],
    ['not an entry', (path: string) => writeFile(path, rewritten)],
  ])('ignores an entry %s and rebuilds it', async (_, damage) => {
    const rewrite = countingRewrite();
    const cache = { dir: join(dir, 'cache'), version: 1, rewrite };
    const { path } = await cachedRewrite(model, cache);
    await damage(path);
    const rebuilt = await cachedRewrite(model, cache);
    expect(rebuilt.outcome).toBe('rebuilt');
    expect(Buffer.from(rebuilt.bytes).equals(rewritten)).toBe(true);
    expect((await cachedRewrite(model, cache)).outcome).toBe('hit');
    expect(rewrite.calls).toBe(2);
  });

  it('lets concurrent writers race: every caller gets the model, one intact entry and no temporary file remain', async () => {
    const cache = { dir: join(dir, 'cache'), version: 1, rewrite: countingRewrite() };
    const results = await Promise.all(Array.from({ length: 12 }, () => cachedRewrite(model, cache)));
    for (const result of results) expect(Buffer.from(result.bytes).equals(rewritten)).toBe(true);
    expect(await readdir(cache.dir)).toEqual([modelCacheKey(model, source, 1)]);
    expect((await cachedRewrite(model, cache)).outcome).toBe('hit');
  });

  it('still gives the rewritten model when the folder cannot be written', async () => {
    const blocker = join(dir, 'a-file');
    await writeFile(blocker, 'not a folder');
    const result = await cachedRewrite(model, {
      dir: join(blocker, 'cache'),
      version: 1,
      rewrite: countingRewrite(),
    });
    expect(result.outcome).toBe('unwritable');
    expect(Buffer.from(result.bytes).equals(rewritten)).toBe(true);
  });

  it('hashes a model file in chunks, reads its bytes only when asked, and refuses them if the file changed', async () => {
    const big = Uint8Array.from({ length: 3 * 1024 * 1024 + 17 }, (_, i) => (i * 7919) % 253);
    await writeFile(model, big);
    const file = await ModelFile.read(model);
    expect(file.sha256).toBe(createHash('sha256').update(big).digest('hex'));
    expect(Buffer.from(await file.bytes()).equals(big)).toBe(true);
    const changed = await ModelFile.read(model);
    await writeFile(model, source);
    await expect(changed.bytes()).rejects.toThrow(/changed while the engine started/);
    // A failed read is not kept: with the file as hashed again, the bytes come.
    await writeFile(model, big);
    expect(Buffer.from(await changed.bytes()).equals(big)).toBe(true);
  });

  it('fails when the model file itself cannot be read', async () => {
    const cache = { dir: join(dir, 'cache'), version: 1, rewrite: countingRewrite() };
    await expect(cachedRewrite(join(dir, 'missing.onnx'), cache)).rejects.toThrow(/ENOENT/);
  });

  it('takes its folder from OCRQ_MODEL_CACHE_DIR, else XDG_CACHE_HOME, else ~/.cache', () => {
    expect(defaultModelCacheDir({ OCRQ_MODEL_CACHE_DIR: '/efs/models', XDG_CACHE_HOME: '/x' })).toBe(
      '/efs/models',
    );
    expect(defaultModelCacheDir({ XDG_CACHE_HOME: '/x' })).toBe('/x/ocr-pipeline');
    expect(defaultModelCacheDir({})).toBe(join(homedir(), '.cache', 'ocr-pipeline'));
  });
});

/** The real models: an engine stores its rewritten models, the next one starts from them. */
describe('OcrEngine with a model cache', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'engine-model-cache-'));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('stores the rewritten models, then starts from them and reads the same text', async () => {
    const sample = listSamples()[0]!;
    const input = await readFile(sample.imagePath);
    const read = async () => {
      const engine = await OcrEngine.create({ modelCacheDir: dir, threads: 1 });
      try {
        const { pages } = await engine.recognize(input);
        return { cache: engine.modelCache, text: pages[0]!.lines.map((l) => l.text).join('\n') };
      } finally {
        await engine.close();
      }
    };
    const cold = await read();
    expect(cold.cache).toEqual({ detection: 'stored', recognition: 'stored' });
    expect(cold.text.length).toBeGreaterThan(50);
    // Each model's rewrite, and onnxruntime's optimized model (the session cache) beside it.
    const entries = await readdir(dir);
    expect(entries).toHaveLength(4);
    expect(
      entries.filter((e) => e.includes(`.ort-${ort.env.versions.node}-${sessionEnvironment()}.`)),
    ).toHaveLength(2);
    const warm = await read();
    expect(warm.cache).toEqual({ detection: 'hit', recognition: 'hit' });
    expect(warm.text).toBe(cold.text);
    expect(await readdir(dir)).toHaveLength(4);
  }, 60_000);

  it('starts again from the rewritten models when an optimized one does not load, and drops it', async () => {
    const input = await readFile(listSamples()[0]!.imagePath);
    const read = async () => {
      const engine = await OcrEngine.create({ modelCacheDir: dir, threads: 1 });
      try {
        const { pages } = await engine.recognize(input);
        return pages[0]!.lines.map((l) => l.text).join('\n');
      } finally {
        await engine.close();
      }
    };
    const text = await read();
    const optimized = (await readdir(dir)).filter((e) => e.includes('.ort-'));
    expect(optimized).toHaveLength(2);
    // Intact entries (their checksums match) that are no model.
    for (const entry of optimized)
      await storeCacheEntry(join(dir, entry), new TextEncoder().encode('not a model'));
    expect(await read()).toBe(text);
    expect((await readdir(dir)).filter((e) => e.includes('.ort-'))).toEqual([]);
    expect(await read()).toBe(text);
    expect((await readdir(dir)).filter((e) => e.includes('.ort-')).sort()).toEqual(optimized.sort());
  }, 90_000);
});

describe('session cache (onnxruntime optimized models)', () => {
  const cpuinfo = (flags: string) =>
    `processor\t: 0\nmodel name\t: Some CPU\nflags\t\t: ${flags}\n\nprocessor\t: 1\nmodel name\t: Some CPU\nflags\t\t: ${flags}\n`;

  it('keys optimized models by the onnxruntime version and the CPU and its instruction sets', () => {
    const avx2 = sessionEnvironment(cpuinfo('fpu sse2 avx2 fma'));
    expect(sessionEnvironment(cpuinfo('fpu sse2 avx2 fma'))).toBe(avx2);
    expect(sessionEnvironment(cpuinfo('fpu sse2 avx2 fma avx512f avx512_vnni'))).not.toBe(avx2);
    expect(optimizedModelEntry('/c/det.0123.rewrite-1.ctc-2.onnx', avx2)).toBe(
      `/c/det.0123.rewrite-1.ctc-2.ort-${ort.env.versions.node}-${avx2}.onnx`,
    );
  });

  it('is for the CPU only: a GPU engine neither reads nor saves optimized models', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'session-cache-'));
    try {
      const options = { ...DEFAULT_ENGINE_OPTIONS, modelCacheDir: dir };
      const { detection } = modelFiles(undefined);
      const cpu = await loadModelBytes(detection, options, undefined, true);
      expect(cpu.saveOptimized).toMatch(/\.ort-.*\.onnx$/);
      const gpu = await loadModelBytes(
        detection,
        { ...options, executionProviders: ['cuda', 'cpu'] },
        undefined,
        true,
      );
      expect(gpu).toMatchObject({ cache: 'hit' });
      expect(gpu.saveOptimized).toBeUndefined();
      expect(gpu.optimized).toBeUndefined();
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('saves where it can, and starts the session anyway where it cannot', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'session-cache-'));
    try {
      const options = { ...DEFAULT_ENGINE_OPTIONS, modelCacheDir: dir, intraOpNumThreads: 1 };
      const { detection } = modelFiles(undefined);
      const model = await loadModelBytes(detection, options, undefined, true);
      const blocked = join(dir, 'a-file');
      await writeFile(blocked, 'not a folder');
      const unsaved = await createSession({ ...model, saveOptimized: join(blocked, 'det.onnx') }, options);
      expect(unsaved.inputNames).toHaveLength(1);
      await createSession(model, options);
      const again = await loadModelBytes(detection, options, undefined, true);
      expect(again.optimized).toBe(model.saveOptimized);
      expect(again.saveOptimized).toBeUndefined();
      // The optimized model computes what the rewritten one does.
      const page = new ort.Tensor(
        'float32',
        Float32Array.from({ length: 3 * 64 * 96 }, (_, i) => Math.sin(i)),
        [1, 3, 64, 96],
      );
      const outputs = await Promise.all(
        [model.bytes, again].map(async (m) => {
          const session = await createSession(m, options);
          const out = await session.run({ [session.inputNames[0]!]: page });
          return out[session.outputNames[0]!]!.data as Float32Array;
        }),
      );
      expect(outputs[1]!.length).toBe(outputs[0]!.length);
      const worst = outputs[0]!.reduce((w, v, i) => Math.max(w, Math.abs(v - outputs[1]![i]!)), 0);
      expect(worst).toBeLessThan(1e-4);
      expect((await readdir(dir)).filter((e) => e.endsWith('.tmp.onnx') || e.endsWith('.tmp'))).toEqual([]);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }, 60_000);
});

describe('engine options of the cache and memory settings', () => {
  it.each([
    ['detBatchSize', 0],
    ['detectionsInFlight', 1.5],
    ['maxBatchPages', -1],
    ['recWidthBucket', 0],
  ] as const)('refuses %s = %s before any thread starts', async (name, value) => {
    await expect(OcrEngine.create({ [name]: value })).rejects.toThrow(
      new RegExp(`engine option ${name} must be a positive integer`),
    );
  });

  it('refuses an empty model cache folder', () => {
    expect(() => checkEngineOptions({ ...DEFAULT_ENGINE_OPTIONS, modelCacheDir: ' ' })).toThrow(
      /modelCacheDir/,
    );
  });

  it('detects one page per run on the CPU and four on a GPU unless told', () => {
    expect(detBatchSize({ executionProviders: ['cpu'] })).toBe(1);
    expect(detBatchSize({ executionProviders: ['cuda', 'cpu'] })).toBe(4);
    expect(detBatchSize({ executionProviders: ['cpu'], detBatchSize: 3 })).toBe(3);
  });
});
