import { spawn } from 'node:child_process';
import { closeSync, openSync, readSync, statSync } from 'node:fs';
import { isMultiPage, SNIFF_BYTES, sniffContentType } from '../../lambdas/shared/documents/file-types.ts';

/**
 * V8 flags `ocrq ocr` runs with. `--single-threaded-gc`: each isolate (the main thread and the
 * engine threads) collects its own garbage instead of handing marking, sweeping and the freeing of
 * array buffers to V8's helper threads, which on the CPU engine compete with the engine threads
 * for the same cores: 1–8% more pages/s (4% on average) in all ten alternating pairs on 2 cores
 * (receipts, papers, the 110 of both; bench/README.md, 2026-12-02), but a higher peak (815–927 MB
 * over the 110 in three runs), which {@link OCR_MALLOC_ARENAS} more than takes back. V8 takes it
 * only at start (set from a running process, it aborts at the next collection), hence a second
 * process.
 */
export const OCR_V8_FLAGS: readonly string[] = ['--single-threaded-gc'];

/**
 * glibc malloc arenas for `ocrq ocr` (`MALLOC_ARENA_MAX`, read when a process starts; a value the
 * user set is kept). glibc gives each thread that allocates an arena of its own, up to 8 per core,
 * and memory freed in one arena is not reused by another: at the peak of the 110 receipts and
 * papers, six arena heaps held 50–63 MB each (the engine threads' detection activations, the decoded
 * pages) beside 150–215 MB in the main one. With one arena and the flag above, the peak over the 110
 * was 743–808 MB in nine runs against 821–868 MB in eight without either, at the same pages/s
 * within the machine's drift (bench/README.md).
 */
export const OCR_MALLOC_ARENAS = '1';

/**
 * Whether an `ocr` command line reads more than one page: a folder, a glob, two files or more
 * among its arguments other than options and `--out`'s folder, or one PDF or TIFF (told by its first
 * bytes; counting its pages would load PDFium here, as long as the second process takes to start).
 * One image keeps its start-up: the second process costs ~0.1 s once, which one page does not win
 * back.
 */
export function readsSeveralPages(
  args: readonly string[],
  kind: (path: string) => 'file' | 'pages' | 'folder' | undefined = pathKind,
): boolean {
  let files = 0;
  for (let i = 1; i < args.length; i++) {
    const arg = args[i]!;
    if (arg === '--out') i += 1;
    if (arg.startsWith('-')) continue;
    if (/[*?[]/.test(arg)) return true;
    const found = kind(arg);
    if (found === 'folder' || found === 'pages') return true;
    if (found === 'file') files += 1;
  }
  return files >= 2;
}

/** A folder, a file of a format that may hold several pages (PDF, TIFF), another file, or nothing. */
export function pathKind(path: string): 'file' | 'pages' | 'folder' | undefined {
  const stats = statSync(path, { throwIfNoEntry: false });
  if (stats?.isDirectory()) return 'folder';
  if (!stats?.isFile()) return undefined;
  const head = Buffer.alloc(SNIFF_BYTES);
  let read = 0;
  try {
    const fd = openSync(path, 'r');
    try {
      read = readSync(fd, head, 0, SNIFF_BYTES, 0);
    } finally {
      closeSync(fd);
    }
  } catch {
    // Unreadable here: the command itself says why.
    return 'file';
  }
  const type = sniffContentType(head.subarray(0, read));
  return type && isMultiPage(type) ? 'pages' : 'file';
}

/** How a second process runs an `ocrq` command line: its Node options and environment. */
export interface Relaunch {
  execArgv: string[];
  env: Record<string, string | undefined>;
}

/**
 * How a new process should run this `ocrq` command line, or undefined to run it here: `ocr` over
 * several pages ({@link readsSeveralPages}) without {@link OCR_V8_FLAGS} gets them, and
 * {@link OCR_MALLOC_ARENAS} unless `MALLOC_ARENA_MAX` is set (the new process has the flags, so it
 * runs itself). `OCRQ_RELAUNCH=0` keeps every command here; the other commands (uploads, status)
 * always run in the first process.
 */
export function relaunchPlan(
  args: readonly string[],
  execArgv: readonly string[],
  env: Readonly<Record<string, string | undefined>>,
  severalPages: (args: readonly string[]) => boolean = readsSeveralPages,
): Relaunch | undefined {
  if (args[0] !== 'ocr' || env.OCRQ_RELAUNCH === '0') return undefined;
  const missing = OCR_V8_FLAGS.filter((flag) => !execArgv.includes(flag));
  if (missing.length === 0 || !severalPages(args)) return undefined;
  return {
    execArgv: [...execArgv, ...missing],
    env: { ...env, MALLOC_ARENA_MAX: env.MALLOC_ARENA_MAX ?? OCR_MALLOC_ARENAS },
  };
}

/** Signals passed on to the child while it runs (a terminal's ^C reaches both anyway). */
const FORWARDED: readonly NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP'];

/**
 * Runs `script args` in a new Node process as `plan` says, sharing stdin, stdout and stderr, and
 * passes SIGINT, SIGTERM and SIGHUP on to it; resolves with how it ended. Rejects when the process
 * cannot start (then nothing has run).
 */
export function runChild(
  plan: Relaunch,
  script: string,
  args: readonly string[],
): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [...plan.execArgv, script, ...args], {
      stdio: 'inherit',
      env: plan.env,
    });
    const forward = (signal: NodeJS.Signals) => child.kill(signal);
    for (const signal of FORWARDED) process.on(signal, forward);
    const done = () => {
      for (const signal of FORWARDED) process.off(signal, forward);
    };
    child.once('error', (error) => {
      done();
      reject(error);
    });
    child.once('exit', (code, signal) => {
      done();
      resolve({ code, signal });
    });
  });
}
