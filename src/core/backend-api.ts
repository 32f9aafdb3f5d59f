/**
 * Opaque machine tokens (`mt_…` M2M tokens, `oat_…` OAuth access tokens, `ak_…` API keys) carry nothing to verify
 * locally: Clerk's Backend API says whether they are valid. The calls are made by `@clerk/backend`'s own
 * `verifyMachineAuthToken` (its requests, its response shapes); this module bounds them:
 * - an answer is trusted for `backendApi.cacheInMs` (a revoked token stops working within that bound), a refusal too;
 * - requests carrying the same token at once share one call (single flight);
 * - after a failed call (network, timeout, 5xx, 429, a refused secret key) no call for a backoff that doubles per
 *   consecutive failure up to 30 s; meanwhile tokens not in the cache get 503 `backend-api-failed-to-load`, never a
 *   401 for an outage and never a call per request.
 */
import { verifyMachineAuthToken } from '@clerk/backend/internal';
import { BoundedMap } from './bounded-map.js';
import { ClerkAuthError, type ClerkAuthErrorCode } from './errors.js';
import type { ResolvedOptions } from './options.js';
import { Outage, withTimeout } from './timeout.js';
import type { MachineTokenType } from './token-types.js';
import { machineUser, oauthAudience, sealVerified, type MachineData, type Verified } from './verifier.js';

/** Answers kept at most; past it the oldest goes first. */
const MAX_ENTRIES = 10_000;
/** The longest backoff after consecutive failures. */
const MAX_BACKOFF_IN_MS = 30_000;
/**
 * Backend API calls in flight at most. Each distinct opaque token costs a call, so without a bound a client sending
 * many random `ak_…` tokens at once would spend the app's Backend API rate limit (and then everyone's opaque tokens
 * would meet the 429 backoff). Past it, a new token gets 503 with `Retry-After: 1`.
 */
export const MAX_CALLS_IN_FLIGHT = 16;

/** Opaque Clerk tokens are short; anything longer is refused without a call. */
const MAX_OPAQUE_LENGTH = 512;

interface Answer {
  at: number;
  result: Verified | ClerkAuthError;
}

/** A frozen copy of the Backend API's answer, arrays and objects within included: it is shared by every request. */
function deepFrozenCopy<T>(value: T): T {
  if (typeof value !== 'object' || value === null) return value;
  const copy = (Array.isArray(value) ? value.map(deepFrozenCopy) : Object.fromEntries(Object.entries(value).map(([k, v]) => [k, deepFrozenCopy(v)]))) as T;
  return Object.freeze(copy);
}

export class BackendApiVerifier {
  private readonly answers = new BoundedMap<string, Answer>(MAX_ENTRIES);
  private readonly inFlight = new Map<string, Promise<Verified>>();
  private blockedUntil = 0;
  /** HTTP calls not settled yet, timed-out ones included (a timeout stops waiting, not the request). */
  private openCalls = 0;
  private backoff: number;

  constructor(private readonly options: ResolvedOptions) {
    this.backoff = options.backendApi.failureBackoffInMs;
  }

  private error(code: ClerkAuthErrorCode, message?: string, cause?: unknown, retryAfterSeconds?: number): ClerkAuthError {
    return new ClerkAuthError(code, { realm: this.options.realm, message, cause, retryAfterSeconds });
  }

  /** The answer given for this token within the cache period: the verified token, or the refusal. */
  cached(token: string): Verified | ClerkAuthError | undefined {
    const answer = this.answers.get(token);
    if (!answer) return undefined;
    const now = this.options.now();
    if (now - answer.at >= this.options.backendApi.cacheInMs || now < answer.at) {
      this.answers.delete(token);
      return undefined;
    }
    const { result } = answer;
    // A token the Backend API said expires now has expired, whatever the cache period says.
    if (!(result instanceof ClerkAuthError) && result.user.exp * 1000 <= now - this.options.clockSkewInMs) {
      this.answers.delete(token);
      return undefined;
    }
    return result;
  }

  /** Resolves with the verified machine token; rejects with a `ClerkAuthError` (401, or 503 for an outage). */
  verify(token: string, type: MachineTokenType): Promise<Verified> {
    const cached = this.cached(token);
    if (cached instanceof ClerkAuthError) return Promise.reject(cached);
    if (cached) return Promise.resolve(cached);
    const pending = this.inFlight.get(token);
    if (pending) return pending;
    if (this.inFlight.size >= MAX_CALLS_IN_FLIGHT || this.openCalls >= MAX_CALLS_IN_FLIGHT) {
      return Promise.reject(this.error('backend-api-failed-to-load', 'Too many machine tokens are being verified at once; try again.', undefined, 1));
    }
    const result = this.call(token, type);
    this.inFlight.set(token, result);
    const forget = () => {
      if (this.inFlight.get(token) === result) this.inFlight.delete(token);
    };
    result.then(forget, forget);
    return result;
  }

