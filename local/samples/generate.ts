/**
 * Renders the bundled sample pages from known text, so their ground truth is exact:
 * `npm run samples` writes `pages/NAME.png` and `pages/NAME.gt.txt` (one line of text per line).
 * Text is drawn with the DejaVu fonts (Debian's fonts-dejavu-core) through sharp's SVG renderer.
 */
import { writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import sharp from 'sharp';

interface SamplePage {
  name: string;
  width: number;
  height: number;
  background: string;
  font: string;
  size: number;
  /** Lines of text with their left x and baseline y; `bold` for headings. */
  lines: Array<{ text: string; x: number; y: number; bold?: boolean; size?: number }>;
}

const escapeXml = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

function letterLines(): SamplePage['lines'] {
  const body = [
    'Dear Ms. Walker,',
    'Thank you for your order of 14 March. We are pleased to confirm',
    'that the shipment of forty reading lamps left our warehouse in',
    'Leeds this morning and should reach your store by Friday.',
    'The invoice for the full amount of 1,280.00 pounds is enclosed.',
    'Please note that our new office hours are from 8:30 to 17:00,',
    'Monday to Friday. If you have any questions about delivery,',
    'call our customer service team on 0113 496 0750.',
    'We look forward to working with you again next season.',
    'Kind regards,',
    'Daniel Hughes',
    'Sales Manager, Northern Light Supplies',
  ];
  return [
    { text: 'Northern Light Supplies Ltd', x: 90, y: 110, bold: true, size: 40 },
    { text: '27 Canal Street, Leeds LS1 4AB', x: 90, y: 160 },
    { text: 'Reference: NL-2041', x: 90, y: 260 },
    ...body.map((text, i) => ({ text, x: 90, y: 340 + i * 52 })),
  ];
}

function receiptLines(): SamplePage['lines'] {
  const items: Array<[string, string]> = [
    ['Espresso beans 1kg', '18.90'],
    ['Whole milk 2L', '2.45'],
    ['Rye bread', '3.80'],
    ['Blueberries 250g', '4.25'],
    ['Cheddar cheese', '6.10'],
    ['Paper towels', '5.35'],
  ];
  return [
    { text: 'GREEN MARKET', x: 210, y: 90, bold: true, size: 40 },
    { text: 'Store 112 Harbour Road', x: 170, y: 140 },
    { text: 'Receipt 000381 Cashier Anna', x: 130, y: 190 },
    ...items.flatMap(([name, price], i) => [
      { text: name, x: 60, y: 290 + i * 50 },
      { text: price, x: 560, y: 290 + i * 50 },
    ]),
    { text: 'TOTAL', x: 60, y: 640, bold: true },
    { text: '40.85', x: 560, y: 640, bold: true },
    { text: 'Paid by card', x: 60, y: 700 },
    { text: 'Thank you and see you soon', x: 130, y: 790 },
  ];
}

export const SAMPLE_PAGES: SamplePage[] = [
  {
    name: 'letter',
    width: 1240,
    height: 1100,
    background: '#ffffff',
    font: 'DejaVu Serif',
    size: 30,
    lines: letterLines(),
  },
  {
    name: 'receipt',
    width: 720,
    height: 860,
    background: '#f4f1ea',
    font: 'DejaVu Sans Mono',
    size: 28,
    lines: receiptLines(),
  },
];

function svgOf(page: SamplePage): string {
  const texts = page.lines
    .map(
      (l) =>
        `<text x="${l.x}" y="${l.y}" font-family="${page.font}" font-size="${l.size ?? page.size}"${
          l.bold ? ' font-weight="bold"' : ''
        } fill="#1a1a1a">${escapeXml(l.text)}</text>`,
    )
    .join('\n');
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${page.width}" height="${page.height}">
<rect width="100%" height="100%" fill="${page.background}"/>
${texts}
</svg>`;
}

/** The page's text in reading order: lines sharing a baseline are joined left to right. */
export function groundTruth(page: SamplePage): string {
  const rows = new Map<number, SamplePage['lines']>();
  for (const line of page.lines) rows.set(line.y, [...(rows.get(line.y) ?? []), line]);
  return [...rows.entries()]
    .sort(([a], [b]) => a - b)
    .map(([, ls]) =>
      ls
        .sort((a, b) => a.x - b.x)
        .map((l) => l.text)
        .join(' '),
    )
    .join('\n');
}

async function main(): Promise<void> {
  const dir = join(dirname(fileURLToPath(import.meta.url)), 'pages');
  for (const page of SAMPLE_PAGES) {
    const png = await sharp(Buffer.from(svgOf(page)))
      .greyscale()
      .png({ compressionLevel: 9, palette: true, colours: 16 })
      .toBuffer();
    await writeFile(join(dir, `${page.name}.png`), png);
    await writeFile(join(dir, `${page.name}.gt.txt`), `${groundTruth(page)}\n`);
    console.log(`${page.name}.png: ${page.width}×${page.height}, ${png.length} bytes`);
  }
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) await main();
