import { type ApiHandler, apiHandler, json } from '../shared/http.ts';
import { PRIORITIES } from '../shared/job.ts';
import type { Runtime } from '../shared/runtime.ts';

/** How recent a worker heartbeat must be for the worker to count as running. */
const WORKER_SEEN_SECONDS = 60;
/** The engines a page can come from (`auto` is PP-OCR, then Textract for the hard pages). */
const PAGE_ENGINES = ['paddle', 'textract'] as const;
/** Minutes over which pages per minute is averaged. */
const THROUGHPUT_MINUTES = 5;

/** GET /v1/queues/stats: what is waiting, in flight and dead, how old, and how fast it drains. */
export async function queueStats(runtime: Runtime, now = new Date()) {
  const queues = Object.fromEntries(
    await Promise.all(
      PRIORITIES.map(async (priority) => {
        const [depth, dead, oldest] = await Promise.all([
          runtime.queue.depth(priority),
          runtime.queue.hasDeadLetterQueue(priority)
            ? runtime.queue.depth(priority, { dead: true })
            : undefined,
          runtime.jobQueries.oldestQueuedAt(priority),
        ]);
        return [
          priority,
          {
            visible: depth.visible,
            inFlight: depth.inFlight,
            delayed: depth.delayed,
            deadLetters: dead ? dead.visible + dead.inFlight + dead.delayed : 0,
            oldestAgeSeconds: oldest
              ? Math.max(0, Math.round((now.getTime() - Date.parse(oldest)) / 1000))
              : 0,
          },
        ] as const;
      }),
    ),
  );
  const [workers, pagesPerMinute, engines] = await Promise.all([
    runtime.stats.activeWorkers(WORKER_SEEN_SECONDS, now),
    runtime.stats.pagesPerMinute(THROUGHPUT_MINUTES, now),
    runtime.stats.engineStats(PAGE_ENGINES, THROUGHPUT_MINUTES, now),
  ]);
  return {
    queues,
    workers,
    pagesPerMinute: Math.round(pagesPerMinute * 10) / 10,
    // Per engine that read pages (an `auto` job's pages count under the engine that kept them).
    engines,
    throughputWindowMinutes: THROUGHPUT_MINUTES,
    generatedAt: now.toISOString(),
  };
}

export function makeQueueStatsHandler(runtime: Runtime): ApiHandler {
  return apiHandler(runtime, async () => json(200, await queueStats(runtime)));
}
