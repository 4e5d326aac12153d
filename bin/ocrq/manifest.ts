import { randomUUID } from 'node:crypto';
import { appendFile, readFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';

/** The manifest's name in the out folder. */
export const MANIFEST_FILE = '.ocrq-manifest.jsonl';

/** A file's job exists and holds its bytes (written after the upload finished). */
export interface SubmittedEntry {
  type: 'submitted';
  file: string;
  sha256: string;
  jobId: string;
  at: string;
}

/** A file's job ended; for SUCCEEDED, its outputs were written before this line. */
export interface FinishedEntry {
  type: 'finished';
  file: string;
  sha256: string;
  jobId: string;
  status: string;
  outputs: string[];
  error?: { code: string; message: string };
  at: string;
}

type Entry = { type: 'run'; runId: string; at: string } | SubmittedEntry | FinishedEntry;

/**
 * What `ocrq submit --out DIR` did so far, as JSON lines appended to `DIR/.ocrq-manifest.jsonl`:
 * a line per upload finished and per job ended. Appending whole lines survives a kill at any
 * point (a torn last line is ignored on reading), so a rerun knows every job it created and
 * uploaded; a job created but not yet recorded is found again through the Idempotency-Key,
 * which is derived from the run id kept here.
 */
export class Manifest {
  private readonly submittedByFile = new Map<string, SubmittedEntry>();
  private readonly finishedByFile = new Map<string, FinishedEntry>();
  private writes: Promise<void> = Promise.resolve();

  private constructor(
    readonly path: string,
    /** Salts the Idempotency-Keys: the same file in another out folder makes a new job. */
    readonly runId: string,
  ) {}

  static async open(dir: string): Promise<Manifest> {
    const path = join(dir, MANIFEST_FILE);
    const text = await readFile(path, 'utf8').catch((error: NodeJS.ErrnoException) => {
      if (error.code === 'ENOENT') return '';
      throw error;
    });
    const entries: Entry[] = [];
    for (const line of text.split('\n')) {
      if (!line.trim()) continue;
      try {
        entries.push(JSON.parse(line) as Entry);
      } catch {
        // A line cut short by a kill: what it recorded is found again on this run.
      }
    }
    const run = entries.find((e) => e.type === 'run');
    const manifest = new Manifest(path, run?.runId ?? randomUUID());
    if (!run) await manifest.append({ type: 'run', runId: manifest.runId, at: new Date().toISOString() });
    for (const entry of entries) {
      if (entry.type === 'submitted') manifest.submittedByFile.set(entry.file, entry);
      if (entry.type === 'finished') manifest.finishedByFile.set(entry.file, entry);
    }
    return manifest;
  }

  /** The job recorded for this file with these contents (a changed file is a new document). */
  submitted(file: string, sha256: string): SubmittedEntry | undefined {
    const entry = this.submittedByFile.get(resolve(file));
    return entry?.sha256 === sha256 ? entry : undefined;
  }

  /** How that job ended, if this manifest saw it end. */
  finished(file: string, sha256: string): FinishedEntry | undefined {
    const entry = this.finishedByFile.get(resolve(file));
    return entry?.sha256 === sha256 ? entry : undefined;
  }

  recordSubmitted(file: string, sha256: string, jobId: string): Promise<void> {
    const entry: SubmittedEntry = { type: 'submitted', file: resolve(file), sha256, jobId, at: now() };
    this.submittedByFile.set(entry.file, entry);
    return this.append(entry);
  }

  recordFinished(entry: Omit<FinishedEntry, 'type' | 'at'>): Promise<void> {
    const line: FinishedEntry = { type: 'finished', ...entry, file: resolve(entry.file), at: now() };
    this.finishedByFile.set(line.file, line);
    return this.append(line);
  }

  /** One whole line per write, one write at a time. */
  private append(entry: Entry): Promise<void> {
    this.writes = this.writes.then(() => appendFile(this.path, `${JSON.stringify(entry)}\n`));
    return this.writes;
  }
}

function now(): string {
  return new Date().toISOString();
}
