import {
  GetObjectCommand,
  type GetObjectCommandOutput,
  HeadObjectCommand,
  NoSuchKey,
  NotFound,
  PutObjectCommand,
  type S3Client,
} from '@aws-sdk/client-s3';
import { getSignedUrl } from '@aws-sdk/s3-request-presigner';

export interface PresignedUpload {
  url: string;
  method: 'PUT';
  /** Headers the client must send exactly: they are part of the signature. */
  headers: Record<string, string>;
  expiresAt: string;
}

export interface ObjectHead {
  sizeBytes: number;
  contentType?: string;
}

/** The document bucket: presigned uploads and downloads, ranged reads, results. */
export class BlobStore {
  constructor(
    private readonly client: S3Client,
    private readonly bucket: string,
  ) {}

  /**
   * A presigned PUT whose signature covers the content type and length, so S3 refuses an
   * upload of another type or size than the job declared.
   */
  async presignUpload(
    key: string,
    contentType: string,
    sizeBytes: number,
    expiresInSeconds: number,
  ): Promise<PresignedUpload> {
    const url = await getSignedUrl(
      this.client,
      new PutObjectCommand({
        Bucket: this.bucket,
        Key: key,
        ContentType: contentType,
        ContentLength: sizeBytes,
      }),
      { expiresIn: expiresInSeconds, signableHeaders: new Set(['content-type', 'content-length']) },
    );
    return {
      url,
      method: 'PUT',
      headers: { 'Content-Type': contentType, 'Content-Length': String(sizeBytes) },
      expiresAt: new Date(Date.now() + expiresInSeconds * 1000).toISOString(),
    };
  }

  async presignDownload(
    key: string,
    expiresInSeconds: number,
    options: { contentType?: string; fileName?: string } = {},
  ): Promise<string> {
    return getSignedUrl(
      this.client,
      new GetObjectCommand({
        Bucket: this.bucket,
        Key: key,
        ResponseContentType: options.contentType,
        ResponseContentDisposition: options.fileName
          ? `attachment; filename="${options.fileName.replace(/["\\\r\n]/g, '_')}"`
          : undefined,
      }),
      { expiresIn: expiresInSeconds },
    );
  }

  /** Size and type of an object; undefined when it does not exist. */
  async head(key: string): Promise<ObjectHead | undefined> {
    try {
      const out = await this.client.send(new HeadObjectCommand({ Bucket: this.bucket, Key: key }));
      return { sizeBytes: out.ContentLength ?? 0, contentType: out.ContentType };
    } catch (error) {
      if (error instanceof NotFound || error instanceof NoSuchKey) return undefined;
      throw error;
    }
  }

  /** The first `length` bytes of an object (fewer if it is shorter). */
  async readHead(key: string, length: number): Promise<Uint8Array> {
    let out: GetObjectCommandOutput;
    try {
      out = await this.client.send(
        new GetObjectCommand({ Bucket: this.bucket, Key: key, Range: `bytes=0-${Math.max(0, length - 1)}` }),
      );
    } catch (error) {
      // S3 answers a range of an empty object with 416 InvalidRange (no byte 0 to start at): an
      // empty upload must reach ingest's "the uploaded file is empty", not fail every retry.
      if ((error as { name?: string }).name === 'InvalidRange') return new Uint8Array();
      throw error;
    }
    const bytes = (await out.Body?.transformToByteArray()) ?? new Uint8Array();
    // An emulator or proxy may ignore Range; never hand back more than asked for.
    return bytes.subarray(0, length);
  }

  async get(key: string): Promise<Buffer> {
    const out = await this.client.send(new GetObjectCommand({ Bucket: this.bucket, Key: key }));
    return Buffer.from((await out.Body?.transformToByteArray()) ?? new Uint8Array());
  }

  async put(key: string, body: Buffer | string, contentType: string): Promise<void> {
    await this.client.send(
      new PutObjectCommand({ Bucket: this.bucket, Key: key, Body: body, ContentType: contentType }),
    );
  }
}
