#!/usr/bin/env -S npx tsx
/**
 * ocrq: the command-line client, against the local stack or a deployed API alike.
 *   ocrq submit <files|dirs|globs...> [--wait] [--out DIR]   bulk ingest through the API
 *   ocrq status|result|cancel|retry|ls|stats                 jobs and queues
 *   ocrq ocr <files|dirs...> --out DIR                       the engine in this process
 *   ocrq up                                                  the local stack (npm start)
 *   ocrq login                                               save an endpoint and key
 * Failures print one line, `ocrq: CODE: message`, and exit 1.
 */
import { writeFile } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { Command, CommanderError, InvalidArgumentError, Option } from 'commander';
import { type JobStatus, OcrClient, type ResultFormat } from '../client/index.ts';
import {
  EXECUTION_PROVIDERS,
  type ExecutionProvider,
  PRECISIONS,
  parseProviders,
} from '../gpu-worker/src/ocr/options.ts';
import { JOB_STATUSES } from '../lambdas/shared/job.ts';
import { addLocalStackOptions, type UpOptions } from '../local/up-options.ts';
import packageJson from '../package.json' with { type: 'json' };
import { CliError, errorLine } from './ocrq/errors.ts';
import { withDashedIds } from './ocrq/job-ids.ts';
import type { OcrCommandOptions } from './ocrq/ocr.ts';
import { type ConnectionFlags, resolveConnection, saveProfile } from './ocrq/profiles.ts';
import { runSubmit, type SubmitCommandOptions } from './ocrq/submit.ts';
import { JOB_HEADER, jobRow, jobView, statsView, table } from './ocrq/views.ts';

function positiveInt(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError('expected a positive integer');
  return n;
}

function positiveNumber(value: string): number {
  const n = Number(value);
  if (!Number.isFinite(n) || n <= 0) throw new InvalidArgumentError('expected a positive number');
  return n;
}

function providers(value: string): ExecutionProvider[] {
  try {
    return parseProviders(value);
  } catch (error) {
    throw new InvalidArgumentError((error as Error).message);
  }
}

/** `--endpoint`, `--api-key`, `--profile` and `--json`, on every command that talks to the API. */
function apiCommand(parent: Command, name: string): Command {
  return parent
    .command(name)
    .option('--endpoint <url>', 'API base URL (else $OCRQ_ENDPOINT, else the profile)')
    .option('--api-key <key>', 'API key, sent as x-api-key (else $OCRQ_API_KEY, else the profile)')
    .option('--profile <name>', 'profile saved by `ocrq login` (else $OCRQ_PROFILE, else default)')
    .option('--json', 'print JSON for scripts instead of text for people');
}

async function clientFor(flags: ConnectionFlags): Promise<OcrClient> {
  return new OcrClient(await resolveConnection(flags));
}

/** Prints one value per line: a JSON line with --json, else its text view. */
function print(json: boolean | undefined, value: unknown, text: () => string): void {
  console.log(json ? JSON.stringify(value) : text());
}

/** Runs `work` for each id, printing a failure as its error line and going on; exit 1 if any failed. */
async function eachJob(ids: string[], work: (id: string) => Promise<void>): Promise<void> {
  for (const id of ids) {
    try {
      await work(id);
    } catch (error) {
      console.error(errorLine(error));
      process.exitCode = 1;
    }
  }
}

const program = new Command()
  .name('ocrq')
  .description('OCR documents with ocr-pipeline: through its API (local or deployed) or in this process')
  .version(packageJson.version)
  .showSuggestionAfterError()
  .exitOverride()
  // Usage errors print as one `ocrq: USAGE: …` line below, like every other failure.
  .configureOutput({ outputError: () => undefined });

type Flags = ConnectionFlags & { json?: boolean };

