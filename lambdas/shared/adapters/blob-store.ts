import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CreateMultipartUploadCommand,
  GetObjectCommand,
  type GetObjectCommandOutput,
  HeadObjectCommand,
  ListPartsCommand,
  NoSuchKey,
  NotFound,
  PutObjectCommand,
  type S3Client,
  UploadPartCommand,
} from '@aws-sdk/client-s3';
import { getSignedUrl } from '@aws-sdk/s3-request-presigner';

export interface PresignedUpload {
  url: string;
  method: 'PUT';
  /** Headers the client must send exactly: they are part of the signature. */
  headers: Record<string, string>;
  expiresAt: string;
}

/** A presigned UploadPart: the client PUTs exactly that part's bytes and keeps the `ETag` answered. */
export interface PresignedPart {
  partNumber: number;
  url: string;
  method: 'PUT';
  /** Headers the client must send exactly: they are part of the signature. */
  headers: Record<string, string>;
  expiresAt: string;
}

/** A part S3 holds of an unfinished multipart upload. */
export interface UploadedPart {
  partNumber: number;
  sizeBytes: number;
  etag: string;
}

/** A part as CompleteMultipartUpload takes it. */
export interface CompletedPart {
  partNumber: number;
  etag: string;
}

/** The multipart upload is gone: completed, aborted, or never made. */
export class UploadNotFoundError extends Error {
  constructor(readonly uploadId: string) {
    super(`multipart upload ${uploadId} does not exist (completed, aborted or expired)`);
    this.name = 'UploadNotFoundError';
  }
}

export interface ObjectHead {
  sizeBytes: number;
  contentType?: string;
}

