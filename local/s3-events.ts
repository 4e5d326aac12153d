import { setTimeout as sleep } from 'node:timers/promises';
import type { S3Event, S3EventRecord } from 'aws-lambda';
import type { FauxqsServer, S3SpyEvent } from 'fauxqs';

export type S3EventHandler = (event: S3Event) => Promise<unknown>;

export interface S3EventBridgeOptions {
  bucket: string;
  /** Only keys under this prefix are delivered, as the stack's notification filter does. */
  prefix: string;
  region: string;
  /** Delivery attempts per event: S3 invokes Lambda asynchronously, which tries 3 times. */
  attempts?: number;
  onError?: (error: unknown, key: string) => void;
  /** The object's size for the record (S3 puts it in the event); 0 when not given. */
  sizeOf?: (key: string) => Promise<number>;
}

/** An S3 ObjectCreated:Put record as S3 sends it to Lambda (keys URL-encoded, '+' for spaces). */
export function objectCreatedRecord(
  region: string,
  bucket: string,
  key: string,
  size: number,
  at = new Date(),
): S3EventRecord {
  return {
    eventVersion: '2.1',
    eventSource: 'aws:s3',
    awsRegion: region,
    eventTime: at.toISOString(),
    eventName: 'ObjectCreated:Put',
    userIdentity: { principalId: 'local' },
    requestParameters: { sourceIPAddress: '127.0.0.1' },
    responseElements: { 'x-amz-request-id': 'local', 'x-amz-id-2': 'local' },
    s3: {
      s3SchemaVersion: '1.0',
      configurationId: 'ingest',
      bucket: { name: bucket, ownerIdentity: { principalId: 'local' }, arn: `arn:aws:s3:::${bucket}` },
      object: {
        key: encodeURIComponent(key).replace(/%2F/g, '/').replace(/%20/g, '+'),
        size,
        eTag: '',
        sequencer: at.getTime().toString(16).toUpperCase(),
      },
    },
  };
}

/**
 * Bucket notifications for the local stack. fauxqs accepts but ignores notification
 * configuration; its message spy does see every upload, so each upload under the prefix is
 * turned into the S3 event record AWS would send and handed to the same ingest handler.
 */
export class S3EventBridge {
  private readonly seen = new WeakSet<S3SpyEvent>();
  private readonly inFlight = new Set<Promise<void>>();
  private stopped = false;
  private loop: Promise<void> | undefined;

  constructor(
    private readonly aws: FauxqsServer,
    private readonly handler: S3EventHandler,
    private readonly options: S3EventBridgeOptions,
  ) {}

  start(): void {
    this.loop ??= this.run();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.aws.spy.clear();
    await this.loop;
    await Promise.allSettled([...this.inFlight]);
  }

  private async run(): Promise<void> {
    const { bucket, prefix } = this.options;
    while (!this.stopped) {
      let upload: S3SpyEvent;
      try {
        upload = (await this.aws.spy.waitForMessage(
          (m) =>
            m.service === 's3' &&
            m.bucket === bucket &&
            m.key.startsWith(prefix) &&
            !this.seen.has(m as S3SpyEvent),
          'uploaded',
        )) as S3SpyEvent;
      } catch {
        if (this.stopped) return;
        continue;
      }
      this.seen.add(upload);
      const delivery = this.deliver(upload.key).finally(() => this.inFlight.delete(delivery));
      this.inFlight.add(delivery);
    }
  }

  private async deliver(key: string): Promise<void> {
    const attempts = this.options.attempts ?? 3;
    const size = (await this.options.sizeOf?.(key).catch(() => 0)) ?? 0;
    const event: S3Event = {
      Records: [objectCreatedRecord(this.options.region, this.options.bucket, key, size)],
    };
    for (let attempt = 1; attempt <= attempts; attempt++) {
      try {
        await this.handler(event);
        return;
      } catch (error) {
        if (attempt === attempts || this.stopped) {
          this.options.onError?.(error, key);
          return;
        }
        await sleep(250 * 2 ** attempt);
      }
    }
  }
}
