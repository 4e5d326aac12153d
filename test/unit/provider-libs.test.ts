import { copyFileSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import {
  checkLibraries,
  type LddRun,
  lddProblems,
  parseLddOutput,
} from '../../gpu-worker/scripts/check-provider-libs.mjs';
import { REPO_ROOT } from '../cdk/support.ts';

// What ldd prints for the CUDA provider in an image whose base matches the binaries, except
// for the driver library that only a GPU host mounts.
const CUDA_PROVIDER_RESOLVED = `\tlinux-vdso.so.1 (0x00007ffc3b5f2000)
\tlibonnxruntime_providers_shared.so => /app/node_modules/onnxruntime-node/bin/napi-v6/linux/x64/libonnxruntime_providers_shared.so (0x00007f9e8c5f0000)
\tlibcublasLt.so.13 => /usr/local/cuda/lib64/libcublasLt.so.13 (0x00007f9e60000000)
\tlibcublas.so.13 => /usr/local/cuda/lib64/libcublas.so.13 (0x00007f9e58000000)
\tlibcudnn.so.9 => /lib/x86_64-linux-gnu/libcudnn.so.9 (0x00007f9e57c00000)
\tlibcurand.so.10 => /usr/local/cuda/lib64/libcurand.so.10 (0x00007f9e51000000)
\tlibcufft.so.12 => /usr/local/cuda/lib64/libcufft.so.12 (0x00007f9e40000000)
\tlibcudart.so.13 => /usr/local/cuda/lib64/libcudart.so.13 (0x00007f9e3fc00000)
\tlibcuda.so.1 => not found
\tlibstdc++.so.6 => /lib/x86_64-linux-gnu/libstdc++.so.6 (0x00007f9e3f800000)
\tlibm.so.6 => /lib/x86_64-linux-gnu/libm.so.6 (0x00007f9e8c507000)
\tlibgcc_s.so.1 => /lib/x86_64-linux-gnu/libgcc_s.so.1 (0x00007f9e8c4e7000)
\tlibc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x00007f9e3f400000)
\t/lib64/ld-linux-x86-64.so.2 (0x00007f9e8c62a000)
`;

// The same provider on a CUDA 12 base: the CUDA 13 runtime and its libraries are absent.
const CUDA_PROVIDER_ON_CUDA12 = `\tlinux-vdso.so.1 (0x00007ffe1a9d4000)
\tlibonnxruntime_providers_shared.so => /app/node_modules/onnxruntime-node/bin/napi-v6/linux/x64/libonnxruntime_providers_shared.so (0x00007f61c4d2e000)
\tlibcublasLt.so.13 => not found
\tlibcublas.so.13 => not found
\tlibcudnn.so.9 => /lib/x86_64-linux-gnu/libcudnn.so.9 (0x00007f61c4a00000)
\tlibcudart.so.13 => not found
\tlibcuda.so.1 => not found
\tlibc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x00007f61c4600000)
\t/lib64/ld-linux-x86-64.so.2 (0x00007f61c4d68000)
`;

const ok = (stdout: string): LddRun => ({ status: 0, stdout, stderr: '' });

describe('parseLddOutput', () => {
  it('lists resolved libraries with their paths and skips the vdso and the loader', () => {
    const parsed = parseLddOutput(CUDA_PROVIDER_RESOLVED);
    expect(parsed.missing).toEqual(['libcuda.so.1']);
    expect(parsed.resolved).toHaveLength(11);
    expect(parsed.resolved).toContainEqual({
      name: 'libcudart.so.13',
      path: '/usr/local/cuda/lib64/libcudart.so.13',
    });
    expect(parsed.resolved.map((lib) => lib.name)).not.toContain('linux-vdso.so.1');
    expect(parsed.statical).toBe(false);
    expect(parsed.dynamic).toBe(true);
  });

  it('collects every "not found"', () => {
    expect(parseLddOutput(CUDA_PROVIDER_ON_CUDA12).missing).toEqual([
      'libcublasLt.so.13',
      'libcublas.so.13',
      'libcudart.so.13',
      'libcuda.so.1',
    ]);
  });

  it('recognizes statically linked objects and files that are no ELF for this machine', () => {
    expect(parseLddOutput('\tstatically linked\n')).toMatchObject({
      statical: true,
      resolved: [],
      missing: [],
    });
    expect(parseLddOutput('\tnot a dynamic executable\n').dynamic).toBe(false);
  });
});

describe('lddProblems', () => {
  it('allows only the driver library to be missing', () => {
    expect(lddProblems('cuda.so', ok(CUDA_PROVIDER_RESOLVED))).toEqual([]);
    expect(lddProblems('cuda.so', ok(CUDA_PROVIDER_RESOLVED), [])).toEqual([
      'cuda.so: libcuda.so.1 not found',
    ]);
  });

  it('names each missing library of a mismatched base', () => {
    expect(lddProblems('cuda.so', ok(CUDA_PROVIDER_ON_CUDA12))).toEqual([
      'cuda.so: libcublasLt.so.13 not found',
      'cuda.so: libcublas.so.13 not found',
      'cuda.so: libcudart.so.13 not found',
    ]);
  });

  it('passes a statically linked object and fails one built for another machine', () => {
    expect(lddProblems('static.so', { status: 1, stdout: '\tstatically linked\n', stderr: '' })).toEqual([]);
    expect(
      lddProblems('arm64.so', { status: 1, stdout: '\tnot a dynamic executable\n', stderr: '' }),
    ).toEqual(['arm64.so: not a shared object for this machine (ldd: not a dynamic executable)']);
  });

  it('fails when ldd itself fails', () => {
    expect(lddProblems('x.so', { status: 1, stdout: '', stderr: 'ldd: x.so: Permission denied\n' })).toEqual([
      'x.so: ldd failed (ldd: x.so: Permission denied)',
    ]);
  });
});

describe('checkLibraries', () => {
  let dir = '';
  afterEach(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('reports a library the install step did not put there, without running ldd on it', () => {
    dir = mkdtempSync(join(tmpdir(), 'provider-libs-'));
    writeFileSync(join(dir, 'libonnxruntime_providers_shared.so'), '');
    const ran: string[] = [];
    const results = checkLibraries(
      dir,
      ['libonnxruntime_providers_shared.so', 'libonnxruntime_providers_tensorrt.so'],
      (path, env) => {
        ran.push(path);
        expect(env.LD_LIBRARY_PATH?.split(':')[0]).toBe(dir);
        return ok('\tlibc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x00007f0000000000)\n');
      },
    );
    expect(ran).toEqual([join(dir, 'libonnxruntime_providers_shared.so')]);
    expect(results[0]?.problems).toEqual([]);
    expect(results[1]?.problems).toEqual([`libonnxruntime_providers_tensorrt.so: missing from ${dir}`]);
  });

  it.runIf(process.platform === 'linux' && process.arch === 'x64')(
    'runs the real ldd: the CPU binding fails without libonnxruntime.so.1 beside it, passes with it',
    () => {
      dir = mkdtempSync(join(tmpdir(), 'provider-libs-'));
      const bin = `${REPO_ROOT}node_modules/onnxruntime-node/bin/napi-v6/linux/x64/`;
      copyFileSync(`${bin}onnxruntime_binding.node`, join(dir, 'binding.node'));
      expect(checkLibraries(dir, ['binding.node'])[0]?.problems).toEqual([
        'binding.node: libonnxruntime.so.1 not found',
      ]);
      copyFileSync(`${bin}libonnxruntime.so.1`, join(dir, 'libonnxruntime.so.1'));
      const [binding] = checkLibraries(dir, ['binding.node']);
      expect(binding?.problems).toEqual([]);
      expect(binding?.dependencies.map((lib) => lib.name)).toContain('libonnxruntime.so.1');
    },
  );
});
