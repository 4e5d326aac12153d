/** One recognised character and the output columns (time steps) it came from. */
export interface DecodedChar {
  char: string;
  /** First and last column of the character's run, inclusive. */
  start: number;
  end: number;
  /** The highest class probability within the run. */
  prob: number;
  /**
   * The highest probability of the space class in the columns between the previous character
   * and this one (0 for the first): the recogniser's own hint of a word boundary, even where
   * the space did not win the column.
   */
  spaceBefore: number;
}

export interface DecodedWord {
  text: string;
  confidence: number;
  start: number;
  end: number;
}

export interface DecodedLine {
  text: string;
  confidence: number;
  words: DecodedWord[];
}

/**
 * Greedy CTC decoding of one sequence of `steps` × `classes` probabilities starting at
 * `offset`: the most likely class per column, repeats collapsed, blanks (class 0) dropped.
 * `dictionary[k]` is the character of class k (index 0 unused); the class whose character is
 * a space is also watched in the columns between characters (`spaceBefore`).
 */
export function ctcGreedyDecode(
  probs: Float32Array,
  offset: number,
  steps: number,
  classes: number,
  dictionary: readonly string[],
): DecodedChar[] {
  const space = dictionary.lastIndexOf(' ');
  const best = new Int32Array(steps);
  const bestProb = new Float32Array(steps);
  const spaceProb = new Float32Array(steps);
  for (let t = 0; t < steps; t++) {
    const base = offset + t * classes;
    let k0 = 0;
    let p0 = probs[base]!;
    for (let k = 1; k < classes; k++) {
      const p = probs[base + k]!;
      if (p > p0) {
        p0 = p;
        k0 = k;
      }
    }
    best[t] = k0;
    bestProb[t] = p0;
    if (space > 0) spaceProb[t] = probs[base + space]!;
  }
  return ctcDecodeColumns({ best, bestProb, spaceProb }, 0, steps, dictionary);
}

/**
 * The recogniser's per-column outputs, each [N, T], that `ctc-outputs.ts` adds to its graph (here,
 * without its protobuf library, for the engine threads that only read them).
 */
export const CTC_OUTPUTS = {
  /** The class with the highest probability (int32). */
  best: 'ctc_best',
  /** Its probability. */
  bestProb: 'ctc_best_prob',
  /** The last class's probability: the space in PaddleOCR's dictionaries (`use_space_char`). */
  lastProb: 'ctc_last_prob',
} as const;

/** Per output column of a batch ([N, T] each, row-major): what greedy CTC decoding reads. */
export interface CtcColumns {
  /** The most likely class. */
  best: ArrayLike<number>;
  /** Its probability. */
  bestProb: ArrayLike<number>;
  /** The space class's probability (zeros when the dictionary has no space). */
  spaceProb: ArrayLike<number>;
}

/**
 * {@link ctcGreedyDecode} from the columns' winners (`ctc-outputs.ts` has onnxruntime compute them):
 * the sequence of `steps` columns starting at `offset`.
 */
export function ctcDecodeColumns(
  columns: CtcColumns,
  offset: number,
  steps: number,
  dictionary: readonly string[],
): DecodedChar[] {
  const chars: DecodedChar[] = [];
  let previous = -1;
  let spaceSince = 0;
  for (let t = offset; t < offset + steps; t++) {
    const best = columns.best[t]!;
    const bestProb = columns.bestProb[t]!;
    if (best !== 0 && best === previous) {
      const last = chars[chars.length - 1]!;
      last.end = t - offset;
      if (bestProb > last.prob) last.prob = bestProb;
    } else if (best !== 0) {
      chars.push({
        char: dictionary[best] ?? '',
        start: t - offset,
        end: t - offset,
        prob: bestProb,
        spaceBefore: spaceSince,
      });
      spaceSince = 0;
    } else {
      const p = columns.spaceProb[t]!;
      if (p > spaceSince) spaceSince = p;
    }
    previous = best;
  }
  return chars;
}

/**
 * Rough advance widths of Latin glyphs relative to an average letter, so that the gap after
 * an "m" is not taken for a space nor the gap after an "i" missed.
 */
const NARROW = new Set([...'iljtfrI1.,:;\'"!|()[]`']);
const WIDE = new Set([...'mwMW@%']);
export function glyphWidth(char: string): number {
  if (NARROW.has(char)) return 0.85;
  if (WIDE.has(char)) return char === 'M' || char === 'W' ? 1.5 : 1.35;
  if (char >= 'A' && char <= 'Z') return 1.25;
  return 1;
}

/** Punctuation that English sets without a space before it (closing) or after it (opening). */
const CLOSING = new Set([...'.,:;!?)]}%\'"']);
const OPENING = new Set([...'([{$#']);

const isDigit = (char: string) => char >= '0' && char <= '9';

/**
 * Whether `next` continues a number that `word` ends with a decimal point after a digit ("12." +
 * "50"): the point is narrow and the recogniser's space class often rises beside it, which split
 * "12.50" into "12." and "50" (46 lines of 40 receipts). Not a comma: "[0, 1]" is two words.
 */
