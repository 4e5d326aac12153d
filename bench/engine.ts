/**
 * Engine benchmark: pages/s, word precision/recall/F1 and receipts' line CER over a folder of
 * documents with ground truth (../shared/eval: receipts/, papers/, scans/), at several batch
 * sizes (pages handed to the engine per call; their text lines are recognised together).
 *
 *   npm run bench:engine -- --data ../shared/eval [--batch-sizes 1,8,32] [--json out.json] [--out DIR]
 *     [--threads N] [--set recMinWidth=320 --set detLimitSideLen=1280 …]
 *     [--engine paddle|auto|textract] [--min-confidence 0.8[,0.9,…] --min-ink 0.02 --min-text 10]
 *     [--textract-region eu-west-1]
 *
 * `--engine auto` adds, per folder, the pages the `auto` engine would send to Textract at the
 * thresholds (and why; one row per --min-confidence given), PP-OCR's word F1 on them and on the
 * rest, and, with Textract (a region
 * and AWS credentials), the word F1 with Textract's pages in their place. `--engine textract`
 * reads every page with Textract (credentials needed).
 *
 * Start-up is timed as a user waits for it: from the process's start to the first page's result
 * (and the engine's model load within it; a warm model cache or not, see `model-cache.ts`).
 * Peak RSS is the whole process's (engine threads and onnxruntime included): per folder (Linux
 * VmHWM, reset before each folder) and over the run (the highest of those and the start-up's).
 * Under tsx each engine thread loads tsx too: the built CLI and worker use ~250 MB less.
 *
 * Models are loaded before timing starts. Two batches are in flight, as in the worker: the next
 * batch's files are read and decoded while the engine runs the current one. --out writes
 * NAME.json per page (the result format) so ../shared/ocr-eval/score.mjs can score the same run.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { Command } from 'commander';
import { inkShare } from '../gpu-worker/src/engines/escalation.ts';
import { cpuInfo } from '../gpu-worker/src/ocr/cpuinfo.ts';
import {
  type DecodedPage,
  decodeImagePages,
  OcrEngine,
  type PageResult,
  parseProviders,
  threadCounts,
} from '../gpu-worker/src/ocr/index.ts';
import { DEFAULT_AUTO_THRESHOLDS } from '../lambdas/shared/config.ts';
import { type AutoFigures, autoFigures, type BenchPage, benchTextract } from './engine-choice.ts';
import { engineOverrides, pageAndEngineOptions } from './engine-options.ts';
import { lineErrors, wordPrecisionRecall } from './metrics.ts';
import { benchFolders, listPages, parsePick } from './pages.ts';

const program = pageAndEngineOptions(
  new Command()
    .requiredOption('--data <dir>', 'folder of folders of images with NAME.gt.txt')
    .option('--batch-sizes <list>', 'pages per engine call', '1,8,32'),
)
  .option('--providers <list>', 'execution providers', 'cpu')
  .option('--threads <n>', 'engine threads (default: one per core on the CPU)', Number)
  .option(
    '--engine <name>',
    'paddle, auto (which pages escalate, and F1 with and without) or textract',
    'paddle',
  )
  .option(
    '--min-confidence <list>',
    'auto: mean line confidence under which a page is hard (a list: one row each)',
  )
  .option('--min-ink <n>', 'auto: share of dark pixels from which a page counts as inked', Number)
  .option('--min-text <n>', 'auto: an inked page with fewer characters is hard', Number)
  .option('--textract-region <region>', 'call Textract in this region (default: $OCRQ_TEXTRACT_REGION)')
  .option('--json <file>', 'write the figures as JSON too')
  .option('--out <dir>', 'write each page result as DIR/<batch>/<folder>/NAME.json')
  .parse();
const opts = program.opts<{
  data: string;
  batchSizes: string;
  folders?: string;
  limit?: number;
  pick: string;
  providers: string;
  threads?: number;
  set: string[];
  engine: string;
  minConfidence?: string;
  minInk?: number;
  minText?: number;
  textractRegion?: string;
  json?: string;
  out?: string;
}>();
if (!['paddle', 'auto', 'textract'].includes(opts.engine))
  throw new Error(`--engine ${opts.engine}: expected paddle, auto or textract`);
const thresholdList = (
  opts.minConfidence?.split(',').map(Number) ?? [DEFAULT_AUTO_THRESHOLDS.minConfidence]
).map((minConfidence) => {
  if (!(minConfidence >= 0 && minConfidence <= 1)) throw new Error('--min-confidence: numbers from 0 to 1');
  return {
    minConfidence,
    minInk: opts.minInk ?? DEFAULT_AUTO_THRESHOLDS.minInk,
    minTextChars: opts.minText ?? DEFAULT_AUTO_THRESHOLDS.minTextChars,
  };
});

/**
 * The process's peak resident memory in MB since the last {@link resetPeakRss} (Linux's VmHWM:
 * the whole process, engine threads and onnxruntime's native memory included), else since start.
 */
