import { setTimeout as sleep } from 'node:timers/promises';
import { crc32, deflateSync } from 'node:zlib';
import { PDFDocument, StandardFonts } from 'pdf-lib';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type CreatedJob, OcrClient } from '../../client/index.ts';
import { DEFAULT_LIMITS } from '../../lambdas/shared/config.ts';
import { DEFAULT_MAX_PAGE_PIXELS } from '../../lambdas/shared/documents/limits.ts';
import { encryptedPdf, numberedPdf } from '../support/documents.ts';
import { startWorkerFleet, type WorkerFleet, type WorkerProcess } from '../support/worker-process.ts';

/** One kind of input no worker can make anything of, and how its job must fail. */
interface Poison {
  kind: string;
  fileName: string;
  contentType: string;
  bytes: Uint8Array;
  /** The size the job declares, when it is not the bytes' (an upload that does not match it). */
  declaredBytes?: number;
  code: string;
  message: RegExp;
  /** Where it must be caught: at upload when its first bytes tell, else by the worker's decode. */
  caughtBy: 'ingest' | 'worker';
}

/** A PNG chunk: length, type, data, CRC over type and data. */
function pngChunk(type: string, data: Buffer): Buffer {
  const head = Buffer.alloc(8);
  head.writeUInt32BE(data.length, 0);
  head.write(type, 4, 'latin1');
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(Buffer.concat([head.subarray(4), data])), 0);
  return Buffer.concat([head, data, crc]);
}

/**
 * A complete, valid PNG of `side` × `side` white-on-nothing pixels (1-bit grey, every row
 * filter 0 and all zeros): a decompression bomb of ~110 kB that inflates to side²/8 bytes.
 */
function hugeBlankPng(side: number): Buffer {
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(side, 0);
  ihdr.writeUInt32BE(side, 4);
  ihdr.set([1, 0, 0, 0, 0], 8); // 1-bit greyscale, deflate, no filter, no interlace
  const rows = Buffer.alloc(side * (1 + Math.ceil(side / 8)));
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    pngChunk('IHDR', ihdr),
    pngChunk('IDAT', deflateSync(rows, { level: 9 })),
    pngChunk('IEND', Buffer.alloc(0)),
  ]);
}

async function blankPage(format: 'jpeg' | 'png'): Promise<Buffer> {
  return sharp({ create: { width: 200, height: 100, channels: 3, background: { r: 250, g: 250, b: 250 } } })
    .toFormat(format)
    .toBuffer();
}

/** A JPEG whose header reads (size and all) but whose Huffman table is garbage: libjpeg refuses it. */
async function corruptJpeg(): Promise<Buffer> {
  const jpeg = Buffer.from(await blankPage('jpeg'));
  const dht = jpeg.indexOf(Buffer.from([0xff, 0xc4]));
  if (dht < 0) throw new Error('sharp wrote a JPEG without a Huffman table');
  jpeg.fill(0xff, dht + 5, dht + 25);
  return jpeg;
}

/** A PNG whose header reads but whose image data fails its checksum. */
async function corruptPng(): Promise<Buffer> {
  const png = Buffer.from(await blankPage('png'));
  const idat = png.indexOf(Buffer.from('IDAT'));
  png[idat + 6]! ^= 0xff;
  return png;
}

/**
 * A good page the engine reads in about a fifth of a second on one thread: one line, "Invoice N",
 * on a 160 × 32 pt page (measured: all of 0..99 read back exactly, 190-240 ms a page).
 */
async function invoicePdf(n: number): Promise<Buffer> {
  const doc = await PDFDocument.create();
  const font = await doc.embedFont(StandardFonts.Helvetica);
  doc.addPage([160, 32]).drawText(`Invoice ${n}`, { x: 8, y: 11, size: 16, font });
  return Buffer.from(await doc.save());
}

/** Pages of 1 × 1 pt, so that one past the page limit stays small to build and upload. */
async function tinyPagesPdf(pages: number): Promise<Buffer> {
  const doc = await PDFDocument.create();
  for (let n = 0; n < pages; n++) doc.addPage([1, 1]);
  return Buffer.from(await doc.save());
}

/**
 * How the worker's decoder words a file it cannot read (from its header or its pixels, as the
 * decoder finds out), with the decoder's own reason.
 */
const UNREADABLE_IMAGE = (reason: string) =>
  new RegExp(
    `^(the file is not a readable image|page 1 is not a readable image|page 1 cannot be decoded): .*${reason}`,
  );

