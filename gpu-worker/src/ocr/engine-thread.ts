/**
 * One engine thread (a worker thread of {@link EngineThreads}): its own onnxruntime sessions,
 * and the CPU work around each session run — detection's resize, normalisation and DB
 * post-processing, recognition's crops, normalisation and CTC decoding. While this thread does
 * that work, another thread's session runs: that is how CPU work overlaps inference.
 *
 * Page images arrive in SharedArrayBuffers, so a task carries no pixel copies.
 */
import { workerData } from 'node:worker_threads';
import { fullCollection } from './collect-garbage.ts';
import type { DetectedBox } from './db-postprocess.ts';
import { TextDetector } from './detector.ts';
import { errorToThread, type ThreadError } from './errors.ts';
import type { DecodedPage, PageSelection } from './image.ts';
import { loadDictionary } from './models.ts';
import { onceUnlessFailed } from './once.ts';
import { type EngineOptions, usesGpu } from './options.ts';
import { type RecognitionBatch, type RecognizedLine, TextRecognizer } from './recognizer.ts';
import { createSession, type ModelBytes } from './session.ts';
import type { RgbImage } from './types.ts';

/** What a thread starts with (`workerData`): the threads start before the models are read. */
export interface EngineThreadData {
  options: EngineOptions;
  dictionary: string;
}

/**
 * The models' bytes, read (and rewritten) once by the main thread, shared by every thread: every
 * task brings them, and a thread starts its sessions from the first task that reaches it (the
 * `load` task the engine sends each thread at start, unless another thread took two of those).
 */
export interface ThreadModels {
  detection: ModelBytes;
  recognition: ModelBytes;
  classifier?: ModelBytes;
}

/** How a task went: errors travel as data, so the main thread can rethrow them typed. */
export type ThreadResult<T> = { ok: true; value: T } | { ok: false; error: ThreadError };

async function settle<T>(work: () => Promise<T>): Promise<ThreadResult<T>> {
  try {
    return { ok: true, value: await work() };
  } catch (error) {
    return { ok: false, error: errorToThread(error) };
  }
}

interface Models {
  detector: TextDetector;
  recognizer: TextRecognizer;
}

const { options, dictionary } = workerData as EngineThreadData;
/** Whether detection sessions keep onnxruntime's arena (`detMemoryArena`; default on a GPU only). */
const detectionArena = options.detMemoryArena ?? usesGpu(options);
let models: Promise<Models> | undefined;

async function loadModels(bytes: ThreadModels): Promise<Models> {
  const [det, rec, cls] = await Promise.all([
    createSession(bytes.detection, options, detectionArena),
    createSession(bytes.recognition, options),
    bytes.classifier ? createSession(bytes.classifier, options) : undefined,
  ]);
  return {
    detector: new TextDetector(det, options),
    recognizer: new TextRecognizer(rec, loadDictionary(dictionary), options, cls),
  };
}

/** This thread's sessions, started from the first task's models. */
function ready(bytes: ThreadModels): Promise<Models> {
  models ??= loadModels(bytes);
  return models;
}

/** Loads the sessions (once per thread). */
export function load(task: { models: ThreadModels }): Promise<ThreadResult<void>> {
  return settle(async () => {
    await ready(task.models);
  });
}

/**
 * Renders the selected pages of a PDF (PDFium, WebAssembly: a page can take a tenth of a
 * second, which would stall the worker's event loop on the main thread). The pages come back
 * in SharedArrayBuffers; encrypted, corrupt and oversized documents come back as typed errors.
 */
export function render(task: {
  input: Uint8Array;
  maxPixels: number;
  dpi: number;
  selection?: PageSelection;
}): Promise<ThreadResult<DecodedPage[]>> {
  // PDFium's module (and the documents library) load with the first PDF, not with the thread.
  return settle(async () => {
    const { renderPdfPages } = await import('./pdf-pages.ts');
    return renderPdfPages(task.input, task.maxPixels, task.dpi, task.selection);
  });
}

// Each detection leaves its input floats, the resized page and the probability map (~15 MB at 960
// px) to the next collection: collected at once, they do not pile up beside the other threads'.
const collect = options.collectAfterDetection === false ? undefined : fullCollection();

/** The float detector, from the first task that brings its model's bytes (again if that failed). */
const floatDetection = onceUnlessFailed(async (model: Uint8Array): Promise<TextDetector> => {
  const session = await createSession(model, options, detectionArena);
  return new TextDetector(session, options);
});

/**
 * Detects text on pages whose detection input has the same size, in one session run; `resized`
 * holds them at that size (resized on the main thread: see `withLibvips` in image.ts). With the
 * thread's detector, or with the float one when the task brings the float model (bilevel pages
 * beside int8: `bilevelFloat`).
 */
export async function detect(task: {
  models: ThreadModels;
  images: RgbImage[];
  resized: RgbImage[];
  floatModel?: Uint8Array;
}): Promise<DetectedBox[][]> {
  const detector = task.floatModel
    ? await floatDetection(task.floatModel)
    : (await ready(task.models)).detector;
  const boxes = await detector.detectMany(task.images, task.resized);
  collect?.();
  return boxes;
}

/** The float recogniser, from the first task that brings its model's bytes (again if that failed). */
const floatRecognition = onceUnlessFailed(
  async (models: ThreadModels, model: Uint8Array): Promise<TextRecognizer> => {
    const [{ recognizer }, session] = await Promise.all([ready(models), createSession(model, options)]);
    return recognizer.withSession(session);
  },
);

/**
 * Reads one planned recognition batch: with the thread's recogniser, or with the float one when
 * the task brings the float model (lines of bilevel pages beside int8: `bilevelFloat`).
 */
export async function recognize(task: {
  models: ThreadModels;
  batch: RecognitionBatch;
  floatModel?: Uint8Array;
}): Promise<RecognizedLine[]> {
  const recognizer = task.floatModel
    ? await floatRecognition(task.models, task.floatModel)
    : (await ready(task.models)).recognizer;
  return recognizer.recognizeBatch(task.batch);
}
