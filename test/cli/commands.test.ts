import { mkdtemp, readFile, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { OcrClient } from '../../client/index.ts';
import { idempotentJobId } from '../../lambdas/create-job/create-job.ts';
import { PermanentJobError } from '../../lambdas/shared/errors.ts';
import type { LocalStack } from '../../local/stack.ts';
import { PageRecognizer, pagePng, runOcrq, spawnOcrq, startClientStack } from '../support/ocrq.ts';

/** ocrq's job and queue commands, and its profiles, against the local stack. */
describe('ocrq commands', () => {
  const recognizer = new PageRecognizer();
  let stack: LocalStack;
  let client: OcrClient;
  let env: Record<string, string>;
  let doneJob: string;

  beforeAll(async () => {
    stack = await startClientStack(recognizer);
    client = new OcrClient({ endpoint: stack.apiUrl, apiKey: 'key-a' });
    // Connection from the environment, as a script would set it.
    env = { OCRQ_ENDPOINT: stack.apiUrl, OCRQ_API_KEY: 'key-a' };
    const created = await client.submit({ fileName: 'done.png', bytes: await pagePng(1) });
    doneJob = (await client.waitForJob(created.jobId, { timeoutMs: 30_000 })).jobId;
  }, 60_000);

  afterAll(async () => {
    await stack?.stop();
  });

  it('status shows a job to people and as JSON; an unknown job is one NOT_FOUND line', async () => {
    const human = await runOcrq(['status', doneJob], { env });
    expect(human.code).toBe(0);
    expect(human.stdout).toMatch(new RegExp(`^job\\s+${doneJob}$`, 'm'));
    expect(human.stdout).toMatch(/^status\s+SUCCEEDED$/m);
    expect(human.stdout).toMatch(/^pages\s+1\/1$/m);
    const json = await runOcrq(['status', doneJob, '--json'], { env });
    expect(JSON.parse(json.stdout)).toMatchObject({
      jobId: doneJob,
      status: 'SUCCEEDED',
      fileName: 'done.png',
    });

    const unknown = await runOcrq(['status', 'no-such-job'], { env });
    expect(unknown.code).toBe(1);
    expect(unknown.stdout).toBe('');
    expect(unknown.stderr).toBe('ocrq: NOT_FOUND: job no-such-job not found\n');
  });

  it('result prints the text, writes JSON to --out, and says RESULT_NOT_READY for an unfinished job', async () => {
    const text = await runOcrq(['result', doneJob], { env });
    expect(text.stdout).toBe(`${await client.getResult(doneJob, 'text')}`.replace(/\n?$/, '\n'));
    const dir = await mkdtemp(join(tmpdir(), 'ocrq-result-'));
    const saved = await runOcrq(['result', doneJob, '--format', 'json', '--out', join(dir, 'r.json')], {
      env,
    });
    expect(saved.code).toBe(0);
    expect(JSON.parse(await readFile(join(dir, 'r.json'), 'utf8')).pages[0].lines[0].text).toBe('page 1');

    const waiting = await client.createJob({ fileName: 'w.png', contentType: 'image/png', sizeBytes: 10 });
    const early = await runOcrq(['result', waiting.jobId], { env });
    expect(early.code).toBe(1);
    expect(early.stderr).toMatch(/^ocrq: RESULT_NOT_READY: job \S+ is AWAITING_UPLOAD/);
    await client.cancel(waiting.jobId);
  });

  it('cancel and retry take several ids, go on past a failure and exit 1 for it', async () => {
    const a = await client.createJob({ fileName: 'a.png', contentType: 'image/png', sizeBytes: 10 });
    // One job id in 64 begins with '-' (CI once met one): b's always does, so commander must read
    // it as an id and not as an unknown option.
    let key = 0;
    while (!idempotentJobId('tenantA', `dashed-${key}`).startsWith('-')) key++;
    const b = await client.createJob(
      { fileName: 'b.png', contentType: 'image/png', sizeBytes: 10 },
      { idempotencyKey: `dashed-${key}` },
    );
    expect(b.jobId).toMatch(/^-/);
    const cancelled = await runOcrq(['cancel', a.jobId, 'no-such-job', b.jobId], { env });
    expect(cancelled.code).toBe(1);
    // stderr in the message: a failure here once came with an empty stdout and nothing else to go on.
    expect(cancelled.stdout.trim().split('\n'), cancelled.stderr).toEqual([
      expect.stringMatching(new RegExp(`^CANCELLED\\s+${a.jobId}$`)),
      expect.stringMatching(new RegExp(`^CANCELLED\\s+${b.jobId}$`)),
    ]);
    expect(cancelled.stderr).toBe('ocrq: NOT_FOUND: job no-such-job not found\n');

    const recognize = recognizer.recognize.bind(recognizer);
    let broken = true;
    recognizer.recognize = async (input, pages) => {
      if (broken) throw new PermanentJobError('INVALID_INPUT', 'unreadable for now');
      return recognize(input, pages);
    };
    try {
      const job = await client.submit({ fileName: 'f.png', bytes: await pagePng(2) });
      expect((await client.waitForJob(job.jobId, { timeoutMs: 30_000 })).status).toBe('FAILED');
      broken = false;
      const retried = await runOcrq(['retry', job.jobId, '--json'], { env });
      expect(retried.code).toBe(0);
      expect(JSON.parse(retried.stdout)).toMatchObject({ jobId: job.jobId, status: 'QUEUED' });
      expect((await client.waitForJob(job.jobId, { timeoutMs: 30_000 })).status).toBe('SUCCEEDED');
      const again = await runOcrq(['retry', doneJob], { env });
      expect(again.stderr).toMatch(/^ocrq: NOT_RETRYABLE: /);
    } finally {
      recognizer.recognize = recognize;
    }
  }, 60_000);

  it('ls lists newest first as a table or JSON lines, with --status and --limit across pages', async () => {
    const tenant = { OCRQ_ENDPOINT: stack.apiUrl, OCRQ_API_KEY: 'key-d' };
    const other = new OcrClient({ endpoint: stack.apiUrl, apiKey: 'key-d' });
    const ids: string[] = [];
    for (let i = 0; i < 5; i++) {
      ids.push(
        (await other.createJob({ fileName: `l${i}.png`, contentType: 'image/png', sizeBytes: 10 })).jobId,
      );
    }
    await other.cancel(ids[1]!);
    const table = await runOcrq(['ls'], { env: tenant });
    const rows = table.stdout.trim().split('\n');
    expect(rows[0]).toMatch(/^JOB\s+STATUS\s+PAGES\s+CREATED\s+FILE$/);
    expect(rows).toHaveLength(6);
    const json = await runOcrq(['ls', '--json', '--limit', '3'], { env: tenant });
    const listed = json.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(listed).toHaveLength(3);
    const cancelled = await runOcrq(['ls', '--json', '--status', 'CANCELLED'], { env: tenant });
    expect(
      cancelled.stdout
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l).jobId),
    ).toEqual([ids[1]]);
    const bad = await runOcrq(['ls', '--status', 'DONE'], { env: tenant });
    expect(bad.stderr).toMatch(/^ocrq: USAGE: option '--status <status>' argument 'DONE' is invalid/);
  });

  it('stats prints the queue table, JSON, and refreshes with --watch', async () => {
    const table = await runOcrq(['stats'], { env });
    expect(table.stdout).toMatch(/^QUEUE\s+WAITING\s+IN FLIGHT\s+DELAYED\s+DEAD LETTERS\s+OLDEST$/m);
    expect(table.stdout).toMatch(/^express\s+\d+\s+\d+\s+\d+\s+\d+\s+\d+ s$/m);
    expect(table.stdout).toMatch(/^workers \d+ · [\d.]+ pages\/min/m);
    const json = await runOcrq(['stats', '--json'], { env });
    expect(JSON.parse(json.stdout).queues.bulk).toBeDefined();

    const watching = spawnOcrq(['stats', '--watch', '--interval', '0.2', '--json'], env);
    let out = '';
    watching.stdout.on('data', (chunk: Buffer) => {
      out += chunk.toString();
    });
    const deadline = Date.now() + 20_000;
    while (out.split('\n').filter(Boolean).length < 3 && Date.now() < deadline) {
      await new Promise((done) => setTimeout(done, 50));
    }
    watching.kill('SIGINT');
    const refreshes = out.split('\n').filter(Boolean);
    expect(refreshes.length).toBeGreaterThanOrEqual(3);
    for (const line of refreshes.slice(0, 3)) expect(JSON.parse(line).queues.express).toBeDefined();
  }, 30_000);

  it('login checks the key, saves a 0600 profile that later commands use, and refuses a bad key', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'ocrq-config-'));
    const config = join(dir, 'ocrq', 'config.json');
    const login = await runOcrq(['login', '--endpoint', stack.apiUrl, '--api-key', 'key-a'], {
      env: { OCRQ_CONFIG: config },
    });
    expect(login.code).toBe(0);
    expect(login.stdout).toContain(`saved profile default for ${stack.apiUrl}`);
    expect((await stat(config)).mode & 0o777).toBe(0o600);
    const other = await runOcrq(
      ['login', '--endpoint', stack.apiUrl, '--api-key', 'key-b', '--profile', 'b'],
      {
        env: { OCRQ_CONFIG: config },
      },
    );
    expect(other.code).toBe(0);
    expect(JSON.parse(await readFile(config, 'utf8')).profiles).toEqual({
      default: { endpoint: stack.apiUrl, apiKey: 'key-a' },
      b: { endpoint: stack.apiUrl, apiKey: 'key-b' },
    });

    const viaProfile = await runOcrq(['status', doneJob], { env: { OCRQ_CONFIG: config } });
    expect(viaProfile.stdout).toMatch(/^status\s+SUCCEEDED$/m);
    // Tenant B cannot see tenant A's job.
    const viaB = await runOcrq(['status', doneJob, '--profile', 'b'], { env: { OCRQ_CONFIG: config } });
    expect(viaB.stderr).toMatch(/^ocrq: NOT_FOUND: /);
    const missing = await runOcrq(['status', doneJob, '--profile', 'nope'], { env: { OCRQ_CONFIG: config } });
    expect(missing.stderr).toMatch(/^ocrq: NO_PROFILE: no profile "nope" in /);

    const refused = await runOcrq(
      ['login', '--endpoint', stack.apiUrl, '--api-key', 'wrong', '--profile', 'x'],
      {
        env: { OCRQ_CONFIG: config },
      },
    );
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/^ocrq: UNAUTHORIZED: /);
    expect(Object.keys(JSON.parse(await readFile(config, 'utf8')).profiles)).toEqual(['default', 'b']);

    await writeFile(config, 'not json');
    const broken = await runOcrq(['ls'], { env: { OCRQ_CONFIG: config } });
    expect(broken.stderr).toMatch(/^ocrq: BAD_CONFIG: /);
    const noEndpoint = await runOcrq(['ls'], { env: { OCRQ_CONFIG: join(dir, 'none.json') } });
    expect(noEndpoint.stderr).toBe(
      'ocrq: NO_ENDPOINT: no API endpoint: pass --endpoint, set OCRQ_ENDPOINT or run ocrq login\n',
    );
  }, 60_000);
});