async function poisonKinds(): Promise<Poison[]> {
  const report = await numberedPdf(2);
  const overLimit = DEFAULT_LIMITS.maxPages + 1;
  return [
    {
      kind: 'corrupt JPEG',
      fileName: 'scan.jpg',
      contentType: 'image/jpeg',
      bytes: await corruptJpeg(),
      code: 'INVALID_INPUT',
      message: UNREADABLE_IMAGE('VipsJpeg: Bogus Huffman table definition'),
      caughtBy: 'worker',
    },
    {
      kind: 'corrupt PNG',
      fileName: 'scan.png',
      contentType: 'image/png',
      bytes: await corruptPng(),
      code: 'INVALID_INPUT',
      message: UNREADABLE_IMAGE('libpng read error'),
      caughtBy: 'worker',
    },
    {
      kind: 'zero bytes',
      fileName: 'empty.png',
      contentType: 'image/png',
      bytes: new Uint8Array(0),
      declaredBytes: 1024,
      code: 'INVALID_INPUT',
      message: /^the uploaded file is empty$/,
      caughtBy: 'ingest',
    },
    {
      kind: 'truncated PDF',
      fileName: 'cut.pdf',
      contentType: 'application/pdf',
      bytes: report.subarray(0, Math.floor(report.length / 2)),
      code: 'INVALID_INPUT',
      message: /^the PDF is corrupt or truncated and cannot be read$/,
      caughtBy: 'ingest',
    },
    {
      kind: 'encrypted PDF',
      fileName: 'locked.pdf',
      contentType: 'application/pdf',
      bytes: encryptedPdf(),
      code: 'ENCRYPTED_DOCUMENT',
      message: /^the PDF is encrypted \(password protected\) and cannot be read$/,
      caughtBy: 'ingest',
    },
    {
      kind: '30000×30000 PNG',
      fileName: 'bomb.png',
      contentType: 'image/png',
      bytes: hugeBlankPng(30_000),
      code: 'PAGE_TOO_LARGE',
      message: new RegExp(
        `^the image is 30000×30000 pixels, more than the limit of ${DEFAULT_MAX_PAGE_PIXELS}$`,
      ),
      caughtBy: 'ingest',
    },
    {
      kind: 'text declared as an image',
      fileName: 'notes.png',
      contentType: 'image/png',
      bytes: new TextEncoder().encode('These are meeting notes, saved with the wrong extension.\n'),
      code: 'INVALID_INPUT',
      message: /^the upload was declared as image\/png but is not a PNG image: /,
      caughtBy: 'ingest',
    },
    {
      kind: `${overLimit}-page PDF`,
      fileName: 'archive.pdf',
      contentType: 'application/pdf',
      bytes: await tinyPagesPdf(overLimit),
      code: 'TOO_MANY_PAGES',
      message: new RegExp(
        `^the document has ${overLimit} pages, more than the maximum of ${DEFAULT_LIMITS.maxPages}$`,
      ),
      caughtBy: 'ingest',
    },
  ];
}

const POISON_JOBS = 100;
const GOOD_JOBS = 100;

/**
 * The fault suite's poison inputs: 100 documents no worker can read, of every kind the pipeline
 * refuses, mixed with 100 good one-page documents, through the public API into one real worker
 * process (the container's entry, the real engine on one thread). Every poison job fails with its
 * own code and message (at upload where the bytes tell, else in the worker), every good job
 * succeeds with its text, and the same worker process does all of it without a restart.
 */
