import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { PIPELINE_HANDLERS, REPO_ROOT } from './support.ts';

const run = promisify(execFile);

interface SynthesizedResource {
  Type: string;
  Properties: {
    Runtime?: string;
    Handler?: string;
    Code?: { S3Key?: string };
    Environment?: { Variables?: Record<string, unknown> };
  };
}

/** The environment of an offline machine with no AWS account: only a region, no credentials. */
function offlineEnv(): NodeJS.ProcessEnv {
  const env = Object.fromEntries(
    Object.entries(process.env).filter(
      ([name]) => !/^AWS_(ACCESS_KEY_ID|SECRET_ACCESS_KEY|SESSION_TOKEN|PROFILE)$/.test(name),
    ),
  );
  return { ...env, CDK_DEFAULT_REGION: 'us-east-1', CDK_DISABLE_CLI_TELEMETRY: 'true' };
}

describe('cdk synth', () => {
  const outdir = mkdtempSync(join(tmpdir(), 'ocrq-cdk-synth-'));
  afterAll(() => rmSync(outdir, { recursive: true, force: true }));

  it('synthesizes the app offline with the real CLI, bundling every function', {
    timeout: 150_000,
  }, async () => {
    // Two deployment settings as a user passes them, to see context reach the template.
    const settings = ['-c', 'maxTasks=6', '-c', 'idleMinutes=15'];
    await run('npx', ['cdk', 'synth', '--quiet', '--no-notices', '-o', outdir, ...settings], {
      cwd: REPO_ROOT,
      env: offlineEnv(),
      timeout: 120_000,
      maxBuffer: 16 * 1024 * 1024,
    });

    const templateFile = join(outdir, 'OcrPipeline.template.json');
    expect(existsSync(templateFile)).toBe(true);
    const template = JSON.parse(readFileSync(templateFile, 'utf8'));
    const functions = Object.values(template.Resources as Record<string, SynthesizedResource>).filter(
      (r) =>
        r.Type === 'AWS::Lambda::Function' && r.Properties.Environment?.Variables?.POWERTOOLS_SERVICE_NAME,
    );
    expect(
      functions.map((fn) => fn.Properties.Environment?.Variables?.POWERTOOLS_SERVICE_NAME).sort(),
    ).toEqual(PIPELINE_HANDLERS);

    for (const fn of functions) {
      expect(fn.Properties).toMatchObject({ Runtime: 'nodejs22.x', Handler: 'index.handler' });
      // The code asset is the esbuild output: an ES module that defines `require` for inlined CommonJS.
      const assetDir = join(outdir, `asset.${String(fn.Properties.Code?.S3Key).replace(/\.zip$/, '')}`);
      const bundle = readFileSync(join(assetDir, 'index.mjs'), 'utf8');
      expect(bundle.startsWith('import { createRequire')).toBe(true);
      expect(existsSync(join(assetDir, 'index.mjs.map'))).toBe(true);
      // Ingest (and the reconciler, which re-runs it) counts PDF pages with PDFium: its WebAssembly
      // binary travels beside those bundles only.
      const service = String(fn.Properties.Environment?.Variables?.POWERTOOLS_SERVICE_NAME);
      expect(existsSync(join(assetDir, 'pdfium.wasm')), service).toBe(
        ['ingest', 'reconciler'].includes(service),
      );
    }

    // The GPU worker: the image is staged for `cdk deploy` to build, not built at synth, and the
    // AMI is an SSM parameter resolved at deploy time (no account lookup).
    const assets = JSON.parse(readFileSync(join(outdir, 'OcrPipeline.assets.json'), 'utf8')) as {
      dockerImages: Record<string, { source: { directory: string; dockerFile: string; platform: string } }>;
    };
    const images = Object.values(assets.dockerImages).map((image) => image.source);
    expect(images).toEqual([
      expect.objectContaining({ dockerFile: 'gpu-worker/Dockerfile', platform: 'linux/amd64' }),
    ]);
    expect(existsSync(join(outdir, images[0]!.directory, 'gpu-worker', 'Dockerfile'))).toBe(true);
    const parameters = Object.values(
      template.Parameters as Record<string, { Type: string; Default: string }>,
    );
    expect(parameters).toContainEqual(
      expect.objectContaining({
        Default: '/aws/service/ecs/optimized-ami/amazon-linux-2023/gpu/recommended/image_id',
      }),
    );
    const resources = Object.entries(
      template.Resources as Record<string, { Type: string; Properties: Record<string, unknown> }>,
    );
    const scalableTarget = resources.find(
      ([, r]) => r.Type === 'AWS::ApplicationAutoScaling::ScalableTarget',
    )?.[1];
    expect(scalableTarget?.Properties).toMatchObject({ MinCapacity: 0, MaxCapacity: 6 });
    const scaleIn = resources.find(
      ([id, r]) => r.Type === 'AWS::CloudWatch::Alarm' && id.startsWith('WorkerScalingScaleInAlarm'),
    )?.[1];
    expect(scaleIn?.Properties).toMatchObject({ EvaluationPeriods: 15, Threshold: 0 });
  });
});
