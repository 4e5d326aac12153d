import type { Command } from 'commander';
import { DEFAULT_ENGINE_OPTIONS, type EngineOptions } from '../gpu-worker/src/ocr/options.ts';

/** The engine benchmarks' common options: which pages (`--folders`, `--limit`, `--pick`) and `--set`. */
export function pageAndEngineOptions(command: Command): Command {
  return command
    .option('--folders <list>', 'sub-folders to run (default: all)')
    .option('--limit <n>', 'at most this many pages per folder', Number)
    .option('--pick <which>', 'all pages, or every other one from the 1st (odd) or the 2nd (even)', 'all')
    .option(
      '--set <key=value>',
      'any engine option (see gpu-worker/src/ocr/options.ts), repeatable',
      (value: string, all: string[]) => [...all, value],
      [] as string[],
    );
}

/** `--set key=value` pairs as engine options (numbers or true/false). */
export function engineOverrides(pairs: string[]): Partial<EngineOptions> {
  // The options whose default depends on the providers have none in DEFAULT_ENGINE_OPTIONS.
  const optional = [
    'detBatchSize',
    'detMemoryArena',
    'detectionsInFlight',
    'collectAfterDetection',
    'recBatchPixels',
    'recPadBatch',
    'recBatchByWidth',
    'intraOpNumThreads',
  ];
  const strings = ['modelDir', 'modelCacheDir', 'recPrecision', 'detPrecision'];
  const known = new Set([...Object.keys(DEFAULT_ENGINE_OPTIONS), ...optional, ...strings]);
  const overrides: Record<string, unknown> = {};
  for (const pair of pairs) {
    const [key, value] = pair.split('=', 2) as [string, string | undefined];
    if (!known.has(key) || value === undefined)
      throw new Error(`--set ${pair}: not a known engine option=value`);
    if (strings.includes(key)) {
      overrides[key] = value;
      continue;
    }
    overrides[key] = value === 'true' ? true : value === 'false' ? false : Number(value);
    if (Number.isNaN(overrides[key])) throw new Error(`--set ${pair}: expected a number or true/false`);
  }
  return overrides as Partial<EngineOptions>;
}
