/**
 * Options of the verifier: what the user passes, what the environment fills in, and the validated, resolved
 * configuration the verifier is built from. Validation happens once, when a verifier is built, with messages that
 * name the option; nothing here runs per request.
 */
import { createHash, createPublicKey, type KeyObject } from 'node:crypto';
import type { ClerkClaims } from './claims.js';
import type { AuthorizeUser } from './policy.js';
import type { ProtectedResourceOptions } from './resource-metadata.js';
import { acceptsMask, bitOf, SESSION_ONLY, type AcceptsToken, type TokenTypeMask } from './token-types.js';

/** Tuning of the remote JWKS key set. Durations in milliseconds. */
export interface JwksOptions {
  /** Keys older than this are refetched (default 600000, 10 minutes; jose's `cacheMaxAge`). */
  cacheMaxAgeInMs?: number | undefined;
  /**
   * After a successful fetch, no refetch for an unknown `kid` for this long (default 30000; jose's
   * `cooldownDuration`): a flood of random kids costs at most one fetch per cooldown.
   */
  cooldownInMs?: number | undefined;
  /** A JWKS request that takes longer fails (default 5000; jose's `timeoutDuration`). */
  timeoutInMs?: number | undefined;
  /** When a refresh fails, keys fetched within this window keep verifying (default 86400000, 24 h). */
  staleIfErrorInMs?: number | undefined;
  /**
   * After a failed fetch, no new fetch for this long, doubling per consecutive failure up to `cooldownInMs`
   * (default 1000): an outage never means one fetch per request.
   */
  failureBackoffInMs?: number | undefined;
  /** A JWKS response larger than this is refused (default 262144 bytes). */
  maxResponseBytes?: number | undefined;
}

/** Tuning of the Backend API calls that verify opaque machine tokens (`mt_…`, `oat_…`, `ak_…`). Milliseconds. */
export interface BackendApiOptions {
  /**
   * How long an answer is trusted (default 10000): a token verified by the Backend API is not checked again for
   * this long, so a revoked API key or M2M token stops working within this bound; a refused one is remembered as long.
   */
  cacheInMs?: number | undefined;
  /** A Backend API call that takes longer fails, 503 (default 5000). */
  timeoutInMs?: number | undefined;
  /**
   * After a failed call (network, timeout, 5xx, 429), no call for this long, doubling per consecutive failure up to
   * 30 s (default 1000); meanwhile opaque tokens not in the cache get 503, never a call per request.
   */
  failureBackoffInMs?: number | undefined;
}

