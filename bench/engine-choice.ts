/**
 * The engine benchmark's `--engine auto|textract`: which pages the `auto` engine would send to
 * Textract at given thresholds, PP-OCR's word F1 on them and on the rest, and, where Textract can
 * be called (AWS credentials and a region), the word F1 with Textract's pages in their place.
 */
import { TextractClient } from '@aws-sdk/client-textract';
import { type EscalationThresholds, pageDifficulty } from '../gpu-worker/src/engines/escalation.ts';
import { TextractRecognizer } from '../gpu-worker/src/engines/textract-recognizer.ts';
import type { PageResult, RgbImage } from '../gpu-worker/src/ocr/index.ts';
import { Textract } from '../lambdas/shared/adapters/textract.ts';
import { localTextract } from '../local/textract.ts';
import { wordPrecisionRecall } from './metrics.ts';

/** Textract for the benchmark, when `region` is set and the SDK finds credentials; else undefined. */
export async function benchTextract(region: string | undefined): Promise<TextractRecognizer | undefined> {
  const settings = await localTextract({ OCRQ_TEXTRACT_REGION: region }, (message) => console.error(message));
  if (!settings) return undefined;
  return new TextractRecognizer(
    new Textract(new TextractClient({ region: settings.region }), { bucket: '' }),
    undefined,
  );
}

/** One page as the benchmark saw it: PP-OCR's reading, its ink share, and its reference text. */
export interface BenchPage {
  file: string;
  page: PageResult;
  ink: number;
  reference: string;
}

/** What `auto` does to a folder at the thresholds. F1s are null where nothing was measured. */
export interface AutoFigures {
  thresholds: EscalationThresholds;
  pages: number;
  escalated: number;
  /** Escalated pages by reason. */
  reasons: Record<string, number>;
  escalatedShare: number;
  f1Paddle: number;
  /** PP-OCR alone on the pages `auto` would escalate, and on the others. */
  f1PaddleOnEscalated: number | null;
  f1PaddleOnKept: number | null;
  /** With Textract's pages in place of the escalated ones (Textract available only). */
  f1WithEscalation: number | null;
  f1TextractOnEscalated: number | null;
  /** Seconds Textract took over the escalated pages. */
  textractSeconds: number | null;
}

const round = (value: number) => Math.round(value * 1000) / 1000;
const textOf = (page: PageResult) => page.lines.map((line) => line.text).join('\n');
const f1Of = (pairs: Array<{ hyp: string; ref: string }>) =>
  pairs.length === 0
    ? null
    : round(wordPrecisionRecall(pairs.map((p) => p.hyp).join('\n'), pairs.map((p) => p.ref).join('\n')).f1);

/**
 * The `auto` engine's decision on each page, scored: `image` decodes a page again for Textract
 * (the benchmark does not keep every decoded page in memory).
 */
export async function autoFigures(
  pages: readonly BenchPage[],
  thresholds: EscalationThresholds,
  textract: TextractRecognizer | undefined,
  image: (file: string) => Promise<RgbImage>,
  /** Textract's text per file, shared between thresholds so no page is paid for twice. */
  textractTexts = new Map<string, string>(),
): Promise<AutoFigures> {
  const decided = pages.map((p) => ({ ...p, reason: pageDifficulty(p.page, p.ink, thresholds).reason }));
  const hard = decided.filter((p) => p.reason);
  const kept = decided.filter((p) => !p.reason);
  const reasons: Record<string, number> = {};
  for (const p of hard) reasons[p.reason!] = (reasons[p.reason!] ?? 0) + 1;
  const paddlePairs = (list: typeof decided) => list.map((p) => ({ hyp: textOf(p.page), ref: p.reference }));
  let f1WithEscalation: number | null = null;
  let f1TextractOnEscalated: number | null = null;
  let textractSeconds: number | null = null;
  if (textract && hard.length > 0) {
    const started = performance.now();
    const better = textractTexts;
    for (const p of hard) {
      if (!better.has(p.file))
        better.set(p.file, textOf(await textract.recognizeImage(await image(p.file), 1)));
    }
    textractSeconds = round((performance.now() - started) / 1000);
    f1TextractOnEscalated = f1Of(hard.map((p) => ({ hyp: better.get(p.file)!, ref: p.reference })));
    f1WithEscalation = f1Of(
      decided.map((p) => ({ hyp: better.get(p.file) ?? textOf(p.page), ref: p.reference })),
    );
  }
  return {
    thresholds,
    pages: pages.length,
    escalated: hard.length,
    reasons,
    escalatedShare: pages.length > 0 ? round(hard.length / pages.length) : 0,
    f1Paddle: f1Of(paddlePairs(decided)) ?? 0,
    f1PaddleOnEscalated: f1Of(paddlePairs(hard)),
    f1PaddleOnKept: f1Of(paddlePairs(kept)),
    f1WithEscalation,
    f1TextractOnEscalated,
    textractSeconds,
  };
}