apiCommand(program, 'submit')
  .description('send documents through the API: bounded concurrency, live progress, resumable with --out')
  .argument('<paths...>', 'files, folders or quoted globs (PNG, JPEG, TIFF, WebP, PDF)')
  .option('--wait', 'wait for the jobs to finish')
  .option(
    '--out <dir>',
    'where NAME.json / NAME.txt go (with --wait) and the manifest that makes reruns resume',
  )
  .addOption(
    new Option('--format <format>', 'what --out gets (hocr, pdf: where the deployment makes them)')
      .choices(['json', 'text', 'both', 'hocr', 'pdf'])
      .default('both'),
  )
  .addOption(
    new Option('--priority <queue>', 'express or bulk (default: by size)').choices(['express', 'bulk']),
  )
  .option('--webhook <url>', 'https URL the API posts each job’s end to')
  .option('--concurrency <n>', 'files uploading at once', positiveInt, 8)
  .action(async (paths: string[], opts: SubmitCommandOptions & Flags) => {
    process.exitCode = await runSubmit(await clientFor(opts), paths, opts);
  });

apiCommand(program, 'status')
  .description("a job's status, pages, timings, estimate and error")
  .argument('<jobId>')
  .action(async (jobId: string, opts: Flags) => {
    const job = await (await clientFor(opts)).getJob(jobId);
    print(opts.json, job, () => jobView(job));
  });

apiCommand(program, 'result')
  .description("a finished job's result, to stdout or --out FILE")
  .argument('<jobId>')
  .addOption(
    new Option('--format <format>', 'result format').choices(['json', 'text', 'hocr', 'pdf']).default('text'),
  )
  .option('--out <file>', 'write the result here instead of stdout')
  .action(async (jobId: string, opts: Flags & { format: ResultFormat; out?: string }) => {
    const result = await (await clientFor(opts)).getResult(jobId, opts.format);
    const data = typeof result === 'string' || result instanceof Uint8Array ? result : JSON.stringify(result);
    if (opts.out) await writeFile(opts.out, data);
    else process.stdout.write(typeof data === 'string' && !data.endsWith('\n') ? `${data}\n` : data);
  });

apiCommand(program, 'cancel')
  .description('cancel unfinished jobs')
  .argument('<jobIds...>')
  .action(async (ids: string[], opts: Flags) => {
    const client = await clientFor(opts);
    await eachJob(ids, async (id) => {
      const job = await client.cancel(id);
      print(opts.json, job, () => `${job.status.padEnd(15)} ${job.jobId}`);
    });
  });

apiCommand(program, 'retry')
  .description("requeue failed jobs' unfinished pages")
  .argument('<jobIds...>')
  .action(async (ids: string[], opts: Flags) => {
    const client = await clientFor(opts);
    await eachJob(ids, async (id) => {
      const job = await client.retry(id);
      print(opts.json, job, () => `${job.status.padEnd(15)} ${job.jobId}`);
    });
  });

apiCommand(program, 'ls')
  .description('list jobs, newest first')
  .addOption(new Option('--status <status>', 'only jobs with this status').choices(JOB_STATUSES))
  .option('--limit <n>', 'at most this many jobs', positiveInt, 25)
  .action(async (opts: Flags & { status?: JobStatus; limit: number }) => {
    const client = await clientFor(opts);
    const rows: string[][] = [];
    let count = 0;
    for await (const job of client.listJobs({ status: opts.status, pageSize: Math.min(100, opts.limit) })) {
      if (opts.json) console.log(JSON.stringify(job));
      else rows.push(jobRow(job));
      if (++count >= opts.limit) break;
    }
    if (!opts.json) console.log(rows.length > 0 ? table(JOB_HEADER, rows) : 'no jobs');
  });

