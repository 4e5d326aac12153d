import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, readdir, readFile, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LocalStack } from '../../local/stack.ts';
import { PageRecognizer, REPO, runOcrq, startClientStack, writePages } from '../support/ocrq.ts';

const run = promisify(execFile);

/** The relative and bare specifiers a built module imports (static `import`/`export … from`). */
async function importsOf(file: string): Promise<string[]> {
  const code = await readFile(file, 'utf8');
  return [...code.matchAll(/^\s*(?:import|export)\s[^'"]*?from\s+["']([^"']+)["']/gm)].map((m) => m[1]!);
}

/**
 * The package as users get it: `npm run build`, the client imported from another project by
 * its package name with its types, the built `ocrq` run from outside the repo, and what
 * `npm pack` would ship.
 */
describe('the built package', () => {
  let project: string;

  beforeAll(async () => {
    await run('npm', ['run', 'build'], { cwd: REPO, timeout: 120_000 });
    project = await mkdtemp(join(tmpdir(), 'ocr-consumer-'));
    await mkdir(join(project, 'node_modules'));
    await symlink(REPO, join(project, 'node_modules', 'ocr-pipeline'));
    await writeFile(join(project, 'package.json'), JSON.stringify({ type: 'module' }));
  }, 120_000);

  it('ocr-pipeline/client loads only its own modules and node: builtins', async () => {
    const seen = new Set<string>();
    const visit = async (file: string) => {
      if (seen.has(file)) return;
      seen.add(file);
      for (const specifier of await importsOf(file)) {
        if (specifier.startsWith('.')) await visit(resolve(dirname(file), specifier));
        else expect(specifier).toMatch(/^node:/);
      }
    };
    await visit(join(REPO, 'dist/client/index.js'));
    expect([...seen].map((f) => f.slice(REPO.length + 1)).sort()).toEqual(
      (await readdir(join(REPO, 'dist/client')))
        .filter((f) => f.endsWith('.js'))
        .map((f) => `dist/client/${f}`)
        .sort(),
    );

    await writeFile(
      join(project, 'use.mjs'),
      `import { OcrClient, OcrApiError, contentTypeOf } from 'ocr-pipeline/client';
       const client = new OcrClient({ endpoint: 'http://127.0.0.1:1', apiKey: 'k' });
       console.log(typeof client.submit, OcrApiError.name, contentTypeOf('scan.PDF'));`,
    );
    const { stdout } = await run(process.execPath, ['use.mjs'], { cwd: project });
    expect(stdout.trim()).toBe('function OcrApiError application/pdf');
  }, 30_000);

  it("type-checks a consumer's code against the declarations", async () => {
    await writeFile(
      join(project, 'use.ts'),
      `import { type Job, OcrClient, type OcrResult } from 'ocr-pipeline/client';
       const client = new OcrClient({ endpoint: 'http://127.0.0.1:8080', apiKey: 'k' });
       export async function firstLine(jobId: string): Promise<string> {
         const job: Job = await client.waitForJob(jobId, { timeoutMs: 1000 });
         const result: OcrResult = await client.getResult(job.jobId, 'json');
         const text: string = await client.getResult(job.jobId, 'text');
         for await (const j of client.listJobs({ status: 'FAILED' })) void j.error?.code;
         return result.pages[0]?.lines[0]?.text ?? text;
       }
       // @ts-expect-error a status the API does not have
       client.listJobs({ status: 'DONE' });`,
    );
    await writeFile(
      join(project, 'tsconfig.json'),
      JSON.stringify({
        compilerOptions: {
          target: 'ES2022',
          module: 'NodeNext',
          moduleResolution: 'NodeNext',
          strict: true,
          noEmit: true,
          skipLibCheck: false,
          types: ['node'],
          typeRoots: [join(REPO, 'node_modules/@types')],
        },
        files: ['use.ts'],
      }),
    );
    await run(process.execPath, [join(REPO, 'node_modules/typescript/bin/tsc'), '-p', project], {
      cwd: project,
    });
  }, 60_000);

  describe('ocrq from dist, outside the repo', () => {
    let stack: LocalStack;
    beforeAll(async () => {
      stack = await startClientStack(new PageRecognizer());
    }, 60_000);
    afterAll(async () => {
      await stack?.stop();
    });
    /** The built `ocrq` (its CommonJS entry, the package's bin), run in the consumer project. */
    const builtOcrq = (args: string[]) =>
      runOcrq(args, { command: [join(REPO, 'dist/bin/ocrq.cjs')], cwd: project });

    it('prints its help and submits a page with --wait', async () => {
      const help = await builtOcrq(['--help']);
      expect(help.code).toBe(0);
      expect(help.stdout).toMatch(/^Usage: ocrq/);
      for (const command of [
        'submit',
        'status',
        'result',
        'cancel',
        'retry',
        'ls',
        'stats',
        'ocr',
        'up',
        'login',
      ]) {
        expect(help.stdout).toMatch(new RegExp(`^  ${command} `, 'm'));
      }
      const [page] = await writePages(join(project, 'scans'), 1);
      const submitted = await builtOcrq([
        'submit',
        page!,
        '--wait',
        '--out',
        'out',
        '--endpoint',
        stack.apiUrl,
        '--api-key',
        'key-a',
      ]);
      expect(submitted.stderr).not.toMatch(/ocrq: /);
      expect(submitted.stdout).toMatch(/^1 files: 1 succeeded, 0 failed, 0 skipped/m);
      expect(await readFile(join(project, 'out', 'page-01.txt'), 'utf8')).toContain('page 1');
    }, 60_000);

    it('reads a page with the engine in its own process (`ocrq ocr`, through the CommonJS entry)', async () => {
      const page = join(REPO, 'dist/bin/pages/receipt.png');
      const read = await builtOcrq(['ocr', page, '--out', 'ocr-out', '--format', 'text']);
      expect(read.stderr).not.toMatch(/ocrq: /);
      expect(read.code).toBe(0);
      expect(read.stdout).toMatch(/^1 pages from 1 files in /m);
      expect(await readFile(join(project, 'ocr-out', 'receipt.txt'), 'utf8')).toMatch(/^GREEN MARKET$/m);
    }, 60_000);

    it('reads a folder in a second process, with its output and exit code (`ocrq ocr` over several files)', async () => {
      const folder = join(project, 'two');
      await mkdir(folder, { recursive: true });
      for (const name of ['receipt.png', 'letter.png'])
        await writeFile(join(folder, name), await readFile(join(REPO, 'dist/bin/pages', name)));
      const read = await builtOcrq(['ocr', folder, '--out', 'two-out', '--format', 'text']);
      expect(read.stderr).not.toMatch(/ocrq: /);
      expect(read.code).toBe(0);
      expect(read.stdout).toMatch(/^2 pages from 2 files in /m);
      expect(await readFile(join(project, 'two-out', 'receipt.txt'), 'utf8')).toMatch(/^GREEN MARKET$/m);
      expect((await readdir(join(project, 'two-out'))).sort()).toEqual(['letter.txt', 'receipt.txt']);
      const missing = await builtOcrq(['ocr', folder, join(project, 'no-such.png'), '--out', 'two-out']);
      // The second process's error and exit code come through the first.
      expect(missing.code).toBe(1);
      expect(missing.stderr).toMatch(/^ocrq: NO_SUCH_FILE: .*no-such\.png/m);
    }, 60_000);
  });

  it('npm pack ships the built client, CLI, engine thread and samples, and no sources', async () => {
    const { stdout } = await run('npm', ['pack', '--dry-run', '--json', '--ignore-scripts'], {
      cwd: REPO,
      timeout: 60_000,
    });
    const files = (JSON.parse(stdout) as Array<{ files: Array<{ path: string }> }>)[0]!.files.map(
      (f) => f.path,
    );
    expect(files).toEqual(
      expect.arrayContaining([
        'package.json',
        'README.md',
        'LICENSE',
        'dist/bin/ocrq.cjs',
        'dist/bin/ocrq.js',
        'dist/bin/engine-thread.mjs',
        'dist/bin/pages/receipt.png',
        'dist/client/index.js',
        'dist/client/index.d.ts',
        'dist/client/ocr-client.d.ts',
      ]),
    );
    expect(files.filter((f) => f.endsWith('.ts') && !f.endsWith('.d.ts'))).toEqual([]);
    expect(
      files.filter((f) => !f.startsWith('dist/') && !['package.json', 'README.md', 'LICENSE'].includes(f)),
    ).toEqual([]);
    const pkg = JSON.parse(await readFile(join(REPO, 'package.json'), 'utf8'));
    expect(pkg.bin.ocrq).toBe('dist/bin/ocrq.cjs');
    expect(pkg.exports['./client']).toEqual({
      types: './dist/client/index.d.ts',
      import: './dist/client/index.js',
    });
    expect(pkg.dependencies).toHaveProperty('fauxqs');
    expect(pkg.dependencies).toHaveProperty('dynalite');
  }, 60_000);
});
