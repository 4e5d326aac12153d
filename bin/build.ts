/**
 * Builds the installed `ocrq` into dist/bin (`npm run build`, and `npm pack` through prepack):
 * `ocrq.cjs`, the package's bin (launch.ts: it sizes libuv's thread pool, then imports `ocrq.js`),
 * `ocrq.js`, whose commands load their modules only when run (code splitting: `ocrq status`
 * never loads the engine or the emulators), `engine-thread.mjs` beside it for the engine's
 * threads, and the sample pages `ocrq up` sends. Packages stay in node_modules: they are the
 * package's dependencies. The client's JavaScript and types come from `tsc -p client`.
 *
 *   npx tsx bin/build.ts [OUT_DIR]     (default: dist/bin)
 */
import { chmod, cp, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { build } from 'esbuild';
import { bundleForNode } from '../gpu-worker/build.ts';

const source = (path: string) => fileURLToPath(new URL(path, import.meta.url));

export async function buildCli(outdir: string): Promise<void> {
  await rm(outdir, { recursive: true, force: true });
  await bundleForNode({
    entryPoints: { ocrq: source('./ocrq.ts') },
    outdir,
    splitting: true,
    packages: 'external',
  });
  // esbuild keeps the source's `#!/usr/bin/env -S npx tsx`; the built file runs on node alone.
  const cli = join(outdir, 'ocrq.js');
  const built = await readFile(cli, 'utf8');
  await writeFile(cli, built.replace(/^#!.*\n/, '#!/usr/bin/env node\n'));
  await bundleForNode({
    entryPoints: { 'engine-thread': source('../gpu-worker/src/ocr/engine-thread.ts') },
    outdir,
    outExtension: { '.js': '.mjs' },
    packages: 'external',
  });
  // local/samples/index.ts finds its pages beside its module, here the chunk in outdir.
  await cp(source('../local/samples/pages'), join(outdir, 'pages'), { recursive: true });
  await chmod(cli, 0o755);
  // The package's bin: a CommonJS entry that sizes libuv's thread pool, then imports ocrq.js.
  const entry = join(outdir, 'ocrq.cjs');
  await build({
    entryPoints: [source('./launch.ts')],
    outfile: entry,
    bundle: true,
    platform: 'node',
    target: 'node20',
    format: 'cjs',
    banner: { js: '#!/usr/bin/env node' },
    logLevel: 'warning',
  });
  await chmod(entry, 0o755);
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  await buildCli(process.argv[2] ?? 'dist/bin');
}
