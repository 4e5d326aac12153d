import { execFile, spawn } from 'node:child_process';
import { chmod, mkdir, mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { OcrClient } from '../../client/index.ts';
import type { LocalStack } from '../../local/stack.ts';
import { PageRecognizer, pagePng, REPO, startClientStack, writePages } from '../support/ocrq.ts';

/** The fenced block of `lang` in README section `heading` whose text includes `marker`. */
async function readmeBlock(heading: string, lang: string, marker: string): Promise<string> {
  const readme = await readFile(join(REPO, 'README.md'), 'utf8');
  const section = readme.slice(readme.indexOf(`## ${heading}\n`));
  const end = section.indexOf('\n## ', 4);
  const blocks = [...(end < 0 ? section : section.slice(0, end)).matchAll(/```(\w+)\n([\s\S]*?)```/g)];
  const block = blocks.find((b) => b[1] === lang && b[2]!.includes(marker));
  if (!block) throw new Error(`README: no ${lang} block with ${marker} under ${heading}`);
  return block[2]!;
}

interface Ran {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs a shell line as a reader would paste it (bash, `ocrq` on the PATH), killed after `limitMs`. */
function sh(line: string, cwd: string, env: Record<string, string>, limitMs = 60_000): Promise<Ran> {
  return new Promise((done) => {
    const child = spawn('bash', ['-c', line], { cwd, env: { ...process.env, ...env } });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => {
      stdout += c.toString();
    });
    child.stderr.on('data', (c: Buffer) => {
      stderr += c.toString();
    });
    const timer = setTimeout(() => child.kill('SIGINT'), limitMs);
    child.on('close', (code) => {
      clearTimeout(timer);
      done({ code, stdout, stderr });
    });
  });
}

/** The README's examples of the CLI and the client, run as written against the local stack. */
describe('README examples', () => {
  let stack: LocalStack;
  let work: string;
  let env: Record<string, string>;

  beforeAll(async () => {
    stack = await startClientStack(new PageRecognizer());
    work = await mkdtemp(join(tmpdir(), 'ocrq-readme-'));
    await writePages(join(work, 'scans'), 3);
    // `ocrq` as installed: a command on the PATH (here the sources through tsx).
    const bin = join(work, 'bin');
    await mkdir(bin);
    await writeFile(
      join(bin, 'ocrq'),
      `#!/bin/sh\nexec "${process.execPath}" --import ${join(REPO, 'node_modules/tsx/dist/loader.mjs')} ${join(REPO, 'bin/ocrq.ts')} "$@"\n`,
    );
    await chmod(join(bin, 'ocrq'), 0o755);
    env = {
      PATH: `${bin}:${process.env.PATH}`,
      API: stack.apiUrl,
      KEY: 'key-a',
      OCRQ_CONFIG: join(work, 'config', 'ocrq.json'),
      OCRQ_ENDPOINT: '',
      OCRQ_API_KEY: '',
    };
  }, 60_000);

  afterAll(async () => {
    await stack?.stop();
  });

  it('the command-line session works line by line', async () => {
    const client = new OcrClient({ endpoint: stack.apiUrl, apiKey: 'key-a' });
    const lines = (await readmeBlock('The command line', 'sh', 'ocrq login'))
      .split('\n')
      .map((line) => line.replace(/\s+#.*$/, '').trim())
      .filter((line) => line.startsWith('ocrq '));
    expect(lines.length).toBeGreaterThanOrEqual(9);
    const submits: string[] = [];
    for (const line of lines) {
      // `JOB` is a job id, as the README says: a finished one, or for cancel an unfinished one.
      const job = line.startsWith('ocrq cancel')
        ? (await client.createJob({ fileName: 'x.png', contentType: 'image/png', sizeBytes: 10 })).jobId
        : (await client.listJobsPage({ status: 'SUCCEEDED', pageSize: 1 })).jobs[0]?.jobId;
      const watch = line.includes('--watch');
      const ran = await sh(line, work, { ...env, JOB: job ?? '' }, watch ? 3000 : 60_000);
      expect(ran.stderr, line).not.toMatch(/^ocrq: /m);
      if (watch) expect(ran.stdout, line).toMatch(/^QUEUE\s+WAITING/m);
      else expect(ran.code, `${line}\n${ran.stderr}`).toBe(0);
      if (line.startsWith('ocrq submit')) submits.push(ran.stdout);
    }
    expect(submits[0]).toMatch(/^3 files: 3 succeeded, 0 failed, 0 skipped/m);
    expect(submits[1]).toMatch(/^3 files: 0 succeeded, 0 failed, 3 skipped/m);
    const json = submits[2]!
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(json.map((l) => l.status)).toEqual(['UPLOADED', 'UPLOADED', 'UPLOADED']);
    expect(await readFile(join(work, 'text', 'page-02.txt'), 'utf8')).toContain('page 1');
    expect(JSON.parse(await readFile(join(work, 'result.json'), 'utf8')).pages).toHaveLength(1);
  }, 120_000);

  it('the client example runs as a script', async () => {
    const example = (await readmeBlock('The TypeScript client', 'ts', 'new OcrClient')).replace(
      "from 'ocr-pipeline/client'",
      `from '${join(REPO, 'client/index.ts')}'`,
    );
    await writeFile(join(work, 'example.mts'), example);
    await writeFile(join(work, 'scans', 'page-01.png'), await pagePng(1));
    const { stdout } = await new Promise<{ stdout: string }>((done, fail) =>
      execFile(
        process.execPath,
        ['--import', join(REPO, 'node_modules/tsx/dist/loader.mjs'), 'example.mts'],
        {
          cwd: work,
          env: { ...process.env, OCRQ_ENDPOINT: stack.apiUrl, OCRQ_API_KEY: 'key-b' },
          timeout: 60_000,
        },
        (error, out, err) => (error ? fail(new Error(`${error.message}\n${err}`)) : done({ stdout: out })),
      ),
    );
    expect(stdout).toMatch(/^1 page\(s\): page 1/m);
    expect(stdout).toMatch(/^404 NOT_FOUND$/m);
  }, 60_000);
});
