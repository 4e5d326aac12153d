import { z } from 'zod';
import { ENGINES, type Job } from './job.ts';

/**
 * The work message a queue carries: one chunk of one job's pages. Versioned so that workers
 * of the next release can still read what the previous one enqueued.
 */
export const WorkMessageSchema = z.object({
  v: z.literal(1),
  tenantId: z.string().min(1),
  jobId: z.string().min(1),
  inputKey: z.string().min(1),
  contentType: z.string().min(1),
  chunk: z.object({
    index: z.number().int().nonnegative(),
    /** 1-based first page of the chunk and how many pages it holds. */
    firstPage: z.number().int().positive(),
    pageCount: z.number().int().positive(),
  }),
  enqueuedAt: z.string(),
  /** The job's engine; absent in messages of jobs created before engines existed (`paddle`). */
  engine: z.enum(ENGINES).optional(),
});
export type WorkMessage = z.infer<typeof WorkMessageSchema>;

export class InvalidMessageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'InvalidMessageError';
  }
}

export function parseWorkMessage(body: string): WorkMessage {
  let raw: unknown;
  try {
    raw = JSON.parse(body);
  } catch {
    throw new InvalidMessageError('work message is not JSON');
  }
  const parsed = WorkMessageSchema.safeParse(raw);
  if (!parsed.success)
    throw new InvalidMessageError(`work message is invalid: ${z.prettifyError(parsed.error)}`);
  return parsed.data;
}

/** The work messages of a document: chunks of up to `chunkPages` consecutive pages. */
export function chunkMessages(
  job: Job,
  totalPages: number,
  chunkPages: number,
  enqueuedAt: string,
): WorkMessage[] {
  const messages: WorkMessage[] = [];
  for (let first = 1, index = 0; first <= totalPages; first += chunkPages, index++) {
    messages.push({
      v: 1,
      tenantId: job.tenantId,
      jobId: job.jobId,
      inputKey: job.inputKey,
      contentType: job.contentType,
      chunk: { index, firstPage: first, pageCount: Math.min(chunkPages, totalPages - first + 1) },
      enqueuedAt,
      ...(job.engine && job.engine !== 'paddle' ? { engine: job.engine } : {}),
    });
  }
  return messages;
}
