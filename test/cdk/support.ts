import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { App, Stack } from 'aws-cdk-lib';
import type { Template } from 'aws-cdk-lib/assertions';
import { JobTable } from '../../lib/constructs/job-table.ts';
import type { PipelineResources } from '../../lib/constructs/lambda-function.ts';
import { Notifications } from '../../lib/constructs/notifications.ts';
import { DocumentStorage } from '../../lib/constructs/storage.ts';
import { TEXTRACT_ACTIONS } from '../../lib/constructs/textract.ts';
import { WorkQueues } from '../../lib/constructs/work-queues.ts';

export const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));

/** The handler folders under lambdas/ that run as functions of the stack, sorted. */
export const PIPELINE_HANDLERS = [
  'authorizer',
  'cancel-job',
  'create-job',
  'dlq',
  'get-job',
  'get-result',
  'ingest',
  'list-jobs',
  'openapi',
  'queue-stats',
  'reconciler',
  'redrive',
  'retry-job',
  'upload',
  'webhook-dispatcher',
  'webhook-secret',
];

/** The feature flags `cdk synth` runs with, so the tests see the same templates. */
function cdkJsonContext(): Record<string, unknown> {
  const cdkJson = JSON.parse(readFileSync(`${REPO_ROOT}cdk.json`, 'utf8')) as {
    context?: Record<string, unknown>;
  };
  return cdkJson.context ?? {};
}

/**
 * An app with cdk.json's context, minus two slow steps that do not change the template and
 * that synth.test.ts runs for real through the CLI: bundling (unless asked for) and the
 * validation of the template against CloudFormation's default rules (about a second per
 * test file on the 2-core CI).
 */
export function testApp(options: { bundle?: boolean; context?: Record<string, unknown> } = {}): App {
  return new App({
    context: {
      ...cdkJsonContext(),
      '@aws-cdk/core:validateAgainstDefaultRules': false,
      ...(options.bundle ? {} : { 'aws:cdk:bundling-stacks': [] }),
      ...options.context,
    },
  });
}

export function testStack(app: App = testApp()): Stack {
  return new Stack(app, 'Test', { env: { account: '123456789012', region: 'us-east-1' } });
}

/** The resources the pipeline functions need, built from their real constructs. */
export function pipelineResources(stack: Stack): PipelineResources & { storage: DocumentStorage } {
  const storage = new DocumentStorage(stack, 'Storage');
  return {
    storage,
    table: new JobTable(stack, 'Jobs').table,
    bucket: storage.bucket,
    queues: new WorkQueues(stack, 'Queues'),
    eventsTopic: new Notifications(stack, 'Notifications').topic,
  };
}

interface Statement {
  Effect: string;
  Action: string | string[];
  Resource?: unknown;
}

const asArray = <T>(value: T | T[] | undefined): T[] =>
  value === undefined ? [] : Array.isArray(value) ? value : [value];

/** Every Allow statement of the identity policies in the template, with the policy's logical id. */
export function allowStatements(template: Template): { policy: string; statement: Statement }[] {
  const found: { policy: string; statement: Statement }[] = [];
  const documents: [string, { Statement: Statement[] }][] = [];
  for (const [id, policy] of Object.entries(template.findResources('AWS::IAM::Policy'))) {
    documents.push([id, policy.Properties.PolicyDocument]);
  }
  for (const [id, role] of Object.entries(template.findResources('AWS::IAM::Role'))) {
    for (const inline of asArray(role.Properties.Policies) as {
      PolicyDocument: { Statement: Statement[] };
    }[]) {
      documents.push([id, inline.PolicyDocument]);
    }
  }
  for (const [policy, document] of documents) {
    for (const statement of document.Statement) {
      if (statement.Effect === 'Allow') found.push({ policy, statement });
    }
  }
  return found;
}

/** Actions that AWS only grants on `*` and that cannot touch the pipeline's data. */
const WILDCARD_OK =
  /^(xray:(PutTraceSegments|PutTelemetryRecords)|[a-z0-9-]+:(Get|List|Describe)[A-Za-z*]*)$/;

/**
 * The ECS agent's actions on the GPU worker instances that AWS only grants on `*`: none takes a
 * resource ARN. Poll and StartTelemetrySession are pinned to the cluster by the `ecs:cluster`
 * condition key; DiscoverPollEndpoint only returns the agent's endpoint.
 */
export const ECS_AGENT_WILDCARD_ACTIONS = [
  'ecs:Poll',
  'ecs:StartTelemetrySession',
  'ecs:DiscoverPollEndpoint',
];

/** "action on policy" for every statement that allows a non-read action on `Resource: "*"`. */
export function wildcardWrites(template: Template): string[] {
  const problems: string[] = [];
  for (const { policy, statement } of allowStatements(template)) {
    if (!asArray(statement.Resource).includes('*')) continue;
    for (const action of asArray(statement.Action)) {
      if (
        !WILDCARD_OK.test(action) &&
        !ECS_AGENT_WILDCARD_ACTIONS.includes(action) &&
        !(TEXTRACT_ACTIONS as readonly string[]).includes(action)
      )
        problems.push(`${action} on * in ${policy}`);
    }
  }
  return problems;
}
