import { Duration, RemovalPolicy } from 'aws-cdk-lib';
import { Key } from 'aws-cdk-lib/aws-kms';
import {
  BlockPublicAccess,
  Bucket,
  BucketEncryption,
  HttpMethods,
  type LifecycleRule,
  ObjectOwnership,
} from 'aws-cdk-lib/aws-s3';
import { Construct } from 'constructs';
import { INCOMPLETE_UPLOAD_DAYS } from '../../lambdas/shared/resources.ts';

/**
 * The top-level prefixes of the key layout in `lambdas/shared/resources.ts` (`objectKeys`):
 * uploads land under `inputs/`, the worker writes under `results/`. Lifecycle rules, grants
 * and the ingest notification filter are scoped by them.
 */
export const KEY_PREFIXES = { inputs: 'inputs/', results: 'results/' } as const;

export interface DocumentStorageProps {
  /**
   * Days after which uploaded documents and their results are deleted. Matches the job
   * table's TTL (`OCRQ_JOB_TTL_DAYS`) so no job points at objects that are gone.
   * @default 7
   */
  readonly expirationDays?: number;
  /**
   * Origins allowed to PUT uploads and GET results straight from a browser with the
   * presigned URLs. With none, the bucket has no CORS rule: programs (the CLI, servers) use the
   * URLs and browsers cannot. `*` only when asked for.
   * @default []
   */
  readonly allowedOrigins?: string[];
  /**
   * Whether to write S3 server access logs to a bucket of their own.
   * @default true
   */
  readonly serverAccessLogs?: boolean;
  /**
   * What happens to the buckets and the encryption key when the stack is deleted. A retained
   * bucket keeps its key: its objects could not be read without it.
   * @default RemovalPolicy.RETAIN
   */
  readonly removalPolicy?: RemovalPolicy;
}

/**
 * The document bucket: clients upload with presigned PUTs under `inputs/`, the worker writes
 * results under `results/`, and both expire after a few days.
 *
 * Encrypted with a customer-managed KMS key rather than `aws/s3`: the GPU worker and other
 * consumers need key grants, and S3 event notifications to encrypted SQS/SNS targets do not
 * work with AWS-managed keys.
 */
export class DocumentStorage extends Construct {
  readonly bucket: Bucket;
  readonly encryptionKey: Key;
  /** Where S3 writes server access logs; undefined when `serverAccessLogs` is false. */
  readonly accessLogsBucket?: Bucket;

  constructor(scope: Construct, id: string, props: DocumentStorageProps = {}) {
    super(scope, id);
    const removalPolicy = props.removalPolicy ?? RemovalPolicy.RETAIN;
    const expiration = Duration.days(props.expirationDays ?? 7);

    this.encryptionKey = new Key(this, 'Key', {
      description: 'Encrypts the OCR pipeline documents and results',
      enableKeyRotation: true,
      removalPolicy,
    });

    if (props.serverAccessLogs ?? true) {
      // Log delivery cannot write to SSE-KMS buckets, so this one uses S3-managed keys. It has no
      // access logs of its own: logging the log bucket would recurse.
      this.accessLogsBucket = new Bucket(this, 'AccessLogs', {
        encryption: BucketEncryption.S3_MANAGED,
        blockPublicAccess: BlockPublicAccess.BLOCK_ALL,
        objectOwnership: ObjectOwnership.BUCKET_OWNER_ENFORCED,
        enforceSSL: true,
        lifecycleRules: [{ id: 'expire-access-logs', expiration: Duration.days(90) }],
        removalPolicy,
      });
    }

    const expireUnder = (prefix: string): LifecycleRule => ({
      id: `expire-${prefix.replace(/\/$/, '')}`,
      prefix,
      expiration,
    });

    this.bucket = new Bucket(this, 'Bucket', {
      encryption: BucketEncryption.KMS,
      encryptionKey: this.encryptionKey,
      // One data key per bucket instead of a KMS call per object: cheaper and fewer throttles.
      bucketKeyEnabled: true,
      blockPublicAccess: BlockPublicAccess.BLOCK_ALL,
      objectOwnership: ObjectOwnership.BUCKET_OWNER_ENFORCED,
      enforceSSL: true,
      serverAccessLogsBucket: this.accessLogsBucket,
      serverAccessLogsPrefix: this.accessLogsBucket ? 'documents/' : undefined,
      lifecycleRules: [
        expireUnder(KEY_PREFIXES.inputs),
        expireUnder(KEY_PREFIXES.results),
        {
          id: 'abort-incomplete-uploads',
          abortIncompleteMultipartUploadAfter: Duration.days(INCOMPLETE_UPLOAD_DAYS),
        },
      ],
      cors: props.allowedOrigins?.length
        ? [
            {
              id: 'browser-presigned-urls',
              allowedMethods: [HttpMethods.PUT, HttpMethods.GET, HttpMethods.HEAD],
              allowedOrigins: props.allowedOrigins,
              allowedHeaders: ['*'],
              exposedHeaders: ['ETag'],
              maxAge: 3600,
            },
          ]
        : undefined,
      removalPolicy,
    });
  }
}
