import { readFileSync } from 'node:fs';

let text: string | undefined;

/**
 * /proc/cpuinfo, read once per thread: the int8 default (`cpuHasVnni`), the session cache's key
 * (`sessionEnvironment`) and the benchmarks' CPU line all read it. Empty where there is none.
 */
export function cpuInfo(): string {
  if (text === undefined) {
    try {
      text = readFileSync('/proc/cpuinfo', 'utf8');
    } catch {
      text = '';
    }
  }
  return text;
}