  private remember(token: string, result: Verified | ClerkAuthError, at: number): void {
    if (this.options.backendApi.cacheInMs === 0) return;
    this.answers.set(token, { at, result });
  }

  private async call(token: string, type: MachineTokenType): Promise<Verified> {
    const { options } = this;
    if (token.length > MAX_OPAQUE_LENGTH || !/^[A-Za-z0-9_-]+$/.test(token)) {
      throw this.error('token-invalid', 'The machine token is malformed.');
    }
    if (!options.secretKey && !(type === 'm2m_token' && options.machineSecretKey)) {
      // Said once at start-up (CLERK_SECRET_KEY is missing); the client learns only that the token is not taken.
      throw this.error('token-invalid', 'Opaque machine tokens are not accepted here.');
    }
    const now = options.now();
    if (now < this.blockedUntil) {
      throw this.error('backend-api-failed-to-load', undefined, undefined, (this.blockedUntil - now) / 1000);
    }

    let outcome: Awaited<ReturnType<typeof verifyMachineAuthToken>>;
    try {
      const call = verifyMachineAuthToken(token, {
        secretKey: options.secretKey,
        machineSecretKey: type === 'm2m_token' ? options.machineSecretKey : undefined,
        apiUrl: options.apiUrl,
      } as Parameters<typeof verifyMachineAuthToken>[1]);
      this.openCalls += 1;
      const settled = () => {
        this.openCalls -= 1;
      };
      call.then(settled, settled);
      outcome = await withTimeout(
        call,
        options.backendApi.timeoutInMs,
      );
    } catch (error) {
      throw this.failed(error);
    }

    const at = options.now();
    const problem = outcome.errors?.[0];
    if (problem || !outcome.data) {
      const status = (problem as { status?: number } | undefined)?.status;
      const code = (problem as { code?: string } | undefined)?.code;
      // 4xx other than a refused secret key and rate limiting: the token is unknown. Everything else: an outage.
      // (408 and 425 are a proxy's or a server's timing, not a verdict on the token.)
      if (status !== undefined && status >= 400 && status < 500 && ![401, 403, 408, 425, 429].includes(status)) {
        const refused = this.error('token-invalid', 'The machine token is not known to Clerk.');
        this.remember(token, refused, at);
        throw refused;
      }
      if (code === 'token-invalid' && status === undefined) throw this.error('token-invalid', 'The machine token is malformed.');
      throw this.failed(new Error(status === 401 || status === 403 ? `the Backend API refused the secret key (HTTP ${status})` : status ? `the Backend API answered HTTP ${status}` : 'the Backend API could not be reached'));
    }

    const answer = outcome.data as unknown as MachineData & { revoked?: boolean; expired?: boolean };
    const data = type === 'oauth_token' && typeof answer === 'object' && answer !== null ? { ...answer, aud: oauthAudience(answer.aud) } : answer;
    if (typeof data !== 'object' || data === null || typeof data.id !== 'string') {
      // A 200 that is not a token (an HTML page from a proxy, say): the Backend API did not answer; not the token's fault.
      throw this.failed(new Error('the Backend API answered something that is not a token'));
    }
    this.backoff = options.backendApi.failureBackoffInMs;
    let result: Verified | ClerkAuthError;
    if (outcome.tokenType !== type || typeof data.subject !== 'string' || data.subject.length === 0) {
      result = this.error('token-invalid', 'The machine token is not known to Clerk.');
    } else if (data.revoked === true) {
      result = this.error('token-revoked');
    } else if (data.expired === true || (typeof data.expiration === 'number' && data.expiration <= at - options.clockSkewInMs)) {
      result = this.error('token-expired');
    } else if (type === 'oauth_token' && options.audiences && !(data.aud ?? []).some((a) => options.audiences!.includes(a))) {
      result = this.error('token-invalid-audience', 'The OAuth access token is not meant for this audience.');
    } else {
      const expSeconds = typeof data.expiration === 'number' ? data.expiration / 1000 : Number.MAX_SAFE_INTEGER;
      result = sealVerified({
        tokenType: type,
        user: machineUser(data.subject, expSeconds, String(data.id ?? '')),
        machine: Object.freeze({ tokenType: type, data: deepFrozenCopy(data), token }),
      });
    }
    this.remember(token, result, at);
    if (result instanceof ClerkAuthError) throw result;
    return result;
  }

  /** Starts (or extends) the backoff and names the outage; the cause is ours, never the token. */
  private failed(error: unknown): ClerkAuthError {
    const now = this.options.now();
    this.blockedUntil = now + this.backoff;
    const retry = this.backoff / 1000;
    this.backoff = Math.min(Math.max(this.backoff * 2, 1), MAX_BACKOFF_IN_MS);
    const reason = error instanceof Outage ? error.message : error instanceof Error ? error.message : 'the Backend API call failed';
    return this.error('backend-api-failed-to-load', undefined, new Error(reason), retry);
  }
}
