import ort from 'onnxruntime-node';
import sharp from 'sharp';
import { type DetectedBox, dbPostprocess } from './db-postprocess.ts';
import type { EngineOptions } from './options.ts';
import type { RgbImage } from './types.ts';

/** PaddleOCR's detection normalisation (ImageNet statistics, applied in BGR channel order). */
const MEAN = [0.485, 0.456, 0.406];
const STD = [0.229, 0.224, 0.225];

/** Detection input size: longer side at most `limit`, both sides multiples of 32 (at least 32). */
export function detectionSize(
  width: number,
  height: number,
  limit: number,
): { width: number; height: number } {
  const ratio = Math.max(width, height) > limit ? limit / Math.max(width, height) : 1;
  return {
    width: Math.max(32, Math.round((width * ratio) / 32) * 32),
    height: Math.max(32, Math.round((height * ratio) / 32) * 32),
  };
}

/** Fills `out` (CHW, BGR) with the normalised pixels of an RGB image. */
export function normalizeForDetection(
  rgb: Uint8Array,
  width: number,
  height: number,
  out: Float32Array,
): void {
  const plane = width * height;
  for (let i = 0; i < plane; i++) {
    for (let c = 0; c < 3; c++) {
      // channel c of the tensor is BGR channel c: RGB index 2 - c
      out[c * plane + i] = (rgb[i * 3 + (2 - c)]! / 255 - MEAN[c]!) / STD[c]!;
    }
  }
}

/** Text detection: DB (differentiable binarization) on PP-OCRv4's detection model. */
export class TextDetector {
  constructor(
    private readonly session: ort.InferenceSession,
    private readonly options: EngineOptions,
  ) {}

  /** Resizes and normalises a page into the detection model's input. */
  async preprocess(image: RgbImage): Promise<{ tensor: Float32Array; width: number; height: number }> {
    const size = detectionSize(image.width, image.height, this.options.detLimitSideLen);
    const resized =
      size.width === image.width && size.height === image.height
        ? image.data
        : await sharp(image.data, { raw: { width: image.width, height: image.height, channels: 3 } })
            .resize(size.width, size.height, { fit: 'fill', kernel: 'linear' })
            .raw()
            .toBuffer();
    const tensor = new Float32Array(3 * size.width * size.height);
    normalizeForDetection(resized, size.width, size.height, tensor);
    return { tensor, ...size };
  }

  async detect(image: RgbImage): Promise<DetectedBox[]> {
    const input = await this.preprocess(image);
    const feeds = {
      [this.session.inputNames[0]!]: new ort.Tensor('float32', input.tensor, [
        1,
        3,
        input.height,
        input.width,
      ]),
    };
    const output = await this.session.run(feeds);
    const prob = output[this.session.outputNames[0]!]!.data as Float32Array;
    return dbPostprocess(
      prob,
      input.width,
      input.height,
      {
        thresh: this.options.detDbThresh,
        boxThresh: this.options.detDbBoxThresh,
        unclipRatio: this.options.detDbUnclipRatio,
        maxCandidates: this.options.detMaxCandidates,
        minSize: this.options.detMinSize,
      },
      {
        scaleX: image.width / input.width,
        scaleY: image.height / input.height,
        width: image.width,
        height: image.height,
      },
    );
  }
}