apiCommand(program, 'stats')
  .description('queue depth, dead letters, oldest age, workers, pages/min')
  .option('--watch', 'refresh until Ctrl-C')
  .option('--interval <seconds>', 'seconds between refreshes', positiveNumber, 2)
  .action(async (opts: Flags & { watch?: boolean; interval: number }) => {
    const client = await clientFor(opts);
    for (;;) {
      const stats = await client.queueStats();
      if (opts.json) console.log(JSON.stringify(stats));
      else {
        // On a terminal the table is redrawn in place; in a pipe each refresh follows the last.
        if (opts.watch && process.stdout.isTTY) process.stdout.write('\x1b[H\x1b[2J');
        console.log(statsView(stats));
      }
      if (!opts.watch) return;
      await sleep(opts.interval * 1000);
    }
  });

program
  .command('ocr')
  .description('run the OCR engine in this process on local files (no pipeline)')
  .argument('<paths...>', 'files, folders or quoted globs (PNG, JPEG, TIFF, WebP, PDF)')
  .option('--out <dir>', 'where NAME.json / NAME.txt (or NAME.hocr, NAME.pdf) go', 'ocr-out')
  .addOption(
    new Option('--format <format>', 'what to write (pdf: searchable)')
      .choices(['json', 'text', 'both', 'hocr', 'pdf'])
      .default('both'),
  )
  .option(
    '--batch-size <n>',
    'most text lines per recognition run (on the CPU also at most 49,152 pixels)',
    positiveInt,
    6,
  )
  .option('--providers <list>', `execution providers (${EXECUTION_PROVIDERS.join(',')})`, providers, ['cpu'])
  .option('--dpi <n>', 'resolution PDF pages are rendered at', positiveInt, 200)
  .option(
    '--threads <n>',
    'engine threads (default: one per core on the CPU, one for a lone image there, two on a GPU)',
    positiveInt,
  )
  .addOption(
    new Option(
      '--precision <precision>',
      'detection and recognition model precision (default: int8 on a CPU with VNNI, else fp32; bilevel pages are detected and recognised in fp32 either way)',
    ).choices([...PRECISIONS]),
  )
  .action(async (paths: string[], opts: OcrCommandOptions) => {
    // The engine loads only for this command.
    const { runOcr } = await import('./ocrq/ocr.ts');
    process.exitCode = await runOcr(paths, opts);
  });

addLocalStackOptions(
  program.command('up').description('run the whole pipeline on this machine (what `npm start` runs)'),
).action(async (opts: UpOptions) => {
  const { runLocalStack } = await import('../local/up.ts');
  await runLocalStack(opts);
});

program
  .command('login')
  .description('check an endpoint and key and save them as a profile (0600 file)')
  .requiredOption('--endpoint <url>', 'API base URL')
  .option('--api-key <key>', 'API key (else $OCRQ_API_KEY)')
  .option('--profile <name>', 'profile name', 'default')
  .action(async (opts: { endpoint: string; apiKey?: string; profile: string }) => {
    const apiKey = opts.apiKey ?? process.env.OCRQ_API_KEY;
    if (!apiKey) throw new CliError('NO_API_KEY', 'pass --api-key or set OCRQ_API_KEY');
    const connection = { endpoint: opts.endpoint, apiKey };
    // A key the API refuses is not saved: this throws UNAUTHORIZED first.
    await new OcrClient(connection).listJobsPage({ pageSize: 1 });
    const path = await saveProfile(connection, opts.profile);
    console.log(`saved profile ${opts.profile} for ${connection.endpoint} in ${path}`);
  });

// Whatever fails, and wherever, the user sees one line, never a stack trace.
const fail = (error: unknown) => {
  console.error(errorLine(error));
  process.exit(1);
};
process.on('uncaughtException', fail);
process.on('unhandledRejection', fail);

try {
  // A job id may begin with '-': read it as an id, not as an unknown option.
  await program.parseAsync(withDashedIds(program, process.argv, ['status', 'result', 'cancel', 'retry']));
} catch (error) {
  if (error instanceof CommanderError && error.exitCode === 0) process.exit(0);
  fail(error);
}
