import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  checkWebhookTarget,
  isAllowedAddress,
  type Lookup,
  WebhookAddressError,
} from '../../lambdas/shared/webhooks/address-guard.ts';
import { postWebhook } from '../../lambdas/shared/webhooks/post.ts';

const STRICT = { allowLoopback: false };
const LOCAL = { allowLoopback: true };
const resolvesTo =
  (...addresses: string[]): Lookup =>
  async () =>
    addresses.map((address) => ({ address, family: address.includes(':') ? 6 : 4 }));

async function refusal(run: () => Promise<unknown>): Promise<WebhookAddressError> {
  try {
    await run();
  } catch (error) {
    if (error instanceof WebhookAddressError) return error;
    throw error;
  }
  throw new Error('expected the webhook URL to be refused');
}

describe('webhook address guard', () => {
  it.each([
    ['127.0.0.1', 'loopback'],
    ['127.3.2.1', 'loopback'],
    ['::1', 'loopback'],
    ['10.0.0.1', 'private'],
    ['10.255.255.255', 'private'],
    ['172.16.0.1', 'private'],
    ['172.31.255.254', 'private'],
    ['192.168.1.10', 'private'],
    ['169.254.169.254', 'link-local: the instance metadata endpoint'],
    ['169.254.1.1', 'link-local'],
    ['fe80::1', 'IPv6 link-local'],
    ['fd00::1', 'unique local (fd00::/8)'],
    ['fc00::1', 'unique local (fc00::/7)'],
    ['100.64.0.1', 'carrier-grade NAT'],
    ['0.0.0.0', 'unspecified'],
    ['::', 'unspecified'],
    ['224.0.0.1', 'multicast'],
    ['ff02::1', 'IPv6 multicast'],
    ['255.255.255.255', 'broadcast'],
    ['240.0.0.1', 'reserved'],
    ['192.0.2.1', 'documentation'],
    ['::ffff:127.0.0.1', 'IPv4-mapped loopback'],
    ['::ffff:10.0.0.1', 'IPv4-mapped private'],
    ['2002:a00:1::', '6to4 (embeds 10.0.0.1)'],
    ['64:ff9b::a00:1', 'NAT64 (embeds 10.0.0.1)'],
  ])('refuses %s (%s), as a literal and as a name that resolves to it', async (address) => {
    expect(isAllowedAddress(address)).toBe(false);
    const host = address.includes(':') ? `[${address}]` : address;
    expect((await refusal(() => checkWebhookTarget(`https://${host}/hook`, STRICT))).code).toBe(
      'WEBHOOK_URL_NOT_ALLOWED',
    );
    await refusal(() => checkWebhookTarget('https://hooks.example.com/x', STRICT, resolvesTo(address)));
  });

  it('allows public unicast addresses, IPv4 and IPv6', async () => {
    for (const address of ['93.184.216.34', '8.8.8.8', '2606:4700:4700::1111', '::ffff:8.8.8.8']) {
      expect(isAllowedAddress(address)).toBe(true);
    }
    const url = await checkWebhookTarget('https://hooks.example.com/x', STRICT, resolvesTo('93.184.216.34'));
    expect(url.hostname).toBe('hooks.example.com');
  });

  it('refuses a name with one private address among public ones', async () => {
    const error = await refusal(() =>
      checkWebhookTarget('https://hooks.example.com/x', STRICT, resolvesTo('93.184.216.34', '10.1.2.3')),
    );
    expect(error.message).toContain('10.1.2.3');
  });

  it('refuses http, credentials, other schemes, relative URLs and names that do not resolve', async () => {
    const publicName = resolvesTo('93.184.216.34');
    await refusal(() => checkWebhookTarget('http://hooks.example.com/x', STRICT, publicName));
    await refusal(() => checkWebhookTarget('https://user:pw@hooks.example.com/x', STRICT, publicName));
    await refusal(() => checkWebhookTarget('ftp://hooks.example.com/x', STRICT, publicName));
    await refusal(() => checkWebhookTarget('/relative', STRICT, publicName));
    const missing: Lookup = async () => {
      throw Object.assign(new Error('not found'), { code: 'ENOTFOUND' });
    };
    expect(
      (await refusal(() => checkWebhookTarget('https://nowhere.invalid/x', STRICT, missing))).message,
    ).toContain('ENOTFOUND');
  });

  it('in the local stack allows loopback (http included) and nothing else more', async () => {
    await checkWebhookTarget('http://127.0.0.1:8080/hook', LOCAL);
    await checkWebhookTarget('http://[::1]:8080/hook', LOCAL);
    await checkWebhookTarget('http://localhost:8080/hook', LOCAL, resolvesTo('127.0.0.1'));
    for (const address of ['10.0.0.1', '192.168.1.1', '169.254.169.254', 'fd00::1']) {
      await refusal(() => checkWebhookTarget('https://dev.example.com/hook', LOCAL, resolvesTo(address)));
    }
    // Plain http stays refused towards anything that is not loopback.
    await refusal(() => checkWebhookTarget('http://hooks.example.com/x', LOCAL, resolvesTo('93.184.216.34')));
  });
});

