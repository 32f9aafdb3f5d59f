/**
 * Where the signing keys come from, built once per verifier:
 * - a PEM public key (`jwtKey`): imported once, never a fetch;
 * - a remote JWKS: jose's `createRemoteJWKSet` (single flight, cache, cooldown for unknown kids), plus what it
 *   lacks: a cap on the response size, a back-off after failed fetches, and stale-if-error (keys fetched earlier
 *   keep verifying through an outage, for a bounded time).
 *
 * Our own timing (back-off, stale-if-error, Retry-After) reads the verifier's clock (`now`, the `now` option), so
 * tests drive it without sleeping. jose's own timers (`cacheMaxAge`, the unknown-kid cooldown, the fetch timeout)
 * run on the real clock: tests of those use short durations instead.
 */
import { createPublicKey } from 'node:crypto';
import {
  createLocalJWKSet,
  createRemoteJWKSet,
  customFetch,
  importSPKI,
  jwksCache,
  type CryptoKey,
  type ExportedJWKSCache,
  type FlattenedJWSInput,
  type JSONWebKeySet,
  type JWSHeaderParameters,
} from 'jose';
import { ClerkAuthError } from './errors.js';
import { ClerkAuthConfigError, type JwksOptions, type KeySource } from './options.js';

/** The key of a token; a key known already comes back as is, which spares jose one promise per verification. */
export type KeyResolver = (header: JWSHeaderParameters, token: FlattenedJWSInput) => CryptoKey | Promise<CryptoKey>;

export interface KeyResolverOptions {
  realm: string;
  jwks: Required<JwksOptions>;
  /** The verifier's clock, in milliseconds since the epoch: back-off, stale-if-error and Retry-After read it. */
  now: () => number;
  /** Called when a refetched key set differs from the one before (a key rotated in or out). */
  onKeySetChange?: () => void;
}

export function createKeyResolver(source: KeySource, options: KeyResolverOptions): KeyResolver {
  return source.kind === 'pem' ? pemResolver(source.pem) : new RemoteKeySet(source.url, source.headers, options).getKey;
}

function pemResolver(pem: string): KeyResolver {
  // Parse synchronously so a broken CLERK_JWT_KEY fails at start-up, not on the first request.
  let keyType: string | undefined;
  try {
    keyType = createPublicKey(pem).asymmetricKeyType;
  } catch {
    throw new ClerkAuthConfigError('"jwtKey" (CLERK_JWT_KEY) is not a valid PEM public key');
  }
  if (keyType !== 'rsa') throw new ClerkAuthConfigError('"jwtKey" (CLERK_JWT_KEY) must be an RSA public key');
  const imported = new Map<string, CryptoKey | Promise<CryptoKey>>();
  return (header) => {
    // The algorithm is already checked against the allow-list; one import per algorithm, then reused.
    const alg = header.alg!;
    let key = imported.get(alg);
    if (!key) {
      const importing = importSPKI(pem, alg);
      key = importing;
      imported.set(alg, importing);
      importing.then((done) => void (imported.get(alg) === importing && imported.set(alg, done)), () => imported.delete(alg));
    }
    return key;
  };
}

/** A failed JWKS fetch, as seen by our fetch wrapper. Its message names no URL parts beyond the reason. */
class JwksFetchError extends Error {
  override readonly name = 'JwksFetchError';
}

class RemoteKeySet {
  /** jose keeps the last good key set and its time here (its `jwksCache` hook); we read it for stale-if-error. */
  private readonly cache: Partial<ExportedJWKSCache> = {};
  private readonly remote: ReturnType<typeof createRemoteJWKSet>;
  private stale: { jwks: JSONWebKeySet; local: ReturnType<typeof createLocalJWKSet> } | undefined;
  private blockedUntil = 0;
  private consecutiveFailures = 0;
  /**
   * When (on our clock) the key set now in jose's cache was fetched. jose's own `uat` is on the real clock, which
   * an injected clock does not move, so stale-if-error reads this instead.
   */
  private fetchedAt: number | undefined;
  /** Keys already resolved from the current key set, by kid and alg: skips jose's search and import per token. */
  private resolved = new Map<string, CryptoKey>();
  private resolvedFrom: JSONWebKeySet | undefined;
  /** The body of the last good key set, to tell a changed one. */
  private lastKeySet: string | undefined;

  constructor(
    url: URL,
    headers: Record<string, string> | undefined,
    private readonly options: KeyResolverOptions,
  ) {
    const { jwks } = options;
    this.remote = createRemoteJWKSet(url, {
      cacheMaxAge: jwks.cacheMaxAgeInMs,
      cooldownDuration: jwks.cooldownInMs,
      timeoutDuration: jwks.timeoutInMs,
      headers,
      [jwksCache]: this.cache as ExportedJWKSCache,
      [customFetch]: this.fetch,
    });
  }

  readonly getKey: KeyResolver = (header, token) => {
    // As Clerk: a key set is searched by kid only; a token without one is not a Clerk session token.
    if (typeof header.kid !== 'string' || header.kid.length === 0) {
      throw new ClerkAuthError('token-invalid', { realm: this.options.realm, message: 'The token has no key id (kid).' });
    }
    const memoKey = `${header.kid} ${header.alg}`;
    if (this.resolvedFrom !== undefined && this.resolvedFrom === this.cache.jwks && this.remote.fresh) {
      const known = this.resolved.get(memoKey);
      if (known) return known;
    }
    return this.resolve(header, token, memoKey);
  };

