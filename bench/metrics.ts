/** Multiset of whitespace-separated words, exact match (case and punctuation kept). */
export function wordCounts(text: string): Map<string, number> {
  const counts = new Map<string, number>();
  for (const word of text.split(/\s+/).filter(Boolean)) counts.set(word, (counts.get(word) ?? 0) + 1);
  return counts;
}

/** Word precision, recall and F1 of a hypothesis against a reference, as ../shared/eval defines them. */
export function wordPrecisionRecall(hypothesis: string, reference: string) {
  const hyp = wordCounts(hypothesis);
  const ref = wordCounts(reference);
  let matched = 0;
  for (const [word, n] of hyp) matched += Math.min(n, ref.get(word) ?? 0);
  const hypTotal = [...hyp.values()].reduce((a, b) => a + b, 0);
  const refTotal = [...ref.values()].reduce((a, b) => a + b, 0);
  const precision = hypTotal > 0 ? matched / hypTotal : 0;
  const recall = refTotal > 0 ? matched / refTotal : 0;
  const f1 = precision + recall > 0 ? (2 * precision * recall) / (precision + recall) : 0;
  return { precision, recall, f1, matched, hypTotal, refTotal };
}

/** Levenshtein distance between two strings, in characters. */
export function editDistance(a: string, b: string): number {
  const x = [...a];
  const y = [...b];
  let prev = Array.from({ length: y.length + 1 }, (_, j) => j);
  for (let i = 1; i <= x.length; i++) {
    const row = [i];
    for (let j = 1; j <= y.length; j++) {
      row[j] = Math.min(prev[j]! + 1, row[j - 1]! + 1, prev[j - 1]! + (x[i - 1] === y[j - 1] ? 0 : 1));
    }
    prev = row;
  }
  return prev[y.length]!;
}

type Box = { x0: number; y0: number; x1: number; y1: number };
const bounds = (points: ReadonlyArray<readonly [number, number]>): Box => ({
  x0: Math.min(...points.map((p) => p[0])),
  y0: Math.min(...points.map((p) => p[1])),
  x1: Math.max(...points.map((p) => p[0])),
  y1: Math.max(...points.map((p) => p[1])),
});
function iou(a: Box, b: Box): number {
  const w = Math.max(0, Math.min(a.x1, b.x1) - Math.max(a.x0, b.x0));
  const h = Math.max(0, Math.min(a.y1, b.y1) - Math.max(a.y0, b.y0));
  const inter = w * h;
  const union = (a.x1 - a.x0) * (a.y1 - a.y0) + (b.x1 - b.x0) * (b.y1 - b.y0) - inter;
  return union > 0 ? inter / union : 0;
}

/**
 * Line CER as ../shared/eval defines it for receipts: each ground-truth line is matched to the
 * output line whose axis-aligned box overlaps it most (IoU ≥ 0.5); edits over reference
 * characters, unmatched reference lines as deletions, unmatched output lines as insertions.
 */
export function lineErrors(
  truth: ReadonlyArray<{ text: string; box: ReadonlyArray<readonly [number, number]> }>,
  output: ReadonlyArray<{ text: string; box: ReadonlyArray<readonly [number, number]> }>,
): { edits: number; referenceChars: number } {
  const used = new Set<number>();
  let edits = 0;
  let referenceChars = 0;
  for (const t of truth) {
    referenceChars += [...t.text].length;
    const tb = bounds(t.box);
    let best = -1;
    let bestIou = 0.5;
    output.forEach((o, i) => {
      if (used.has(i)) return;
      const v = iou(tb, bounds(o.box));
      if (v >= bestIou) {
        bestIou = v;
        best = i;
      }
    });
    if (best < 0) edits += [...t.text].length;
    else {
      used.add(best);
      edits += editDistance(t.text, output[best]!.text);
    }
  }
  output.forEach((o, i) => {
    if (!used.has(i)) edits += [...o.text].length;
  });
  return { edits, referenceChars };
}
