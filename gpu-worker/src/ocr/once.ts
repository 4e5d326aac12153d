/**
 * `make`, run at the first call and its promise shared by every later one, unless it fails: then
 * the next call runs it again, so that one failed model read or session start does not fail every
 * later page. The arguments count only on the call that runs `make`.
 */
export function onceUnlessFailed<A extends unknown[], T>(
  make: (...args: A) => Promise<T>,
): (...args: A) => Promise<T> {
  let pending: Promise<T> | undefined;
  return (...args) => {
    pending ??= make(...args).catch((error: unknown) => {
      pending = undefined;
      throw error;
    });
    return pending;
  };
}
