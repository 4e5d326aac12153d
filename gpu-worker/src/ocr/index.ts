export { cropSize, warpQuad } from './crop.ts';
export {
  ctcGreedyDecode,
  type DecodedChar,
  type DecodedLine,
  type DecodedWord,
  decodeLine,
  splitWords,
  type WordSplitOptions,
} from './ctc.ts';
export { dbPostprocess } from './db-postprocess.ts';
export { detBatchSize, detectionSize, planDetection } from './detector.ts';
export { OcrEngine } from './engine.ts';
export { EngineThreads, threadCounts } from './engine-threads.ts';
export {
  type EngineErrorCode,
  EngineInputError,
  ImageTooLargeError,
  InvalidImageError,
  ProviderUnavailableError,
} from './errors.ts';
export { convexHull, minAreaRect, orderQuad, rectCorners } from './geometry.ts';
export { type DecodedPage, decodeImagePages, imagePageCount, type PageSelection } from './image.ts';
export { defaultModelCacheDir, type ModelCacheOutcome } from './model-cache.ts';
export {
  checkEngineOptions,
  DEFAULT_ENGINE_OPTIONS,
  type EngineOptions,
  EXECUTION_PROVIDERS,
  type ExecutionProvider,
  PRECISIONS,
  type Precision,
  parseProviders,
} from './options.ts';
export { PageBatcher } from './page-batcher.ts';
export { renderPdfPages, shareImage } from './pdf-pages.ts';
export { readingOrder } from './reading-order.ts';
export { batchWidth, planRecognition, type RecognitionBatch } from './recognizer.ts';
export type { LineResult, OcrResult, PageResult, Point, Quad, RgbImage, WordResult } from './types.ts';
