import { SingleBar } from 'cli-progress';

/** Where a bulk submission stands. */
export interface SubmitProgress {
  files: number;
  uploaded: number;
  queued: number;
  processing: number;
  done: number;
  failed: number;
  /** Pages finished since this run started, and the seconds it has run. */
  pages: number;
  seconds: number;
  /** Pages still to do, as far as known (documents not yet counted are estimated). */
  pagesLeft: number;
}

export function pagesPerSecond(p: SubmitProgress): number {
  return p.seconds > 0 ? p.pages / p.seconds : 0;
}

function eta(p: SubmitProgress): string {
  const rate = pagesPerSecond(p);
  if (p.pagesLeft === 0) return '0 s';
  if (rate === 0) return '?';
  const seconds = Math.ceil(p.pagesLeft / rate);
  return seconds < 120 ? `${seconds} s` : `${Math.round(seconds / 60)} min`;
}

function fields(p: SubmitProgress) {
  return {
    uploaded: p.uploaded,
    queued: p.queued,
    processing: p.processing,
    done: p.done,
    failed: p.failed,
    rate: pagesPerSecond(p).toFixed(1),
    etaText: eta(p),
  };
}

/** The same figures as one plain line, for logs and pipes. */
export function progressLine(p: SubmitProgress): string {
  const f = fields(p);
  return `progress: ${f.uploaded}/${p.files} uploaded · ${f.queued} queued · ${f.processing} processing · ${f.done} done · ${f.failed} failed · ${f.rate} pages/s · ETA ${f.etaText}`;
}

/**
 * The live display of `ocrq submit` on stderr: a refreshing bar on a terminal (files finished,
 * uploads, queued, processing, done, failed, pages/s, ETA); elsewhere the same figures as a
 * plain line every few seconds, so a log shows progress without control characters.
 */
export class ProgressDisplay {
  private bar?: SingleBar;
  private timer?: NodeJS.Timeout;
  private latest?: SubmitProgress;

  constructor(
    private readonly stream: NodeJS.WriteStream = process.stderr,
    private readonly plainEveryMs = 5000,
  ) {}

  start(p: SubmitProgress): void {
    this.latest = p;
    if (this.stream.isTTY) {
      this.bar = new SingleBar({
        format:
          '{bar} {value}/{total} files · uploaded {uploaded} · queued {queued} · processing {processing} · done {done} · failed {failed} · {rate} pages/s · ETA {etaText}',
        hideCursor: true,
        stream: this.stream,
        barsize: 24,
      });
      this.bar.start(p.files, p.done + p.failed, fields(p));
    } else {
      this.timer = setInterval(() => this.printLine(), this.plainEveryMs);
      this.timer.unref();
    }
  }

  update(p: SubmitProgress): void {
    this.latest = p;
    this.bar?.update(p.done + p.failed, fields(p));
  }

  stop(): void {
    if (this.bar) this.bar.stop();
    clearInterval(this.timer);
    if (!this.bar) this.printLine();
  }

  private printLine(): void {
    if (this.latest) this.stream.write(`${progressLine(this.latest)}\n`);
  }
}
