#!/usr/bin/env -S npx tsx
/**
 * ocrq: the command-line client.
 *   ocrq ocr <files|dirs...> --out DIR      the engine in-process on local files (no pipeline)
 *   ocrq submit <files|dirs...> --endpoint URL --api-key KEY [--wait]   through the API
 */
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { SingleBar } from 'cli-progress';
import { Command, InvalidArgumentError, Option } from 'commander';
import {
  EXECUTION_PROVIDERS,
  type ExecutionProvider,
  OcrEngine,
  type OcrResult,
  parseProviders,
} from '../gpu-worker/src/ocr/index.ts';
import { resultText } from '../gpu-worker/src/result-format.ts';
import { FINISHED_STATUSES, OcrqClient } from './ocrq/api-client.ts';
import { collectDocuments, outputStem } from './ocrq/files.ts';

function positiveInt(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError('expected a positive integer');
  return n;
}

function providers(value: string): ExecutionProvider[] {
  try {
    return parseProviders(value);
  } catch (error) {
    throw new InvalidArgumentError((error as Error).message);
  }
}

type Format = 'json' | 'text' | 'both';

/** Files `ocrq ocr` keeps in flight. */
const FILES_IN_FLIGHT = 4;
const formatOption = () =>
  new Option('--format <format>', 'what to write').choices(['json', 'text', 'both']).default('both');

async function writeOutputs(dir: string, stem: string, result: OcrResult, format: Format): Promise<void> {
  if (format !== 'text') await writeFile(join(dir, `${stem}.json`), JSON.stringify(result));
  if (format !== 'json') await writeFile(join(dir, `${stem}.txt`), resultText(result));
}

function progressBar(total: number, unit: string): SingleBar {
  const bar = new SingleBar({
    format: `{bar} {value}/{total} ${unit} · {rate} ${unit}/s · {name}`,
    hideCursor: true,
    clearOnComplete: false,
    stream: process.stderr,
    noTTYOutput: false,
  });
  bar.start(total, 0, { name: '', rate: '0.00' });
  return bar;
}

const program = new Command().name('ocrq').description('OCR documents with ocr-pipeline');

program
  .command('ocr')
  .description('run the OCR engine in this process on local files')
  .argument('<paths...>', 'files or folders (PNG, JPEG, TIFF, WebP, PDF)')
  .option('--out <dir>', 'where NAME.json / NAME.txt go', 'ocr-out')
  .addOption(formatOption())
  .option(
    '--batch-size <n>',
    'most text lines per recognition run (on the CPU also at most 49,152 pixels)',
    positiveInt,
    6,
  )
  .option('--providers <list>', `execution providers (${EXECUTION_PROVIDERS.join(',')})`, providers, ['cpu'])
  .option('--dpi <n>', 'resolution PDF pages are rendered at', positiveInt, 200)
  .option('--threads <n>', 'engine threads (default: one per core on the CPU, two on a GPU)', positiveInt)
  .action(
    async (
      paths: string[],
      opts: {
        out: string;
        format: Format;
        batchSize: number;
        providers: ExecutionProvider[];
        dpi: number;
        threads?: number;
      },
    ) => {
      const files = await collectDocuments(paths);
      if (files.length === 0) throw new Error('no supported documents found');
      await mkdir(opts.out, { recursive: true });
      const engine = await OcrEngine.create({
        executionProviders: opts.providers,
        recBatchSize: opts.batchSize,
        pdfDpi: opts.dpi,
        ...(opts.threads ? { threads: opts.threads } : {}),
      });
      const bar = progressBar(files.length, 'files');
      const started = performance.now();
      let pages = 0;
      let done = 0;
      const failures: string[] = [];
      // Several files in flight: the next ones are decoded while the engine runs, and the
      // engine batches the pages of those waiting for it.
      const queue = [...files];
      const readFiles = async () => {
        for (let file = queue.shift(); file !== undefined; file = queue.shift()) {
          try {
            const result = await engine.recognize(await readFile(file));
            pages += result.pages.length;
            await writeOutputs(opts.out, outputStem(file), result, opts.format);
          } catch (error) {
            failures.push(`${file}: ${error instanceof Error ? error.message : String(error)}`);
          }
          done += 1;
          const seconds = (performance.now() - started) / 1000;
          bar.update(done, { name: file, rate: (done / seconds).toFixed(2) });
        }
      };
      await Promise.all(Array.from({ length: FILES_IN_FLIGHT }, readFiles));
      bar.stop();
      await engine.close();
      const seconds = (performance.now() - started) / 1000;
      for (const failure of failures) console.error(`failed: ${failure}`);
      console.log(
        `${pages} pages from ${files.length - failures.length} files in ${seconds.toFixed(1)} s · ${(pages / seconds).toFixed(2)} pages/s → ${opts.out}`,
      );
      if (failures.length > 0) process.exitCode = 1;
    },
  );

