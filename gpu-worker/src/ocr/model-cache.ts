import { createHash, randomBytes } from 'node:crypto';
import { mkdir, open, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { threadId } from 'node:worker_threads';
import { onceUnlessFailed } from './once.ts';

/**
 * Where rewritten models are kept when the engine's `modelCacheDir` is not set:
 * `$OCRQ_MODEL_CACHE_DIR`, else `$XDG_CACHE_HOME/ocr-pipeline`, else `~/.cache/ocr-pipeline`.
 */
export function defaultModelCacheDir(env: NodeJS.ProcessEnv = process.env): string {
  if (env.OCRQ_MODEL_CACHE_DIR) return env.OCRQ_MODEL_CACHE_DIR;
  return join(env.XDG_CACHE_HOME || join(homedir(), '.cache'), 'ocr-pipeline');
}

/**
 * What the cache did for one model: `hit` (read back), `stored` (rewritten and written),
 * `rebuilt` (an entry failed its check and was replaced), `unwritable` (rewritten, but the
 * folder could not take the entry: the next start rewrites again).
 */
export type ModelCacheOutcome = 'hit' | 'stored' | 'rebuilt' | 'unwritable';

export interface CachedModel {
  bytes: Uint8Array;
  outcome: ModelCacheOutcome;
  /** The entry's path (present or not). */
  path: string;
}

/** Start of every entry, then the SHA-256 of the payload, then the payload (the rewritten model). */
const MAGIC = Buffer.from('ocrq-model-cache 1\n');
const DIGEST_BYTES = 32;

const sha256 = (bytes: Uint8Array) => createHash('sha256').update(bytes).digest();

/** SHA-256 of `bytes` in hex: a model file's identity in cache keys and calibration tables. */
export const sha256Hex = (bytes: Uint8Array) => sha256(bytes).toString('hex');

/** Bytes hashed per read in {@link ModelFile.read}. */
const HASH_CHUNK = 1 << 20;

/**
 * A model file by its SHA-256 (hex), which the cache key and the int8 calibration's match
 * (`calibration.ts`) both need; its bytes are read only when a model is rewritten (a cache miss).
 */
export class ModelFile {
  /**
   * The file's bytes, read once (again after a failed read); refused if they are no longer the
   * ones hashed at start.
   */
  readonly bytes: () => Promise<Uint8Array> = onceUnlessFailed(async () => {
    const bytes = await readFile(this.path);
    if (sha256Hex(bytes) !== this.sha256) {
      throw new Error(`the model file ${this.path} changed while the engine started`);
    }
    return bytes;
  });

  private constructor(
    readonly path: string,
    readonly sha256: string,
  ) {}

  /**
   * Hashes the file through one reused 1 MiB buffer. Read whole into a fresh buffer, the two
   * PP-OCRv4 models (15.5 MB) took ~90 ms to read and hash against ~25 ms so, on a 2-core VM
   * where each new page of memory costs a fault (2026-12-02); an engine with its models in the
   * cache never needs the bytes.
   */
  static async read(path: string): Promise<ModelFile> {
    const hash = createHash('sha256');
    const file = await open(path);
    try {
      const chunk = Buffer.allocUnsafe(HASH_CHUNK);
      for (;;) {
        const { bytesRead } = await file.read(chunk, 0, chunk.length);
        if (bytesRead === 0) break;
        hash.update(chunk.subarray(0, bytesRead));
      }
    } finally {
      await file.close();
    }
    return new ModelFile(path, hash.digest('hex'));
  }
}

/** The model at `model`, read now unless it already was. */
export function modelFile(model: string | ModelFile): Promise<ModelFile> {
  return typeof model === 'string' ? ModelFile.read(model) : Promise.resolve(model);
}

function entryName(modelPath: string, digestHex: string, version: number | string): string {
  const name = basename(modelPath).replace(/\.onnx$/i, '');
  return `${name}.${digestHex.slice(0, 32)}.rewrite-${version}.onnx`;
}

/**
 * An entry's file name: the model's name, the SHA-256 of its bytes and the rewrite version, so a
 * new model file or a changed rewrite gets a new entry and never reads a stale one.
 */
export function modelCacheKey(modelPath: string, source: Uint8Array, version: number | string): string {
  return entryName(modelPath, sha256Hex(source), version);
}

/** The path of `source`'s entry for this rewrite `version` in the cache folder `dir`. */
export function modelCacheEntry(dir: string, source: ModelFile, version: number | string): string {
  return join(dir, entryName(source.path, source.sha256, version));
}

/**
 * The payload of the entry at `path` (any entry: a rewritten model, or a session's optimized one,
 * see session.ts), or undefined when it is absent, truncated or corrupt.
 */
export async function readCacheEntry(path: string): Promise<Uint8Array | undefined> {
  return (await readEntry(path)).payload;
}

/** Stores `payload` as the entry at `path`, atomically (see {@link writeEntry}); creates the folder. */
export async function storeCacheEntry(path: string, payload: Uint8Array): Promise<void> {
  await mkdir(dirname(path), { recursive: true });
  await writeEntry(path, payload);
}

/** The payload of a complete, intact entry; undefined when absent, truncated or corrupt. */
async function readEntry(path: string): Promise<{ payload?: Uint8Array; present: boolean }> {
  let file: Buffer;
  try {
    file = await readFile(path);
  } catch {
    return { present: false };
  }
  const head = MAGIC.length + DIGEST_BYTES;
  if (file.length <= head || !file.subarray(0, MAGIC.length).equals(MAGIC)) return { present: true };
  const payload = file.subarray(head);
  if (!sha256(payload).equals(file.subarray(MAGIC.length, head))) return { present: true };
  return { payload, present: true };
}

/**
 * Writes an entry atomically: a temporary file of this process and thread, renamed over the
 * entry, so a reader sees the old entry or the whole new one; concurrent writers (threads,
 * processes, tasks sharing an EFS folder) write the same bytes and the last rename wins.
 */
async function writeEntry(path: string, payload: Uint8Array): Promise<void> {
  const tmp = `${path}.${process.pid}-${threadId}-${randomBytes(4).toString('hex')}.tmp`;
  try {
    await writeFile(tmp, Buffer.concat([MAGIC, sha256(payload), payload]));
    await rename(tmp, path);
  } catch (error) {
    await rm(tmp, { force: true });
    throw error;
  }
}

/**
 * The rewritten bytes of `model` (a path, or a file already read): read from the cache in `dir`
 * when an intact entry exists for these bytes and this rewrite `version`, else `rewrite` runs and
 * its result is stored for the next start. An entry that fails its checksum (a truncated copy, a
 * bad disk) is rewritten and replaced; a folder that cannot be written costs the rewrite, never the
 * start.
 */
export async function cachedRewrite(
  model: string | ModelFile,
  cache: {
    dir: string;
    version: number | string;
    rewrite: (source: Uint8Array) => Uint8Array | Promise<Uint8Array>;
  },
): Promise<CachedModel> {
  const source = await modelFile(model);
  const path = modelCacheEntry(cache.dir, source, cache.version);
  const entry = await readEntry(path);
  if (entry.payload) return { bytes: entry.payload, outcome: 'hit', path };
  const bytes = await cache.rewrite(await source.bytes());
  try {
    await mkdir(cache.dir, { recursive: true });
    await writeEntry(path, bytes);
  } catch {
    return { bytes, outcome: 'unwritable', path };
  }
  return { bytes, outcome: entry.present ? 'rebuilt' : 'stored', path };
}
