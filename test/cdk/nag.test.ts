import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { App, Validations } from 'aws-cdk-lib';
import { Queue } from 'aws-cdk-lib/aws-sqs';
import { afterAll, describe, expect, it } from 'vitest';
import { acknowledgeNagFindings, addNagChecks } from '../../lib/nag.ts';
import { OcrPipelineStack } from '../../lib/ocr-pipeline-stack.ts';
import { testApp } from './support.ts';

interface ValidationReport {
  pluginReports: {
    pluginName: string;
    violations: { ruleName: string; severity: string; violatingConstructs: { constructPath: string }[] }[];
  }[];
}

const outdirs: string[] = [];
afterAll(() => {
  for (const dir of outdirs) rmSync(dir, { recursive: true, force: true });
});

/**
 * Synthesizes the whole stack as `bin/app.ts` does (AwsSolutions checks, the stack's
 * acknowledgements) and returns every unacknowledged finding as "severity rule path".
 */
function nagFindings(change?: (stack: OcrPipelineStack) => void): {
  synthesized: boolean;
  findings: string[];
  app: App;
} {
  const outdir = mkdtempSync(join(tmpdir(), 'ocrq-nag-'));
  outdirs.push(outdir);
  const base = testApp();
  const app = new App({ outdir, context: Object.fromEntries(Object.entries(base.node.getAllContext())) });
  const stack = new OcrPipelineStack(app, 'OcrPipeline', {
    env: { account: '123456789012', region: 'us-east-1' },
  });
  change?.(stack);
  addNagChecks(app);
  acknowledgeNagFindings(stack);
  let synthesized = true;
  try {
    app.synth();
  } catch {
    synthesized = false;
  }
  const reportFile = join(outdir, 'validation-report.json');
  const report: ValidationReport = existsSync(reportFile)
    ? JSON.parse(readFileSync(reportFile, 'utf8'))
    : { pluginReports: [] };
  const findings = report.pluginReports.flatMap((plugin) =>
    plugin.violations.flatMap((v) =>
      v.violatingConstructs.map((c) => `${v.severity} ${v.ruleName} ${c.constructPath}`),
    ),
  );
  return { synthesized, findings, app };
}

describe('cdk-nag AwsSolutions on the whole stack', () => {
  it('finds nothing unacknowledged, errors or warnings, and synth goes through', { timeout: 120_000 }, () => {
    const { synthesized, findings } = nagFindings();
    expect(findings).toEqual([]);
    expect(synthesized).toBe(true);
  });

  it('fails on a new finding nobody acknowledged', { timeout: 120_000 }, () => {
    const { synthesized, findings } = nagFindings((stack) => {
      new Queue(stack, 'Unchecked'); // no DLQ, TLS not enforced
    });
    expect(synthesized).toBe(false);
    expect(findings).toEqual(
      expect.arrayContaining([
        'error AwsSolutions-SQS3 OcrPipeline/Unchecked/Resource',
        'error AwsSolutions-SQS4 OcrPipeline/Unchecked/Resource',
      ]),
    );
  });

  it('acknowledges each finding by its AwsSolutions rule id, with a reason', { timeout: 120_000 }, () => {
    const { app } = nagFindings();
    const acknowledged = app.node
      .findAll()
      .flatMap((c) => c.node.metadata.filter((m) => m.type === Validations.ACKNOWLEDGED_RULES_METADATA_KEY))
      .flatMap((m) => Object.entries(m.data as Record<string, string>));
    // CDK acknowledges a rule of its own CloudFormation checks (W3010, literal AZs); the rest are cdk-nag's.
    const nag = acknowledged.filter(([id]) => id.includes('AwsSolutions'));
    expect(nag.length).toBeGreaterThan(10);
    for (const [id, reason] of nag) {
      expect(id).toMatch(/^(Annotation::)?AwsSolutions-[A-Z]+\d+(\[.+\])?$/);
      expect(reason.length, id).toBeGreaterThan(40);
    }
    for (const [id, reason] of acknowledged) expect(reason.trim(), id).not.toBe('');
  });
});