program
  .command('submit')
  .description('send files through the pipeline API (local or deployed)')
  .argument('<paths...>', 'files or folders')
  .requiredOption('--endpoint <url>', 'API base URL, e.g. http://127.0.0.1:8080')
  .requiredOption('--api-key <key>', 'API key (sent as x-api-key)')
  .option('--wait', 'wait for the jobs to finish')
  .option('--out <dir>', 'with --wait: where NAME.json / NAME.txt go')
  .addOption(formatOption())
  .addOption(
    new Option('--priority <queue>', 'express or bulk (default: by size)').choices(['express', 'bulk']),
  )
  .option('--json', 'print one JSON line per job instead of a summary')
  .action(
    async (
      paths: string[],
      opts: {
        endpoint: string;
        apiKey: string;
        wait?: boolean;
        out?: string;
        format: Format;
        priority?: 'express' | 'bulk';
        json?: boolean;
      },
    ) => {
      const client = new OcrqClient({ endpoint: opts.endpoint, apiKey: opts.apiKey });
      const files = await collectDocuments(paths);
      if (files.length === 0) throw new Error('no supported documents found');
      if (opts.out) await mkdir(opts.out, { recursive: true });
      const jobs: Array<{ file: string; jobId: string; status: string; error?: unknown }> = [];
      const bar = opts.json ? undefined : progressBar(files.length, 'uploads');
      for (const [i, file] of files.entries()) {
        try {
          const job = await client.submit(file.split('/').pop() ?? file, await readFile(file), {
            priority: opts.priority,
          });
          jobs.push({ file, jobId: job.jobId, status: job.status });
        } catch (error) {
          jobs.push({
            file,
            jobId: '',
            status: 'NOT_SUBMITTED',
            error: error instanceof Error ? error.message : error,
          });
        }
        bar?.update(i + 1, { name: file });
      }
      bar?.stop();
      if (opts.wait) {
        const waitBar = opts.json ? undefined : progressBar(jobs.length, 'jobs');
        let finished = 0;
        for (const job of jobs.filter((j) => j.jobId)) {
          const view = await client.waitForJob(job.jobId, { intervalMs: 1000, timeoutMs: 24 * 3600_000 });
          job.status = view.status;
          if (view.error) job.error = view.error;
          if (opts.out && view.status === 'SUCCEEDED' && view.result) {
            const stem = outputStem(job.file);
            if (opts.format !== 'text')
              await writeFile(join(opts.out, `${stem}.json`), await client.fetchResult(view.result.json));
            if (opts.format !== 'json')
              await writeFile(join(opts.out, `${stem}.txt`), await client.fetchResult(view.result.text));
          }
          waitBar?.update(++finished, { name: job.file });
        }
        waitBar?.stop();
      }
      for (const job of jobs) {
        if (opts.json) console.log(JSON.stringify(job));
        else
          console.log(
            `${job.status.padEnd(15)} ${job.jobId || '-'}  ${job.file}${job.error ? `  ${JSON.stringify(job.error)}` : ''}`,
          );
      }
      const bad = jobs.filter(
        (j) =>
          j.status === 'NOT_SUBMITTED' ||
          (opts.wait && (j.status !== 'SUCCEEDED' || !FINISHED_STATUSES.has(j.status))),
      );
      if (bad.length > 0) process.exitCode = 1;
    },
  );

program.parseAsync().catch((error: unknown) => {
  console.error(`ocrq: ${error instanceof Error ? error.message : String(error)}`);
  process.exit(1);
});
