/**
 * `npm run calibrate`: measures the activation ranges the int8 recogniser is quantised with
 * (`gpu-worker/src/ocr/model-quantize.ts`) and writes them as the bundled calibration table.
 *
 *   npm run calibrate -- --data ../shared/eval --folders receipts,papers --pick odd
 *
 * The float engine (rewritten graphs) reads every picked page as it does in production —
 * detection, crops, recognition batches planned for the CPU — while the recogniser's session
 * also returns every tensor the quantiser needs; `RangeCollector` reduces them over the runs.
 * Pick one half (`--pick odd`) and report word F1 on the other (`bench:engine --pick even`).
 */
import { readFile, writeFile } from 'node:fs/promises';
import { availableParallelism } from 'node:os';
import { basename, join } from 'node:path';
import { Command } from 'commander';
import type ort from 'onnxruntime-node';
import type { CalibrationTable } from '../gpu-worker/src/ocr/calibration.ts';
import { TextDetector } from '../gpu-worker/src/ocr/detector.ts';
import { decodeImagePages } from '../gpu-worker/src/ocr/image.ts';
import { ModelFile } from '../gpu-worker/src/ocr/model-cache.ts';
import { GRAPH_REWRITE_VERSION } from '../gpu-worker/src/ocr/model-graph.ts';
import { calibrationModel, RangeCollector } from '../gpu-worker/src/ocr/model-quantize.ts';
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
  .option('--out <file>', 'the table to write', 'gpu-worker/src/ocr/calibration/ch_PP-OCRv4_rec_infer.ts')
  .parse()
  .opts<{ data: string; folders: string; pick: string; modelDir?: string; out: string }>();

const options: EngineOptions = {
  ...DEFAULT_ENGINE_OPTIONS,
  modelCache: false,
  intraOpNumThreads: availableParallelism(),
  ...(opts.modelDir ? { modelDir: opts.modelDir } : {}),
};
const files = modelFiles(options.modelDir);
const detector = new TextDetector(
  await createSession((await loadModelBytes(files.detection, options)).bytes, options, false),
  options,
);
const recognitionFile = await ModelFile.read(files.recognition);
const measured = calibrationModel((await loadModelBytes(recognitionFile, options)).bytes);
const session = await createSession(measured.model, options);
const collector = new RangeCollector();
const wanted = new Set(measured.tensors);
const run = session.run.bind(session);
// Every recognition run also hands back the tensors to measure.
Object.assign(session, {
  run: async (feeds: ort.InferenceSession.FeedsType) => {
    const outputs = await run(feeds);
    for (const [name, tensor] of Object.entries(outputs))
      if (wanted.has(name)) collector.observe(name, tensor.data as Float32Array);
    return outputs;
  },
});
const recognizer = new TextRecognizer(session, loadDictionary(files.dictionary), options);

const read: string[] = [];
for (const folder of opts.folders.split(',')) {
  const dir = join(opts.data, folder);
  const names = await listPages(dir, parsePick(opts.pick));
  for (const name of names) {
    for (const { image } of await decodeImagePages(await readFile(join(dir, name)), options.maxPagePixels)) {
      const boxes = await detector.detect(image);
      const lines = boxes.map((b) => ({ image, box: b.box }));
      for (const batch of planRecognition(lines, options)) await recognizer.recognizeBatch(batch);
    }
  }
  read.push(`${names.length} ${folder} (${opts.pick === 'all' ? 'all' : `the ${opts.pick} ones`})`);
  console.error(`${folder}: ${names.length} pages, ${collector.runs} recognition runs so far`);
}

const table: CalibrationTable = {
  model: basename(files.recognition),
  sha256: recognitionFile.sha256,
  graphRewriteVersion: GRAPH_REWRITE_VERSION,
  method: 'mean-of-run-extremes',
  pages: `${read.join(', ')} of ${basename(opts.data)}`,
  runs: collector.runs,
  ranges: Object.fromEntries(
    Object.entries(collector.ranges()).map(([k, [lo, hi]]) => [
      k,
      [Number(lo.toPrecision(7)), Number(hi.toPrecision(7))],
    ]),
  ),
};
const missing = measured.tensors.filter((t) => !(t in table.ranges));
if (missing.length > 0) throw new Error(`no run measured ${missing.length} tensors, e.g. ${missing[0]}`);
await writeFile(
  opts.out,
  `// Written by \`npm run calibrate\` (bench/calibrate.ts): measure again rather than edit.\n` +
    `import type { CalibrationTable } from '../calibration.ts';\n\n` +
    `const table: CalibrationTable = ${JSON.stringify(table, null, 2)};\n\nexport default table;\n`,
);
console.error(`wrote ${opts.out}: ${measured.tensors.length} tensors over ${collector.runs} runs`);
