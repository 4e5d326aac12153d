import { CommanderError } from 'commander';

/** A failure of the command line itself (a bad argument, no endpoint), with a code like the API's. */
export class CliError extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = 'CliError';
  }
}

/**
 * The one line ocrq prints for a failure: `ocrq: CODE: message`. The client's errors and ours
 * carry a code; a usage error is `USAGE`; anything else `ERROR` (never a stack trace).
 */
export function errorLine(error: unknown): string {
  if (error instanceof CommanderError) {
    return `ocrq: USAGE: ${error.message.replace(/^error: /, '')}`;
  }
  if (error instanceof Error) {
    const code = (error as Error & { code?: unknown }).code;
    const name = typeof code === 'string' && /^[A-Z][A-Z0-9_]*$/.test(code) ? code : 'ERROR';
    return `ocrq: ${name}: ${error.message.split('\n')[0]}`;
  }
  return `ocrq: ERROR: ${String(error)}`;
}
