import { lookup as dnsLookup, type LookupAddress } from 'node:dns';
import { isIP } from 'node:net';
import ipaddr from 'ipaddr.js';

/**
 * The SSRF guard of webhooks: a job's webhook makes our network POST to an address a client
 * chose, so only public unicast addresses on the internet may be reached. Everything else is
 * refused: loopback, private (10/8, 172.16/12, 192.168/16), carrier-grade NAT, link-local
 * (169.254/16, which holds the instance metadata endpoint, and fe80::/10), unique-local
 * (fc00::/7), multicast, broadcast, unspecified, documentation and reserved ranges, and the
 * IPv6 forms that embed an IPv4 address (mapped, 6to4, Teredo, NAT64), judged by what they embed
 * or refused.
 *
 * The URL is checked when the job is created and again at every delivery, where the address
 * checked is the one connected to (see {@link guardedLookup}): a name that resolved to a public
 * address at create and to a private one later (DNS rebinding) is refused then.
 */

export interface WebhookAddressPolicy {
  /**
   * Let webhooks reach loopback addresses, over http or https: on only in the local stack, so
   * that a developer can receive on localhost. Every other refused class stays refused.
   */
  allowLoopback: boolean;
}

export const STRICT_POLICY: WebhookAddressPolicy = { allowLoopback: false };

/** A webhook URL or address the guard refuses (create answers 400 with this code). */
export class WebhookAddressError extends Error {
  readonly code = 'WEBHOOK_URL_NOT_ALLOWED';
  override readonly name = 'WebhookAddressError';
}

/** The address's range as ipaddr.js names it (`unicast` for a public address). */
export function addressRange(address: string): string {
  let parsed = ipaddr.parse(address);
  if (parsed.kind() === 'ipv6' && (parsed as ipaddr.IPv6).isIPv4MappedAddress()) {
    parsed = (parsed as ipaddr.IPv6).toIPv4Address();
  }
  return parsed.range();
}

/** Whether an IP address may receive webhooks under the policy. */
export function isAllowedAddress(address: string, policy: WebhookAddressPolicy = STRICT_POLICY): boolean {
  if (!ipaddr.isValid(address)) return false;
  const range = addressRange(address);
  return range === 'unicast' || (policy.allowLoopback && range === 'loopback');
}

/** The URL's host as an IP literal, without IPv6 brackets; undefined for a name. */
function ipLiteral(url: URL): string | undefined {
  const host = url.hostname.replace(/^\[(.*)\]$/, '$1');
  return isIP(host) ? host : undefined;
}

/**
 * The checks that need no DNS: an absolute https URL (http only to loopback where the policy
 * allows loopback), without credentials, and an IP-literal host that is allowed.
 */
export function checkWebhookUrl(value: string, policy: WebhookAddressPolicy = STRICT_POLICY): URL {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new WebhookAddressError(`webhook URL ${JSON.stringify(value)} is not an absolute URL`);
  }
  if (url.protocol !== 'https:' && !(url.protocol === 'http:' && policy.allowLoopback)) {
    throw new WebhookAddressError('webhook URL must use https');
  }
  if (url.username || url.password) {
    throw new WebhookAddressError('webhook URL must not carry credentials');
  }
  const literal = ipLiteral(url);
  if (literal !== undefined && !isAllowedAddress(literal, policy)) {
    throw new WebhookAddressError(
      `webhook URL's address ${literal} is ${addressRange(literal)}: only public addresses may receive webhooks`,
    );
  }
  return url;
}

export type Lookup = (hostname: string) => Promise<LookupAddress[]>;

/** Every address the system resolver gives for the name (A and AAAA). */
export const systemLookup: Lookup = (hostname) =>
  new Promise((resolve, reject) => {
    dnsLookup(hostname, { all: true, verbatim: true }, (error, addresses) =>
      error ? reject(error) : resolve(addresses),
    );
  });

/**
 * Resolves the name and refuses it unless every address it has is allowed (one private
 * address among public ones is enough to refuse: the client does not choose which is used).
 * Plain http is allowed only when every address is loopback and the policy allows loopback.
 */
export async function checkResolvedAddresses(
  url: URL,
  policy: WebhookAddressPolicy = STRICT_POLICY,
  lookup: Lookup = systemLookup,
): Promise<LookupAddress[]> {
  const literal = ipLiteral(url);
  let addresses: LookupAddress[];
  if (literal !== undefined) addresses = [{ address: literal, family: isIP(literal) }];
  else {
    try {
      addresses = await lookup(url.hostname);
    } catch (error) {
      throw new WebhookAddressError(
        `webhook host ${url.hostname} does not resolve (${(error as NodeJS.ErrnoException).code ?? 'error'})`,
      );
    }
  }
  if (addresses.length === 0) throw new WebhookAddressError(`webhook host ${url.hostname} has no address`);
  const refused = addresses.find((a) => !isAllowedAddress(a.address, policy));
  if (refused) {
    throw new WebhookAddressError(
      `webhook host ${url.hostname} resolves to ${refused.address} (${ipaddr.isValid(refused.address) ? addressRange(refused.address) : 'invalid'}): only public addresses may receive webhooks`,
    );
  }
  if (url.protocol === 'http:' && addresses.some((a) => addressRange(a.address) !== 'loopback')) {
    throw new WebhookAddressError('webhook URL must use https (plain http only to a loopback receiver)');
  }
  return addresses;
}

/** A webhook URL checked in full: syntax, scheme, credentials and every resolved address. */
export async function checkWebhookTarget(
  value: string,
  policy: WebhookAddressPolicy = STRICT_POLICY,
  lookup: Lookup = systemLookup,
): Promise<URL> {
  const url = checkWebhookUrl(value, policy);
  await checkResolvedAddresses(url, policy, lookup);
  return url;
}

type LookupCallback = (
  error: NodeJS.ErrnoException | null,
  address: string | LookupAddress[],
  family?: number,
) => void;

/**
 * A `lookup` for `http.request` that resolves through {@link checkResolvedAddresses}: the
 * socket connects only to an address that was checked in the same step, so no second
 * resolution can swap a private address in between.
 */
export function guardedLookup(url: URL, policy: WebhookAddressPolicy, lookup: Lookup = systemLookup) {
  return (_hostname: string, options: { all?: boolean }, callback: LookupCallback): void => {
    checkResolvedAddresses(url, policy, lookup).then(
      (addresses) => {
        if (options.all) callback(null, addresses);
        else callback(null, addresses[0]!.address, addresses[0]!.family);
      },
      (error: Error) => callback(error as NodeJS.ErrnoException, ''),
    );
  };
}
