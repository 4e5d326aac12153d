import { execFile, spawn } from 'node:child_process';
import { chmod, mkdir, mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
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

  it('the webhook receiver example verifies a real delivery and refuses a forged one', async () => {
    const example = (await readmeBlock('Notifications: events and webhooks', 'ts', 'verifyWebhook')).replace(
      "from 'ocr-pipeline/client'",
      `from '${join(REPO, 'client/index.ts')}'`,
    );
    await writeFile(join(work, 'receiver.mts'), example);
    const client = new OcrClient({ endpoint: stack.apiUrl, apiKey: 'key-a' });
    const secret = (await (
      await fetch(`${stack.apiUrl}/v1/webhook-secret`, { headers: { 'x-api-key': 'key-a' } })
    ).json()) as {
      secret: string;
    };
    const port = 20_000 + Math.floor(Math.random() * 20_000);
    const receiver = spawn(
      process.execPath,
      ['--import', join(REPO, 'node_modules/tsx/dist/loader.mjs'), 'receiver.mts'],
      {
        cwd: work,
        env: { ...process.env, PORT: String(port), OCRQ_WEBHOOK_SECRET: secret.secret },
      },
    );
    let out = '';
    receiver.stdout.on('data', (c: Buffer) => {
      out += c.toString();
    });
    try {
      const url = `http://127.0.0.1:${port}/`;
      // Up once it answers (a forged delivery, which it must refuse).
      let forged: Response | undefined;
      for (let i = 0; i < 100 && !forged; i++) {
        forged = await fetch(url, {
          method: 'POST',
          body: '{}',
          headers: { 'ocrq-timestamp': '1', 'ocrq-signature': 'v1=00' },
        }).catch(async () => {
          await new Promise((resolve) => setTimeout(resolve, 100));
          return undefined;
        });
      }
      expect(forged?.status).toBe(400);
      const created = await client.submit(
        { fileName: 'hook.png', bytes: await pagePng(1) },
        { webhook: { url } },
      );
      const deadline = Date.now() + 30_000;
      while (!out.includes(`job.succeeded ${created.jobId}`) && Date.now() < deadline) {
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
      expect(out).toContain(`job.succeeded ${created.jobId}`);
      // The dispatcher records the attempt once the receiver has answered: wait for the record.
      await vi.waitFor(
        async () =>
          expect((await client.getJob(created.jobId)).webhook?.attempts).toEqual([
            expect.objectContaining({ statusCode: 204, outcome: 'delivered' }),
          ]),
        { timeout: 10_000, interval: 100 },
      );
    } finally {
      receiver.kill();
    }
  }, 60_000);
});