describe('postWebhook', () => {
  let server: Server;
  let port: number;
  const received: string[] = [];
  let answer = 200;

  beforeAll(async () => {
    server = createServer((req, res) => {
      let body = '';
      req.on('data', (chunk) => {
        body += chunk;
      });
      req.on('end', () => {
        received.push(body);
        if (answer === 302) res.writeHead(302, { location: 'http://169.254.169.254/' }).end();
        else res.writeHead(answer).end();
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    port = (server.address() as AddressInfo).port;
  });
  afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

  it('delivers to an allowed receiver and reports its status and latency', async () => {
    answer = 204;
    const outcome = await postWebhook(
      `http://127.0.0.1:${port}/hook`,
      '{"a":1}',
      {},
      { timeoutMs: 2000, policy: LOCAL },
    );
    expect(outcome).toMatchObject({ ok: true, statusCode: 204 });
    expect(outcome.latencyMs).toBeGreaterThanOrEqual(0);
    expect(received.at(-1)).toBe('{"a":1}');
  });

  it('does not follow redirects and counts non-2xx as failures', async () => {
    answer = 302;
    expect(
      await postWebhook(`http://127.0.0.1:${port}/`, '{}', {}, { timeoutMs: 2000, policy: LOCAL }),
    ).toMatchObject({
      ok: false,
      statusCode: 302,
    });
    answer = 500;
    expect(
      await postWebhook(`http://127.0.0.1:${port}/`, '{}', {}, { timeoutMs: 2000, policy: LOCAL }),
    ).toMatchObject({
      ok: false,
      statusCode: 500,
    });
  });

  it('checks the address it connects to: a name that now resolves to loopback (DNS rebinding) is never reached', async () => {
    const before = received.length;
    const rebound = await postWebhook(
      `https://rebind.example.com:${port}/`,
      '{}',
      {},
      {
        timeoutMs: 2000,
        policy: STRICT,
        lookup: resolvesTo('127.0.0.1'),
      },
    );
    expect(rebound.ok).toBe(false);
    expect(rebound.error).toContain('127.0.0.1');
    const literal = await postWebhook(
      `http://127.0.0.1:${port}/`,
      '{}',
      {},
      { timeoutMs: 2000, policy: STRICT },
    );
    expect(literal.ok).toBe(false);
    expect(received.length).toBe(before);
  });

  it('gives up on a receiver that does not answer within the timeout', async () => {
    const silent = createServer(() => undefined);
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    try {
      const { port: silentPort } = silent.address() as AddressInfo;
      const outcome = await postWebhook(
        `http://127.0.0.1:${silentPort}/`,
        '{}',
        {},
        { timeoutMs: 200, policy: LOCAL },
      );
      expect(outcome.ok).toBe(false);
      expect(outcome.error).toContain('200 ms');
      expect(outcome.latencyMs).toBeLessThan(2000);
    } finally {
      silent.closeAllConnections();
      await new Promise<void>((resolve) => silent.close(() => resolve()));
    }
  });
});
