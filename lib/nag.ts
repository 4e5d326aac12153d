/**
 * cdk-nag's AwsSolutions checks on the app, and the findings this stack acknowledges, each by
 * its exact rule id (finding ids included) and with the reason. `cdk synth` fails on any other
 * finding, error or warning; `test/cdk/nag.test.ts` runs the same checks on the whole stack.
 */
import { type App, type CfnElement, Stack, Validations } from 'aws-cdk-lib';
import { AwsSolutionsChecks } from 'cdk-nag';
import type { IConstruct } from 'constructs';
import { PipelineFunction } from './constructs/lambda-function.ts';
import type { OcrPipelineStack } from './ocr-pipeline-stack.ts';

/** Registers the AwsSolutions pack: synthesis stops on a finding nobody acknowledged. */
export function addNagChecks(app: App): void {
  Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
}

/** `<LogicalId.Arn>` as cdk-nag writes a resource's ARN inside a finding id. */
function arnToken(construct: IConstruct): string {
  const resource = construct.node.defaultChild as CfnElement;
  return `<${Stack.of(resource).getLogicalId(resource)}.Arn>`;
}

function acknowledge(scope: IConstruct, reason: string, ...ids: string[]): void {
  Validations.of(scope).acknowledge(...ids.map((id) => ({ id, reason })));
}

/** The acknowledged findings of the pipeline's own constructs (the worker fleet's sit with it). */
export function acknowledgeNagFindings(stack: OcrPipelineStack): void {
  acknowledge(
    stack,
    'Node.js 22 is the runtime the pipeline is built and tested for (its code must also run on the Node 20 of the local stack); a newer one is a deliberate upgrade, not a synth-time default',
    'AwsSolutions-L1',
  );
  acknowledge(
    stack,
    "AWSLambdaBasicExecutionRole only lets a function create log streams and put log events; every pipeline function writes to a log group of its own, and CDK's S3 notifications helper needs the same",
    'AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole]',
  );

  // What CDK's grant methods write for the pipeline's own table, bucket and keys: the wildcards
  // are action families of one resource (s3:GetObject*, kms:GenerateDataKey*) or the items under
  // one of its prefixes, never another resource.
  const table = arnToken(stack.jobs.table);
  const bucket = arnToken(stack.storage.bucket);
  acknowledge(
    stack,
    "CDK grant methods (grantRead/grantPut/grantPublish) on the pipeline's own bucket, table and KMS keys: action families scoped to those resources",
    'AwsSolutions-IAM5[Action::s3:GetObject*]',
    'AwsSolutions-IAM5[Action::s3:GetBucket*]',
    'AwsSolutions-IAM5[Action::s3:List*]',
    'AwsSolutions-IAM5[Action::s3:Abort*]',
    'AwsSolutions-IAM5[Action::kms:GenerateDataKey*]',
    'AwsSolutions-IAM5[Action::kms:ReEncrypt*]',
  );
  acknowledge(
    stack,
    "The job table's indexes (the tenant index lists a tenant's jobs); CDK's table grants name them with /index/*",
    `AwsSolutions-IAM5[Resource::${table}/index/*]`,
  );
  acknowledge(
    stack,
    'Functions reach only their prefix of the document bucket: uploads under inputs/, results under results/',
    `AwsSolutions-IAM5[Resource::${bucket}/inputs/*]`,
    `AwsSolutions-IAM5[Resource::${bucket}/results/*]`,
  );
  for (const fn of stack.node.findAll().filter((c): c is PipelineFunction => c instanceof PipelineFunction)) {
    acknowledge(
      fn,
      'X-Ray tracing: xray:PutTraceSegments and xray:PutTelemetryRecords accept only Resource "*" (test/cdk checks that nothing else is granted on "*")',
      'AwsSolutions-IAM5[Resource::*]',
    );
  }

  const api = stack.api.api;
  acknowledge(
    api,
    "Clients are programs holding an API key, not Cognito users: the Lambda REQUEST authorizer resolves the key to its tenant and the tenant's usage-plan key",
    'AwsSolutions-COG4',
  );
  acknowledge(
    api,
    'Per-tenant usage plans (throttle and quota) and the stage throttle limit abuse; a WAF web ACL is left to operators who need IP or bot rules, at its own monthly cost',
    'AwsSolutions-APIG3',
  );
  acknowledge(
    api,
    'The account-wide role API Gateway needs to write execution and access logs: AmazonAPIGatewayPushToCloudWatchLogs is the policy AWS defines for it',
    'AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AmazonAPIGatewayPushToCloudWatchLogs]',
  );
  const openApi = api.root.getResource('v1')?.getResource('openapi.json')?.node.tryFindChild('GET');
  if (openApi)
    acknowledge(
      openApi,
      "GET /v1/openapi.json is the API's public description: it holds no tenant data and clients read it before they have a key",
      'AwsSolutions-APIG4',
    );

  acknowledge(
    stack.ingest.failures,
    'This queue is itself the dead end of ingest (its failed S3 events, kept for inspection); a DLQ behind it would hold nothing',
    'AwsSolutions-SQS3',
  );
}
