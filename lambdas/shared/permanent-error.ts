/**
 * A failure that no retry can fix (a fact about the input, not about this machine or this
 * moment), like BullMQ's `UnrecoverableError`: the one class the whole pipeline tests for.
 * Libraries (the documents library, the OCR engine) extend it with codes of their own and know
 * no job model; the pipeline maps their codes to a job's (`jobErrorOf` in `errors.ts`).
 *
 * @example
 * try {
 *   await work();
 * } catch (error) {
 *   if (error instanceof PermanentError) return fail(jobErrorOf(error)); // no retry
 *   throw error; // transient: the message goes back to the queue
 * }
 */
export class PermanentError extends Error {
  readonly permanent = true;

  constructor(
    readonly code: string,
    message: string,
    options?: ErrorOptions,
  ) {
    super(message, options);
    this.name = new.target.name;
  }
}
