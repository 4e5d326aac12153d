import { mkdtemp, readdir, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MANIFEST_FILE } from '../../bin/ocrq/manifest.ts';
import { fileSha256, idempotencyKey } from '../../bin/ocrq/submit.ts';
import { type JobSummary, OcrClient } from '../../client/index.ts';
import type { LocalStack } from '../../local/stack.ts';
import { PageRecognizer, runOcrq, spawnOcrq, startClientStack, writePages } from '../support/ocrq.ts';

/** `ocrq submit` as a user runs it, against the local stack: bulk, resumable, scriptable. */
describe('ocrq submit', () => {
  const recognizer = new PageRecognizer();
  let stack: LocalStack;
  let pages: string;
  let pageFiles: string[];

  beforeAll(async () => {
    stack = await startClientStack(recognizer);
    pages = await mkdtemp(join(tmpdir(), 'ocrq-pages-'));
    pageFiles = await writePages(pages, 20);
  }, 60_000);

  afterAll(async () => {
    await stack?.stop();
  });

  const connection = (key: string) => ['--endpoint', stack.apiUrl, '--api-key', key];
  const allJobs = async (key: string) => {
    const jobs: JobSummary[] = [];
    for await (const job of new OcrClient({ endpoint: stack.apiUrl, apiKey: key }).listJobs({
      pageSize: 100,
    })) {
      jobs.push(job);
    }
    return jobs;
  };
  const manifestLines = async (out: string) =>
    (await readFile(join(out, MANIFEST_FILE), 'utf8').catch(() => ''))
      .split('\n')
      .filter(Boolean)
      .map((line) => JSON.parse(line) as { type: string; file?: string; jobId?: string; runId?: string });

  it('submits a folder of 20 pages, waits, writes every result and a summary; a rerun skips them all', async () => {
    const out = await mkdtemp(join(tmpdir(), 'ocrq-out-'));
    const first = await runOcrq(['submit', pages, '--wait', '--out', out, ...connection('key-a')]);
    expect(first.stderr).not.toMatch(/ocrq: /);
    expect(first.code).toBe(0);
    expect(first.stdout).toMatch(
      /^20 files: 20 succeeded, 0 failed, 0 skipped · 20 pages in [\d.]+ s · [\d.]+ pages\/s → /m,
    );
    // Not a terminal: the progress display is plain lines, the last one at the end.
    expect(first.stderr).toMatch(/progress: 20\/20 uploaded · 0 queued · 0 processing · 20 done · 0 failed/);
    const written = (await readdir(out)).filter((f) => f !== MANIFEST_FILE).sort();
    expect(written).toEqual(
      pageFiles.flatMap((f) => [`${basename(f, '.png')}.json`, `${basename(f, '.png')}.txt`]).sort(),
    );
    for (const file of written.filter((f) => f.endsWith('.json'))) {
      const result = JSON.parse(await readFile(join(out, file), 'utf8'));
      expect(result.pages[0].lines[0].text).toBe('page 1');
    }
    expect(await readFile(join(out, 'page-07.txt'), 'utf8')).toContain('page 1');
    const jobLines = first.stdout.split('\n').filter((l) => l.startsWith('SUCCEEDED'));
    expect(jobLines).toHaveLength(20);

    const again = await runOcrq(['submit', pages, '--wait', '--out', out, '--json', ...connection('key-a')]);
    expect(again.code).toBe(0);
    const lines = again.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    // One JSON line per file on stdout, nothing else; the summary on stderr.
    expect(lines.map((l) => l.status)).toEqual(Array(20).fill('SKIPPED'));
    expect(lines.map((l) => l.file)).toEqual(pageFiles);
    expect(again.stderr).toMatch(/^20 files: 0 succeeded, 0 failed, 20 skipped · 0 pages/m);
    expect(await allJobs('key-a')).toHaveLength(20);
  }, 90_000);

  it('finishes after a kill half way without a second job for any file', async () => {
    const out = await mkdtemp(join(tmpdir(), 'ocrq-out-'));
    const child = spawnOcrq([
      'submit',
      pages,
      '--wait',
      '--out',
      out,
      '--concurrency',
      '1',
      ...connection('key-b'),
    ]);
    const exited = new Promise((done) => child.on('exit', done));
    const deadline = Date.now() + 30_000;
    while ((await manifestLines(out)).filter((l) => l.type === 'submitted').length < 5) {
      if (Date.now() > deadline) throw new Error('ocrq submitted nothing in 30 s');
      await new Promise((done) => setTimeout(done, 10));
    }
    child.kill('SIGKILL');
    await exited;
    const recorded = (await manifestLines(out)).filter((l) => l.type === 'submitted');
    expect(recorded.length).toBeLessThan(20);

    // A kill between a create and its manifest line: the job exists, the manifest does not know it.
    const runId = (await manifestLines(out)).find((l) => l.type === 'run')!.runId!;
    const unrecorded = pageFiles.find((f) => !recorded.some((l) => l.file === f))!;
    const key = idempotencyKey(runId, await fileSha256(unrecorded), basename(unrecorded), {});
    const client = new OcrClient({ endpoint: stack.apiUrl, apiKey: 'key-b' });
    const bytes = await readFile(unrecorded);
    const orphan = await client.createJob(
      { fileName: basename(unrecorded), contentType: 'image/png', sizeBytes: bytes.length },
      { idempotencyKey: key },
    );
    const before = (await allJobs('key-b')).length;
    expect(before).toBeLessThan(20);

    const rerun = await runOcrq(['submit', pages, '--wait', '--out', out, '--json', ...connection('key-b')]);
    expect(rerun.code).toBe(0);
    const lines = rerun.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    const jobs = lines;
    expect(jobs.map((l) => l.status)).toEqual(Array(20).fill('SUCCEEDED'));
    expect(jobs.find((l) => l.file === unrecorded).jobId).toBe(orphan.jobId);
    const listed = await allJobs('key-b');
    expect(listed).toHaveLength(20);
    expect(new Set(listed.map((j) => j.fileName)).size).toBe(20);
    expect(listed.every((j) => j.status === 'SUCCEEDED')).toBe(true);
    expect((await readdir(out)).filter((f) => f.endsWith('.txt'))).toHaveLength(20);
  }, 90_000);

  it('creates its jobs with --priority and --webhook, and without --wait ends once they are uploaded', async () => {
    const hook = 'http://127.0.0.1:9/ocr-hook';
    const run = await runOcrq([
      'submit',
      pageFiles[0]!,
      pageFiles[1]!,
      '--priority',
      'bulk',
      '--webhook',
      hook,
      '--json',
      ...connection('key-c'),
    ]);
    expect(run.code).toBe(0);
    const jobs = run.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(jobs.map((j) => j.status)).toEqual(['UPLOADED', 'UPLOADED']);
    const client = new OcrClient({ endpoint: stack.apiUrl, apiKey: 'key-c' });
    for (const { jobId } of jobs) {
      const job = await client.getJob(jobId);
      expect(job.priority).toBe('bulk');
      expect(job.webhook?.url).toBe(hook);
    }
  });

  it('saves hOCR or the searchable PDF with --format hocr|pdf', async () => {
    for (const [format, extension, start] of [
      ['hocr', 'hocr', '<?xml'],
      ['pdf', 'pdf', '%PDF-'],
    ] as const) {
      const out = await mkdtemp(join(tmpdir(), 'ocrq-out-'));
      const run = await runOcrq([
        'submit',
        pageFiles[2]!,
        '--wait',
        '--out',
        out,
        '--format',
        format,
        ...connection('key-d'),
      ]);
      expect(run.code, run.stderr).toBe(0);
      expect((await readdir(out)).filter((f) => f !== MANIFEST_FILE)).toEqual([`page-03.${extension}`]);
      expect((await readFile(join(out, `page-03.${extension}`), 'latin1')).startsWith(start)).toBe(true);
    }
  }, 60_000);

  it('prints one error line with the API code for a refused key, and fails files it cannot send', async () => {
    const refused = await runOcrq(['submit', pageFiles[0]!, ...connection('not-a-key')]);
    expect(refused.code).toBe(1);
    expect(
      refused.stderr
        .trim()
        .split('\n')
        .filter((l) => l.startsWith('ocrq: ')),
    ).toEqual([expect.stringMatching(/^ocrq: UNAUTHORIZED: /)]);
    expect(refused.stderr).not.toMatch(/\n\s+at /);

    const missing = await runOcrq(['submit', join(pages, 'nothing-*.pdf'), ...connection('key-a')]);
    expect(missing.code).toBe(1);
    expect(missing.stderr.trim()).toMatch(
      /^ocrq: NO_DOCUMENTS: .*nothing-\*\.pdf: no supported documents match$/,
    );
  }, 60_000);
});