function peakRssMb(): number {
  const hwm = /VmHWM:\s+(\d+) kB/.exec(readFileSync('/proc/self/status', 'utf8'))?.[1];
  const kb = hwm ? Number(hwm) : process.resourceUsage().maxRSS;
  return Math.round(kb / 1024);
}

/**
 * The CPU as /proc/cpuinfo names it (Linux): its name, family, model and clock. Speeds here are
 * comparable only on one CPU: an AMD family 26 CPU (2026-12-02) read Tesseract 30% slower than the
 * earlier sessions' machine while the engine ran faster (bench/README.md).
 */
function cpuDescription(): string {
  const info = cpuInfo();
  if (!info) return 'unknown';
  const field = (name: string) => new RegExp(`^${name}\\s*:\\s*(.*)$`, 'm').exec(info)?.[1]?.trim();
  return `${field('model name') ?? 'unknown'}, family ${field('cpu family') ?? '?'} model ${field('model') ?? '?'}, ${field('cpu MHz') ?? '?'} MHz`;
}

/** Starts a new peak (Linux: `5` to clear_refs resets VmHWM to the current RSS); elsewhere a no-op. */
function resetPeakRss(): void {
  try {
    writeFileSync('/proc/self/clear_refs', '5');
  } catch {
    // Not Linux, or not allowed: the peaks are then since the process started.
  }
}

interface Row {
  batch: number;
  folder: string;
  pages: number;
  seconds: number;
  pagesPerSecond: number;
  precision: number;
  recall: number;
  f1: number;
  lineCer?: number;
  /** Peak RSS of the whole process while this folder ran (MB); on the `all` row, the highest. */
  peakRssMb: number;
  /** Word counts behind P/R: matched, output, reference. */
  words: { matched: number; output: number; reference: number };
  /** `--engine auto`: what escalation would do to this folder, per threshold. */
  auto?: AutoFigures[];
}

/** One row over all folders: total pages over total time, words pooled. */
function overall(batch: number, rows: Row[]): Row {
  const pages = rows.reduce((s, r) => s + r.pages, 0);
  const seconds = rows.reduce((s, r) => s + r.seconds, 0);
  const matched = rows.reduce((s, r) => s + r.words.matched, 0);
  const output = rows.reduce((s, r) => s + r.words.output, 0);
  const reference = rows.reduce((s, r) => s + r.words.reference, 0);
  const precision = output > 0 ? matched / output : 0;
  const recall = reference > 0 ? matched / reference : 0;
  const round = (v: number) => Math.round(v * 1000) / 1000;
  return {
    batch,
    folder: 'all',
    pages,
    seconds: Math.round(seconds * 100) / 100,
    pagesPerSecond: round(pages / seconds),
    precision: round(precision),
    recall: round(recall),
    f1: round(precision + recall > 0 ? (2 * precision * recall) / (precision + recall) : 0),
    peakRssMb: Math.max(...rows.map((r) => r.peakRssMb)),
    words: { matched, output, reference },
  };
}

async function groundTruthBoxes(path: string) {
  const text = await readFile(path, 'utf8').catch(() => undefined);
  if (!text) return undefined;
  return text
    .split(/\r?\n/)
    .filter(Boolean)
    .map((line) => {
      const parts = line.split(',');
      const n = parts.slice(0, 8).map(Number);
      const box: Array<[number, number]> = [0, 2, 4, 6].map((i) => [n[i]!, n[i + 1]!]);
      return { text: parts.slice(8).join(','), box };
    });
}

