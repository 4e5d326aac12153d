import {
  Agent,
  createServer,
  request as httpRequest,
  type IncomingMessage,
  type Server,
  type ServerResponse,
} from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * fauxqs 1.9.2 has S3 multipart uploads (create, upload part, complete, abort) but no ListParts:
 * `GET /bucket/key?uploadId=…` falls through to GetObject and answers NoSuchKey. Resuming an
 * upload needs ListParts, so the local stack puts this front between its S3 clients and fauxqs:
 * every request is passed through unchanged (bodies streamed), the multipart requests are watched
 * (an upload's id from CreateMultipartUpload's answer, each part's size and ETag from an
 * UploadPart that succeeded, the upload dropped when completed or aborted), and ListParts is
 * answered from that record, paged like S3 (`max-parts`, `part-number-marker`).
 */

interface TrackedPart {
  partNumber: number;
  sizeBytes: number;
  etag: string;
  lastModified: Date;
}

/** S3 answers ListParts with at most 1,000 parts a page. */
const MAX_PARTS_PER_PAGE = 1000;

export interface S3Front {
  /** `http://127.0.0.1:PORT`: the endpoint S3 clients (and presigned URLs) use. */
  endpoint: string;
  stop(): Promise<void>;
}

const xmlEscape = (text: string) =>
  text.replace(
    /[<>&'"]/g,
    (c) => ({ '<': '&lt;', '>': '&gt;', '&': '&amp;', "'": '&apos;', '"': '&quot;' })[c]!,
  );

/** Starts the front on a free loopback port, forwarding to the S3 emulator at `target`. */
export async function startS3Front(target: { host: string; port: number }): Promise<S3Front> {
  const uploads = new Map<string, Map<number, TrackedPart>>();
  const agent = new Agent({ keepAlive: true });

  const listParts = (
    res: ServerResponse,
    bucket: string,
    key: string,
    uploadId: string,
    query: URLSearchParams,
  ) => {
    const parts = uploads.get(uploadId);
    if (!parts) {
      res.writeHead(404, { 'content-type': 'application/xml' });
      res.end(
        '<?xml version="1.0" encoding="UTF-8"?><Error><Code>NoSuchUpload</Code><Message>The specified multipart upload does not exist.</Message></Error>',
      );
      return;
    }
    const marker = Number(query.get('part-number-marker') ?? 0);
    const maxParts = Math.min(MAX_PARTS_PER_PAGE, Number(query.get('max-parts') ?? MAX_PARTS_PER_PAGE));
    const after = [...parts.values()]
      .filter((p) => p.partNumber > marker)
      .sort((a, b) => a.partNumber - b.partNumber);
    const page = after.slice(0, maxParts);
    const truncated = after.length > page.length;
    const next = page.at(-1)?.partNumber ?? marker;
    res.writeHead(200, { 'content-type': 'application/xml' });
    res.end(
      [
        '<?xml version="1.0" encoding="UTF-8"?>',
        '<ListPartsResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">',
        `<Bucket>${xmlEscape(bucket)}</Bucket><Key>${xmlEscape(key)}</Key><UploadId>${xmlEscape(uploadId)}</UploadId>`,
        `<PartNumberMarker>${marker}</PartNumberMarker><NextPartNumberMarker>${next}</NextPartNumberMarker>`,
        `<MaxParts>${maxParts}</MaxParts><IsTruncated>${truncated}</IsTruncated>`,
        ...page.map(
          (p) =>
            `<Part><PartNumber>${p.partNumber}</PartNumber><LastModified>${p.lastModified.toISOString()}</LastModified><ETag>${xmlEscape(p.etag)}</ETag><Size>${p.sizeBytes}</Size></Part>`,
        ),
        '</ListPartsResult>',
      ].join(''),
    );
  };

  const forward = (req: IncomingMessage, res: ServerResponse, url: URL) => {
    const query = url.searchParams;
    const uploadId = query.get('uploadId');
    const partNumber = Number(query.get('partNumber'));
    const isUploadPart = req.method === 'PUT' && uploadId !== null && partNumber > 0;
    const isCreate = req.method === 'POST' && query.has('uploads');
    let sent = 0;
    const upstream = httpRequest(
      {
        host: target.host,
        port: target.port,
        method: req.method,
        path: req.url,
        headers: req.headers,
        agent,
      },
      (answer) => {
        const ok = (answer.statusCode ?? 500) < 300;
        if (ok && isUploadPart && typeof answer.headers.etag === 'string') {
          uploads.get(uploadId)?.set(partNumber, {
            partNumber,
            sizeBytes: sent,
            etag: answer.headers.etag,
            lastModified: new Date(),
          });
        }
        if (ok && uploadId !== null && (req.method === 'DELETE' || (req.method === 'POST' && !isCreate))) {
          uploads.delete(uploadId);
        }
        if (!isCreate) {
          res.writeHead(answer.statusCode ?? 502, answer.headers);
          answer.pipe(res);
          return;
        }
        // CreateMultipartUpload's answer is a few hundred bytes of XML naming the upload.
        const chunks: Buffer[] = [];
        answer.on('data', (chunk: Buffer) => chunks.push(chunk));
        answer.on('end', () => {
          const body = Buffer.concat(chunks);
          const id = /<UploadId>([^<]+)<\/UploadId>/.exec(body.toString('utf8'))?.[1];
          if (ok && id) uploads.set(id, new Map());
          res.writeHead(answer.statusCode ?? 502, answer.headers);
          res.end(body);
        });
      },
    );
    upstream.on('error', (error) => {
      if (!res.headersSent) res.writeHead(502, { 'content-type': 'text/plain' });
      res.end(`S3 front: ${error.message}`);
    });
    req.on('data', (chunk: Buffer) => {
      sent += chunk.length;
    });
    req.pipe(upstream);
  };

  const server: Server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://s3.local');
    const uploadId = url.searchParams.get('uploadId');
    if (req.method === 'GET' && uploadId !== null && !url.searchParams.has('partNumber')) {
      const [, bucket = '', ...rest] = url.pathname.split('/');
      listParts(
        res,
        decodeURIComponent(bucket),
        decodeURIComponent(rest.join('/')),
        uploadId,
        url.searchParams,
      );
      req.resume();
      return;
    }
    forward(req, res, url);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  return {
    endpoint: `http://127.0.0.1:${port}`,
    async stop() {
      agent.destroy();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
