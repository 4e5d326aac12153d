import { readFile } from 'node:fs/promises';
import onnxProto from 'onnx-proto';
import ort from 'onnxruntime-node';
import { describe, expect, it } from 'vitest';
import { ctcDecodeColumns, ctcGreedyDecode } from '../../gpu-worker/src/ocr/ctc.ts';
import { addCtcOutputs, CTC_OUTPUTS } from '../../gpu-worker/src/ocr/ctc-outputs.ts';
import { TextDetector } from '../../gpu-worker/src/ocr/detector.ts';
import { type DecodedPage, decodeImagePages, resizeForDetection } from '../../gpu-worker/src/ocr/image.ts';
import { optimizeModel } from '../../gpu-worker/src/ocr/model-graph.ts';
import { loadDictionary, modelFiles } from '../../gpu-worker/src/ocr/models.ts';
import { DEFAULT_ENGINE_OPTIONS } from '../../gpu-worker/src/ocr/options.ts';
import { planRecognition, TextRecognizer } from '../../gpu-worker/src/ocr/recognizer.ts';
import { createSession } from '../../gpu-worker/src/ocr/session.ts';
import { listSamples } from '../../local/samples/index.ts';
import { values } from '../support/onnx-graphs.ts';

const { onnx } = onnxProto;

