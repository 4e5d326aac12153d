// Engine threads started from source (tsx, vitest). Node 20 does not hand tsx's loader to worker
// threads, so the thread registers it before it imports the TypeScript module. The worker image
// runs the bundled engine-thread.mjs instead (gpu-worker/build.ts).
import { register } from 'tsx/esm/api';

register();
export const { load, render, detect, recognize } = await import('./engine-thread.ts');