function inNumber(word: readonly DecodedChar[], next: DecodedChar): boolean {
  const before = word[word.length - 2]?.char;
  return word[word.length - 1]?.char === '.' && before !== undefined && isDigit(before) && isDigit(next.char);
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

/** How {@link splitWords} finds the word boundaries the recogniser did not emit as spaces. */
export interface WordSplitOptions {
  /**
   * A boundary wherever the space class reaches this probability between two characters
   * (`DecodedChar.spaceBefore`).
   */
  spaceProb: number;
  /**
   * Or where the gap between two characters is wider than this many times the line's median
   * character pitch, with at least `gapSpaceProb` of space probability in it.
   */
  gapRatio: number;
  gapSpaceProb: number;
  /**
   * Closing punctuation (`.,:;!?)]}%'"`) starts a word only where its gap from the previous
   * character is wider than this many times the median pitch, with `gapSpaceProb` of space.
   */
  closingGapRatio: number;
}

/**
 * Splits decoded characters into words. A space the recogniser emitted is a boundary. The
 * Chinese-trained PP-OCR recogniser drops many spaces between Latin words, but its space class
 * still rises in the blank columns between the words: that is a boundary too. So is a gap much
 * wider than the line's median character pitch (distance between centres, scaled by rough
 * glyph widths) with some space probability in it; where the recogniser did emit spaces on the
 * line, such a gap must also come close to those spaces' width. Closing punctuation needs a
 * clearly wider gap (`closingGapRatio`) and opening punctuation never ends a word.
 */
export function splitWords(chars: readonly DecodedChar[], options: WordSplitOptions): DecodedWord[] {
  const visible = chars.filter((c) => c.char.trim() !== '' || c.char === ' ');
  const centre = (c: DecodedChar) => (c.start + c.end) / 2;
  const expected = (a: DecodedChar, b: DecodedChar) => (glyphWidth(a.char) + glyphWidth(b.char)) / 2;
  const pitches: number[] = [];
  const spaceGaps: number[] = [];
  for (let i = 1; i < visible.length; i++) {
    const a = visible[i - 1]!;
    const b = visible[i]!;
    if (a.char !== ' ' && b.char !== ' ') pitches.push((centre(b) - centre(a)) / expected(a, b));
    const after = visible[i + 1];
    if (b.char === ' ' && a.char !== ' ' && after && after.char !== ' ') {
      spaceGaps.push((centre(after) - centre(a)) / expected(a, after));
    }
  }
  const pitch = pitches.length >= 2 ? median(pitches) : Number.POSITIVE_INFINITY;
  const threshold = Math.max(options.gapRatio * pitch, spaceGaps.length > 0 ? 0.9 * median(spaceGaps) : 0);
  const words: DecodedChar[][] = [];
  let current: DecodedChar[] = [];
  for (const c of visible) {
    if (c.char === ' ') {
      if (current.length > 0) words.push(current);
      current = [];
      continue;
    }
    const prev = current[current.length - 1];
    if (prev && !OPENING.has(prev.char) && !inNumber(current, c)) {
      const gap = centre(c) - centre(prev);
      const width = expected(prev, c);
      // The output columns are coarse (8 px at height 48): a wide gap also needs a column of room.
      const room = gap - pitch * width >= 1;
      const boundary = CLOSING.has(c.char)
        ? // Set apart only across a clear gap: "TOTAL   :" on a receipt, not "word," where the space class rises.
          room && gap > options.closingGapRatio * pitch * width && c.spaceBefore >= options.gapSpaceProb
        : c.spaceBefore >= options.spaceProb ||
          (room && gap > threshold * width && c.spaceBefore >= options.gapSpaceProb);
      if (boundary) {
        words.push(current);
        current = [];
      }
    }
    current.push(c);
  }
  if (current.length > 0) words.push(current);
  return words.map((w) => ({
    text: w.map((c) => c.char).join(''),
    confidence: w.reduce((sum, c) => sum + c.prob, 0) / w.length,
    start: w[0]!.start,
    end: w[w.length - 1]!.end,
  }));
}

/** Scripts and punctuation that make a line Chinese, Japanese or Korean text. */
const CJK =
  /[\p{Script=Han}\p{Script=Hiragana}\p{Script=Katakana}\p{Script=Hangul}\p{Script=Bopomofo}\u3001-\u303f]/u;
/** The fullwidth forms of ASCII (U+FF01–FF5E), the ideographic space and the fullwidth signs ￠￡￢￣￤￥￦. */
const FULLWIDTH = /[\u3000\uff01-\uff5e\uffe0-\uffe6]/u;

/**
 * A line's characters with the fullwidth forms of ASCII read as ASCII when nothing on the line is
 * Chinese, Japanese or Korean. PP-OCR's recogniser is trained on Chinese text, where brackets,
 * commas and colons are fullwidth ("（", "，", "："), and it emits those forms inside Latin lines
 * too ("（CO.REG"); a Latin document has none. On CJK lines they stay as read.
 */
export function latinForms(chars: readonly DecodedChar[]): readonly DecodedChar[] {
  if (!chars.some((c) => FULLWIDTH.test(c.char)) || chars.some((c) => CJK.test(c.char))) return chars;
  return chars.map((c) => (FULLWIDTH.test(c.char) ? { ...c, char: c.char.normalize('NFKC') } : c));
}

/**
 * Text, confidence (mean of the kept characters' probabilities, as PaddleOCR) and words of a
 * line, with {@link latinForms} applied.
 */
export function decodeLine(decoded: readonly DecodedChar[], options: WordSplitOptions): DecodedLine {
  const chars = latinForms(decoded);
  const words = splitWords(chars, options);
  const kept = chars.filter((c) => c.char !== ' ');
  const confidence = kept.length > 0 ? kept.reduce((s, c) => s + c.prob, 0) / kept.length : 0;
  return { text: words.map((w) => w.text).join(' '), confidence, words };
}
