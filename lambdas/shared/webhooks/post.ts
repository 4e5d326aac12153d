import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { isIP } from 'node:net';
import {
  checkResolvedAddresses,
  checkWebhookUrl,
  guardedLookup,
  type Lookup,
  systemLookup,
  type WebhookAddressPolicy,
} from './address-guard.ts';

/** How one POST to a webhook went. */
export interface PostOutcome {
  /** A 2xx answer within the timeout. */
  ok: boolean;
  statusCode?: number;
  latencyMs: number;
  error?: string;
}

export interface PostOptions {
  timeoutMs: number;
  policy: WebhookAddressPolicy;
  lookup?: Lookup;
}

const USER_AGENT = 'ocr-pipeline-webhooks/1';

/**
 * POSTs a JSON body to a webhook receiver through the address guard: the URL is checked again
 * (scheme, credentials, literal address) and the socket connects only to an address checked in
 * the same resolution. Redirects are not followed (a 3xx is a failed attempt), the whole attempt
 * (resolution, connection, answer) has one deadline, and the receiver's body is not read.
 * Never throws: every failure is an outcome with its reason.
 */
export async function postWebhook(
  target: string,
  body: string,
  headers: Record<string, string>,
  options: PostOptions,
): Promise<PostOutcome> {
  const started = performance.now();
  const elapsed = () => Math.round(performance.now() - started);
  let url: URL;
  try {
    url = checkWebhookUrl(target, options.policy);
    // A literal address is never looked up, so the connect-time check would not see it.
    if (isIP(url.hostname.replace(/^\[(.*)\]$/, '$1'))) await checkResolvedAddresses(url, options.policy);
  } catch (error) {
    return { ok: false, latencyMs: elapsed(), error: (error as Error).message };
  }
  const request = url.protocol === 'https:' ? httpsRequest : httpRequest;
  return new Promise<PostOutcome>((resolve) => {
    let settled = false;
    const finish = (outcome: Omit<PostOutcome, 'latencyMs'>) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      resolve({ ...outcome, latencyMs: elapsed() });
    };
    const req = request(
      url,
      {
        method: 'POST',
        agent: false,
        lookup: guardedLookup(url, options.policy, options.lookup ?? systemLookup),
        headers: {
          ...headers,
          'content-type': 'application/json',
          'content-length': String(Buffer.byteLength(body)),
          'user-agent': USER_AGENT,
        },
      },
      (res) => {
        const statusCode = res.statusCode ?? 0;
        res.destroy();
        if (statusCode >= 200 && statusCode < 300) finish({ ok: true, statusCode });
        else if (statusCode >= 300 && statusCode < 400) {
          finish({ ok: false, statusCode, error: `redirect to ${res.headers.location ?? '?'} not followed` });
        } else finish({ ok: false, statusCode, error: `the receiver answered ${statusCode}` });
      },
    );
    const timer = setTimeout(() => {
      finish({ ok: false, error: `no answer within ${options.timeoutMs} ms` });
      req.destroy();
    }, options.timeoutMs);
    req.on('error', (error: NodeJS.ErrnoException) => {
      finish({ ok: false, error: error.code ? `${error.code}: ${error.message}` : error.message });
    });
    req.end(body);
  });
}