/** Objects larger than this are written in parts of this size (S3: at least 5 MiB; fauxqs: at most 11 MiB). */
export const PUT_PART_BYTES = 8 * 1024 * 1024;

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

  /** Starts a multipart upload of `key` (the object gets `contentType`); returns its upload id. */
  async createMultipart(key: string, contentType: string): Promise<string> {
    const out = await this.client.send(
      new CreateMultipartUploadCommand({ Bucket: this.bucket, Key: key, ContentType: contentType }),
    );
    if (!out.UploadId) throw new Error(`S3 returned no upload id for ${key}`);
    return out.UploadId;
  }

  /**
   * A presigned UploadPart whose signature covers the part's length, so S3 refuses a part of
   * another size than the plan gives it.
   */
  async presignUploadPart(
    key: string,
    uploadId: string,
    partNumber: number,
    sizeBytes: number,
    expiresInSeconds: number,
  ): Promise<PresignedPart> {
    const url = await getSignedUrl(
      this.client,
      new UploadPartCommand({
        Bucket: this.bucket,
        Key: key,
        UploadId: uploadId,
        PartNumber: partNumber,
        ContentLength: sizeBytes,
      }),
      { expiresIn: expiresInSeconds, signableHeaders: new Set(['content-length']) },
    );
    return {
      partNumber,
      url,
      method: 'PUT',
      headers: { 'content-length': String(sizeBytes) },
      expiresAt: new Date(Date.now() + expiresInSeconds * 1000).toISOString(),
    };
  }

  /**
   * Every part uploaded so far, in part order, through all of ListParts' pages.
   *
   * @throws {UploadNotFoundError} the upload was completed, aborted or never made
   */
  async listParts(key: string, uploadId: string): Promise<UploadedPart[]> {
    const parts: UploadedPart[] = [];
    let marker: string | undefined;
    try {
      for (;;) {
        const out = await this.client.send(
          new ListPartsCommand({
            Bucket: this.bucket,
            Key: key,
            UploadId: uploadId,
            PartNumberMarker: marker,
          }),
        );
        for (const part of out.Parts ?? []) {
          if (part.PartNumber === undefined || part.ETag === undefined) continue;
          parts.push({ partNumber: part.PartNumber, sizeBytes: part.Size ?? 0, etag: part.ETag });
        }
        if (!out.IsTruncated || !out.NextPartNumberMarker) break;
        marker = out.NextPartNumberMarker;
      }
    } catch (error) {
      if (isNoSuchUpload(error)) {
        throw new UploadNotFoundError(uploadId);
      }
      throw error;
    }
    return parts.sort((a, b) => a.partNumber - b.partNumber);
  }

  /**
   * Joins the parts (in part order) into the object; S3 then sends ObjectCreated:CompleteMultipartUpload.
   *
   * @throws {UploadNotFoundError} the upload was completed, aborted or never made
   */
  async completeMultipart(key: string, uploadId: string, parts: readonly CompletedPart[]): Promise<void> {
    try {
      await this.client.send(
        new CompleteMultipartUploadCommand({
          Bucket: this.bucket,
          Key: key,
          UploadId: uploadId,
          MultipartUpload: {
            Parts: [...parts]
              .sort((a, b) => a.partNumber - b.partNumber)
              .map((part) => ({ PartNumber: part.partNumber, ETag: part.etag })),
          },
        }),
      );
    } catch (error) {
      if (isNoSuchUpload(error)) {
        throw new UploadNotFoundError(uploadId);
      }
      throw error;
    }
  }

  /** Discards a multipart upload and its parts; one already gone is not an error. */
  async abortMultipart(key: string, uploadId: string): Promise<void> {
    try {
      await this.client.send(
        new AbortMultipartUploadCommand({ Bucket: this.bucket, Key: key, UploadId: uploadId }),
      );
    } catch (error) {
      if (isNoSuchUpload(error)) return;
      throw error;
    }
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
    return this.readRange(key, 0, length);
  }

  /** `length` bytes of an object from `offset` (fewer past its end): a ranged GET. */
  async readRange(key: string, offset: number, length: number): Promise<Uint8Array> {
    let out: GetObjectCommandOutput;
    try {
      out = await this.client.send(
        new GetObjectCommand({
          Bucket: this.bucket,
          Key: key,
          Range: `bytes=${offset}-${offset + Math.max(0, length - 1)}`,
        }),
      );
    } catch (error) {
      // S3 answers a range of an empty object with 416 InvalidRange (no byte 0 to start at): an
      // empty upload must reach ingest's "the uploaded file is empty", not fail every retry.
      if ((error as { name?: string }).name === 'InvalidRange') return new Uint8Array();
      throw error;
    }
    const bytes = (await out.Body?.transformToByteArray()) ?? new Uint8Array();
    // An emulator or proxy may ignore Range (no Content-Range: the whole object came); never
    // hand back more than asked for.
    const start = out.ContentRange ? 0 : offset;
    return bytes.subarray(start, start + length);
  }

  /**
   * A whole object. Its bytes are copied as they arrive into one buffer of the announced length,
   * so a large document costs its size in memory once, not twice (chunks, then their join).
   */
  async get(key: string): Promise<Buffer> {
    const out = await this.client.send(new GetObjectCommand({ Bucket: this.bucket, Key: key }));
    const body = out.Body as
      | (AsyncIterable<Uint8Array> & { transformToByteArray(): Promise<Uint8Array> })
      | undefined;
    if (!body) return Buffer.alloc(0);
    const length = out.ContentLength;
    if (length === undefined || !(Symbol.asyncIterator in body)) {
      return Buffer.from(await body.transformToByteArray());
    }
    const bytes = Buffer.allocUnsafe(length);
    let filled = 0;
    for await (const chunk of body) {
      if (filled + chunk.byteLength > length) throw new Error(`${key}: more bytes than its length ${length}`);
      bytes.set(chunk, filled);
      filled += chunk.byteLength;
    }
    if (filled !== length) throw new Error(`${key}: ${filled} of ${length} bytes arrived`);
    return bytes;
  }

  /**
   * Writes an object; one larger than {@link PUT_PART_BYTES} in parts (a searchable PDF of a large
   * document): fauxqs takes no request body over 11 MiB, and S3 none over 5 GB.
   */
  async put(key: string, body: Buffer | string, contentType: string): Promise<void> {
    if (Buffer.byteLength(body) <= PUT_PART_BYTES) {
      await this.client.send(
        new PutObjectCommand({ Bucket: this.bucket, Key: key, Body: body, ContentType: contentType }),
      );
      return;
    }
    const bytes = typeof body === 'string' ? Buffer.from(body) : body;
    const uploadId = await this.createMultipart(key, contentType);
    try {
      const parts: CompletedPart[] = [];
      for (let start = 0, partNumber = 1; start < bytes.byteLength; start += PUT_PART_BYTES, partNumber++) {
        const out = await this.client.send(
          new UploadPartCommand({
            Bucket: this.bucket,
            Key: key,
            UploadId: uploadId,
            PartNumber: partNumber,
            Body: bytes.subarray(start, start + PUT_PART_BYTES),
          }),
        );
        if (!out.ETag) throw new Error(`S3 returned no ETag for part ${partNumber} of ${key}`);
        parts.push({ partNumber, etag: out.ETag });
      }
      await this.completeMultipart(key, uploadId, parts);
    } catch (error) {
      await this.abortMultipart(key, uploadId).catch(() => undefined);
      throw error;
    }
  }
}

/** S3's NoSuchUpload, by name: the SDK's class or an emulator's error of the same code. */
function isNoSuchUpload(error: unknown): boolean {
  return (error as { name?: string } | undefined)?.name === 'NoSuchUpload';
}
