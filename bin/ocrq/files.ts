import { readdir, stat } from 'node:fs/promises';
import { basename, extname, join } from 'node:path';
import { glob, isDynamicPattern } from 'tinyglobby';
import { contentTypeOf } from '../../client/index.ts';
import { CliError } from './errors.ts';

/**
 * The documents named on the command line, in order and each once: files as given, folders
 * searched (recursively) for supported types, and glob patterns (`'scans/**\/*.pdf'`, quoted so
 * the shell leaves them to us) expanded to the supported files they match.
 */
export async function collectDocuments(paths: readonly string[]): Promise<string[]> {
  const found: string[] = [];
  for (const path of paths) {
    const info = await stat(path).catch(() => undefined);
    if (info?.isDirectory()) {
      for (const entry of (await readdir(path, { recursive: true })).sort()) {
        const full = join(path, entry);
        if (contentTypeOf(full) && (await stat(full)).isFile()) found.push(full);
      }
    } else if (info) {
      found.push(path);
    } else if (isDynamicPattern(path)) {
      const matches = (await glob(path, { onlyFiles: true, expandDirectories: false })).sort();
      const documents = matches.filter((m) => contentTypeOf(m));
      if (documents.length === 0) throw new CliError('NO_DOCUMENTS', `${path}: no supported documents match`);
      found.push(...documents);
    } else {
      throw new CliError('NO_SUCH_FILE', `${path}: no such file or folder`);
    }
  }
  return [...new Set(found)];
}

/** NAME of NAME.json / NAME.txt: the input's file name without its extension. */
export function outputStem(path: string): string {
  return basename(path, extname(path));
}
