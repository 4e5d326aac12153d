import type { Block } from '@aws-sdk/client-textract';

/** A word of a fixture line: its text, Textract's confidence (0..100), and its relative box. */
export interface FixtureWord {
  text: string;
  confidence?: number;
  left: number;
  top: number;
  width: number;
  height: number;
}

let nextId = 0;
const id = (kind: string) => `${kind}-${(nextId++).toString(16).padStart(8, '0')}`;

function geometry(left: number, top: number, width: number, height: number): Block['Geometry'] {
  return {
    BoundingBox: { Left: left, Top: top, Width: width, Height: height },
    Polygon: [
      { X: left, Y: top },
      { X: left + width, Y: top },
      { X: left + width, Y: top + height },
      { X: left, Y: top + height },
    ],
  };
}

/**
 * The blocks of one page as Textract's DetectDocumentText documents them: a PAGE block whose
 * CHILD relationship lists the LINE ids in reading order, LINE blocks whose CHILD relationship
 * lists their WORD ids, WORD blocks with `TextType: PRINTED`; confidences in percent, geometry
 * relative to the page. `page` sets `Page` (the asynchronous API's numbering).
 */
export function textractPageBlocks(lines: FixtureWord[][], page?: number): Block[] {
  const blocks: Block[] = [];
  const lineIds: string[] = [];
  for (const words of lines) {
    const wordBlocks: Block[] = words.map((w) => ({
      BlockType: 'WORD',
      Id: id('word'),
      Text: w.text,
      TextType: 'PRINTED',
      Confidence: w.confidence ?? 99,
      Geometry: geometry(w.left, w.top, w.width, w.height),
      ...(page ? { Page: page } : {}),
    }));
    const left = Math.min(...words.map((w) => w.left));
    const top = Math.min(...words.map((w) => w.top));
    const right = Math.max(...words.map((w) => w.left + w.width));
    const bottom = Math.max(...words.map((w) => w.top + w.height));
    const line: Block = {
      BlockType: 'LINE',
      Id: id('line'),
      Text: words.map((w) => w.text).join(' '),
      Confidence: words.reduce((s, w) => s + (w.confidence ?? 99), 0) / words.length,
      Geometry: geometry(left, top, right - left, bottom - top),
      Relationships: [{ Type: 'CHILD', Ids: wordBlocks.map((w) => w.Id!) }],
      ...(page ? { Page: page } : {}),
    };
    lineIds.push(line.Id!);
    blocks.push(line, ...wordBlocks);
  }
  return [
    {
      BlockType: 'PAGE',
      Id: id('page'),
      Geometry: geometry(0, 0, 1, 1),
      Relationships: [{ Type: 'CHILD', Ids: lineIds }],
      ...(page ? { Page: page } : {}),
    },
    ...blocks,
  ];
}

/** A one-line page: each word laid out left to right on one row. */
export function textractLine(
  text: string,
  options: { top?: number; confidence?: number; page?: number } = {},
) {
  const words = text.split(' ');
  const top = options.top ?? 0.1;
  return textractPageBlocks(
    [
      words.map((word, i) => ({
        text: word,
        left: 0.1 + i * 0.2,
        top,
        width: 0.15,
        height: 0.05,
        ...(options.confidence !== undefined ? { confidence: options.confidence } : {}),
      })),
    ],
    options.page,
  );
}
