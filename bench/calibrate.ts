/**
 * `npm run calibrate`: measures the activation ranges an int8 model is quantised with
 * (`gpu-worker/src/ocr/model-quantize.ts`) and writes them as its bundled calibration table.
 *
 *   npm run calibrate -- --float-from-stride 4 --data ../shared/eval --folders receipts,papers --pick odd
 *   npm run calibrate -- --model detection --float-strides 3 --data ../shared/eval --folders receipts,papers --pick odd
 *
 * The float engine (rewritten graphs) reads every picked page as it does in production —
 * detection, crops, recognition batches planned for the CPU — while the measured model's session
 * also returns every tensor the quantiser needs; `RangeCollector` reduces them over the runs.
 * Pick one half (`--pick odd`) and report word F1 on the other (`bench:engine --pick even`).
 */
import { readFile, writeFile } from 'node:fs/promises';
import { availableParallelism } from 'node:os';
import { basename, join } from 'node:path';
import { Command, Option } from 'commander';
import type ort from 'onnxruntime-node';
import type { CalibrationTable } from '../gpu-worker/src/ocr/calibration.ts';
import { TextDetector } from '../gpu-worker/src/ocr/detector.ts';
import { decodeImagePages, resizeForDetection } from '../gpu-worker/src/ocr/image.ts';
import { ModelFile } from '../gpu-worker/src/ocr/model-cache.ts';
import { GRAPH_REWRITE_VERSION } from '../gpu-worker/src/ocr/model-graph.ts';
import { calibrationModel, quantizeSettings, RangeCollector } from '../gpu-worker/src/ocr/model-quantize.ts';
import { loadDictionary, modelFiles } from '../gpu-worker/src/ocr/models.ts';
import { DEFAULT_ENGINE_OPTIONS, type EngineOptions } from '../gpu-worker/src/ocr/options.ts';
import { planRecognition, TextRecognizer } from '../gpu-worker/src/ocr/recognizer.ts';
import { createSession, loadModelBytes } from '../gpu-worker/src/ocr/session.ts';
import { listPages, parsePick } from './pages.ts';

const opts = new Command()
  .requiredOption('--data <dir>', 'folder of folders of page images')
  .requiredOption('--folders <list>', 'sub-folders to read')
  .option('--pick <which>', 'all pages, or every other one from the 1st (odd) or the 2nd (even)', 'odd')
  .option('--model-dir <dir>', 'folder with the ONNX models (default: the bundled PP-OCRv4)')
  .addOption(
    new Option('--model <model>', 'the model to measure')
      .choices(['recognition', 'detection'])
      .default('recognition'),
  )
  .option(
    '--float-strides <n>',
    'convolutions kept float up to the n-th strided one (QuantizeSettings)',
    Number,
    0,
  )
  .option(
    '--float-from-stride <n>',
    'convolutions kept float from the n-th strided one on (QuantizeSettings; 0: none)',
    Number,
    0,
  )
  .option('--out <file>', 'the table to write (default: calibration/<model file>.ts beside calibration.ts)')
  .parse()
  .opts<{
    data: string;
    folders: string;
    pick: string;
    modelDir?: string;
    model: 'recognition' | 'detection';
    floatStrides: number;
    floatFromStride: number;
    out?: string;
  }>();
for (const [flag, value] of [
  ['--float-strides', opts.floatStrides],
  ['--float-from-stride', opts.floatFromStride],
] as const) {
  if (!Number.isInteger(value) || value < 0)
    throw new Error(`${flag} ${value}: expected a whole number, 0 or more`);
}

const options: EngineOptions = {
  ...DEFAULT_ENGINE_OPTIONS,
  modelCache: false,
  intraOpNumThreads: availableParallelism(),
  ...(opts.modelDir ? { modelDir: opts.modelDir } : {}),
};
const files = modelFiles(options.modelDir);
const measuredFile = await ModelFile.read(files[opts.model]);
const settings = quantizeSettings(opts);
const measured = calibrationModel((await loadModelBytes(measuredFile, options)).bytes, settings);
const session = await createSession(measured.model, options, opts.model === 'recognition');
const collector = new RangeCollector();
const wanted = new Set(measured.tensors);
const run = session.run.bind(session);
// Every run of the measured model also hands back the tensors to measure.
Object.assign(session, {
  run: async (feeds: ort.InferenceSession.FeedsType) => {
    const outputs = await run(feeds);
    for (const [name, tensor] of Object.entries(outputs))
      if (wanted.has(name)) collector.observe(name, tensor.data as Float32Array);
    return outputs;
  },
});
const detector = new TextDetector(
  opts.model === 'detection'
    ? session
    : await createSession((await loadModelBytes(files.detection, options)).bytes, options, false),
  options,
  resizeForDetection,
);
const recognizer =
  opts.model === 'recognition'
    ? new TextRecognizer(session, loadDictionary(files.dictionary), options)
    : undefined;

const read: string[] = [];
for (const folder of opts.folders.split(',')) {
  const dir = join(opts.data, folder);
  const names = await listPages(dir, parsePick(opts.pick));
  for (const name of names) {
    for (const { image } of await decodeImagePages(await readFile(join(dir, name)), options.maxPagePixels)) {
      const boxes = await detector.detect(image);
      if (!recognizer) continue;
      const lines = boxes.map((b) => ({ image, box: b.box }));
      for (const batch of planRecognition(lines, options)) await recognizer.recognizeBatch(batch);
    }
  }
  read.push(`${names.length} ${folder} (${opts.pick === 'all' ? 'all' : `the ${opts.pick} ones`})`);
  console.error(`${folder}: ${names.length} pages, ${collector.runs} ${opts.model} runs so far`);
}

const table: CalibrationTable = {
  model: basename(measuredFile.path),
  sha256: measuredFile.sha256,
  graphRewriteVersion: GRAPH_REWRITE_VERSION,
  method: 'mean-of-run-extremes',
  pages: `${read.join(', ')} of ${basename(opts.data)}`,
  runs: collector.runs,
  ...settings,
  ranges: Object.fromEntries(
    Object.entries(collector.ranges()).map(([k, [lo, hi]]) => [
      k,
      [Number(lo.toPrecision(7)), Number(hi.toPrecision(7))],
    ]),
  ),
};
const missing = measured.tensors.filter((t) => !(t in table.ranges));
if (missing.length > 0) throw new Error(`no run measured ${missing.length} tensors, e.g. ${missing[0]}`);
const out =
  opts.out ??
  join('gpu-worker/src/ocr/calibration', `${basename(measuredFile.path).replace(/\.onnx$/, '')}.ts`);
await writeFile(
  out,
  `// Written by \`npm run calibrate\` (bench/calibrate.ts): measure again rather than edit.\n` +
    `import type { CalibrationTable } from '../calibration.ts';\n\n` +
    `const table: CalibrationTable = ${JSON.stringify(table, null, 2)};\n\nexport default table;\n`,
);
console.error(`wrote ${out}: ${measured.tensors.length} tensors over ${collector.runs} runs`);
