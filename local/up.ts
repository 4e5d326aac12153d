import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { extname, join } from 'node:path';
import { OcrClient } from '../client/index.ts';
import { parseProviders } from '../gpu-worker/src/ocr/index.ts';
import { listSamples } from './samples/index.ts';
import { formatEnvFile, parseApiKeys, startLocalStack } from './stack.ts';
import type { UpOptions } from './up-options.ts';

/**
 * Running the local stack from a command line: `npm start --` (local/main.ts) and `ocrq up`
 * share this run (and local/up-options.ts), so the two cannot drift apart.
 */

async function runSamples(client: OcrClient): Promise<number> {
  let failures = 0;
  for (const sample of listSamples()) {
    const bytes = await readFile(sample.imagePath);
    const started = Date.now();
    const created = await client.submit({ fileName: `${sample.name}${extname(sample.imagePath)}`, bytes });
    const job = await client.waitForJob(created.jobId, { timeoutMs: 5 * 60_000 });
    const wallMs = Date.now() - started;
    console.log(`\n── ${sample.name} · job ${job.jobId} · ${job.status}`);
    if (job.status !== 'SUCCEEDED' || !job.result) {
      failures += 1;
      console.log(`   error: ${job.error?.code ?? 'UNKNOWN'}: ${job.error?.message ?? 'no result'}`);
      continue;
    }
    const text = await client.getResult(job.jobId, 'text');
    console.log(text.trimEnd().replace(/^/gm, '   '));
    const t = job.timings ?? {};
    console.log(
      `   pages ${job.pages.done}/${job.pages.total} · queue wait ${t.queueWaitMs ?? '?'} ms · processing ${t.processingMs ?? '?'} ms · upload→done ${t.totalMs ?? '?'} ms · client round trip ${wallMs} ms`,
    );
  }
  return failures;
}

/**
 * Starts the whole pipeline on this machine, prints where it is (the lines outside tools read),
 * sends the bundled samples unless told not to, and serves until SIGINT/SIGTERM (or, with
 * `--once`, exits after the samples: 1 if any failed).
 */
export async function runLocalStack(opts: UpOptions): Promise<void> {
  // The AWS SDK warns on Node 20 that later releases will need Node 22; this project supports both.
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
  const apiKeys = process.env.OCRQ_LOCAL_API_KEYS ? parseApiKeys(process.env.OCRQ_LOCAL_API_KEYS) : undefined;
  const startedAt = Date.now();
  const stack = await startLocalStack({
    port: opts.port,
    workers: opts.workers,
    apiKeys,
    engine: { executionProviders: parseProviders(opts.providers) },
  });
  // The environment worker processes need to reach this stack; with no in-process workers it
  // is how work gets done at all.
  const envDir = opts.workerEnv ? undefined : await mkdtemp(join(tmpdir(), 'ocrq-worker-env-'));
  const envPath = opts.workerEnv ?? join(envDir!, 'worker.env');
  await writeFile(envPath, formatEnvFile(stack.workerEnv), { mode: 0o600 });
  let stopping = false;
  const shutdown = async (code: number) => {
    if (stopping) return;
    stopping = true;
    await stack.stop();
    if (envDir) await rm(envDir, { recursive: true, force: true });
    process.exit(code);
  };
  process.on('SIGINT', () => void shutdown(0));
  process.on('SIGTERM', () => void shutdown(0));

  console.log(
    `Local stack up in ${Date.now() - startedAt} ms (${opts.workers} worker(s), providers ${opts.providers})`,
  );
  console.log(`API: ${stack.apiUrl}`);
  // Outside tools read these two lines as they are: `API: URL` and `API key: KEY` (the first tenant's).
  const tenants = Object.entries(stack.apiKeys);
  console.log(`API key: ${tenants[0]![1]}`);
  for (const [tenant, key] of tenants) console.log(`  tenant ${tenant}: key ${key}`);
  // Outside tools read this line as it is too: `Worker env: PATH`.
  console.log(`Worker env: ${envPath}`);
  console.log(`Metrics: ${stack.apiUrl}/metrics`);
  if (opts.workers === 0) console.log(`  start workers with: npm run worker -- --env-file ${envPath}`);

  let failures = 0;
  if (opts.samples) {
    const [tenant, key] = Object.entries(stack.apiKeys)[0]!;
    console.log(`\nSending the bundled samples as tenant ${tenant}…`);
    failures = await runSamples(new OcrClient({ endpoint: stack.apiUrl, apiKey: key }));
  }
  if (opts.once) {
    await shutdown(failures > 0 ? 1 : 0);
    return;
  }
  console.log(`\nServing on ${stack.apiUrl} — Ctrl-C to stop.`);
}