  /** A key not resolved from the current key set yet: jose's search (and fetch), else a stale key, else the failure. */
  private async resolve(header: JWSHeaderParameters, token: FlattenedJWSInput, memoKey: string): Promise<CryptoKey> {
    try {
      const key = await this.remote(header, token);
      if (this.resolvedFrom !== this.cache.jwks) {
        this.resolvedFrom = this.cache.jwks;
        this.resolved = new Map();
      }
      this.resolved.set(memoKey, key);
      return key;
    } catch (error) {
      const code = (error as { code?: unknown }).code;
      if (code === 'ERR_JWKS_NO_MATCHING_KEY' || code === 'ERR_JWKS_MULTIPLE_MATCHING_KEYS') {
        // No fetch was attempted (cooldown) or the fresh set has no such key.
        throw new ClerkAuthError('jwk-kid-mismatch', { realm: this.options.realm });
      }
      // Anything else is the key set failing to load: a timeout, a network TypeError, a non-200, a body that is
      // not a key set or too large, or our back-off. Keys we had before keep verifying for a while.
      const staleKey = await this.fromStale(header, token);
      if (staleKey) return staleKey;
      throw new ClerkAuthError('jwk-remote-failed-to-load', {
        realm: this.options.realm,
        cause: error,
        retryAfterSeconds: (this.blockedUntil - this.options.now()) / 1000,
      });
    }
  }

  private async fromStale(header: JWSHeaderParameters, token: FlattenedJWSInput): Promise<CryptoKey | undefined> {
    const { jwks } = this.cache;
    // Keys fetched within the last `staleIfErrorInMs` (exclusive): a window of 0 turns stale-if-error off.
    if (!jwks || this.fetchedAt === undefined || this.options.now() - this.fetchedAt >= this.options.jwks.staleIfErrorInMs) {
      return undefined;
    }
    if (this.stale?.jwks !== jwks) this.stale = { jwks, local: createLocalJWKSet(jwks) };
    try {
      return await this.stale.local(header, token);
    } catch {
      // An unknown kid while the key set cannot be fetched: the outage, not the token, is the reason.
      return undefined;
    }
  }

  /** The only place the network is touched: back-off, size cap, and shape check, then a Response jose re-reads. */
  private readonly fetch = async (url: string, init: RequestInit): Promise<Response> => {
    if (this.options.now() < this.blockedUntil) throw new JwksFetchError('in back-off after a failed fetch');
    try {
      const response = await fetch(url, init);
      const text = await readCapped(response, this.options.jwks.maxResponseBytes);
      if (response.status !== 200) throw new JwksFetchError(`the JWKS endpoint answered HTTP ${response.status}`);
      let body: unknown;
      try {
        body = JSON.parse(text);
      } catch {
        throw new JwksFetchError('the JWKS endpoint answered something that is not JSON');
      }
      if (!isKeySet(body)) throw new JwksFetchError('the JWKS endpoint answered JSON that is not a key set');
      this.consecutiveFailures = 0;
      this.blockedUntil = 0;
      // Whatever triggered the refetch (age, an unknown kid), a different key set may have dropped a key.
      if (this.lastKeySet !== undefined && this.lastKeySet !== text) this.options.onKeySetChange?.();
      this.lastKeySet = text;
      // jose caches this body (its `jwks`) as soon as it has parsed it; the shape was checked above as jose does.
      this.fetchedAt = this.options.now();
      return new Response(text, { status: 200, headers: { 'content-type': 'application/json' } });
    } catch (error) {
      this.consecutiveFailures += 1;
      const { failureBackoffInMs, cooldownInMs } = this.options.jwks;
      const backoff = Math.min(failureBackoffInMs * 2 ** (this.consecutiveFailures - 1), Math.max(cooldownInMs, failureBackoffInMs));
      this.blockedUntil = this.options.now() + backoff;
      throw error;
    }
  };
}

function isKeySet(value: unknown): value is JSONWebKeySet {
  return (
    typeof value === 'object' &&
    value !== null &&
    Array.isArray((value as { keys?: unknown }).keys) &&
    (value as { keys: unknown[] }).keys.every((k) => typeof k === 'object' && k !== null)
  );
}

/** Read a body, refusing one over `maxBytes` (by its Content-Length, or as it streams). */
async function readCapped(response: Response, maxBytes: number): Promise<string> {
  const declared = Number(response.headers.get('content-length'));
  if (Number.isFinite(declared) && declared > maxBytes) {
    await response.body?.cancel().catch(() => undefined);
    throw new JwksFetchError('the JWKS endpoint answered a body over the size limit');
  }
  if (!response.body) return '';
  const reader = response.body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > maxBytes) {
      await reader.cancel().catch(() => undefined);
      throw new JwksFetchError('the JWKS endpoint answered a body over the size limit');
    }
    chunks.push(value);
  }
  return Buffer.concat(chunks).toString('utf8');
}