async function main(): Promise<void> {
  const folders = await benchFolders(opts.data, opts.folders);
  const loadStarted = performance.now();
  const engine = await OcrEngine.create({
    ...engineOverrides(opts.set),
    executionProviders: parseProviders(opts.providers),
    ...(opts.threads ? { threads: opts.threads } : {}),
  });
  const modelLoadSeconds = (performance.now() - loadStarted) / 1000;
  const textract =
    opts.engine === 'paddle'
      ? undefined
      : await benchTextract(opts.textractRegion ?? process.env.OCRQ_TEXTRACT_REGION);
  if (opts.engine === 'textract' && !textract)
    throw new Error('--engine textract needs a region (--textract-region) and AWS credentials');
  if (opts.engine === 'auto' && !textract)
    console.error(
      'Textract is not available: auto reports the pages it would escalate, not the F1 with them',
    );
  // Warm up: the first run of each session allocates and optimises.
  const firstFolder = join(opts.data, folders[0]!);
  await engine.recognize(await readFile(join(firstFolder, (await listPages(firstFolder))[0]!)));
  // performance.now() counts from the process's start: start-up as a user waits for it.
  const startup = {
    firstPageSeconds: Math.round(performance.now()) / 1000,
    modelLoadSeconds: Math.round(modelLoadSeconds * 1000) / 1000,
    modelCache: engine.modelCache,
    recPrecision: engine.recPrecision,
    detPrecision: engine.detPrecision,
    peakRssMb: peakRssMb(),
  };
  console.error(
    `cpu: ${cpuDescription()}\nstart-up: first page ${startup.firstPageSeconds} s after the process started, models loaded in ${startup.modelLoadSeconds} s (model cache: ${JSON.stringify(startup.modelCache)}), recognition ${startup.recPrecision}, detection ${startup.detPrecision}, peak RSS ${startup.peakRssMb} MB`,
  );

  const rows: Row[] = [];
  for (const batch of opts.batchSizes.split(',').map(Number)) {
    const batchRows: Row[] = [];
    for (const folder of folders) {
      const dir = join(opts.data, folder);
      const files = await listPages(dir, parsePick(opts.pick), opts.limit);
      let hyp = '';
      let ref = '';
      let edits = 0;
      let refChars = 0;
      let hasBoxes = false;
      resetPeakRss();
      const started = performance.now();
      const groups: string[][] = [];
      for (let start = 0; start < files.length; start += batch)
        groups.push(files.slice(start, start + batch));
      const perGroup: PageResult[][] = new Array(groups.length);
      const inks: number[][] = new Array(groups.length);
      let nextGroup = 0;
      const runGroups = async () => {
        for (let g = nextGroup++; g < groups.length; g = nextGroup++) {
          const decoded: DecodedPage[] = [];
          for (const file of groups[g]!) {
            const [page] = await decodeImagePages(
              await readFile(join(dir, file)),
              engine.options.maxPagePixels,
              { firstPage: 1, pageCount: 1 },
            );
            decoded.push(page!);
          }
          inks[g] = decoded.map((page) => inkShare(page.image));
          perGroup[g] =
            opts.engine === 'textract' && textract
              ? await Promise.all(decoded.map((page) => textract.recognizeImage(page.image, 1)))
              : await engine.recognizePages(decoded);
        }
      };
      await Promise.all([runGroups(), runGroups()]);
      const results = groups.flatMap((group, g) =>
        perGroup[g]!.map((page, i) => ({ file: group[i]!, page, ink: inks[g]![i]! })),
      );
      const benchPages: BenchPage[] = [];
      const seconds = (performance.now() - started) / 1000;
      const folderPeakRssMb = peakRssMb();
      for (const { file, page } of results) {
        const stem = file.replace(/\.[^.]+$/, '');
        const text = page.lines.map((l) => l.text).join('\n');
        hyp += `${text}\n`;
        const reference = await readFile(join(dir, `${stem}.gt.txt`), 'utf8').catch(() => '');
        ref += `${reference}\n`;
        benchPages.push({ file, page, ink: results.find((r) => r.file === file)!.ink, reference });
        const boxes = await groundTruthBoxes(join(dir, `${stem}.boxes.csv`));
        if (boxes) {
          hasBoxes = true;
          const e = lineErrors(boxes, page.lines);
          edits += e.edits;
          refChars += e.referenceChars;
        }
        if (opts.out) {
          const outDir = join(opts.out, `batch${batch}`, folder);
          await mkdir(outDir, { recursive: true });
          await writeFile(join(outDir, `${stem}.json`), JSON.stringify({ pages: [page] }));
        }
      }
      const words = wordPrecisionRecall(hyp, ref);
      const row: Row = {
        batch,
        folder,
        pages: results.length,
        seconds: Math.round(seconds * 100) / 100,
        pagesPerSecond: Math.round((results.length / seconds) * 1000) / 1000,
        precision: Math.round(words.precision * 1000) / 1000,
        recall: Math.round(words.recall * 1000) / 1000,
        f1: Math.round(words.f1 * 1000) / 1000,
        ...(hasBoxes ? { lineCer: Math.round((edits / Math.max(1, refChars)) * 1000) / 1000 } : {}),
        peakRssMb: folderPeakRssMb,
        words: { matched: words.matched, output: words.hypTotal, reference: words.refTotal },
      };
      if (opts.engine === 'auto') {
        const image = async (file: string) => {
          const selection = { firstPage: 1, pageCount: 1 };
          const [page] = await decodeImagePages(
            await readFile(join(dir, file)),
            engine.options.maxPagePixels,
            selection,
          );
          return page!.image;
        };
        const textractTexts = new Map<string, string>();
        row.auto = [];
        for (const thresholds of thresholdList)
          row.auto.push(await autoFigures(benchPages, thresholds, textract, image, textractTexts));
      }
      batchRows.push(row);
      console.error(
        `batch ${batch} ${folder}: ${row.pages} pages, ${row.pagesPerSecond} pages/s, F1 ${row.f1}, peak RSS ${row.peakRssMb} MB`,
      );
    }
    rows.push(...batchRows, overall(batch, batchRows));
  }
  const options = engine.options;
  await engine.close();
  // The whole run's peak: a VmHWM reset also resets what getrusage reports for the running
  // process, so the run's peak is the highest of the start-up's, the folders' and the last one's.
  const processPeakRssMb = Math.max(
    startup.peakRssMb,
    ...rows.map((r) => r.peakRssMb),
    Math.round(process.resourceUsage().maxRSS / 1024),
  );

  const lines = [
    `start-up: first page ${startup.firstPageSeconds} s, models loaded in ${startup.modelLoadSeconds} s (model cache ${Object.values(startup.modelCache).join('/') || 'off'}); peak RSS of the run ${processPeakRssMb} MB`,
    '',
    '| batch | folder | pages | s | pages/s | word P | word R | word F1 | line CER | peak RSS MB |',
    '| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |',
    ...rows.map(
      (r) =>
        `| ${r.batch} | ${r.folder} | ${r.pages} | ${r.seconds} | ${r.pagesPerSecond} | ${r.precision} | ${r.recall} | ${r.f1} | ${r.lineCer ?? ''} | ${r.peakRssMb} |`,
    ),
  ];
  console.log(lines.join('\n'));
  const autoRows = rows.filter((r) => r.auto);
  if (autoRows.length > 0) {
    const show = (value: number | null) => (value === null ? 'n/a' : String(value));
    console.log(
      [
        '',
        `auto (min ink ${thresholdList[0]!.minInk}, min text ${thresholdList[0]!.minTextChars}):`,
        '| batch | folder | min confidence | pages | escalated | share | reasons | F1 PP-OCR | F1 PP-OCR on escalated | F1 PP-OCR on kept | F1 with escalation | F1 Textract on escalated |',
        '| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |',
        ...autoRows.flatMap((r) =>
          r.auto!.map((a) => {
            const reasons = Object.entries(a.reasons)
              .map(([reason, n]) => `${reason} ${n}`)
              .join(', ');
            return `| ${r.batch} | ${r.folder} | ${a.thresholds.minConfidence} | ${a.pages} | ${a.escalated} | ${a.escalatedShare} | ${reasons} | ${a.f1Paddle} | ${show(a.f1PaddleOnEscalated)} | ${show(a.f1PaddleOnKept)} | ${show(a.f1WithEscalation)} | ${show(a.f1TextractOnEscalated)} |`;
          }),
        ),
      ].join('\n'),
    );
  }
  if (opts.json) {
    await mkdir(dirname(opts.json), { recursive: true });
    await writeFile(
      opts.json,
      JSON.stringify(
        {
          machine: {
            cpus: (await import('node:os')).cpus().length,
            cpu: cpuDescription(),
            node: process.version,
          },
          providers: opts.providers,
          engine: opts.engine,
          ...(opts.engine === 'auto' ? { thresholds: thresholdList, textract: textract !== undefined } : {}),
          options,
          threads: threadCounts(options),
          startup,
          peakRssMb: processPeakRssMb,
          rows,
        },
        null,
        2,
      ),
    );
  }
}

await main();
