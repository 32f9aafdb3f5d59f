/**
 * The trust rules for a request's target, Host and protocol, shared by both adapters: a policy deciding by path
 * (or by the route it names) must see the path the router will serve, and nothing an adapter later builds a URL
 * from may make it throw (a 500) or move the path.
 */
import { BoundedMap } from './bounded-map.js';

/** A `.` or `..` path segment, also percent-encoded (`%2e`), which URL parsing resolves and Express does not. */
const DOT_SEGMENT = /\/(?:\.|%2e){1,2}(?:\/|$)/i;

export interface RoutablePath {
  /** The path as sent (percent-encoded), which routers match literal segments against. */
  raw: string;
  /** The same path decoded, as route parameters are decoded: what a policy compares. */
  decoded: string;
}

/**
 * The path of an origin-form request target (`/a/b?q`), without the query, or undefined when a policy must not be
 * handed it: any other form (absolute-form `http://host/a`, asterisk-form `*`), a fragment (`/admin#`, which
 * Express routes as `/admin`), backslashes or dot segments (URL parsing, so Mastra's Web `Request`, resolves them,
 * Express does not: two adapters, two paths), also once `%2F` is decoded, empty segments (`//x` is a
 * protocol-relative URL to some parsers), and percent-encoding that does not decode.
 */
export function routablePath(target: string): RoutablePath | undefined {
  if (target.charCodeAt(0) !== 47 /* / */ || target.includes('#')) return undefined;
  const query = target.indexOf('?');
  const raw = query === -1 ? target : target.slice(0, query);
  if (raw.includes('\\') || raw.includes('//') || DOT_SEGMENT.test(raw)) return undefined;
  if (!raw.includes('%')) return { raw, decoded: raw };
  let decoded: string;
  try {
    decoded = decodeURIComponent(raw);
  } catch {
    return undefined;
  }
  // `%2F` makes one: `/t/acme%2F..%2Fglobex/data` reads `/t/acme/../globex/data`, under `/t/acme/` to a policy that
  // matches prefixes, while Express hands the route `acme/../globex` as one parameter.
  return DECODED_DOT_SEGMENT.test(decoded) ? undefined : { raw, decoded };
}

/** A `.` or `..` segment of a decoded path. */
const DECODED_DOT_SEGMENT = /\/\.{1,2}(?:\/|$)/;

/** A host name or address with an optional port: nothing that could move the path of a URL built from it. */
const HOST = /^(?:[A-Za-z0-9._~!$&'()*+,;=%-]+|\[[0-9A-Fa-f:.]+\])(?::(\d{1,5}))?$/;

/** Host values seen before, and whether a URL can be built from them; bounded, values repeat in practice. */
const hostVerdicts = new BoundedMap<string, boolean>(256);

/**
 * True for a Host header value a URL can be built from without throwing or changing meaning. Mastra's adapters
 * build the request URL as `${protocol}://${Host}${path}`: `1.2.3.4.5`, `xn--a`, `a%2fb`, `[1::2::3]` pass a
 * character check and then make `new URL()` throw.
 */
export function isValidHost(host: string): boolean {
  let verdict = hostVerdicts.get(host);
  if (verdict === undefined) {
    verdict = checkHost(host);
    hostVerdicts.set(host, verdict);
  }
  return verdict;
}

function checkHost(host: string): boolean {
  const match = HOST.exec(host);
  if (match === null || (match[1] !== undefined && Number(match[1]) > 65535)) return false;
  try {
    new URL(`http://${host}/`);
    return true;
  } catch {
    return false;
  }
}

/**
 * What is wrong with a proxy's forwarded headers, if anything: `host` when an entry of `X-Forwarded-Host` or
 * `X-Mastra-Public-Host` is no host a URL can be built from, `protocol` when an entry of `X-Forwarded-Proto` is not
 * `http` or `https` (in any case). Mastra builds its public origin from them whatever Express's `trust proxy` says (`getPublicOrigin`
 * of its sign-in routes: `https://${host}`, `${proto}://${Host}`) and throws on one that makes no URL (a 500); Express
 * reads `X-Forwarded-Proto` behind `trust proxy` (`req.protocol`), and Mastra's adapter builds its request URL from
 * it. Empty entries (`https, `) are skipped, as both read the first non-empty one.
 */
export function forwardedHeaderProblem(publicHost: unknown, forwardedHost: unknown, forwardedProto: unknown): 'host' | 'protocol' | undefined {
  if (!entriesPass(publicHost, isValidHost) || !entriesPass(forwardedHost, isValidHost)) return 'host';
  if (!entriesPass(forwardedProto, isHttpProtocol)) return 'protocol';
  return undefined;
}

/** `http` or `https`, in any case (a URL scheme is case-insensitive: Mastra builds `HTTPS://host` as well). */
const isHttpProtocol = (value: string): boolean => /^https?$/i.test(value);

/** True for an absent header, or one whose comma-separated entries all pass `check` (a repeated header: each copy). */
function entriesPass(header: unknown, check: (entry: string) => boolean): boolean {
  if (header === undefined) return true;
  if (Array.isArray(header)) return header.every((copy) => entriesPass(copy, check));
  if (typeof header !== 'string') return false;
  for (const entry of header.split(',')) {
    const value = entry.trim();
    if (value !== '' && !check(value)) return false;
  }
  return true;
}

/** The methods a Fetch `Request` refuses to carry, in any case (the Fetch standard's forbidden methods). */
const FORBIDDEN_METHOD = /^(?:connect|trace|track)$/i;

/**
 * False for a method no Web `Request` can be built with (`TRACE`, `TRACK`, `CONNECT`): Mastra's adapters build one
 * from every request they authenticate, and throw outside their handler (Express 4: the process exits).
 */
export function isServableMethod(method: string): boolean {
  return !((method.length === 5 || method.length === 7) && FORBIDDEN_METHOD.test(method));
}

/**
 * True for a request whose body is multipart (`multipart/form-data`, in any case: Mastra's adapter looks for it in the
 * `Content-Type`, and parses such a body itself) with a method whose body Mastra's adapter reads.
 */
export function isMultipartBody(method: string, contentType: string | undefined): boolean {
  return (
    contentType !== undefined &&
    (method === 'POST' || method === 'PUT' || method === 'PATCH' || method === 'DELETE') &&
    /multipart\/form-data/i.test(contentType)
  );
}
