import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { writeFileSync } from 'node:fs';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';
import { OCR_V8_FLAGS, readsSeveralPages, relaunchPlan } from '../../bin/ocrq/relaunch.ts';
import { REPO } from '../support/ocrq.ts';

describe('relaunchPlan', () => {
  const several = () => true;

  it('runs `ocrq ocr` over several files again with the V8 flags, after the Node options it was given, and one malloc arena', () => {
    expect(OCR_V8_FLAGS).toEqual(['--single-threaded-gc']);
    expect(relaunchPlan(['ocr', 'scans/'], [], { HOME: '/h' }, several)).toEqual({
      execArgv: ['--single-threaded-gc'],
      env: { HOME: '/h', MALLOC_ARENA_MAX: '1' },
    });
    expect(relaunchPlan(['ocr', 'scans/'], ['--max-old-space-size=4096'], {}, several)?.execArgv).toEqual([
      '--max-old-space-size=4096',
      '--single-threaded-gc',
    ]);
  });

  it("keeps the user's MALLOC_ARENA_MAX", () => {
    expect(relaunchPlan(['ocr', 'scans/'], [], { MALLOC_ARENA_MAX: '4' }, several)?.env).toEqual({
      MALLOC_ARENA_MAX: '4',
    });
  });

  it('runs here once the flags are there, with OCRQ_RELAUNCH=0, for one file and for the other commands', () => {
    expect(relaunchPlan(['ocr', 'scans/'], ['--single-threaded-gc'], {}, several)).toBeUndefined();
    expect(relaunchPlan(['ocr', 'scans/'], [], { OCRQ_RELAUNCH: '0' }, several)).toBeUndefined();
    expect(relaunchPlan(['ocr', 'page.png'], [], {}, () => false)).toBeUndefined();
    for (const args of [['submit', 'ocr'], ['status', 'abc'], ['up'], [], ['--help']])
      expect(relaunchPlan(args, [], {}, several)).toBeUndefined();
  });
});

describe('readsSeveralPages', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'ocrq-several-'));
    await writeFile(join(dir, 'a.png'), 'a');
    await writeFile(join(dir, 'b.png'), 'b');
    await writeFile(join(dir, 'report.pdf'), '%PDF-1.7\n');
    await writeFile(join(dir, 'scan.tif'), Buffer.from([0x49, 0x49, 0x2a, 0x00, 8, 0, 0, 0]));
  });

  it('counts folders, globs and files among the arguments, not options', () => {
    const a = join(dir, 'a.png');
    const b = join(dir, 'b.png');
    expect(readsSeveralPages(['ocr', a])).toBe(false);
    expect(readsSeveralPages(['ocr', a, '--out', join(dir, 'new'), '--format', 'text'])).toBe(false);
    // The output folder, there from a previous run, is not an input.
    expect(readsSeveralPages(['ocr', '--out', dir, a])).toBe(false);
    expect(readsSeveralPages(['ocr', a, b])).toBe(true);
    expect(readsSeveralPages(['ocr', dir])).toBe(true);
    expect(readsSeveralPages(['ocr', `${dir}/*.png`])).toBe(true);
    expect(readsSeveralPages(['ocr', join(dir, 'missing.png')])).toBe(false);
    expect(readsSeveralPages(['ocr', '--out=x', a])).toBe(false);
  });

  it('takes one PDF or TIFF, told by its first bytes, for several pages', () => {
    expect(readsSeveralPages(['ocr', join(dir, 'report.pdf')])).toBe(true);
    expect(readsSeveralPages(['ocr', join(dir, 'scan.tif'), '--format', 'text'])).toBe(true);
    // A PNG named .pdf is one page.
    const named = join(dir, 'named.pdf');
    writeFileSync(named, Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]));
    expect(readsSeveralPages(['ocr', named])).toBe(false);
  });
});

describe('runChild', () => {
  let dir: string;
  /** A child that prints its Node options, arguments and OCRQ_PROBE, then exits with code 3 or waits for a signal. */
  let child: string;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'ocrq-relaunch-'));
    child = join(dir, 'child.cjs');
    await writeFile(
      child,
      `console.log(JSON.stringify({ execArgv: process.execArgv, args: process.argv.slice(2), probe: process.env.OCRQ_PROBE }));
       if (process.argv[2] === 'wait') setInterval(() => {}, 1000); else process.exit(3);`,
    );
  });

  /** Output lines of a process until it exits. */
  async function output(proc: ChildProcess) {
    let stdout = '';
    proc.stdout!.on('data', (chunk: Buffer) => {
      stdout += chunk.toString();
    });
    const [code, signal] = (await once(proc, 'exit')) as [number | null, NodeJS.Signals | null];
    return { code, signal, lines: stdout.trim().split('\n') };
  }

  /**
   * A process that runs the child through `runChild` with `plan` (an expression over `process`)
   * and prints how it ended; the child shares its stdout, which the test reads.
   */
  function parent(plan: string, args: string[]): ChildProcess {
    const relaunch = pathToFileURL(join(REPO, 'bin/ocrq/relaunch.ts')).href;
    const script = `import { runChild } from ${JSON.stringify(relaunch)};
      console.log(JSON.stringify(await runChild(${plan}, ${JSON.stringify(child)}, ${JSON.stringify(args)})));`;
    return spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
      cwd: REPO,
      stdio: ['ignore', 'pipe', 'inherit'],
    });
  }

  it('starts a Node process with the options and environment, shares its output and gives back its exit code', async () => {
    const run = parent("{ execArgv: ['--single-threaded-gc'], env: { ...process.env, OCRQ_PROBE: 'set' } }", [
      'a',
      'b c',
    ]);
    const { code, lines } = await output(run);
    expect(code).toBe(0);
    expect(lines.map((line) => JSON.parse(line))).toEqual([
      { execArgv: ['--single-threaded-gc'], args: ['a', 'b c'], probe: 'set' },
      { code: 3, signal: null },
    ]);
  }, 30_000);

  it('passes SIGTERM on to the child, which ends by it', async () => {
    const run = parent('{ execArgv: [], env: process.env }', ['wait']);
    // Signalled once the child runs (its first line is out).
    run.stdout!.once('data', () => run.kill('SIGTERM'));
    const { code, lines } = await output(run);
    expect(code).toBe(0);
    expect(JSON.parse(lines.at(-1)!)).toEqual({ code: null, signal: 'SIGTERM' });
  }, 30_000);
});
