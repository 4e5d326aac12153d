import { readdir, stat } from 'node:fs/promises';
import { basename, extname, join } from 'node:path';
import { contentTypeOf } from './api-client.ts';

/** The documents named on the command line: files as given, folders searched for supported types. */
export async function collectDocuments(paths: readonly string[]): Promise<string[]> {
  const found: string[] = [];
  for (const path of paths) {
    const info = await stat(path).catch(() => undefined);
    if (!info) throw new Error(`${path}: no such file or folder`);
    if (info.isDirectory()) {
      for (const entry of (await readdir(path, { recursive: true })).sort()) {
        const full = join(path, entry);
        if (contentTypeOf(full) && (await stat(full)).isFile()) found.push(full);
      }
    } else found.push(path);
  }
  return found;
}

/** NAME of NAME.json / NAME.txt: the input's file name without its extension. */
export function outputStem(path: string): string {
  return basename(path, extname(path));
}
