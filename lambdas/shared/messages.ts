import { z } from 'zod';

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
    /** 1-based first page of the chunk; `pageCount` 0 means "all pages of the document". */
    firstPage: z.number().int().positive(),
    pageCount: z.number().int().nonnegative(),
  }),
  enqueuedAt: z.string(),
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
