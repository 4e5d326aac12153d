import { readdir } from 'node:fs/promises';

/** Which pages of a folder a run takes: all, or every other one (a split for tuning and reporting). */
export type PagePick = 'all' | 'odd' | 'even';

export function parsePick(value: string): PagePick {
  if (value === 'all' || value === 'odd' || value === 'even') return value;
  throw new Error(`--pick ${value}: expected all, odd or even`);
}

/**
 * The images of a folder in name order; `odd` keeps the 1st, 3rd, 5th… and `even` the 2nd, 4th…,
 * so a threshold or a calibration measured on one half is reported on the other. `limit` applies
 * after the pick.
 */
export async function listPages(folder: string, pick: PagePick = 'all', limit?: number): Promise<string[]> {
  const names = (await readdir(folder)).filter((f) => /\.(jpe?g|png|tiff?|webp)$/i.test(f)).sort();
  const picked = pick === 'all' ? names : names.filter((_, i) => (i % 2 === 0) === (pick === 'odd'));
  return limit ? picked.slice(0, limit) : picked;
}

/** The sub-folders a run reads: those named (`--folders a,b`), else every sub-folder of `data` in name order. */
export async function benchFolders(data: string, named?: string): Promise<string[]> {
  if (named) return named.split(',');
  return (await readdir(data, { withFileTypes: true }))
    .filter((d) => d.isDirectory())
    .map((d) => d.name)
    .sort();
}
