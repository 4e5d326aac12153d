/**
 * The CDK app (`cdk.json` runs it): one OcrPipelineStack. Context, with `-c key=value`:
 * - `stackName` (default `OcrPipeline`): deploy several side by side under different names;
 * - `dataRemovalPolicy` (`retain` | `destroy`, default `retain`): keep or delete the data with the stack;
 * - the deployment settings of `lib/settings.ts` (README, "Deploy to AWS"): `instanceTypes`,
 *   `onDemandPercent`, `maxTasks`, `acceptableLatencySeconds`, `secondsPerPage`, `idleMinutes`,
 *   `executionProviders`, `allowedOrigins` (comma-separated, default none), `logRetentionDays`,
 *   `chunkPages`, `egress`;
 * - `apiGatewayCloudWatchRole` (`true` | `false`, default `true`): `false` where the account
 *   already has API Gateway's CloudWatch role set;
 * - `alarmEmail`: an address subscribed to the operators' alarm topic.
 * cdk-nag's AwsSolutions checks run on every synth (`lib/nag.ts`): an unacknowledged finding fails it.
 */
import { App, RemovalPolicy, Tags } from 'aws-cdk-lib';
import { acknowledgeNagFindings, addNagChecks } from '../lib/nag.ts';
import { OcrPipelineStack } from '../lib/ocr-pipeline-stack.ts';
import { SETTING_KEYS } from '../lib/settings.ts';

const app = new App();

function context(key: string): string | undefined {
  const value: unknown = app.node.tryGetContext(key);
  return value === undefined || value === null || value === '' ? undefined : String(value);
}

function removalPolicy(value = 'retain'): RemovalPolicy {
  if (value === 'retain') return RemovalPolicy.RETAIN;
  if (value === 'destroy') return RemovalPolicy.DESTROY;
  throw new Error(`context dataRemovalPolicy must be "retain" or "destroy", not "${value}"`);
}

const stackName = context('stackName') ?? 'OcrPipeline';
const stack = new OcrPipelineStack(app, stackName, {
  description: 'ocr-pipeline: presigned uploads, job API, ingest, work queues and job events',
  env: { account: process.env.CDK_DEFAULT_ACCOUNT, region: process.env.CDK_DEFAULT_REGION },
  dataRemovalPolicy: removalPolicy(context('dataRemovalPolicy')),
  deployment: Object.fromEntries(SETTING_KEYS.map((key) => [key, app.node.tryGetContext(key)])),
  apiGatewayCloudWatchRole: context('apiGatewayCloudWatchRole') !== 'false',
  alarmEmail: context('alarmEmail'),
});
addNagChecks(app);
acknowledgeNagFindings(stack);
Tags.of(app).add('project', 'ocr-pipeline');
