import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { SingleBar } from 'cli-progress';
import {
  type EngineOptions,
  type ExecutionProvider,
  OcrEngine,
  type OcrResult,
  type Precision,
} from '../../gpu-worker/src/ocr/index.ts';
import { usesGpu } from '../../gpu-worker/src/ocr/options.ts';
import { resultHocr } from '../../gpu-worker/src/outputs/hocr.ts';
import { resultText } from '../../gpu-worker/src/result-format.ts';
import { sniffContentType } from '../../lambdas/shared/documents/file-types.ts';
import { CliError } from './errors.ts';
import { collectDocuments, outputStem } from './files.ts';
import { pathKind } from './relaunch.ts';
import type { OutputFormat } from './submit.ts';

/** What `ocrq ocr` writes: the submit formats, or NAME.hocr, or NAME.pdf (searchable). */
export type OcrOutputFormat = OutputFormat | 'hocr' | 'pdf';

export interface OcrCommandOptions {
  out: string;
  format: OcrOutputFormat;
  batchSize: number;
  providers: ExecutionProvider[];
  dpi: number;
  threads?: number;
  /** The detection and recognition models' precision; default the engine's (int8 on a CPU with VNNI). */
  precision?: Precision;
}

/** Files `ocrq ocr` keeps in flight. */
const FILES_IN_FLIGHT = 4;

async function writeOutputs(
  dir: string,
  stem: string,
  result: OcrResult,
  format: OcrOutputFormat,
  input: Buffer,
): Promise<void> {
  if (format === 'hocr') return writeFile(join(dir, `${stem}.hocr`), resultHocr(result, { title: stem }));
  if (format === 'pdf') {
    const contentType = sniffContentType(input) ?? 'application/octet-stream';
    // pdf-lib takes ~0.12 s to load: only a run that writes PDFs pays it (start-up, issue 14).
    const { searchablePdf } = await import('../../gpu-worker/src/outputs/searchable-pdf.ts');
    return writeFile(join(dir, `${stem}.pdf`), await searchablePdf(result, { bytes: input, contentType }));
  }
  if (format !== 'text') await writeFile(join(dir, `${stem}.json`), JSON.stringify(result));
  if (format !== 'json') await writeFile(join(dir, `${stem}.txt`), resultText(result));
}

/**
 * The engine's settings for an `ocrq ocr` run. One image (not a PDF or TIFF, which may hold many
 * pages) on the CPU, unless `--threads` says otherwise, gets one engine thread whose sessions use
 * every core, and keeps detection's memory arena. With a thread per core, a lone page's detection
 * (most of its time) runs on one core while the other waits; and without the arena its first run
 * maps and faults in every activation afresh. Both settings exist for long runs (throughput, and
 * peak memory over many pages), which one page is not. One receipt on 2 cores, with a warm cache:
 * 1.32–1.54 s against 1.64–1.84 s (five alternating runs each, bench/README.md).
 */
export function ocrEngineOptions(opts: OcrCommandOptions, loneImage: boolean): Partial<EngineOptions> {
  const lone = loneImage && !opts.threads && !usesGpu({ executionProviders: opts.providers });
  return {
    executionProviders: opts.providers,
    recBatchSize: opts.batchSize,
    pdfDpi: opts.dpi,
    ...(opts.threads ? { threads: opts.threads } : {}),
    ...(lone ? { threads: 1, detMemoryArena: true } : {}),
    ...(opts.precision ? { recPrecision: opts.precision, detPrecision: opts.precision } : {}),
  };
}

/**
 * `ocrq ocr`: the engine in this process on local files, NAME.json / NAME.txt per input, a
 * progress bar on stderr and pages/s at the end. Returns the exit code (1 if any file failed).
 */
export async function runOcr(paths: string[], opts: OcrCommandOptions): Promise<number> {
  const files = await collectDocuments(paths);
  if (files.length === 0) throw new CliError('NO_DOCUMENTS', 'no supported documents found');
  await mkdir(opts.out, { recursive: true });
  const loneImage = files.length === 1 && pathKind(files[0]!) === 'file';
  const engine = await OcrEngine.create(ocrEngineOptions(opts, loneImage));
  const bar = new SingleBar({
    format: '{bar} {value}/{total} files · {rate} files/s · {name}',
    hideCursor: true,
    clearOnComplete: false,
    stream: process.stderr,
    noTTYOutput: false,
  });
  bar.start(files.length, 0, { name: '', rate: '0.00' });
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
        const input = await readFile(file);
        const result = await engine.recognize(input);
        pages += result.pages.length;
        await writeOutputs(opts.out, outputStem(file), result, opts.format, input);
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
  return failures.length > 0 ? 1 : 0;
}
