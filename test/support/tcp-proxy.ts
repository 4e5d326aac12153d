import { type AddressInfo, connect, createServer, type Socket } from 'node:net';

/**
 * A TCP proxy in front of one emulator, which a test can cut and restore: an outage of AWS as
 * clients see it (connections reset, new ones refused) while the emulator behind keeps its state,
 * as S3, SQS and DynamoDB do through a network outage. Stopping the in-memory emulators
 * themselves would lose every queue, object and job.
 *
 * @example
 * const proxy = await startTcpProxy('http://127.0.0.1:4566');
 * // point the clients at proxy.url …
 * proxy.cut();
 * await sleep(20_000);
 * proxy.restore();
 * await proxy.close();
 */
export interface TcpProxy {
  /** `http://127.0.0.1:PORT`: the endpoint clients use instead of the target's. */
  readonly url: string;
  /** Connections reset because they were open at a cut or opened during one. */
  readonly refused: number;
  /** Connections forwarded to the target so far. */
  readonly forwarded: number;
  readonly isCut: boolean;
  /** Resets every open connection and every new one until {@link restore}. */
  cut(): void;
  restore(): void;
  close(): Promise<void>;
}

export async function startTcpProxy(target: string): Promise<TcpProxy> {
  const { hostname, port } = new URL(target);
  /** Open client connections, each with its own connection to the target. */
  const open = new Map<Socket, Socket>();
  let isCut = false;
  let refused = 0;
  let forwarded = 0;

  const reset = (socket: Socket) => {
    // An RST rather than a FIN: the client sees ECONNRESET at once, as with a dropped network.
    if (!socket.destroyed) socket.resetAndDestroy();
  };

  const server = createServer((client) => {
    if (isCut) {
      refused += 1;
      reset(client);
      return;
    }
    forwarded += 1;
    const upstream = connect({ host: hostname, port: Number(port) });
    open.set(client, upstream);
    const end = () => {
      open.delete(client);
      client.destroy();
      upstream.destroy();
    };
    client.on('error', end).on('close', end);
    upstream.on('error', end).on('close', end);
    client.pipe(upstream);
    upstream.pipe(client);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const { port: proxyPort } = server.address() as AddressInfo;

  return {
    url: `http://127.0.0.1:${proxyPort}`,
    get refused() {
      return refused;
    },
    get forwarded() {
      return forwarded;
    },
    get isCut() {
      return isCut;
    },
    cut() {
      isCut = true;
      for (const [client, upstream] of open) {
        refused += 1;
        reset(client);
        upstream.destroy();
      }
      open.clear();
    },
    restore() {
      isCut = false;
    },
    async close() {
      for (const [client, upstream] of open) {
        client.destroy();
        upstream.destroy();
      }
      open.clear();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
