// Types for check-provider-libs.mjs, which stays plain JavaScript so the image runs it with node alone.
export interface LddRun {
  status: number | null;
  stdout: string;
  stderr: string;
}

export interface ParsedLdd {
  resolved: { name: string; path: string }[];
  missing: string[];
  statical: boolean;
  dynamic: boolean;
}

export declare const HOST_PROVIDED: string[];
export declare const DEFAULT_LIBRARIES: string[];
export declare function parseLddOutput(output: string): ParsedLdd;
export declare function lddProblems(file: string, ldd: LddRun, allowed?: string[]): string[];
export declare function checkLibraries(
  dir: string,
  files: string[],
  runLdd?: (path: string, env: NodeJS.ProcessEnv) => LddRun,
): { file: string; dependencies: { name: string; path: string }[]; problems: string[] }[];
