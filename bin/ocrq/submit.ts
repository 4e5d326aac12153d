import { createHash, randomUUID } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { access, mkdir, rename, writeFile } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  FINISHED_STATUSES,
  type Job,
  type JobStatus,
  OcrApiError,
  type OcrClient,
  type Priority,
  type ResultFormat,
} from '../../client/index.ts';
import { CliError } from './errors.ts';
import { collectDocuments, outputStem } from './files.ts';
import { Manifest } from './manifest.ts';
import { ProgressDisplay, pagesPerSecond, type SubmitProgress } from './progress.ts';

export type OutputFormat = 'json' | 'text' | 'both';
/** What `submit --out` writes: those, or NAME.hocr, or the searchable NAME.pdf. */
export type SubmitFormat = OutputFormat | 'hocr' | 'pdf';

/** The files of each format: extension and the result format it is downloaded as. */
const FORMAT_FILES: Record<SubmitFormat, Array<[string, ResultFormat]>> = {
  json: [['json', 'json']],
  text: [['txt', 'text']],
  both: [
    ['json', 'json'],
    ['txt', 'text'],
  ],
  hocr: [['hocr', 'hocr']],
  pdf: [['pdf', 'pdf']],
};

export interface SubmitCommandOptions {
  wait?: boolean;
  out?: string;
  format: SubmitFormat;
  priority?: Priority;
  webhook?: string;
  concurrency: number;
  json?: boolean;
}

/** Where one file stands; `status` is the job's, or how the run dealt with the file. */
interface FileState {
  file: string;
  sha256?: string;
  jobId?: string;
  status: JobStatus | 'PENDING' | 'UPLOADED' | 'NOT_SUBMITTED' | 'SKIPPED';
  pages?: { done: number; total: number };
  /** Pages of this job already done when this run first saw it (not this run's throughput). */
  pagesBefore?: number;
  error?: { code: string; message: string };
  outputs?: string[];
}

/** How often unfinished jobs are polled while waiting. */
const POLL_MS = 1000;
/** Status requests in flight at once while polling. */
const POLL_CONCURRENCY = 8;

