import { RemovalPolicy } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import { beforeAll, describe, expect, it } from 'vitest';
import { objectKeys } from '../../lambdas/shared/resources.ts';
import { DocumentStorage, KEY_PREFIXES } from '../../lib/constructs/storage.ts';
import { testStack } from './support.ts';

describe('DocumentStorage', () => {
  let template: Template;
  let storage: DocumentStorage;

  beforeAll(() => {
    const stack = testStack();
    storage = new DocumentStorage(stack, 'Storage');
    template = Template.fromStack(stack);
  });

  const documentBucket = () =>
    Object.values(
      template.findResources('AWS::S3::Bucket', {
        Properties: { BucketEncryption: { ServerSideEncryptionConfiguration: [{ BucketKeyEnabled: true }] } },
      }),
    );

  it('uses prefixes that match the object key layout', () => {
    expect(objectKeys.input('tenant', 'job').startsWith(KEY_PREFIXES.inputs)).toBe(true);
    expect(objectKeys.resultJson('tenant', 'job').startsWith(KEY_PREFIXES.results)).toBe(true);
    expect(objectKeys.resultText('tenant', 'job').startsWith(KEY_PREFIXES.results)).toBe(true);
  });

  it('encrypts documents with a rotated customer-managed key', () => {
    template.hasResourceProperties('AWS::KMS::Key', { EnableKeyRotation: true });
    template.hasResourceProperties('AWS::S3::Bucket', {
      BucketEncryption: {
        ServerSideEncryptionConfiguration: [
          {
            BucketKeyEnabled: true,
            ServerSideEncryptionByDefault: {
              SSEAlgorithm: 'aws:kms',
              KMSMasterKeyID: { 'Fn::GetAtt': [Match.stringLikeRegexp('^StorageKey'), 'Arn'] },
            },
          },
        ],
      },
    });
  });

  it('blocks public access and enforces bucket-owner object ownership on every bucket', () => {
    template.resourceCountIs('AWS::S3::Bucket', 2);
    template.allResourcesProperties('AWS::S3::Bucket', {
      PublicAccessBlockConfiguration: {
        BlockPublicAcls: true,
        BlockPublicPolicy: true,
        IgnorePublicAcls: true,
        RestrictPublicBuckets: true,
      },
      OwnershipControls: { Rules: [{ ObjectOwnership: 'BucketOwnerEnforced' }] },
    });
  });

  it('denies requests without TLS on every bucket', () => {
    template.resourceCountIs('AWS::S3::BucketPolicy', 2);
    template.allResourcesProperties('AWS::S3::BucketPolicy', {
      PolicyDocument: {
        Statement: Match.arrayWith([
          Match.objectLike({
            Effect: 'Deny',
            Action: 's3:*',
            Condition: { Bool: { 'aws:SecureTransport': 'false' } },
          }),
        ]),
      },
    });
  });

  it('expires inputs and results after 7 days and aborts stale multipart uploads', () => {
    template.hasResourceProperties('AWS::S3::Bucket', {
      LifecycleConfiguration: {
        Rules: Match.arrayWith([
          Match.objectLike({ Prefix: 'inputs/', ExpirationInDays: 7, Status: 'Enabled' }),
          Match.objectLike({ Prefix: 'results/', ExpirationInDays: 7, Status: 'Enabled' }),
          Match.objectLike({ AbortIncompleteMultipartUpload: { DaysAfterInitiation: 2 }, Status: 'Enabled' }),
        ]),
      },
    });
  });

  it('allows no browser origin unless origins are given', () => {
    template.allResourcesProperties('AWS::S3::Bucket', { CorsConfiguration: Match.absent() });
  });

  it('writes server access logs to the log bucket', () => {
    expect(storage.accessLogsBucket).toBeDefined();
    template.hasResourceProperties('AWS::S3::Bucket', {
      LoggingConfiguration: {
        DestinationBucketName: { Ref: Match.stringLikeRegexp('^StorageAccessLogs') },
        LogFilePrefix: 'documents/',
      },
    });
  });

  it('retains the bucket and its key by default and lets CloudFormation name the bucket', () => {
    const [bucket] = documentBucket();
    expect(bucket?.DeletionPolicy).toBe('Retain');
    expect(bucket?.Properties.BucketName).toBeUndefined();
    template.hasResource('AWS::KMS::Key', { DeletionPolicy: 'Retain' });
  });

  it('takes expiry, origins, logging and removal policy from its props', () => {
    const stack = testStack();
    new DocumentStorage(stack, 'Storage', {
      expirationDays: 3,
      allowedOrigins: ['https://app.example.com'],
      serverAccessLogs: false,
      removalPolicy: RemovalPolicy.DESTROY,
    });
    const custom = Template.fromStack(stack);
    custom.resourceCountIs('AWS::S3::Bucket', 1);
    custom.hasResource('AWS::S3::Bucket', {
      DeletionPolicy: 'Delete',
      Properties: {
        LoggingConfiguration: Match.absent(),
        LifecycleConfiguration: {
          Rules: Match.arrayWith([Match.objectLike({ Prefix: 'inputs/', ExpirationInDays: 3 })]),
        },
        CorsConfiguration: {
          CorsRules: [
            Match.objectLike({
              AllowedMethods: Match.arrayWith(['PUT', 'GET']),
              AllowedOrigins: ['https://app.example.com'],
              AllowedHeaders: ['*'],
            }),
          ],
        },
      },
    });
  });
});
