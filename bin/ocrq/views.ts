import type { Job, JobSummary, QueueStats } from '../../client/index.ts';

/** How ocrq shows the API's answers to a person (`--json` prints the answers themselves). */

function ms(value: number | undefined): string {
  if (value === undefined) return '-';
  return value < 10_000 ? `${value} ms` : `${(value / 1000).toFixed(1)} s`;
}

/** `ocrq status`: one field per line. */
export function jobView(job: Job): string {
  const rows: Array<[string, string]> = [
    ['job', job.jobId],
    ['status', job.status],
    ['file', `${job.fileName} (${job.contentType}, ${job.sizeBytes} bytes)`],
    ['priority', job.priority],
    ['pages', `${job.pages.done}/${job.pages.total}`],
    ['created', job.createdAt],
  ];
  if (job.finishedAt) rows.push(['finished', job.finishedAt]);
  const t = job.timings;
  rows.push([
    'timings',
    `queue wait ${ms(t.queueWaitMs)} · processing ${ms(t.processingMs)} · total ${ms(t.totalMs)}`,
  ]);
  if (job.estimate) {
    const e = job.estimate;
    const where = e.position === undefined ? '' : `position ${e.position} · `;
    const eta = e.etaSeconds === null ? 'no estimate yet' : `about ${Math.ceil(e.etaSeconds)} s`;
    rows.push(['estimate', `${e.queue} queue · ${where}${e.pagesAhead ?? '?'} pages ahead · ${eta}`]);
  }
  if (job.error) rows.push(['error', `${job.error.code}: ${job.error.message}`]);
  if (job.result) rows.push(['result', `ocrq result ${job.jobId} --format json|text`]);
  return rows.map(([name, value]) => `${name.padEnd(9)} ${value}`).join('\n');
}

/** A fixed-width table: the header row, then one row per item. */
export function table(header: string[], rows: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]) =>
    cells
      .map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i]!)))
      .join('  ')
      .trimEnd();
  return [line(header), ...rows.map(line)].join('\n');
}

/** `ocrq ls`: one row per job. */
export function jobRow(job: JobSummary): string[] {
  return [job.jobId, job.status, `${job.pages.done}/${job.pages.total}`, job.createdAt, job.fileName];
}
export const JOB_HEADER = ['JOB', 'STATUS', 'PAGES', 'CREATED', 'FILE'];

/** `ocrq stats`: the two queues side by side, then workers and throughput. */
export function statsView(stats: QueueStats): string {
  const rows = (['express', 'bulk'] as const).map((name) => {
    const q = stats.queues[name];
    return [
      name,
      String(q.visible),
      String(q.inFlight),
      String(q.delayed),
      String(q.deadLetters),
      `${q.oldestAgeSeconds} s`,
    ];
  });
  return [
    table(['QUEUE', 'WAITING', 'IN FLIGHT', 'DELAYED', 'DEAD LETTERS', 'OLDEST'], rows),
    '',
    `workers ${stats.workers} · ${stats.pagesPerMinute.toFixed(1)} pages/min (last ${stats.throughputWindowMinutes} min) · at ${stats.generatedAt}`,
  ].join('\n');
}