/** Options of `createClerkAuth`, `verifyClerkToken` and both adapters. */
export interface ClerkAuthOptions {
  /**
   * `pk_test_…`/`pk_live_…`. Gives the default issuer `https://<frontend api>` and the default JWKS URL
   * `https://<frontend api>/.well-known/jwks.json`. Env: `CLERK_PUBLISHABLE_KEY`.
   */
  publishableKey?: string | undefined;
  /**
   * JWKS URL; overrides the one derived from the publishable key. When it ends in `/.well-known/jwks.json` and no
   * issuer is known otherwise, its origin is the expected issuer. Env: `CLERK_JWKS_URI`.
   */
  jwksUri?: string | undefined;
  /** The instance's PEM public key: networkless verification, no fetch ever. Takes precedence. Env: `CLERK_JWT_KEY`. */
  jwtKey?: string | undefined;
  /**
   * Used only when nothing above gives keys: the JWKS is then read from the Backend API `<apiUrl>/v1/jwks`.
   * Env: `CLERK_SECRET_KEY`.
   */
  secretKey?: string | undefined;
  /** Backend API base URL (default `https://api.clerk.com`). Env: `CLERK_API_URL`. */
  apiUrl?: string | undefined;
  /**
   * Which Clerk tokens sign a request in: `'session_token'` (default), `'m2m_token'`, `'oauth_token'`, `'api_key'`,
   * a list of them, or `'any'`, as `@clerk/express`'s `acceptsToken`. Machine tokens are read from the
   * `Authorization` header only. JWT-format M2M and OAuth tokens are verified locally; opaque ones (`mt_…`, `oat_…`,
   * `ak_…`) with the Backend API, which needs `secretKey`.
   */
  acceptsToken?: AcceptsToken | undefined;
  /**
   * The machine secret key (`ak_…`) that verifies opaque M2M tokens scoped to this machine; without it the secret key
   * is used. Env: `CLERK_MACHINE_SECRET_KEY`.
   */
  machineSecretKey?: string | undefined;
  /** Tuning of the Backend API calls for opaque machine tokens. */
  backendApi?: BackendApiOptions | undefined;
  /**
   * Makes the MCP endpoints protected resources (RFC 9728): their 401s carry `resource_metadata`, and the metadata
   * document is served at `/.well-known/oauth-protected-resource<path>`, naming Clerk as authorization server.
   */
  protectedResource?: ProtectedResourceOptions | undefined;
  /** Expected `iss`; overrides the issuer derived from the publishable key or the JWKS URL. */
  issuer?: string | string[] | undefined;
  /** Expected `aud`; when set, a token must carry one of these audiences. */
  audience?: string | string[] | undefined;
  /**
   * Origins allowed in `azp`; when set, a token without `azp` fails too. Env: `CLERK_AUTHORIZED_PARTIES`
   * (comma-separated).
   */
  authorizedParties?: string[] | undefined;
  /** Tolerance for `exp`, `nbf` and `iat` (default 5000, as Clerk). */
  clockSkewInMs?: number | undefined;
  /** Reject sessions whose `sts` is `pending` (default true, as Clerk). */
  treatPendingAsSignedOut?: boolean | undefined;
  /** Allowed JWS algorithms (default `['RS256']`, Clerk's only one). */
  algorithms?: string[] | undefined;
  /**
   * Verified tokens kept in memory until their own `exp`, so a reused token costs one signature check
   * (default 10000 entries; `false` turns the cache off).
   */
  tokenCache?: number | false | undefined;
  /** Tuning of the remote key set. */
  jwks?: JwksOptions | undefined;
  /** The `realm` of the `WWW-Authenticate` challenge (default `"api"`). */
  realm?: string | undefined;
  /** The clock, in milliseconds since the epoch (default `Date.now`). For tests. */
  now?: (() => number) | undefined;
  /**
   * The one authorization policy of both adapters: `true` lets the verified user in, `false` answers 403.
   * Default: every verified user passes.
   */
  authorizeUser?: AuthorizeUser<ClerkClaims> | undefined;
  /**
   * Where the library logs: refusals by code at `debug`, start-up facts at `info`, key outages with their cause at
   * `warn`, a throwing policy at `error`; never a token, a key or a kid list. An object with those methods
   * (`console`, pino, Mastra's logger) or one function for every level. Default: `console` without `debug`;
   * `false` silences.
   */
  logger?: Logger | false | undefined;
  /** Read unset options from these variables instead of `process.env`. */
  env?: Record<string, string | undefined> | undefined;
}

/** A logger with levels (`console`, pino and Mastra's logger fit), or one function for every level. */
export type Logger =
  | ((line: string) => void)
  | { debug?(line: string): void; info?(line: string): void; warn?(line: string): void; error?(line: string): void };

/** How the signing keys are obtained, decided once. */
export type KeySource =
  | { kind: 'pem'; pem: string }
  | { kind: 'jwks'; url: URL; headers?: Record<string, string> };

/** The validated configuration a verifier is built from. */
export interface ResolvedOptions {
  keySource: KeySource;
  issuers: readonly string[] | undefined;
  audiences: readonly string[] | undefined;
  authorizedParties: readonly string[] | undefined;
  clockSkewInMs: number;
  treatPendingAsSignedOut: boolean;
  algorithms: readonly string[];
  tokenCacheSize: number;
  jwks: Required<JwksOptions>;
  realm: string;
  now: () => number;
  /** For Clerk's AuthObject `getToken()` (custom JWT templates via the Backend API). */
  secretKey: string | undefined;
  /** Suffix of this instance's cookie names (`__session_<suffix>`), when the publishable key is known. */
  cookieSuffix: string | undefined;
  apiUrl: string;
  /** The token types accepted unless an adapter or guard says otherwise. */
  acceptsToken: TokenTypeMask;
  machineSecretKey: string | undefined;
  backendApi: Required<BackendApiOptions>;
}

