import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { PDFDocument, StandardFonts } from 'pdf-lib';
import type { CreatedJob, OcrClient } from '../../client/index.ts';
import {
  formatEnvFile,
  type LocalStack,
  type LocalStackOptions,
  startLocalStack,
} from '../../local/stack.ts';

/**
 * The fault suite's harness: the local stack in this process as `npm start -- --workers 0` runs
 * it (no in-process workers, the workers' env file written), and real worker processes started
 * as `npm run worker -- --env-file PATH` starts them (the container's entry, the real engine),
 * which a test can SIGKILL or SIGTERM.
 *
 * @example
 * const fleet = await startWorkerFleet({ limits: { chunkPages: 1 } });
 * const worker = fleet.spawnWorker();
 * await worker.ready();
 * worker.kill('SIGKILL');
 * await fleet.stop();
 */

const REPO_ROOT = resolve(import.meta.dirname, '../..');
const WORKER_ENTRY = join(REPO_ROOT, 'gpu-worker/src/main.ts');
const STACK_ENTRY = join(REPO_ROOT, 'local/main.ts');

/**
 * Settings of the spawned workers unless a test overrides them: one engine thread (CI has two
 * cores, shared by the stack and every worker), short polls and visibility so that the messages
 * of a killed worker come back within seconds.
 */
export const TEST_WORKER_ENV: Record<string, string> = {
  OCRQ_ENGINE_THREADS: '1',
  OCRQ_WORKER_IDLE_WAIT_SECONDS: '1',
  OCRQ_WORKER_VISIBILITY_SECONDS: '6',
  OCRQ_WORKER_CONCURRENCY: '2',
  POWERTOOLS_LOG_LEVEL: 'INFO',
};

export interface WorkerProcess {
  readonly pid: number;
  readonly child: ChildProcess;
  /** Resolves when the process has exited, with its code or the signal that ended it. */
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null; at: number }>;
  /** Everything it printed so far (stdout and stderr), in order. */
  output(): string;
  /** Its JSON log lines with this `message`. */
  logs(message: string): Array<Record<string, unknown>>;
  /** Resolves once the worker logged `worker started` (models loaded, polling). */
  ready(timeoutMs?: number): Promise<void>;
  kill(signal: NodeJS.Signals): void;
}

export interface WorkerFleet {
  stack: LocalStack;
  /** The env file the workers read, as `npm start -- --workers 0` prints it (`Worker env: PATH`). */
  envFile: string;
  workers: WorkerProcess[];
  /** Starts a worker process; `env` adds to (or overrides) {@link TEST_WORKER_ENV}. */
  spawnWorker(env?: Record<string, string>): WorkerProcess;
  /** SIGKILLs the workers still running, stops the stack and removes the env file. */
  stop(): Promise<void>;
}

