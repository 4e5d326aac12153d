import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { App, type AssetStaging, Stack } from 'aws-cdk-lib';
import { DockerImageAsset, Platform } from 'aws-cdk-lib/aws-ecr-assets';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { REPO_ROOT } from '../cdk/support.ts';

const DOCKERFILE = readFileSync(`${REPO_ROOT}gpu-worker/Dockerfile`, 'utf8');

/** The build-context paths the Dockerfile's COPY lines read (not those copied from a stage). */
function contextSources(dockerfile: string): string[] {
  const sources: string[] = [];
  for (const line of dockerfile.split('\n')) {
    const match = /^COPY\s+(.*)$/.exec(line.trim());
    if (!match?.[1] || /--from=/.test(match[1])) continue;
    const words = match[1].split(/\s+/).filter((word) => !word.startsWith('--'));
    sources.push(...words.slice(0, -1));
  }
  return sources;
}

describe('the worker image build context (.dockerignore)', () => {
  let outdir = '';
  let staged = '';

  beforeAll(() => {
    // Stage the asset the way `cdk deploy` does: CDK copies the context with .dockerignore applied.
    outdir = mkdtempSync(join(tmpdir(), 'worker-image-'));
    const stack = new Stack(new App({ outdir }), 'Image');
    const asset = new DockerImageAsset(stack, 'Worker', {
      directory: REPO_ROOT,
      file: 'gpu-worker/Dockerfile',
      platform: Platform.LINUX_AMD64,
    });
    staged = (asset.node.findChild('Staging') as AssetStaging).absoluteStagedPath;
  });

  afterAll(() => rmSync(outdir, { recursive: true, force: true }));

  it('holds every path the Dockerfile copies from the context, and the Dockerfile', () => {
    const sources = contextSources(DOCKERFILE);
    expect(sources).toEqual(
      expect.arrayContaining([
        'package.json',
        'package-lock.json',
        'gpu-worker/scripts/check-provider-libs.mjs',
      ]),
    );
    for (const source of [...sources, 'gpu-worker/Dockerfile']) {
      expect(existsSync(join(staged, source)), source).toBe(true);
    }
    expect(statSync(join(staged, 'gpu-worker/src/main.ts')).isFile()).toBe(true);
  });

  it('leaves out everything else: dependencies, tests, the CDK app, git', () => {
    for (const path of ['node_modules', 'test', 'lib', 'bin', 'local', 'bench', '.git', 'README.md']) {
      expect(existsSync(join(staged, path)), path).toBe(false);
    }
  });
});

describe('the worker Dockerfile', () => {
  it('runs the onnxruntime-node install script with a value its parser accepts', () => {
    // install-utils.js: 'true' | '1' | 'ON' force the install; other values fall through unparsed.
    expect(DOCKERFILE).toMatch(
      /^RUN ONNXRUNTIME_NODE_INSTALL=(true|1|ON) node node_modules\/onnxruntime-node\/script\/install\.js$/m,
    );
  });

  it('makes the final image depend on the provider check stage', () => {
    const stages = DOCKERFILE.split(/^FROM /m).slice(1);
    const final = stages.at(-1) ?? '';
    expect(final).toMatch(/COPY --from=provider-check /);
    expect(DOCKERFILE).toMatch(/RUN node \/check\/check-provider-libs\.mjs \/check\/lib/);
  });

  it('runs as uid 10001 with the health file the worker touches, healthy under 90 s', () => {
    expect(DOCKERFILE).toMatch(/^USER 10001:10001$/m);
    expect(DOCKERFILE).toMatch(/OCRQ_HEALTH_FILE=\/tmp\/ocr-worker\.alive/);
    expect(DOCKERFILE).toMatch(/Date\.now\(\)-s\.mtimeMs<90000/);
  });

  it('caps glibc malloc arenas (peak memory of the engine threads)', () => {
    expect(DOCKERFILE).toMatch(/^\s+MALLOC_ARENA_MAX=2$/m);
  });
});
