import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

/**
 * A full collection of this thread's heap, or undefined where none can be asked for.
 *
 * A detection leaves megabytes of typed arrays behind (its input floats, the resized page, the
 * probability map that onnxruntime returns), and V8 frees their memory only when it collects
 * them, which it does not hurry to: the arrays are few and its heap is small. Collected after
 * each detection, they do not pile up until the next collection beside other threads' (over 110
 * receipts and papers: peak RSS 953–1,025 → 826–888 MB; docs/architecture.md). The
 * `gc` function is the one `--expose-gc` gives, taken from a new context after setting the flag
 * at run time (worker threads take no V8 flags of their own).
 */
export function fullCollection(): (() => void) | undefined {
  const exposed = (globalThis as { gc?: unknown }).gc;
  if (typeof exposed === 'function') return exposed as () => void;
  try {
    setFlagsFromString('--expose-gc');
    const gc: unknown = runInNewContext('gc');
    return typeof gc === 'function' ? (gc as () => void) : undefined;
  } catch {
    return undefined;
  }
}