export async function startWorkerFleet(
  options: Omit<LocalStackOptions, 'workers'> = {},
): Promise<WorkerFleet> {
  const stack = await startLocalStack({ port: 0, logLevel: 'SILENT', ...options, workers: 0 });
  const dir = await mkdtemp(join(tmpdir(), 'ocrq-fleet-'));
  const envFile = join(dir, 'worker.env');
  await writeFile(envFile, formatEnvFile(stack.workerEnv), { mode: 0o600 });
  const workers: WorkerProcess[] = [];
  return {
    stack,
    envFile,
    workers,
    spawnWorker(env = {}) {
      const worker = spawnWorkerProcess(envFile, { ...TEST_WORKER_ENV, ...env });
      workers.push(worker);
      return worker;
    },
    async stop() {
      for (const worker of workers)
        if (worker.child.exitCode === null && worker.child.signalCode === null) worker.kill('SIGKILL');
      await Promise.all(workers.map((w) => w.exited));
      await stack.stop();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/**
 * `node --import tsx gpu-worker/src/main.ts --env-file PATH`: what `npm run worker` runs, without
 * npm and tsx's CLI in between, so that signals reach the worker itself.
 */
export function spawnWorkerProcess(envFile: string, env: Record<string, string>): WorkerProcess {
  const childEnv: Record<string, string | undefined> = { ...process.env, ...env };
  // The test runner's own settings must not leak into the worker (vitest sets NODE_ENV etc.).
  for (const key of Object.keys(childEnv)) if (key.startsWith('VITEST')) delete childEnv[key];
  const child = spawn(process.execPath, ['--import', 'tsx', WORKER_ENTRY, '--env-file', envFile], {
    cwd: REPO_ROOT,
    env: childEnv,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const output = collectOutput(child);
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null; at: number }>((done) => {
    child.once('exit', (code, signal) => done({ code, signal, at: Date.now() }));
  });
  const logs = (message: string) =>
    output()
      .split('\n')
      .filter((line) => line.startsWith('{'))
      .flatMap((line) => {
        try {
          return [JSON.parse(line) as Record<string, unknown>];
        } catch {
          return [];
        }
      })
      .filter((entry) => entry.message === message);
  return {
    pid: child.pid ?? -1,
    child,
    exited,
    output,
    logs,
    async ready(timeoutMs = 45_000) {
      const deadline = Date.now() + timeoutMs;
      let gone = false;
      void exited.then(() => {
        gone = true;
      });
      while (logs('worker started').length === 0) {
        if (gone) throw new Error(`the worker exited before it started:\n${output()}`);
        if (Date.now() > deadline)
          throw new Error(`the worker did not start in ${timeoutMs} ms:\n${output()}`);
        await sleep(100);
      }
    },
    kill(signal) {
      child.kill(signal);
    },
  };
}

export interface StackProcess {
  readonly child: ChildProcess;
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** The contract lines `npm start` prints: `API: URL`, `API key: KEY`, `Worker env: PATH`. */
  readonly apiUrl: string;
  readonly apiKey: string;
  readonly envFile: string;
  output(): string;
}

/**
 * `npm start -- ARGS` as a process (`node --import tsx local/main.ts ARGS`), resolved once it
 * printed its contract lines.
 */
export async function startStackProcess(args: string[], timeoutMs = 45_000): Promise<StackProcess> {
  const child = spawn(process.execPath, ['--import', 'tsx', STACK_ENTRY, ...args], {
    cwd: REPO_ROOT,
    env: process.env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const output = collectOutput(child);
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((done) => {
    child.once('exit', (code, signal) => done({ code, signal }));
  });
  const line = (prefix: string) => new RegExp(`^${prefix}: (.+)$`, 'm').exec(output())?.[1]?.trim();
  const deadline = Date.now() + timeoutMs;
  while (!(line('API') && line('API key') && line('Worker env'))) {
    if (child.exitCode !== null || child.signalCode !== null)
      throw new Error(`npm start exited early:\n${output()}`);
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`npm start printed no contract lines in ${timeoutMs} ms:\n${output()}`);
    }
    await sleep(100);
  }
  return {
    child,
    exited,
    apiUrl: line('API')!,
    apiKey: line('API key')!,
    envFile: line('Worker env')!,
    output,
  };
}

/**
 * A PDF of `pages` small pages (160 x 40 pt), each reading "Page N" in large type: a page the real
 * engine reads in a fraction of a second on one thread, so fault tests can run many jobs.
 */
export async function smallPagesPdf(pages: number): Promise<Buffer> {
  const doc = await PDFDocument.create();
  const font = await doc.embedFont(StandardFonts.HelveticaBold);
  for (let n = 1; n <= pages; n++) {
    const page = doc.addPage([160, 40]);
    page.drawText(`Page ${n}`, { x: 8, y: 10, size: 24, font });
  }
  return Buffer.from(await doc.save());
}

/**
 * Submits `count` documents through the API, a few at a time (fifty uploads at once have reset
 * connections on a loaded CI machine), and returns the created jobs in order.
 */
export async function submitAll(
  client: OcrClient,
  count: number,
  document: (i: number) => [string, Buffer],
  concurrency = 5,
): Promise<CreatedJob[]> {
  const created: CreatedJob[] = new Array(count);
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(concurrency, count) }, async () => {
      while (next < count) {
        const i = next++;
        const [name, bytes] = document(i);
        created[i] = await client.submit({ fileName: name, bytes });
      }
    }),
  );
  return created;
}

/** The tenant's SUCCEEDED jobs (up to 100), from the listing route. */
export async function succeededCount(apiUrl: string, apiKey: string): Promise<number> {
  const res = await fetch(`${apiUrl}/v1/jobs?status=SUCCEEDED&limit=100`, {
    headers: { 'x-api-key': apiKey },
  });
  if (!res.ok) throw new Error(`listing jobs answered ${res.status}`);
  return ((await res.json()) as { jobs: unknown[] }).jobs.length;
}

/** Polls `check` until it holds, failing after `timeoutMs`. */
export async function waitUntil(
  check: () => Promise<boolean>,
  timeoutMs: number,
  what: string,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(100);
  }
}

/** Everything a child process writes to stdout and stderr, as it comes. */
function collectOutput(child: ChildProcess): () => string {
  let text = '';
  const append = (chunk: string) => {
    text += chunk;
  };
  child.stdout?.setEncoding('utf8').on('data', append);
  child.stderr?.setEncoding('utf8').on('data', append);
  return () => text;
}
