import type { AddressInfo } from 'node:net';
import dynalite from 'dynalite';
import { type FauxqsServer, startFauxqs } from 'fauxqs';
import { startS3Front } from './s3-front.ts';

export interface Emulators {
  /** fauxqs: S3, SQS and SNS on one endpoint. */
  aws: FauxqsServer;
  awsEndpoint: string;
  /** fauxqs's S3 behind a front that adds ListParts (see `s3-front.ts`): the S3 clients' endpoint. */
  s3Endpoint: string;
  /** dynalite: DynamoDB (in memory unless a path is given). */
  dynamoEndpoint: string;
  stop(): Promise<void>;
}

/**
 * Starts the emulators in this process on free loopback ports. `dynamoPath` keeps the job
 * table on disk (LevelDB) so that it survives a restart; S3 and the queues live in memory.
 */
export async function startEmulators(options: { region: string; dynamoPath?: string }): Promise<Emulators> {
  const aws = await startFauxqs({
    port: 0,
    // Only names the queue URLs (fauxqs listens on every interface either way; clients use the
    // endpoint, not the URL's host). `sqs.REGION.localhost:PORT` URLs pass loadConfig's URL check
    // in a worker process (`sqs.REGION.127.0.0.1` does not).
    host: 'localhost',
    logger: false,
    defaultRegion: options.region,
    messageSpies: { bufferSize: 10_000 },
  });
  const dynamo = dynalite({ createTableMs: 0, deleteTableMs: 0, updateTableMs: 0, path: options.dynamoPath });
  await new Promise<void>((resolve, reject) => {
    dynamo.once('error', reject);
    dynamo.listen(0, '127.0.0.1', () => resolve());
  });
  const { port } = dynamo.address() as AddressInfo;
  const s3Front = await startS3Front({ host: '127.0.0.1', port: aws.port });
  return {
    aws,
    awsEndpoint: `http://127.0.0.1:${aws.port}`,
    s3Endpoint: s3Front.endpoint,
    dynamoEndpoint: `http://127.0.0.1:${port}`,
    async stop() {
      await s3Front.stop();
      await Promise.all([
        aws.stop(),
        new Promise<void>((resolve) => {
          dynamo.close(() => resolve());
          dynamo.closeAllConnections?.();
        }),
      ]);
    },
  };
}
