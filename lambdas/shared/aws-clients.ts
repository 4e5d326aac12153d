import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { S3Client } from '@aws-sdk/client-s3';
import { SNSClient } from '@aws-sdk/client-sns';
import { SQSClient } from '@aws-sdk/client-sqs';
import { TextractClient } from '@aws-sdk/client-textract';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import type { Config } from './config.ts';

export interface AwsClients {
  dynamo: DynamoDBDocumentClient;
  s3: S3Client;
  sqs: SQSClient;
  sns: SNSClient;
  /** Textract, where configured: always the real service (its region, the default credentials). */
  textract?: TextractClient;
}

/**
 * One client per service, built from configuration. With an endpoint override (the local
 * stack), S3 uses path-style URLs on that endpoint, so presigned URLs point at the emulator
 * itself, and SQS sends requests to the endpoint rather than to the host in the queue URL.
 */
export function createAwsClients(config: Config): AwsClients {
  const local = config.endpoints.default !== undefined;
  const base = {
    region: config.region,
    ...(local ? { credentials: { accessKeyId: 'local', secretAccessKey: 'local' } } : {}),
  };
  const dynamo = new DynamoDBClient({ ...base, endpoint: config.endpoints.dynamodb });
  return {
    dynamo: DynamoDBDocumentClient.from(dynamo, { marshallOptions: { removeUndefinedValues: true } }),
    s3: new S3Client({
      ...base,
      endpoint: config.endpoints.s3 ?? config.endpoints.default,
      forcePathStyle: local,
      // The SDK's default (WHEN_SUPPORTED, since 3.729) signs the CRC32 of the empty body it has at
      // presign time (`x-amz-checksum-crc32=AAAAAA==`) into every presigned PUT and UploadPart URL,
      // and S3 then refuses the real bytes (aws/aws-sdk-js-v3#6994). fauxqs does not check it.
      requestChecksumCalculation: 'WHEN_REQUIRED',
    }),
    sqs: new SQSClient({ ...base, endpoint: config.endpoints.default, useQueueUrlAsEndpoint: !local }),
    sns: new SNSClient({ ...base, endpoint: config.endpoints.default }),
    // No endpoint override and no emulator credentials: the local stack calls the real Textract.
    ...(config.textract ? { textract: new TextractClient({ region: config.textract.region }) } : {}),
  };
}