const ENV = {
  publishableKey: 'CLERK_PUBLISHABLE_KEY',
  jwksUri: 'CLERK_JWKS_URI',
  jwtKey: 'CLERK_JWT_KEY',
  secretKey: 'CLERK_SECRET_KEY',
  machineSecretKey: 'CLERK_MACHINE_SECRET_KEY',
  apiUrl: 'CLERK_API_URL',
  authorizedParties: 'CLERK_AUTHORIZED_PARTIES',
} as const;

const DEFAULT_API_URL = 'https://api.clerk.com';
const JWKS_PATH = '/.well-known/jwks.json';

/** Every field of `ClerkAuthOptions`: anything else is a typo, or a spread `createClerkAuth()` object. */
const OPTION_NAMES: ReadonlySet<string> = new Set<keyof ClerkAuthOptions>([
  'publishableKey', 'jwksUri', 'jwtKey', 'secretKey', 'apiUrl', 'issuer', 'audience', 'authorizedParties',
  'clockSkewInMs', 'treatPendingAsSignedOut', 'algorithms', 'tokenCache', 'jwks', 'realm', 'now', 'authorizeUser',
  'logger', 'env', 'acceptsToken', 'machineSecretKey', 'backendApi', 'protectedResource',
]);

/** The keys of `options` that are no field of `ClerkAuthOptions`. */
export function unknownOptions(options: object): string[] {
  return Object.keys(options).filter((key) => !OPTION_NAMES.has(key));
}

/**
 * Throws `<caller>: unknown option "x"` for a key of `options` that is no field of `ClerkAuthOptions`, with the known
 * names within two edits (`authorisedParties`): the core's, and the caller's own (`ownOptions`: an adapter's
 * `optional`...). A misspelt option must not be dropped in silence: `authorisedParties` would check no azp.
 */
export function assertKnownOptions(caller: string, options: object, ownOptions: readonly string[] = []): void {
  const unknown = unknownOptions(options);
  if (unknown.length === 0) return;
  const hint = closestOptions(unknown, [...OPTION_NAMES, ...ownOptions]);
  throw new TypeError(`${caller}: unknown option ${unknown.map((k) => `"${k}"`).join(', ')}${hint ? `; ${hint}` : ''}`);
}

/**
 * "did you mean ..." for option names within two edits of a known one (`authorisedParties`), one more per five
 * characters of the known name past ten (`authorizedParty`: three edits from `authorizedParties`), or ''.
 */
function closestOptions(unknown: readonly string[], known: readonly string[]): string {
  const near = unknown.flatMap((key) => known.filter((name) => editDistance(key.toLowerCase(), name.toLowerCase()) <= Math.max(2, Math.floor(name.length / 5))));
  return near.length === 0 ? '' : `did you mean ${near.map((name) => `"${name}"`).join(', ')}?`;
}

