/**
 * Where an engine thread's time goes, stage by stage, on one thread with one intra-op thread (what
 * each engine thread of the CPU engine has): decode, detection (of it, the session run) and
 * recognition (of it, the session runs), per page of each folder, with the lines, recognition runs
 * and recognition pixels behind them. Models load (and one page is read) before timing starts.
 *
 *   npm run bench:stages -- --data ../shared/eval [--folders receipts,papers] [--pick odd]
 *     [--limit N] [--set recWidthBucket=8 …]
 *
 * The rest of a stage beyond its session runs is the JavaScript around them: resize and
 * normalisation, DB post-processing, crops, CTC decoding and word boxes.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Command } from 'commander';
import type ort from 'onnxruntime-node';
import { TextDetector } from '../gpu-worker/src/ocr/detector.ts';
import { engineThreadData } from '../gpu-worker/src/ocr/engine-threads.ts';
import { decodeImagePages, resizeForDetection } from '../gpu-worker/src/ocr/image.ts';
import { loadDictionary } from '../gpu-worker/src/ocr/models.ts';
import {
  checkEngineOptions,
  DEFAULT_ENGINE_OPTIONS,
  type EngineOptions,
} from '../gpu-worker/src/ocr/options.ts';
import { planRecognition, TextRecognizer } from '../gpu-worker/src/ocr/recognizer.ts';
import { createSession } from '../gpu-worker/src/ocr/session.ts';
import { engineOverrides, pageAndEngineOptions } from './engine-options.ts';
import { benchFolders, listPages, parsePick } from './pages.ts';

const program = pageAndEngineOptions(
  new Command().requiredOption('--data <dir>', 'folder of folders of images'),
).parse();
const opts = program.opts<{ data: string; folders?: string; pick: string; limit?: number; set: string[] }>();

const options: EngineOptions = {
  ...DEFAULT_ENGINE_OPTIONS,
  threads: 1,
  intraOpNumThreads: 1,
  ...engineOverrides(opts.set),
};
checkEngineOptions(options);

/** Milliseconds spent inside a session's `run`, summed since the last read. */
class RunClock {
  total = 0;
  wrap(session: ort.InferenceSession): ort.InferenceSession {
    const run = session.run.bind(session) as (...args: unknown[]) => Promise<ort.InferenceSession.ReturnType>;
    const clock = this;
    // The detector and recogniser call `run` on the object they are given: time each call.
    return new Proxy(session, {
      get(target, key, receiver) {
        if (key !== 'run') return Reflect.get(target, key, receiver);
        return async (...args: unknown[]) => {
          const started = performance.now();
          try {
            return await run(...args);
          } finally {
            clock.total += performance.now() - started;
          }
        };
      },
    });
  }
  take(): number {
    const t = this.total;
    this.total = 0;
    return t;
  }
}

const { data, models, recPrecision, detPrecision } = await engineThreadData(options);
const clock = new RunClock();
const detector = new TextDetector(
  clock.wrap(await createSession(models.detection, options, options.detMemoryArena ?? false)),
  options,
  resizeForDetection,
);
const recognizer = new TextRecognizer(
  clock.wrap(await createSession(models.recognition, options)),
  loadDictionary(data.dictionary),
  options,
);

const folders = await benchFolders(opts.data, opts.folders);
const pick = parsePick(opts.pick);
const rows: string[] = [];
let warmed = false;
for (const folder of folders) {
  const files = await listPages(join(opts.data, folder), pick, opts.limit);
  const sum = { pages: 0, decode: 0, det: 0, detRun: 0, rec: 0, recRun: 0, lines: 0, runs: 0, pixels: 0 };
  for (const file of files) {
    const input = await readFile(join(opts.data, folder, file));
    if (!warmed) {
      // One page first, untimed: the sessions' first runs allocate and plan.
      const [page] = await decodeImagePages(input, options.maxPagePixels);
      if (page) await detector.detect(page.image);
      warmed = true;
    }
    let started = performance.now();
    const pages = await decodeImagePages(input, options.maxPagePixels);
    sum.decode += performance.now() - started;
    for (const page of pages) {
      clock.take();
      started = performance.now();
      const boxes = await detector.detect(page.image);
      sum.det += performance.now() - started;
      sum.detRun += clock.take();
      const batches = planRecognition(
        boxes.map(({ box }) => ({ image: page.image, box })),
        options,
      );
      started = performance.now();
      for (const batch of batches) await recognizer.recognizeBatch(batch);
      sum.rec += performance.now() - started;
      sum.recRun += clock.take();
      sum.pages += 1;
      sum.lines += boxes.length;
      sum.runs += batches.length;
      sum.pixels += batches.reduce((n, b) => n + b.items.length * b.width * options.recImageHeight, 0);
    }
  }
  if (sum.pages === 0) continue;
  const per = (v: number) => (v / sum.pages).toFixed(1);
  const total = sum.decode + sum.det + sum.rec;
  rows.push(
    `| ${folder} | ${sum.pages} | ${per(sum.lines)} | ${per(sum.runs)} | ${(sum.pixels / sum.pages / 1e6).toFixed(2)} | ` +
      `${per(sum.decode)} | ${per(sum.det)} | ${per(sum.detRun)} | ${per(sum.rec)} | ${per(sum.recRun)} | ${per(total)} |`,
  );
}

console.log(
  `one engine thread, one intra-op thread, recognition ${recPrecision}, detection ${detPrecision}; per page:`,
);
console.log(
  '| folder | pages | lines | recognition runs | recognition Mpx | decode ms | detection ms | of it session ms | recognition ms | of it session ms | total ms |',
);
console.log('| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |');
for (const row of rows) console.log(row);
