/**
 * The installed `ocrq`'s entry, built to `dist/bin/ocrq.cjs` (bin/build.ts). It is CommonJS so
 * that it runs before anything is read through libuv's thread pool: an ES module entry is itself
 * read through the pool, which then starts at its default size, too late to set it. `ocrq ocr`
 * over several pages runs in a second Node process with the V8 flag and malloc setting it wants
 * (`relaunch.ts`: they can only be set at start), which comes back here; then this entry sets the
 * pool's size for the command (`thread-pool.ts`) and loads the CLI, `ocrq.js` beside it.
 */
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { relaunchPlan, runChild } from './ocrq/relaunch.ts';
import { threadPoolSize } from './ocrq/thread-pool.ts';

const args = process.argv.slice(2);

function start(): void {
  const size = threadPoolSize(args, process.env);
  if (size !== undefined) process.env.UV_THREADPOOL_SIZE = size;
  void import(pathToFileURL(join(__dirname, 'ocrq.js')).href);
}

const plan = relaunchPlan(args, process.execArgv, process.env);
if (plan === undefined) start();
else {
  runChild(plan, __filename, args).then(
    ({ code, signal }) => {
      // Ended by a signal: end the same way, so that the shell sees it.
      if (signal) process.kill(process.pid, signal);
      else process.exit(code ?? 1);
    },
    // No second process (spawning refused): the command runs here, without the flags.
    () => start(),
  );
}