function editDistance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++) {
      current[j] = Math.min(previous[j]! + 1, current[j - 1]! + 1, previous[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
    previous = current;
  }
  return previous[b.length]!;
}

export const DEFAULT_JWKS_OPTIONS: Required<JwksOptions> = Object.freeze({
  cacheMaxAgeInMs: 600_000,
  cooldownInMs: 30_000,
  timeoutInMs: 5_000,
  staleIfErrorInMs: 86_400_000,
  failureBackoffInMs: 1_000,
  maxResponseBytes: 262_144,
});

/**
 * Thrown at start-up for a configuration that cannot work; the message names the option and its variable.
 *
 * @example
 * try { createClerkAuth(); } catch (error) { if (error instanceof ClerkAuthConfigError) console.error(error.message); }
 */
export class ClerkAuthConfigError extends Error {
  override readonly name = 'ClerkAuthConfigError';
}

function fail(message: string): never {
  throw new ClerkAuthConfigError(message);
}

function envValue(env: Record<string, string | undefined>, name: string): string | undefined {
  const value = env[name]?.trim();
  return value ? value : undefined;
}

/**
 * `CLERK_AUTHORIZED_PARTIES`, comma-separated: empty entries (a trailing comma) are skipped, but a value that names
 * no party at all (`,`) is refused rather than read as "no check".
 */
function partiesOf(value: string): string[] {
  const parties = value
    .split(',')
    .map((p) => p.trim())
    .filter(Boolean);
  if (parties.length === 0) fail('CLERK_AUTHORIZED_PARTIES is set but names no origin: list them, comma-separated, or unset it');
  return parties;
}

/** The options with unset fields read from the environment. Pure: reads `env`, writes nothing. */
export function withEnvironment(options: ClerkAuthOptions = {}): ClerkAuthOptions {
  const env = options.env ?? process.env;
  const parties = envValue(env, ENV.authorizedParties);
  return {
    ...options,
    publishableKey: options.publishableKey ?? envValue(env, ENV.publishableKey),
    jwksUri: options.jwksUri ?? envValue(env, ENV.jwksUri),
    jwtKey: options.jwtKey ?? envValue(env, ENV.jwtKey),
    secretKey: options.secretKey ?? envValue(env, ENV.secretKey),
    machineSecretKey: options.machineSecretKey ?? envValue(env, ENV.machineSecretKey),
    apiUrl: options.apiUrl ?? envValue(env, ENV.apiUrl),
    authorizedParties: options.authorizedParties ?? (parties === undefined ? undefined : partiesOf(parties)),
  };
}

/**
 * The Frontend API host a publishable key names: `pk_(test|live)_` + base64(`<host>$`).
 * Returns undefined for a string that is not one.
 *
 * @example
 * parsePublishableKey('pk_test_ZXhhbXBsZS5jbGVyay5hY2NvdW50cy5kZXYk'); // { instanceType: 'test', frontendApi: 'example.clerk.accounts.dev' }
 */
export function parsePublishableKey(key: string): { instanceType: 'test' | 'live'; frontendApi: string } | undefined {
  const match = /^pk_(test|live)_([A-Za-z0-9+/=_-]+)$/.exec(key);
  if (!match) return undefined;
  const decoded = Buffer.from(match[2]!, 'base64').toString('utf8');
  if (!decoded.endsWith('$')) return undefined;
  const frontendApi = decoded.slice(0, -1);
  // A host name (with an optional port), nothing else: it becomes a URL we fetch and an issuer we trust.
  if (!/^[a-z0-9.-]+(:\d{1,5})?$/i.test(frontendApi) || !frontendApi.includes('.')) return undefined;
  return { instanceType: match[1] as 'test' | 'live', frontendApi };
}

/** Why a value is not a publishable key, in words that name the usual mistakes. Never echoes the value. */
function whyNotPublishableKey(value: string): string {
  if (/^["'].*["']$/.test(value)) return 'is wrapped in quotes: remove them';
  if (/^sk_(test|live)_/.test(value)) return 'looks like a secret key (sk_…): it takes the publishable key (pk_test_… or pk_live_…)';
  if (/\.\.\.|…/.test(value)) return 'is a placeholder (pk_test_...): copy the key from the Clerk dashboard, API keys';
  if (/^pk_(test|live)_/.test(value)) return 'is truncated or damaged: its body does not decode to a Frontend API host';
  return 'is not a Clerk publishable key (pk_test_… or pk_live_…)';
}

/**
 * The suffix of Clerk's cookie names for this instance (`__session_<suffix>`), as `@clerk/shared`'s
 * `getCookieSuffix`: the first 8 characters of the URL-safe base64 SHA-1 of the publishable key.
 */
export function cookieSuffixOf(publishableKey: string): string {
  return createHash('sha1').update(publishableKey).digest('base64').replace(/\+/g, '-').replace(/\//g, '_').slice(0, 8);
}

/** The hosts on which plain http is fine: this machine (a local issuer, a test). */
const LOOPBACK_HOSTS: ReadonlySet<string> = new Set(['localhost', '127.0.0.1', '[::1]']);

/** How a refusal of an http URL off this machine says where http is fine. */
export const HTTPS_ONLY = 'must use https: (http: only on this machine: localhost, 127.0.0.0/8, [::1])';

/** A URL host name of this machine: localhost and `*.localhost` (RFC 6761), 127.0.0.0/8, [::1] (as URL normalizes them). */
export function isLoopbackHost(hostname: string): boolean {
  return LOOPBACK_HOSTS.has(hostname) || hostname.endsWith('.localhost') || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(hostname);
}

/**
 * A URL keys or the Backend API are fetched from: https, or http on this machine only (over http anyone on the path
 * could serve their own keys, or read the secret key sent along), and no credentials in it (fetch refuses such a
 * URL on every request, quoting it, password included, in its error).
 */
function parseUrl(value: string, option: string): URL {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    fail(`"${option}" must be an absolute https URL`);
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') fail(`"${option}" must be an absolute https URL`);
  if (url.protocol === 'http:' && !isLoopbackHost(url.hostname)) {
    fail(`"${option}" ${HTTPS_ONLY}`);
  }
  if (url.username !== '' || url.password !== '') fail(`"${option}" must not carry a user name or password`);
  return url;
}

/**
 * A list option as Clerk reads it: a string or a list of strings. For `issuer` and `audience`, Clerk drops empty
 * strings (`''`, `[]`, `['']` mean "not set"); for `authorizedParties` only an empty list means "not set". A blank
 * or padded entry (`' '`, `' https://a.com '`) would make Clerk refuse every token: it is a start-up error here
 * rather than a silent "no check". The result is a frozen copy: a caller mutating its array later changes nothing.
 */
function stringList(value: unknown, option: string, dropEmpty: boolean): readonly string[] | undefined {
  if (value === undefined || value === null) return undefined;
  const list: unknown[] = Array.isArray(value) ? value : [value];
  if (!list.every((v) => typeof v === 'string')) fail(`"${option}" must be a string or a list of strings`);
  const kept = dropEmpty ? (list as string[]).filter((v) => v !== '') : [...(list as string[])];
  if (kept.some((v) => v.trim() === '' || v.trim() !== v)) fail(`"${option}" has an empty entry or one with spaces around it`);
  return kept.length > 0 ? Object.freeze(kept) : undefined;
}

/**
 * `authorizedParties` entries as Clerk compares them with `azp`, exactly: the origin the browser sent (`Origin`), so
 * `scheme://host[:port]`, lower case, no default port, path or trailing slash. Anything else would refuse every
 * token, so it is refused here, with the origin it should be.
 */
function origins(parties: readonly string[] | undefined): readonly string[] | undefined {
  for (const party of parties ?? []) {
    let url: URL | undefined;
    try {
      url = new URL(party);
    } catch {
      url = undefined;
    }
    const origin = url && url.host !== '' ? `${url.protocol}//${url.host}` : undefined;
    if (origin === party) continue;
    fail(
      `"authorizedParties (CLERK_AUTHORIZED_PARTIES)" names origins as browsers send them (scheme://host[:port], lower ` +
        `case, no path or trailing slash): ` +
        (origin === undefined ? `"${party}" is not one` : `use "${origin}" for "${party}"`),
    );
  }
  return parties;
}

function duration(value: unknown, option: string, fallback: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isFinite(value) || value < 0) {
    fail(`"${option}" must be a finite, non-negative number`);
  }
  return value;
}

const PEM_MARKERS = /-----(?:BEGIN|END) (?:RSA )?PUBLIC KEY-----/g;

/**
 * `CLERK_JWT_KEY` as Clerk accepts it: a PEM block, the same on one line (spaces for newlines), or the bare base64
 * body that the dashboard's "JWKS Public Key" copy often is. Returns a canonical PEM, or undefined for anything that
 * is not base64 (the key itself is parsed, and must be RSA, when the verifier is built).
 */
export function normalizePem(value: string): string | undefined {
  const body = value.replace(PEM_MARKERS, '').replace(/\s+/g, '');
  if (body.length < 64 || !/^[A-Za-z0-9+/]+={0,2}$/.test(body)) return undefined;
  const lines = body.match(/.{1,64}/g)!;
  return `-----BEGIN PUBLIC KEY-----\n${lines.join('\n')}\n-----END PUBLIC KEY-----\n`;
}

/**
 * The key must be an RSA public key jose will verify with: RS256 needs at least 2048 bits (a shorter key would
 * pass start-up and then refuse every token as malformed).
 */
function checkRsaKey(pem: string): void {
  let key: KeyObject;
  try {
    key = createPublicKey(pem);
  } catch {
    fail('"jwtKey" (CLERK_JWT_KEY) is not a valid PEM public key');
  }
  if (key.asymmetricKeyType !== 'rsa') fail('"jwtKey" (CLERK_JWT_KEY) must be an RSA public key');
  if ((key.asymmetricKeyDetails?.modulusLength ?? 0) < 2048) fail('"jwtKey" (CLERK_JWT_KEY) must be an RSA key of at least 2048 bits');
}

/** The signature algorithms `algorithms` may list: asymmetric ones jose verifies (Clerk signs with RS256). */
const ASYMMETRIC_ALGORITHMS: readonly string[] = ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'EdDSA'];

/** Validate once and decide everything the verifier needs. Throws `ClerkAuthConfigError` naming the option. */
export function resolveOptions(input: ClerkAuthOptions = {}): ResolvedOptions {
  const options = withEnvironment(input);

  let frontendApi: string | undefined;
  let cookieSuffix: string | undefined;
  if (options.publishableKey !== undefined) {
    const parsed = parsePublishableKey(options.publishableKey);
    if (!parsed) fail(`"publishableKey" (CLERK_PUBLISHABLE_KEY) ${whyNotPublishableKey(options.publishableKey)}`);
    frontendApi = parsed.frontendApi;
    cookieSuffix = cookieSuffixOf(options.publishableKey);
  }

  const jwksUrl = options.jwksUri !== undefined ? parseUrl(options.jwksUri, 'jwksUri (CLERK_JWKS_URI)') : undefined;

  let keySource: KeySource;
  if (options.jwtKey !== undefined) {
    if (options.jwtKey.includes('BEGIN RSA PUBLIC KEY')) {
      fail(
        '"jwtKey" (CLERK_JWT_KEY) is a PKCS#1 key (BEGIN RSA PUBLIC KEY); Clerk gives, and verifies with, the SPKI form ' +
          '(BEGIN PUBLIC KEY): copy it from the dashboard, or convert it with openssl rsa -RSAPublicKey_in -pubout',
      );
    }
    const pem = normalizePem(options.jwtKey);
    if (!pem) fail('"jwtKey" (CLERK_JWT_KEY) must be a PEM public key (-----BEGIN PUBLIC KEY-----) or its base64 body');
    checkRsaKey(pem);
    keySource = { kind: 'pem', pem };
  } else if (jwksUrl) {
    keySource = { kind: 'jwks', url: jwksUrl };
  } else if (frontendApi) {
    keySource = { kind: 'jwks', url: new URL(`https://${frontendApi}${JWKS_PATH}`) };
  } else if (options.secretKey !== undefined) {
    if (!/^sk_(test|live)_\S+$/.test(options.secretKey)) fail('"secretKey" (CLERK_SECRET_KEY) is not a Clerk secret key (sk_test_… or sk_live_…)');
    const api = parseUrl(options.apiUrl ?? DEFAULT_API_URL, 'apiUrl (CLERK_API_URL)');
    keySource = {
      kind: 'jwks',
      url: new URL('/v1/jwks', api),
      headers: { Authorization: `Bearer ${options.secretKey}` },
    };
  } else {
    fail(
      'No Clerk key configuration: set one of CLERK_PUBLISHABLE_KEY, CLERK_JWKS_URI, CLERK_JWT_KEY or CLERK_SECRET_KEY ' +
        '(or the options publishableKey, jwksUri, jwtKey, secretKey)',
    );
  }

  let issuers = stringList(options.issuer, 'issuer', true);
  if (!issuers && frontendApi) issuers = Object.freeze([`https://${frontendApi}`]);
  if (!issuers && jwksUrl && jwksUrl.pathname.endsWith(JWKS_PATH)) issuers = Object.freeze([jwksUrl.origin]);

  const algorithms = stringList(options.algorithms, 'algorithms', false) ?? Object.freeze(['RS256']);
  if (algorithms.some((a) => a.toLowerCase() === 'none')) fail('"algorithms" must not include "none"');
  if (algorithms.some((a) => /^hs/i.test(a))) {
    // Clerk never signs with a shared secret; accepting HS* against a public key invites key-confusion forgery.
    fail('"algorithms" must not include HMAC algorithms (HS256/HS384/HS512)');
  }
  const unknown = algorithms.find((a) => !ASYMMETRIC_ALGORITHMS.includes(a));
  if (unknown !== undefined) {
    fail(`"algorithms" lists ${JSON.stringify(unknown.slice(0, 16))}, which this library does not verify with; use ${ASYMMETRIC_ALGORITHMS.join(', ')}`);
  }
  if (keySource.kind === 'pem' && !algorithms.some((a) => /^(RS|PS)/.test(a))) {
    // Every token would be refused: an RSA key verifies RS* and PS* signatures only.
    fail('"algorithms" must include an RSA algorithm (RS256, Clerk\'s) for the RSA key of "jwtKey" (CLERK_JWT_KEY)');
  }

  const cache = options.tokenCache;
  if (cache !== undefined && cache !== false && (!Number.isInteger(cache) || cache < 0)) {
    fail('"tokenCache" must be a non-negative integer or false');
  }
  if (options.treatPendingAsSignedOut !== undefined && typeof options.treatPendingAsSignedOut !== 'boolean') {
    fail('"treatPendingAsSignedOut" must be a boolean');
  }
  if (options.now !== undefined && typeof options.now !== 'function') fail('"now" must be a function');
  if (options.realm !== undefined && (typeof options.realm !== 'string' || !/^[\x20-\x7e]+$/.test(options.realm))) {
    // It goes into a response header: printable ASCII only.
    fail('"realm" must be a non-empty string of printable ASCII characters');
  }

  const accepted = acceptsMask(options.acceptsToken, 'acceptsToken', SESSION_ONLY);
  const b = options.backendApi ?? {};
  const backendApi: Required<BackendApiOptions> = Object.freeze({
    cacheInMs: duration(b.cacheInMs, 'backendApi.cacheInMs', 10_000),
    timeoutInMs: duration(b.timeoutInMs, 'backendApi.timeoutInMs', 5_000),
    failureBackoffInMs: duration(b.failureBackoffInMs, 'backendApi.failureBackoffInMs', 1_000),
  });
  if (options.machineSecretKey !== undefined && (typeof options.machineSecretKey !== 'string' || !/^\S+$/.test(options.machineSecretKey))) {
    fail('"machineSecretKey" (CLERK_MACHINE_SECRET_KEY) must be a non-empty string without spaces');
  }
  if ((accepted & bitOf('api_key')) !== 0 && options.secretKey === undefined) {
    // API keys are always opaque: without the secret key every one would be refused.
    fail('"acceptsToken" includes "api_key", which the Backend API verifies: set "secretKey" (CLERK_SECRET_KEY)');
  }

  const j = options.jwks ?? {};
  const jwks: Required<JwksOptions> = Object.freeze({
    cacheMaxAgeInMs: duration(j.cacheMaxAgeInMs, 'jwks.cacheMaxAgeInMs', DEFAULT_JWKS_OPTIONS.cacheMaxAgeInMs),
    cooldownInMs: duration(j.cooldownInMs, 'jwks.cooldownInMs', DEFAULT_JWKS_OPTIONS.cooldownInMs),
    timeoutInMs: Math.round(duration(j.timeoutInMs, 'jwks.timeoutInMs', DEFAULT_JWKS_OPTIONS.timeoutInMs)),
    staleIfErrorInMs: duration(j.staleIfErrorInMs, 'jwks.staleIfErrorInMs', DEFAULT_JWKS_OPTIONS.staleIfErrorInMs),
    failureBackoffInMs: duration(j.failureBackoffInMs, 'jwks.failureBackoffInMs', DEFAULT_JWKS_OPTIONS.failureBackoffInMs),
    maxResponseBytes: duration(j.maxResponseBytes, 'jwks.maxResponseBytes', DEFAULT_JWKS_OPTIONS.maxResponseBytes),
  });

  return Object.freeze({
    keySource,
    issuers,
    audiences: stringList(options.audience, 'audience', true),
    // An empty list means "no check", as in Clerk.
    authorizedParties: origins(stringList(options.authorizedParties, 'authorizedParties (CLERK_AUTHORIZED_PARTIES)', false)),
    clockSkewInMs: duration(options.clockSkewInMs, 'clockSkewInMs', 5_000),
    treatPendingAsSignedOut: options.treatPendingAsSignedOut ?? true,
    algorithms,
    tokenCacheSize: cache === false ? 0 : (cache ?? 10_000),
    jwks,
    realm: options.realm ?? 'api',
    now: options.now ?? Date.now,
    secretKey: options.secretKey,
    cookieSuffix,
    apiUrl: parseUrl(options.apiUrl ?? DEFAULT_API_URL, 'apiUrl (CLERK_API_URL)').href.replace(/\/$/, ''),
    acceptsToken: accepted,
    machineSecretKey: options.machineSecretKey,
    backendApi,
  });
}
