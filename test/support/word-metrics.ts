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
