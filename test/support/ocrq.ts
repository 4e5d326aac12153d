import { execFile, spawn } from 'node:child_process';
import { mkdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import sharp from 'sharp';
import type { Limits } from '../../lambdas/shared/config.ts';
import { type LocalStack, startLocalStack } from '../../local/stack.ts';
import { PageRecognizer } from './recognizers.ts';

export { PageRecognizer };

/**
 * The client and CLI tests' harness: the local stack with a recognizer that reads every page as
 * "page N" (the control plane end to end without the OCR's time), generated pages, and ocrq run
 * as a process the way a user runs it.
 */

export const REPO = resolve(import.meta.dirname, '../..');
/** A profile path that does not exist: the tests' own environment never leaks in. */
const NO_PROFILE = join(tmpdir(), 'ocrq-tests-no-profile.json');

/** The local stack for these tests: tenants A and B, two workers on the page recognizer. */
export async function startClientStack(
  recognizer: PageRecognizer,
  options: { limits?: Partial<Limits> } = {},
): Promise<LocalStack> {
  return startLocalStack({
    port: 0,
    workers: 2,
    apiKeys: { tenantA: 'key-a', tenantB: 'key-b', tenantC: 'key-c', tenantD: 'key-d' },
    recognizer,
    worker: { idleWaitSeconds: 1, concurrency: 4 },
    logLevel: 'SILENT',
    ...(options.limits ? { limits: options.limits } : {}),
  });
}

/** A distinct small PNG (its colour comes from `i`, so every page has its own bytes). */
export function pagePng(i: number): Promise<Buffer> {
  return sharp({
    create: {
      width: 48,
      height: 32,
      channels: 3,
      background: { r: (i * 37) % 256, g: (i * 91) % 256, b: i % 256 },
    },
  })
    .png()
    .toBuffer();
}

/** Writes `count` pages as page-01.png … into `dir`. */
export async function writePages(dir: string, count: number): Promise<string[]> {
  await mkdir(dir, { recursive: true });
  const paths: string[] = [];
  for (let i = 1; i <= count; i++) {
    const path = join(dir, `page-${String(i).padStart(2, '0')}.png`);
    await sharp(await pagePng(i)).toFile(path);
    paths.push(path);
  }
  return paths;
}

export interface OcrqRun {
  code: number;
  stdout: string;
  stderr: string;
}

/** ocrq's command line from source, as `npm run ocrq` runs it (node with tsx), in `cwd`. */
export const OCRQ_FROM_SOURCE = ['--import', 'tsx', join(REPO, 'bin/ocrq.ts')];

/** Runs ocrq to its end; never rejects (the exit code is part of what tests check). */
export function runOcrq(
  args: string[],
  options: { env?: Record<string, string | undefined>; cwd?: string; command?: string[] } = {},
): Promise<OcrqRun> {
  return new Promise((done) => {
    execFile(
      process.execPath,
      [...(options.command ?? OCRQ_FROM_SOURCE), ...args],
      {
        cwd: options.cwd ?? REPO,
        env: { ...process.env, OCRQ_CONFIG: NO_PROFILE, ...options.env },
        timeout: 120_000,
        maxBuffer: 16 * 1024 * 1024,
      },
      (error, stdout, stderr) => {
        const code = error ? (typeof error.code === 'number' ? error.code : 1) : 0;
        done({ code, stdout, stderr });
      },
    );
  });
}

/** Starts ocrq without waiting for it (a test that kills it). */
export function spawnOcrq(args: string[], env: Record<string, string> = {}) {
  return spawn(process.execPath, [...OCRQ_FROM_SOURCE, ...args], {
    cwd: REPO,
    env: { ...process.env, OCRQ_CONFIG: NO_PROFILE, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
}
