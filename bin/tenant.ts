#!/usr/bin/env -S npx tsx
/**
 * The operator's tenant command, against a deployed stack (AWS credentials from the usual
 * chain):
 *   npm run tenant -- add <tenantId> --table NAME --usage-plan ID [--region REGION]
 * `--table` and `--usage-plan` default to OCRQ_TABLE_NAME and OCRQ_USAGE_PLAN_ID, the stack's
 * `TableName` and `UsagePlanId` outputs. Prints the new API key once.
 */
import { APIGatewayClient } from '@aws-sdk/client-api-gateway';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { Command } from 'commander';
import { ApiKeyStore } from '../lambdas/shared/adapters/api-keys.ts';
import { UsagePlanKeys } from '../lambdas/shared/adapters/usage-plan-keys.ts';
import { addTenant } from './tenant/add-tenant.ts';

const program = new Command('tenant').description('Manage the tenants of a deployed OCR pipeline');

program
  .command('add')
  .description('Create an API key for a new tenant and attach it to the usage plan')
  .argument('<tenantId>', 'letters, digits, ".", "_" or "-"')
  .option('--table <name>', 'job table (stack output TableName)', process.env.OCRQ_TABLE_NAME)
  .option('--usage-plan <id>', 'usage plan (stack output UsagePlanId)', process.env.OCRQ_USAGE_PLAN_ID)
  .option(
    '--region <region>',
    'AWS region of the stack',
    process.env.AWS_REGION ?? process.env.AWS_DEFAULT_REGION,
  )
  .action(async (tenantId: string, opts: { table?: string; usagePlan?: string; region?: string }) => {
    if (!opts.table) throw new Error('--table (or OCRQ_TABLE_NAME) is required');
    if (!opts.usagePlan) throw new Error('--usage-plan (or OCRQ_USAGE_PLAN_ID) is required');
    const dynamo = new DynamoDBClient({ region: opts.region });
    const apiGateway = new APIGatewayClient({ region: opts.region });
    try {
      const tenant = await addTenant(
        {
          apiKeys: new ApiKeyStore(DynamoDBDocumentClient.from(dynamo), opts.table),
          usagePlanKeys: new UsagePlanKeys(apiGateway, opts.usagePlan),
        },
        tenantId,
      );
      console.log(`Tenant: ${tenant.tenantId}`);
      console.log(`API key: ${tenant.apiKey}`);
      console.log(`Usage-plan key: ${tenant.usagePlanKeyId}`);
    } finally {
      dynamo.destroy();
      apiGateway.destroy();
    }
  });

program.parseAsync().catch((error: unknown) => {
  console.error(`tenant: ${error instanceof Error ? error.message : String(error)}`);
  process.exit(1);
});
