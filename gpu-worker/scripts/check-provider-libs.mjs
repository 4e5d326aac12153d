// Fails the image build when an onnxruntime execution-provider library cannot resolve the
// shared libraries it needs. Without this, a CUDA/cuDNN/TensorRT mismatch between the base image
// and the binaries onnxruntime-node downloads only shows on a GPU host, as a session that throws
// "Failed to load library libonnxruntime_providers_cuda.so" when the worker starts.
//
// Plain JavaScript so the image runs it with `node` alone (no tsx there):
//   node check-provider-libs.mjs DIR [FILE...]
// checks DIR/FILE for each FILE (default: the CUDA, TensorRT and shared provider libraries and
// libonnxruntime.so.1). Run it in a stage built FROM the runtime base, so `ldd` searches the
// same library paths the running container will.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { delimiter, join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';

/** The GPU driver's user-space library: the host mounts it into the container at run time. */
export const HOST_PROVIDED = ['libcuda.so.1'];

/** What onnxruntime-node 1.30's install script puts beside its binding on linux/x64. */
export const DEFAULT_LIBRARIES = [
  'libonnxruntime_providers_cuda.so',
  'libonnxruntime_providers_tensorrt.so',
  'libonnxruntime_providers_shared.so',
  'libonnxruntime.so.1',
];

/**
 * Reads the output of `ldd FILE`.
 * @param {string} output ldd's standard output
 * @returns {{ resolved: { name: string, path: string }[], missing: string[], statical: boolean, dynamic: boolean }}
 *   `statical`: ldd said "statically linked" (no dependencies to resolve); `dynamic: false`:
 *   "not a dynamic executable" (not an ELF object for this machine: wrong architecture, or no ELF).
 */
export function parseLddOutput(output) {
  const resolved = [];
  const missing = [];
  let statical = false;
  let dynamic = true;
  for (const raw of output.split('\n')) {
    const line = raw.trim();
    if (line === '') continue;
    if (line === 'statically linked') {
      statical = true;
      continue;
    }
    if (line === 'not a dynamic executable') {
      dynamic = false;
      continue;
    }
    const arrow = line.indexOf(' => ');
    if (arrow === -1) continue; // linux-vdso.so.1 and the dynamic loader itself: nothing to find
    const name = line.slice(0, arrow).trim();
    const target = line.slice(arrow + 4).trim();
    if (target === 'not found') missing.push(name);
    else resolved.push({ name, path: target.replace(/\s*\(0x[0-9a-f]+\)$/i, '') });
  }
  return { resolved, missing, statical, dynamic };
}

/**
 * The problems of one library from its ldd run, or none.
 * @param {string} file
 * @param {{ status: number | null, stdout: string, stderr: string }} ldd
 * @param {string[]} [allowed] missing names that are not a problem (HOST_PROVIDED)
 * @returns {string[]}
 */
export function lddProblems(file, ldd, allowed = HOST_PROVIDED) {
  const parsed = parseLddOutput(ldd.stdout);
  if (!parsed.dynamic)
    return [`${file}: not a shared object for this machine (ldd: not a dynamic executable)`];
  if (ldd.status !== 0 && !parsed.statical && parsed.resolved.length === 0 && parsed.missing.length === 0)
    return [`${file}: ldd failed (${ldd.stderr.trim() || `exit ${ldd.status}`})`];
  return parsed.missing.filter((name) => !allowed.includes(name)).map((name) => `${file}: ${name} not found`);
}

/**
 * Checks each file: present, and every dependency resolvable except the host-provided ones.
 * `ldd` runs with the libraries' own folder first on LD_LIBRARY_PATH, because onnxruntime loads
 * libonnxruntime_providers_shared.so from there before any provider that needs it.
 * @param {string} dir
 * @param {string[]} files
 * @param {(path: string, env: NodeJS.ProcessEnv) => { status: number | null, stdout: string, stderr: string }} [runLdd]
 * @returns {{ file: string, dependencies: { name: string, path: string }[], problems: string[] }[]}
 */
export function checkLibraries(dir, files, runLdd = spawnLdd) {
  const folder = resolve(dir);
  const env = {
    ...process.env,
    LD_LIBRARY_PATH: [folder, process.env.LD_LIBRARY_PATH].filter(Boolean).join(delimiter),
  };
  return files.map((file) => {
    const path = join(folder, file);
    if (!existsSync(path)) return { file, dependencies: [], problems: [`${file}: missing from ${folder}`] };
    const ldd = runLdd(path, env);
    return { file, dependencies: parseLddOutput(ldd.stdout).resolved, problems: lddProblems(file, ldd) };
  });
}

function spawnLdd(path, env) {
  const run = spawnSync('ldd', [path], { encoding: 'utf8', env });
  if (run.error) throw run.error;
  return { status: run.status, stdout: run.stdout, stderr: run.stderr };
}

function main(argv) {
  const [dir, ...named] = argv;
  if (!dir) {
    console.error('usage: node check-provider-libs.mjs DIR [FILE...]');
    return 2;
  }
  const results = checkLibraries(dir, named.length > 0 ? named : DEFAULT_LIBRARIES);
  for (const { file, dependencies, problems } of results) {
    // The resolved paths go to the build log: they record which CUDA, cuDNN and TensorRT the image holds.
    console.log(`${file}: ${problems.length === 0 ? 'ok' : 'FAILED'}`);
    for (const { name, path } of dependencies) console.log(`  ${name} => ${path}`);
    for (const problem of problems) console.log(`  ${problem}`);
  }
  const failed = results.filter((result) => result.problems.length > 0).length;
  if (failed > 0) console.error(`${failed} of ${results.length} libraries cannot load in this image`);
  return failed > 0 ? 1 : 0;
}

if (process.argv[1] && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) {
  process.exitCode = main(process.argv.slice(2));
}
