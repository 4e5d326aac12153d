/**
 * The installed `ocrq`'s entry, built to `dist/bin/ocrq.cjs` (bin/build.ts). It is CommonJS so
 * that it runs before anything is read through libuv's thread pool: an ES module entry is itself
 * read through the pool, which then starts at its default size, too late to set it. It sets the
 * pool's size for the command (`thread-pool.ts`) and loads the CLI, `ocrq.js` beside it.
 */
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { threadPoolSize } from './ocrq/thread-pool.ts';

const size = threadPoolSize(process.argv.slice(2), process.env);
if (size !== undefined) process.env.UV_THREADPOOL_SIZE = size;
void import(pathToFileURL(join(__dirname, 'ocrq.js')).href);
