import { CreateMultipartUploadCommand, ListPartsCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { PutCommand } from '@aws-sdk/lib-dynamodb';
import { describe, expect, it } from 'vitest';
import { createJob } from '../../lambdas/create-job/create-job.ts';
import { CreatedJobSchema } from '../../lambdas/openapi/schemas.ts';
import { BlobStore } from '../../lambdas/shared/adapters/blob-store.ts';
import { createAwsClients } from '../../lambdas/shared/aws-clients.ts';
import { configToEnv, DEFAULT_MULTIPART, loadConfig, S3_MAX_PARTS } from '../../lambdas/shared/config.ts';
import { ConfigError } from '../../lambdas/shared/errors.ts';
import type { Job } from '../../lambdas/shared/job.ts';
import { partLength, planParts } from '../../lambdas/shared/multipart.ts';
import { describeParts, partsToComplete, UploadIncompleteError } from '../../lambdas/upload/upload.ts';
import { mockedRuntime, TEST_CONFIG } from '../support/runtime.ts';

const MIB = 1024 * 1024;

describe('the part plan', () => {
  it('cuts a document into parts of the configured size, the last one holding the rest', () => {
    const plan = planParts(18_193_643, { partBytes: 8 * MIB });
    expect(plan).toEqual({ partSizeBytes: 8 * MIB, partCount: 3 });
    expect([1, 2, 3].map((n) => partLength(plan, 18_193_643, n))).toEqual([
      8 * MIB,
      8 * MIB,
      18_193_643 - 16 * MIB,
    ]);
    expect(planParts(1000, { partBytes: 8 * MIB })).toEqual({ partSizeBytes: 8 * MIB, partCount: 1 });
    expect(planParts(16 * MIB, { partBytes: 8 * MIB })).toEqual({ partSizeBytes: 8 * MIB, partCount: 2 });
  });

  it('grows the part size (whole MiB) where the parts would pass 10,000', () => {
    const size = 100 * 1024 * MIB; // 100 GiB
    const plan = planParts(size, { partBytes: 8 * MIB });
    expect(plan.partSizeBytes).toBe(11 * MIB);
    expect(plan.partCount).toBeLessThanOrEqual(S3_MAX_PARTS);
    expect(partLength(plan, size, plan.partCount)).toBeGreaterThan(0);
    expect(planParts(DEFAULT_MULTIPART.maxUploadBytes, DEFAULT_MULTIPART)).toEqual({
      partSizeBytes: 8 * MIB,
      partCount: 640,
    });
  });
});

describe('completing an upload', () => {
  const job = {
    jobId: 'j',
    sizeBytes: 2 * 5 * MIB + 7,
    upload: { uploadId: 'u', partSizeBytes: 5 * MIB, partCount: 3 },
  } as Job & {
    upload: NonNullable<Job['upload']>;
  };
  const held = [
    { partNumber: 1, sizeBytes: 5 * MIB, etag: '"a"' },
    { partNumber: 2, sizeBytes: 5 * MIB, etag: '"b"' },
    { partNumber: 3, sizeBytes: 7, etag: '"c"' },
  ];

  it('takes the parts S3 holds, or the client list when it matches them', () => {
    const expected = [
      { partNumber: 1, etag: '"a"' },
      { partNumber: 2, etag: '"b"' },
      { partNumber: 3, etag: '"c"' },
    ];
    expect(partsToComplete(job, held)).toEqual(expected);
    const unquoted = [3, 2, 1].map((partNumber) => ({ partNumber, etag: 'abc'[partNumber - 1]! }));
    expect(partsToComplete(job, held, unquoted)).toEqual(expected);
  });

  it('names the missing parts, the wrong sizes and the stale ETags', () => {
    expect(() => partsToComplete(job, [held[1]!])).toThrow('parts 1, 3 of 3 not uploaded');
    expect(() => partsToComplete(job, [held[0]!, { ...held[1]!, sizeBytes: 10 }, held[2]!])).toThrow(
      `part 2 has 10 bytes, not ${5 * MIB}`,
    );
    const stale = () =>
      partsToComplete(job, held, [
        { partNumber: 1, etag: '"a"' },
        { partNumber: 2, etag: '"old"' },
        { partNumber: 3, etag: '"c"' },
        { partNumber: 4, etag: '"d"' },
      ]);
    expect(stale).toThrow(UploadIncompleteError);
    expect(stale).toThrow('the ETags of parts 2 are not those of the parts S3 holds');
    expect(stale).toThrow('part numbers 4 are outside 1..3');
  });

  it('writes long lists of part numbers as runs', () => {
    expect(describeParts([9, 1, 2, 3, 5, 7, 8])).toBe('1-3, 5, 7-9');
    expect(describeParts(Array.from({ length: 9000 }, (_, i) => i + 2))).toBe('2-9001');
  });
});

describe('multipart configuration', () => {
  it('reads the three settings and writes them back', () => {
    const env = {
      ...configToEnv(TEST_CONFIG),
      OCRQ_MULTIPART_THRESHOLD_BYTES: String(20 * MIB),
      OCRQ_MULTIPART_PART_BYTES: String(6 * MIB),
      OCRQ_MAX_MULTIPART_UPLOAD_BYTES: String(2 * 1024 * MIB),
    };
    const config = loadConfig(env);
    expect(config.multipart).toEqual({
      thresholdBytes: 20 * MIB,
      partBytes: 6 * MIB,
      maxUploadBytes: 2 * 1024 * MIB,
    });
    expect(loadConfig(configToEnv(config)).multipart).toEqual(config.multipart);
    expect(loadConfig(configToEnv(TEST_CONFIG)).multipart).toEqual(DEFAULT_MULTIPART);
  });

  it('refuses parts smaller than S3 allows, naming the variable', () => {
    expect(() =>
      loadConfig({ ...configToEnv(TEST_CONFIG), OCRQ_MULTIPART_PART_BYTES: String(4 * MIB) }),
    ).toThrow(ConfigError);
    expect(() => loadConfig({ ...configToEnv(TEST_CONFIG), OCRQ_MULTIPART_PART_BYTES: '1000' })).toThrow(
      /OCRQ_MULTIPART_PART_BYTES: must be at least 5242880/,
    );
  });
});

describe('create-job with multipart', () => {
  const body = { fileName: 'scan.pdf', contentType: 'application/pdf' };

  it('starts the multipart upload with the content type and stores its plan on the job', async () => {
    const { runtime, mocks } = mockedRuntime({
      ...TEST_CONFIG,
      multipart: { ...DEFAULT_MULTIPART, thresholdBytes: 10 * MIB },
    });
    mocks.s3.on(CreateMultipartUploadCommand).resolves({ UploadId: 'upload-1' });
    mocks.dynamo.on(PutCommand).resolves({});
    const { response } = await createJob(runtime, 'tenant', { ...body, sizeBytes: 20 * MIB }, 'https://api');
    const created = CreatedJobSchema.parse(response);
    expect(created.upload).toMatchObject({
      method: 'MULTIPART',
      uploadId: 'upload-1',
      partSizeBytes: 8 * MIB,
      partCount: 3,
    });
    expect(created.links.uploadParts).toBe(`https://api/v1/jobs/${created.jobId}/upload/parts`);
    expect(mocks.s3.commandCalls(CreateMultipartUploadCommand)[0]!.args[0].input).toMatchObject({
      ContentType: 'application/pdf',
      Key: `inputs/tenant/${created.jobId}/source`,
    });
    const item = mocks.dynamo.commandCalls(PutCommand)[0]!.args[0].input.Item!;
    expect(item.upload).toEqual({ uploadId: 'upload-1', partSizeBytes: 8 * MIB, partCount: 3 });
    expect(mocks.s3.commandCalls(PutObjectCommand)).toHaveLength(0);
    expect(mocks.s3.commandCalls(ListPartsCommand)).toHaveLength(0);
  });

  it('answers a single PUT at the threshold, and 413 above the single or multipart maximum', async () => {
    const { runtime, mocks } = mockedRuntime({
      ...TEST_CONFIG,
      maxUploadBytes: 10 * MIB,
      multipart: { ...DEFAULT_MULTIPART, thresholdBytes: 10 * MIB, maxUploadBytes: 100 * MIB },
    });
    mocks.dynamo.on(PutCommand).resolves({});
    const { response } = await createJob(runtime, 'tenant', { ...body, sizeBytes: 10 * MIB }, 'https://api');
    expect(CreatedJobSchema.parse(response).upload).toMatchObject({ method: 'PUT' });
    await expect(
      createJob(runtime, 'tenant', { ...body, sizeBytes: 100 * MIB + 1 }, ''),
    ).rejects.toMatchObject({
      statusCode: 413,
      message: expect.stringContaining(`maximum multipart upload size of ${100 * MIB} bytes`),
    });
    mocks.s3.on(CreateMultipartUploadCommand).resolves({ UploadId: 'small' });
    const asked = await createJob(runtime, 'tenant', { ...body, sizeBytes: 1000, multipart: true }, '');
    expect(CreatedJobSchema.parse(asked.response).upload).toMatchObject({
      method: 'MULTIPART',
      partCount: 1,
    });
    expect(mocks.s3.commandCalls(CreateMultipartUploadCommand)).toHaveLength(1);
  });
});

describe('presigned upload URLs', () => {
  it('carry no checksum of the empty body the SDK would sign in (S3 would refuse the real bytes)', async () => {
    // The clients the functions build (with an endpoint, so with the local stack's credentials).
    const s3 = createAwsClients({ ...TEST_CONFIG, endpoints: { default: 'http://127.0.0.1:9' } }).s3;
    const blobs = new BlobStore(s3, 'docs');
    const put = await blobs.presignUpload('inputs/t/j/source', 'application/pdf', 10, 60);
    const part = await blobs.presignUploadPart('inputs/t/j/source', 'upload-1', 2, 10, 60);
    for (const url of [put.url, part.url]) {
      const query = new URL(url).searchParams;
      expect([...query.keys()].filter((k) => /checksum/i.test(k))).toEqual([]);
      expect(query.get('X-Amz-SignedHeaders')).toContain('content-length');
    }
    expect(new URL(part.url).searchParams.get('partNumber')).toBe('2');
  });
});