describe('poison inputs among good ones', () => {
  let fleet: WorkerFleet;
  let worker: WorkerProcess;
  let client: OcrClient;
  let kinds: Poison[];
  let good: Buffer[];

  beforeAll(async () => {
    fleet = await startWorkerFleet({ apiKeys: { tenantA: 'key-a' } });
    worker = fleet.spawnWorker();
    client = new OcrClient({ endpoint: fleet.stack.apiUrl, apiKey: 'key-a' });
    [kinds, good] = await Promise.all([
      poisonKinds(),
      Promise.all(Array.from({ length: GOOD_JOBS }, (_, n) => invoicePdf(n))),
      worker.ready(),
    ]);
  }, 60_000);

  afterAll(async () => {
    await fleet?.stop();
  });

  /** Creates the job and PUTs the bytes, without Content-Length when they do not match the declared size. */
  async function submitPoison(poison: Poison, i: number): Promise<CreatedJob> {
    if (poison.declaredBytes === undefined)
      return client.submit(
        { fileName: `${i}-${poison.fileName}`, bytes: poison.bytes },
        { contentType: poison.contentType },
      );
    const job = await client.createJob({
      fileName: `${i}-${poison.fileName}`,
      contentType: poison.contentType,
      sizeBytes: poison.declaredBytes,
    });
    if (job.upload?.method !== 'PUT') throw new Error('expected a single-PUT upload');
    // S3 would refuse a body shorter than the signed Content-Length; the emulator stores it, so
    // the check that catches it is ingest's, as it is for any other upload path.
    const response = await fetch(job.upload.url, {
      method: 'PUT',
      headers: { 'Content-Type': poison.contentType },
      body: poison.bytes,
    });
    expect(response.ok).toBe(true);
    return job;
  }

  it('fails every poison job with its code and message, succeeds every good one, with one worker throughout', async () => {
    type Submission = { poison?: Poison; invoice?: number };
    const plan: Submission[] = [];
    for (let i = 0; i < Math.max(POISON_JOBS, GOOD_JOBS); i++) {
      if (i < GOOD_JOBS) plan.push({ invoice: i });
      if (i < POISON_JOBS) plan.push({ poison: kinds[i % kinds.length]! });
    }
    // A few uploads at a time: hundreds at once have reset connections on a loaded CI machine.
    const jobs: Array<Submission & { job: CreatedJob }> = [];
    let next = 0;
    await Promise.all(
      Array.from({ length: 8 }, async () => {
        for (let i = next++; i < plan.length; i = next++) {
          const { poison, invoice } = plan[i]!;
          const job = poison
            ? await submitPoison(poison, i)
            : await client.submit({ fileName: `invoice-${invoice}.pdf`, bytes: good[invoice!]! });
          jobs[i] = { ...plan[i]!, job };
        }
      }),
    );
    expect(jobs).toHaveLength(POISON_JOBS + GOOD_JOBS);

    const { runtime } = fleet.stack;
    // Polled at a modest rate: the stack, its emulators and the worker share the test's two cores.
    let open = jobs.map(({ job }) => job.jobId);
    const deadline = Date.now() + 75_000;
    while (open.length > 0) {
      if (Date.now() > deadline) throw new Error(`${open.length} jobs did not end in time`);
      await sleep(1000);
      const now = await Promise.all(open.map((jobId) => runtime.jobs.get('tenantA', jobId)));
      open = open.filter((_, i) => !['SUCCEEDED', 'FAILED'].includes(now[i]?.status ?? ''));
    }

    const seenKinds = new Set<string>();
    for (const { job: created, poison, invoice } of jobs) {
      const job = await client.getJob(created.jobId);
      if (poison) {
        seenKinds.add(poison.kind);
        expect({ kind: poison.kind, status: job.status, code: job.error?.code }).toEqual({
          kind: poison.kind,
          status: 'FAILED',
          code: poison.code,
        });
        expect(job.error?.message, poison.kind).toMatch(poison.message);
        expect(job.result).toBeUndefined();
      } else {
        expect(job).toMatchObject({ status: 'SUCCEEDED', pages: { done: 1, total: 1 } });
        expect((await client.getResult(job.jobId, 'text')).trim()).toBe(`Invoice ${invoice}`);
      }
    }
    expect(seenKinds.size).toBe(kinds.length);

    // One worker process did every page and every failure the upload checks could not catch,
    // and is still the same process, running, with no loop error on the way.
    expect(worker.child.exitCode).toBeNull();
    expect(worker.child.signalCode).toBeNull();
    expect(fleet.workers).toEqual([worker]);
    expect(worker.logs('worker started')).toHaveLength(1);
    expect(worker.logs('worker loop error; pausing before the next receive')).toEqual([]);
    expect(worker.logs('job succeeded')).toHaveLength(GOOD_JOBS);
    const failedInWorker = new Set(worker.logs('job failed').map((entry) => entry.jobId));
    const poisonFor = (caughtBy: Poison['caughtBy']) =>
      new Set(jobs.filter(({ poison }) => poison?.caughtBy === caughtBy).map(({ job }) => job.jobId));
    expect(failedInWorker).toEqual(poisonFor('worker'));
    expect(poisonFor('worker').size).toBeGreaterThan(0);
  }, 90_000);
});