/** The per-column outputs against the recogniser's full output, on PP-OCRv4's own graph. */
describe('CTC column outputs', () => {
  it('give each column the winner, its probability and the space probability the full output has', async () => {
    const files = modelFiles();
    const rewritten = optimizeModel(await readFile(files.recognition)).model;
    const { model, added } = addCtcOutputs(rewritten);
    expect(added).toBe(true);
    const session = await ort.InferenceSession.create(model, { intraOpNumThreads: 1 });
    const [batch, width] = [3, 160];
    // Pixels in [-1, 1) with a few dark strokes, so that some columns are not blank.
    const pixels = values(batch * 3 * 48 * width, 7).map((v, i) =>
      i % width < 40 && (i >> 4) % 3 === 0 ? -1 : v,
    );
    const feeds = { [session.inputNames[0]!]: new ort.Tensor('float32', pixels, [batch, 3, 48, width]) };
    const out = await session.run(feeds);
    const probs = out[session.outputNames[0]!]!;
    const [, steps, classes] = probs.dims as [number, number, number];
    const data = probs.data as Float32Array;
    const best = out[CTC_OUTPUTS.best]!;
    expect(best.dims).toEqual([batch, steps, 1]);
    expect(out[CTC_OUTPUTS.lastProb]!.dims).toEqual([batch, steps]);
    expect(best.type).toBe('int32');
    const dictionary = loadDictionary(files.dictionary);
    expect(classes).toBe(dictionary.length);
    const columns = {
      best: best.data as Int32Array,
      bestProb: out[CTC_OUTPUTS.bestProb]!.data as Float32Array,
      spaceProb: out[CTC_OUTPUTS.lastProb]!.data as Float32Array,
    };
    for (let n = 0; n < batch; n++) {
      for (let t = 0; t < steps; t++) {
        const column = data.subarray((n * steps + t) * classes, (n * steps + t + 1) * classes);
        const max = Math.max(...column);
        expect(columns.best[n * steps + t]).toBe(column.indexOf(max));
        expect(columns.bestProb[n * steps + t]).toBe(max);
        expect(columns.spaceProb[n * steps + t]).toBe(column[classes - 1]);
      }
      const full = ctcGreedyDecode(data, n * steps * classes, steps, classes, dictionary);
      expect(ctcDecodeColumns(columns, n * steps, steps, dictionary)).toEqual(full);
    }
    // Fetching only the columns works (the engine leaves the full output in the session).
    const fetched = await session.run(feeds, Object.values(CTC_OUTPUTS));
    expect(Object.keys(fetched).sort()).toEqual(Object.values(CTC_OUTPUTS).sort());
  });

  it('let the recogniser read a page exactly as from the full output', async () => {
    const files = modelFiles();
    const options = DEFAULT_ENGINE_OPTIONS;
    const rewritten = optimizeModel(await readFile(files.recognition)).model;
    const dictionary = loadDictionary(files.dictionary);
    const recognizers = await Promise.all(
      [addCtcOutputs(rewritten).model, rewritten].map(
        async (model) => new TextRecognizer(await createSession(model, options), dictionary, options),
      ),
    );
    const detector = new TextDetector(
      await createSession(optimizeModel(await readFile(files.detection)).model, options),
      options,
      resizeForDetection,
    );
    const [{ image }] = (await decodeImagePages(await readFile(listSamples()[0]!.imagePath), 1e8)) as [
      DecodedPage,
    ];
    const lines = (await detector.detect(image)).map((b) => ({ image, box: b.box }));
    const batches = planRecognition(lines, options);
    expect(batches.length).toBeGreaterThan(1);
    const [columns, full] = await Promise.all(
      recognizers.map(async (r) => (await Promise.all(batches.map((b) => r.recognizeBatch(b)))).flat()),
    );
    expect(full!.map((l) => l.text).join(' ')).toMatch(/[A-Za-z]{3}/);
    expect(columns).toEqual(full);
  });

  it('leave other models, and a model that has them, as they were', async () => {
    const files = modelFiles();
    for (const path of [files.detection, files.classifier]) {
      const bytes = new Uint8Array(await readFile(path));
      const result = addCtcOutputs(bytes);
      expect(result.added).toBe(false);
      expect(result.model).toBe(bytes);
    }
    const once = addCtcOutputs(new Uint8Array(await readFile(files.recognition))).model;
    expect(addCtcOutputs(once).model).toBe(once);
    expect(onnx.ModelProto.decode(once).graph?.output?.map((o) => o.name)).toEqual([
      'softmax_11.tmp_0',
      ...Object.values(CTC_OUTPUTS),
    ]);
  });

  it('take k as an input at opset 10 and later (the int8 graph is at 13), as an attribute before', async () => {
    const [batch, steps, classes] = [2, 5, 7];
    const logits = values(batch * steps * classes, 3).map((v) => 4 * v);
    for (const version of [9, 13]) {
      const model = onnx.ModelProto.encode(
        onnx.ModelProto.create({
          irVersion: 7,
          opsetImport: [{ domain: '', version }],
          graph: {
            name: 'head',
            node: [
              {
                opType: 'Softmax',
                input: ['x'],
                output: ['probs'],
                attribute: [{ name: 'axis', type: onnx.AttributeProto.AttributeType.INT, i: 2 }],
              },
            ],
            input: [{ name: 'x', type: { tensorType: { elemType: onnx.TensorProto.DataType.FLOAT } } }],
            output: [
              {
                name: 'probs',
                type: {
                  tensorType: {
                    elemType: onnx.TensorProto.DataType.FLOAT,
                    shape: { dim: [{ dimParam: 'n' }, { dimParam: 't' }, { dimValue: classes }] },
                  },
                },
              },
            ],
          },
        }),
      ).finish();
      const { model: added } = addCtcOutputs(model);
      const topK = onnx.ModelProto.decode(added).graph?.node?.find((n) => n.opType === 'TopK');
      expect(topK?.input?.length).toBe(version < 10 ? 1 : 2);
      const session = await ort.InferenceSession.create(added);
      const out = await session.run({ x: new ort.Tensor('float32', logits, [batch, steps, classes]) });
      const probs = out.probs!.data as Float32Array;
      for (let c = 0; c < batch * steps; c++) {
        const column = Array.from(probs.subarray(c * classes, (c + 1) * classes));
        const max = Math.max(...column);
        expect((out[CTC_OUTPUTS.best]!.data as Int32Array)[c]).toBe(column.indexOf(max));
        expect((out[CTC_OUTPUTS.bestProb]!.data as Float32Array)[c]).toBe(max);
        expect((out[CTC_OUTPUTS.lastProb]!.data as Float32Array)[c]).toBe(column[classes - 1]);
      }
      await session.release();
    }
  });
});