/** The sha256 of a file, read as a stream. */
export async function fileSha256(path: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

/**
 * The Idempotency-Key of a file's job: its contents, name and options, salted with the run
 * (the manifest's run id), so the create repeated after a kill finds the job it made.
 */
export function idempotencyKey(
  salt: string,
  sha256: string,
  fileName: string,
  opts: Pick<SubmitCommandOptions, 'priority' | 'webhook'>,
): string {
  const material = [salt, sha256, fileName, opts.priority ?? '', opts.webhook ?? ''].join('\n');
  return `ocrq-${createHash('sha256').update(material).digest('base64url')}`;
}

function outputPaths(dir: string, file: string, format: SubmitFormat): string[] {
  return FORMAT_FILES[format].map(([extension]) => join(dir, `${outputStem(file)}.${extension}`));
}

async function allExist(paths: string[]): Promise<boolean> {
  const found = await Promise.all(
    paths.map((p) =>
      access(p).then(
        () => true,
        () => false,
      ),
    ),
  );
  return found.every(Boolean);
}

/** Writes through a temporary file: an output that exists is whole. */
async function writeWhole(path: string, data: string | Uint8Array): Promise<void> {
  const temporary = `${path}.partial`;
  await writeFile(temporary, data);
  await rename(temporary, path);
}

/** Runs `work` over `items`, at most `limit` at a time. */
async function forEachLimited<T>(items: T[], limit: number, work: (item: T) => Promise<void>): Promise<void> {
  const queue = [...items];
  await Promise.all(
    Array.from({ length: Math.min(limit, queue.length) }, async () => {
      for (let item = queue.shift(); item !== undefined; item = queue.shift()) await work(item);
    }),
  );
}

/**
 * `ocrq submit`: sends every document through the API, `concurrency` at a time, and with
 * `--wait` follows the jobs to their end and saves their results (with `--out`). With `--out`
 * the run is resumable: the manifest there says which files are done (skipped) and which have a
 * job already (waited for, not submitted again). Returns the exit code: 1 if any file failed.
 */
export async function runSubmit(
  client: OcrClient,
  paths: string[],
  opts: SubmitCommandOptions,
  stdout: NodeJS.WritableStream = process.stdout,
  stderr: NodeJS.WriteStream = process.stderr,
): Promise<number> {
  const files = await collectDocuments(paths);
  if (files.length === 0) throw new CliError('NO_DOCUMENTS', 'no supported documents found');
  if (opts.out) await mkdir(opts.out, { recursive: true });
  const manifest = opts.out ? await Manifest.open(opts.out) : undefined;
  // Without a manifest nothing resumes: a run of its own makes new jobs, as a user expects.
  const salt = manifest?.runId ?? randomUUID();
  const states: FileState[] = files.map((file) => ({ file, status: 'PENDING' }));
  const started = performance.now();
  let submitting = true;

  const progress = (): SubmitProgress => {
    const count = (test: (s: FileState) => boolean) => states.filter(test).length;
    const known = states.filter((s) => s.pages && s.pages.total > 0);
    const averagePages = known.length > 0 ? known.reduce((n, s) => n + s.pages!.total, 0) / known.length : 1;
    const pagesLeft = states.reduce((left, s) => {
      if (FINISHED_STATUSES.has(s.status as JobStatus) || s.status === 'SKIPPED') return left;
      if (s.status === 'NOT_SUBMITTED') return left;
      return left + (s.pages && s.pages.total > 0 ? s.pages.total - s.pages.done : averagePages);
    }, 0);
    return {
      files: files.length,
      uploaded: count((s) => s.jobId !== undefined || s.status === 'SKIPPED'),
      queued: count(
        (s) => s.status === 'UPLOADED' || s.status === 'QUEUED' || s.status === 'AWAITING_UPLOAD',
      ),
      processing: count((s) => s.status === 'PROCESSING'),
      done: count((s) => s.status === 'SUCCEEDED' || s.status === 'SKIPPED'),
      failed: count(
        (s) =>
          s.status === 'NOT_SUBMITTED' ||
          (FINISHED_STATUSES.has(s.status as JobStatus) && s.status !== 'SUCCEEDED'),
      ),
      pages: states.reduce((n, s) => n + Math.max(0, (s.pages?.done ?? 0) - (s.pagesBefore ?? 0)), 0),
      seconds: (performance.now() - started) / 1000,
      pagesLeft: opts.wait ? Math.round(pagesLeft) : 0,
    };
  };
  const display = new ProgressDisplay(stderr);
  display.start(progress());
  const refresh = () => display.update(progress());

  const finish = async (state: FileState, job: Job) => {
    state.status = job.status;
    state.pages = job.pages;
    if (job.error) state.error = job.error;
    if (job.status === 'SUCCEEDED' && opts.out) {
      state.outputs = outputPaths(opts.out, state.file, opts.format);
      for (const [i, [, format]] of FORMAT_FILES[opts.format].entries()) {
        const result = await client.getResult(job.jobId, format);
        await writeWhole(
          state.outputs[i]!,
          format === 'json' ? JSON.stringify(result) : (result as string | Uint8Array),
        );
      }
    }
    await manifest?.recordFinished({
      file: state.file,
      sha256: state.sha256!,
      jobId: job.jobId,
      status: job.status,
      outputs: state.outputs ?? [],
      ...(job.error ? { error: job.error } : {}),
    });
  };

  const submitOne = async (state: FileState) => {
    try {
      const sha256 = await fileSha256(state.file);
      state.sha256 = sha256;
      const ended = manifest?.finished(state.file, sha256);
      if (
        ended?.status === 'SUCCEEDED' &&
        opts.out &&
        (await allExist(outputPaths(opts.out, state.file, opts.format)))
      ) {
        Object.assign(state, { status: 'SKIPPED', jobId: ended.jobId, outputs: ended.outputs });
        return;
      }
      const earlier = manifest?.submitted(state.file, sha256);
      if (earlier) {
        Object.assign(state, { status: 'UPLOADED', jobId: earlier.jobId });
        return;
      }
      const created = await client.submit(state.file, {
        ...(opts.priority ? { priority: opts.priority } : {}),
        ...(opts.webhook ? { webhook: { url: opts.webhook } } : {}),
        idempotencyKey: idempotencyKey(salt, sha256, basename(state.file), opts),
      });
      await manifest?.recordSubmitted(state.file, sha256, created.jobId);
      Object.assign(state, { status: 'UPLOADED', jobId: created.jobId, pagesBefore: 0 });
    } catch (error) {
      // A key the API refuses refuses every file: stop at the first.
      if (error instanceof OcrApiError && (error.status === 401 || error.status === 403)) throw error;
      state.status = 'NOT_SUBMITTED';
      state.error = errorOf(error);
    } finally {
      refresh();
    }
  };

  const pollOnce = async () => {
    await forEachLimited(states.filter(isOpen), POLL_CONCURRENCY, async (state) => {
      try {
        const job = await client.getJob(state.jobId!);
        state.pagesBefore ??= job.pages.done;
        if (FINISHED_STATUSES.has(job.status)) await finish(state, job);
        else {
          state.status = job.status;
          state.pages = job.pages;
        }
      } catch (error) {
        if (!(error instanceof OcrApiError) || error.status !== 404) throw error;
        state.status = 'NOT_SUBMITTED';
        state.error = { code: 'NOT_FOUND', message: `job ${state.jobId} no longer exists` };
      }
    });
    refresh();
  };

  const waiting = opts.wait
    ? (async () => {
        for (;;) {
          const last = !submitting;
          await pollOnce();
          if (last && !states.some(isOpen)) return;
          await sleep(POLL_MS);
        }
      })()
    : undefined;
  // Its failure is thrown where it is awaited below, not as an unhandled rejection meanwhile.
  waiting?.catch(() => undefined);

  try {
    await forEachLimited(states, opts.concurrency, submitOne);
    submitting = false;
    await waiting;
  } finally {
    submitting = false;
    display.stop();
  }

  // With --json stdout holds one JSON line per file and nothing else (scripts read it line by
  // line); the summary goes to stderr after the progress lines.
  for (const state of states)
    stdout.write(`${opts.json ? JSON.stringify(jobLine(state)) : humanLine(state)}\n`);
  const summary = progress();
  const skipped = states.filter((s) => s.status === 'SKIPPED').length;
  const outcome = opts.wait
    ? `${summary.done - skipped} succeeded, ${summary.failed} failed, ${skipped} skipped`
    : `${summary.uploaded - skipped} submitted, ${summary.failed} failed, ${skipped} skipped`;
  const rate = `${summary.pages} pages in ${summary.seconds.toFixed(1)} s · ${pagesPerSecond(summary).toFixed(2)} pages/s`;
  (opts.json ? stderr : stdout).write(
    `${files.length} files: ${outcome} · ${rate}${opts.out ? ` → ${opts.out}` : ''}\n`,
  );
  const bad = states.some(
    (s) => s.status === 'NOT_SUBMITTED' || (opts.wait && s.status !== 'SUCCEEDED' && s.status !== 'SKIPPED'),
  );
  return bad ? 1 : 0;
}

/** A file whose job exists and has not ended yet. */
function isOpen(state: FileState): boolean {
  if (!state.jobId || state.status === 'SKIPPED' || state.status === 'NOT_SUBMITTED') return false;
  return !FINISHED_STATUSES.has(state.status as JobStatus);
}

function errorOf(error: unknown): { code: string; message: string } {
  if (error instanceof Error) {
    const code = (error as Error & { code?: unknown }).code;
    return { code: typeof code === 'string' ? code : 'ERROR', message: error.message };
  }
  return { code: 'ERROR', message: String(error) };
}

function jobLine(state: FileState) {
  return {
    file: state.file,
    jobId: state.jobId ?? null,
    status: state.status,
    ...(state.pages ? { pages: state.pages } : {}),
    ...(state.outputs ? { outputs: state.outputs } : {}),
    ...(state.error ? { error: state.error } : {}),
  };
}

function humanLine(state: FileState): string {
  const error = state.error ? `  ${state.error.code}: ${state.error.message}` : '';
  return `${state.status.padEnd(15)} ${state.jobId ?? '-'}  ${state.file}${error}`;
}
