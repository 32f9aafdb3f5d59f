/**
 * The fake Clerk Backend API of the testing kit: users, and the verify endpoints of machine tokens (M2M tokens,
 * OAuth access tokens, API keys), answering with the JSON `@clerk/backend`'s own client sends and parses.
 *
 * Internal to `clerk-mastra-auth/testing`: {@link createTestIssuer} mounts it on the issuer's HTTP server and exposes
 * its methods on the {@link TestIssuer}. Sources for the shapes: `@clerk/backend` 3.25 (`User.fromJSON`,
 * `M2MToken.fromJSON`, `IdPOAuthAccessToken.fromJSON`, `APIKey.fromJSON`, `buildRequest`, `createBackendApiClient`,
 * `handleClerkAPIError`) and `packages/backend/src/fixtures` of clerk/javascript.
 *
 * @packageDocumentation
 */
import { randomBytes } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';

/**
 * How the fake Backend API misbehaves (its `/v1/jwks` excepted, which follows `setJwksFailure`); `null` answers
 * normally:
 * - `'down'`: the connection is reset before any answer (what a fetch sees of a refused or dropped connection);
 * - `'500'`: 500 with Clerk's error JSON;
 * - `'429'`: 429 with Clerk's error JSON and `Retry-After: 1`;
 * - `'slow'`: never answers, until the mode changes (held requests then get the new mode's answer) or the issuer closes;
 * - `'garbage'`: 200 `text/html` that is not JSON (a proxy's or captive portal's page);
 * - `'invalid-json'`: 200 `application/json` whose body does not parse.
 */
export type BackendApiFailureMode = 'down' | '500' | '429' | 'slow' | 'garbage' | 'invalid-json' | null;

/** A user of the fake Backend API (see {@link TestIssuer.addUser}), served by `GET /v1/users/:id`. */
export interface TestUser {
  /** User id, `user_...`. Required. */
  id: string;
  /** `first_name`. Default `null`. */
  firstName?: string | null | undefined;
  /** `last_name`. Default `null`. */
  lastName?: string | null | undefined;
  /** `username`. Default `null`. */
  username?: string | null | undefined;
  /** Primary email address, the only one of `email_addresses` (verified). Default: none. */
  email?: string | undefined;
  /** `image_url`; `has_image` is true when given. Default: Clerk's default avatar URL. */
  imageUrl?: string | undefined;
  /** `public_metadata`. Default `{}`. */
  publicMetadata?: Record<string, unknown> | undefined;
  /** `private_metadata`. Default `{}`. */
  privateMetadata?: Record<string, unknown> | undefined;
}

/** Options of {@link TestIssuer.createOpaqueM2MToken}. */
export interface OpaqueM2MTokenOptions {
  /** The machine the token authenticates: its `subject`, `mch_...`. Default `'mch_test'`. */
  machineId?: string | undefined;
  /** `scopes`: the ids of the machines this one may call (Clerk's M2M scopes are machine ids). Default `[]`. */
  scopes?: string[] | undefined;
  /** `claims`: custom claims given at creation. Default `null`. */
  claims?: Record<string, unknown> | null | undefined;
  /** Lifetime from now. Default 3600; `null` never expires (`expiration: null`); a negative value makes it expired. */
  expiresInSeconds?: number | null | undefined;
}

/** Options of {@link TestIssuer.createOpaqueOAuthToken}. */
export interface OpaqueOAuthTokenOptions {
  /** The user who granted the token: its `subject`, `user_...`. Default `'user_test'`. */
  userId?: string | undefined;
  /** `client_id` of the OAuth application. Default `'client_test'`. */
  clientId?: string | undefined;
  /** Granted `scopes`. Default `['profile', 'email']`. */
  scopes?: string[] | undefined;
  /** `aud` of the token (a string becomes a one-element list). Default: none (no `aud` in the JSON). */
  audience?: string | string[] | undefined;
  /** Lifetime from now. Default 3600; `null` never expires; a negative value makes it expired. */
  expiresInSeconds?: number | null | undefined;
}

/** Options of {@link TestIssuer.createApiKey}. */
export interface ApiKeyOptions {
  /** Owner of the key: a user (`user_...`) or an organization (`org_...`). Default `'user_test'`. */
  subject?: string | undefined;
  /** `name` of the key. Default `'test-key'`. */
  name?: string | undefined;
  /** `description`. Default `null`. */
  description?: string | null | undefined;
  /** `scopes`. Default `[]`. */
  scopes?: string[] | undefined;
  /** `claims`. Default `null`. */
  claims?: Record<string, unknown> | null | undefined;
  /** Lifetime from now. Default `null`: API keys do not expire unless asked to; a negative value makes it expired. */
  expiresInSeconds?: number | null | undefined;
  /** `created_by`: the user who created it. Default: the subject when it is a user, else `null`. */
  createdBy?: string | null | undefined;
}

/**
 * How the verify endpoints answer a token that exists but is revoked or expired:
 * - `'not-found'` (default): 404 `resource_not_found`, as for an unknown token: what the real Backend API does (see
 *   `answerVerify`);
 * - `'flags'`: 200 with the resource's JSON, `revoked: true` / `expired: true`: the fields Clerk's JSON has, for
 *   testing that a verifier does not trust a 200 blindly.
 */
export type InactiveTokenAnswer = 'not-found' | 'flags';

/** The clock, keys and failure switch the fake Backend API shares with its issuer. */
export interface BackendApiConfig {
  /** The instance's secret key: every endpoint accepts it as `Authorization: Bearer <secretKey>`. */
  secretKey: string;
  /** The machine secret key: `POST /m2m_tokens/verify` also accepts it. */
  machineSecretKey: string;
  /** Milliseconds since the epoch: expiry of opaque tokens is judged by it. */
  clock: () => number;
}

type Kind = 'm2m_token' | 'oauth_token' | 'api_key';

interface StoredToken {
  kind: Kind;
  id: string;
  subject: string;
  scopes: string[];
  claims: Record<string, unknown> | null;
  /** Expiration in ms since the epoch, or null for none. */
  expiration: number | null;
  createdAt: number;
  updatedAt: number;
  revoked: boolean;
  revocationReason: string | null;
  clientId?: string;
  audience?: string[];
  name?: string;
  description?: string | null;
  createdBy?: string | null;
  lastUsedAt?: number | null;
}

/** The fake Backend API as the issuer uses it. */
export interface BackendApi {
  /** Answers `req` when its path belongs to the Backend API (returns true), else returns false and does nothing. */
  handle(req: IncomingMessage, res: ServerResponse, path: string): boolean;
  addUser(user: TestUser): Record<string, unknown>;
  createOpaqueM2MToken(options?: OpaqueM2MTokenOptions): string;
  createOpaqueOAuthToken(options?: OpaqueOAuthTokenOptions): string;
  createApiKey(options?: ApiKeyOptions): string;
  revokeToken(token: string, reason?: string | null): void;
  describeToken(token: string): Record<string, unknown> | undefined;
  setFailure(mode: BackendApiFailureMode): void;
  setInactiveTokenAnswer(answer: InactiveTokenAnswer): void;
  /** Counts one request under `path` (for `/v1/jwks`, which the issuer answers itself). */
  count(path: string): void;
  /** Requests counted under a path (see {@link TestIssuer.backendApiCalls}). */
  calls(path?: string): number;
  resetCalls(): void;
  /** Drops requests held by `'slow'`; the server closing their sockets ends them. */
  close(): void;
}

/** The paths of the Backend API, as `@clerk/backend` builds them: see {@link normalizePath}. */
const M2M_VERIFY = '/m2m_tokens/verify';
const OAUTH_VERIFY = '/oauth_applications/access_tokens/verify';
const API_KEY_VERIFY = '/api_keys/verify';
const USERS = '/users/';
/** Request bodies over this size are refused (413): nothing Clerk's client sends comes close. */
const MAX_BODY_BYTES = 64 * 1024;

const BASE62 = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';

/** `length` random characters of [0-9A-Za-z] (the alphabet of Clerk's ids), without modulo bias worth mentioning. */
function base62(length: number): string {
  const bytes = randomBytes(length * 2);
  let out = '';
  for (let i = 0; out.length < length && i < bytes.length; i += 1) {
    const byte = bytes[i] ?? 0;
    if (byte < 248) out += BASE62[byte % 62];
  }
  while (out.length < length) out += BASE62[randomBytes(1)[0]! % 62];
  return out;
}

/** A Clerk-style id: `<prefix>_` + 27 base62 characters, e.g. `mt_2xKa9Bgv7NxMRDFyQw8LpZ3cTmU`. */
const clerkId = (prefix: string): string => `${prefix}_${base62(27)}`;

/**
 * `@clerk/backend` calls the machine verify endpoints without the `/v1` version segment
 * (`createBackendApiClient` builds `apiKeys`, `idPOAuthAccessToken` and `m2m` with `skipApiVersionInUrl: true`), and
 * everything else with it. Both spellings are served and counted under the same path: the one without `/v1`.
 */
function normalizePath(path: string): string {
  return path === '/v1' ? '/' : path.startsWith('/v1/') ? path.slice(3) : path;
}

/** Clerk's error JSON (`ClerkAPIErrorJSON`), which `@clerk/backend`'s `parseErrors` reads. */
function clerkError(code: string, message: string, longMessage: string): Record<string, unknown> {
  return {
    errors: [{ code, message, long_message: longMessage, meta: {} }],
    clerk_trace_id: base62(32).toLowerCase(),
  };
}

function send(res: ServerResponse, status: number, contentType: string, body: string, headers: Record<string, string> = {}): void {
  res.writeHead(status, {
    'content-type': contentType,
    'cache-control': 'no-store',
    'content-length': Buffer.byteLength(body),
    ...headers,
  });
  res.end(body);
}

// Exactly `application/json`: `@clerk/backend` parses a body as JSON only when the content type is that string.
const sendJson = (res: ServerResponse, status: number, value: unknown, headers?: Record<string, string>): void =>
  send(res, status, 'application/json', JSON.stringify(value), headers);

/** Reads a request body up to {@link MAX_BODY_BYTES}; resolves `undefined` when it is larger or the request aborts. */
function readBody(req: IncomingMessage): Promise<string | undefined> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let done = false;
    const finish = (value: string | undefined): void => {
      if (done) return;
      done = true;
      resolve(value);
    };
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > MAX_BODY_BYTES) {
        finish(undefined);
        return;
      }
      chunks.push(chunk);
    });
    req.on('end', () => finish(Buffer.concat(chunks).toString('utf8')));
    req.on('error', () => finish(undefined));
    req.on('close', () => finish(size > MAX_BODY_BYTES ? undefined : Buffer.concat(chunks).toString('utf8')));
  });
}

/** Builds the Clerk `UserJSON` of a {@link TestUser}: every field `User.fromJSON` reads, with Clerk's defaults. */
function userJson(user: TestUser, now: number): Record<string, unknown> {
  const emailId = user.email === undefined ? null : clerkId('idn');
  const seconds = now; // Clerk's user timestamps are milliseconds since the epoch.
  return {
    object: 'user',
    id: user.id,
    external_id: null,
    username: user.username ?? null,
    first_name: user.firstName ?? null,
    last_name: user.lastName ?? null,
    image_url: user.imageUrl ?? 'https://img.clerk.com/eyJ0eXBlIjoiZGVmYXVsdCJ9',
    has_image: user.imageUrl !== undefined,
    primary_email_address_id: emailId,
    primary_phone_number_id: null,
    primary_web3_wallet_id: null,
    password_enabled: false,
    two_factor_enabled: false,
    totp_enabled: false,
    backup_code_enabled: false,
    email_addresses:
      user.email === undefined
        ? []
        : [
            {
              object: 'email_address',
              id: emailId,
              email_address: user.email,
              reserved: false,
              verification: { status: 'verified', strategy: 'admin', attempts: null, expire_at: null },
              linked_to: [],
              created_at: seconds,
              updated_at: seconds,
            },
          ],
    phone_numbers: [],
    web3_wallets: [],
    passkeys: [],
    external_accounts: [],
    saml_accounts: [],
    enterprise_accounts: [],
    public_metadata: { ...user.publicMetadata },
    private_metadata: { ...user.privateMetadata },
    unsafe_metadata: {},
    banned: false,
    locked: false,
    lockout_expires_in_seconds: null,
    verification_attempts_remaining: 100,
    created_at: seconds,
    updated_at: seconds,
    last_sign_in_at: null,
    last_active_at: null,
    delete_self_enabled: true,
    create_organization_enabled: true,
    create_organizations_limit: null,
    legal_accepted_at: null,
    locale: null,
  };
}

function assertStrings(list: unknown, name: string): asserts list is string[] | undefined {
  if (list !== undefined && (!Array.isArray(list) || list.some((item) => typeof item !== 'string'))) {
    throw new TypeError(`"${name}" must be a list of strings.`);
  }
}

function expirationOf(now: number, seconds: number | null | undefined, fallback: number | null, name: string): number | null {
  const value = seconds === undefined ? fallback : seconds;
  if (value === null) return null;
  if (typeof value !== 'number' || !Number.isFinite(value)) throw new TypeError(`"${name}" must be a finite number or null.`);
  return now + value * 1000;
}

/** Creates the fake Backend API (see the module comment). */
export function createBackendApi(config: BackendApiConfig): BackendApi {
  const { secretKey, machineSecretKey, clock } = config;
  const users = new Map<string, Record<string, unknown>>();
  const tokens = new Map<string, StoredToken>();
  const counts = new Map<string, number>();
  const held = new Set<{ req: IncomingMessage; res: ServerResponse; path: string }>();
  let failure: BackendApiFailureMode = null;
  let inactiveAnswer: InactiveTokenAnswer = 'not-found';

  const count = (path: string): void => {
    counts.set(path, (counts.get(path) ?? 0) + 1);
  };

  const tokenJson = (stored: StoredToken, now: number): Record<string, unknown> => {
    const expired = stored.expiration !== null && stored.expiration <= now;
    const common = {
      id: stored.id,
      subject: stored.subject,
      scopes: [...stored.scopes],
      revoked: stored.revoked,
      revocation_reason: stored.revocationReason,
      expired,
      expiration: stored.expiration,
      created_at: stored.createdAt,
      updated_at: stored.updatedAt,
    };
    switch (stored.kind) {
      case 'm2m_token':
        return { object: 'machine_to_machine_token', ...common, claims: stored.claims };
      case 'oauth_token':
        return {
          object: 'clerk_idp_oauth_access_token',
          type: 'oauth:access_token',
          client_id: stored.clientId,
          ...common,
          ...(stored.audience === undefined ? {} : { aud: [...stored.audience] }),
        };
      case 'api_key':
        return {
          object: 'api_key',
          type: 'api_key',
          name: stored.name,
          ...common,
          claims: stored.claims,
          created_by: stored.createdBy ?? null,
          description: stored.description ?? null,
          last_used_at: stored.lastUsedAt ?? null,
        };
    }
  };

  /** Checks `Authorization: Bearer <key>` against the keys `allowed`; answers 401 and returns false when it fails. */
  const authorized = (req: IncomingMessage, res: ServerResponse, allowed: string[]): boolean => {
    const authorization = req.headers.authorization;
    if (authorization === undefined) {
      sendJson(
        res,
        401,
        clerkError('authorization_header_missing', 'Unauthorized', 'The Authorization header is missing.'),
      );
      return false;
    }
    if (!allowed.some((key) => authorization === `Bearer ${key}`)) {
      sendJson(res, 401, clerkError('clerk_key_invalid', 'Unauthorized', 'The provided Clerk Secret Key is invalid.'));
      return false;
    }
    return true;
  };

  const notFound = (res: ServerResponse, what: string): void =>
    sendJson(res, 404, clerkError('resource_not_found', 'not found', `${what} not found`));

  /**
   * Answers a verify request for a token of `kind` whose secret is `body[field]`.
   *
   * A revoked or expired token gets, by default, 404 `resource_not_found`, the same as an unknown one. Sources:
   * - Clerk's docs of `apiKeys.verify()`: "If the API key is invalid, revoked, or expired, the method will throw an
   *   error" (https://clerk.com/docs/reference/backend/api-keys/verify): so not a 200;
   * - `@clerk/backend` 3.25 never looks at `revoked` / `expired` of a verify answer (`verifyM2MToken`,
   *   `verifyOAuthToken`, `verifyAPIKey` return the 200's data as verified), so a 200 for a revoked token would make
   *   Clerk's own SDK accept it; its `handleClerkAPIError` maps 404 to `token-invalid` ("... not found");
   * - Clerk's OpenAPI spec (clerk/openapi-specs `bapi/2026-05-12.yml`) lists only 200, 400 and 404 for the three
   *   verify endpoints, no error code for revocation or expiry.
   * The `revoked` / `expired` fields of the JSON are what the resource says when it is read, listed or revoked. The
   * `'flags'` answer ({@link InactiveTokenAnswer}) serves them in a 200 instead, for defence-in-depth tests.
   */
  const answerVerify = async (
    req: IncomingMessage,
    res: ServerResponse,
    kind: Kind,
    field: 'token' | 'access_token' | 'secret',
    keys: string[],
    what: string,
  ): Promise<void> => {
    if (req.method !== 'POST') {
      res.setHeader('allow', 'POST');
      sendJson(res, 405, clerkError('method_not_allowed', 'Method not allowed', 'Use POST.'));
      return;
    }
    const raw = await readBody(req);
    if (res.destroyed || res.headersSent) return;
    if (raw === undefined) {
      sendJson(res, 413, clerkError('request_body_too_large', 'Request body too large', 'The request body is too large.'));
      return;
    }
    if (!authorized(req, res, keys)) return;
    let body: unknown;
    try {
      body = raw === '' ? {} : JSON.parse(raw);
    } catch {
      sendJson(res, 400, clerkError('malformed_request_body', 'Malformed request', 'The request body is not valid JSON.'));
      return;
    }
    const secret = typeof body === 'object' && body !== null ? (body as Record<string, unknown>)[field] : undefined;
    if (typeof secret !== 'string' || secret === '') {
      sendJson(res, 422, clerkError('form_param_missing', `${field} must be included`, `${field} must be included.`));
      return;
    }
    const stored = tokens.get(secret);
    const now = clock();
    if (stored === undefined || stored.kind !== kind) {
      notFound(res, what);
      return;
    }
    const inactive = stored.revoked || (stored.expiration !== null && stored.expiration <= now);
    if (inactive && inactiveAnswer === 'not-found') {
      notFound(res, what);
      return;
    }
    if (kind === 'api_key') stored.lastUsedAt = now;
    sendJson(res, 200, tokenJson(stored, now));
  };

  const answerUser = (req: IncomingMessage, res: ServerResponse, id: string): void => {
    if (req.method !== 'GET') {
      res.setHeader('allow', 'GET');
      sendJson(res, 405, clerkError('method_not_allowed', 'Method not allowed', 'Use GET.'));
      return;
    }
    if (!authorized(req, res, [secretKey])) return;
    const user = users.get(id);
    if (user === undefined) {
      notFound(res, 'User');
      return;
    }
    sendJson(res, 200, user);
  };

  /** Answers a request counted under `path` (normalized), in the current failure mode. */
  const answer = (req: IncomingMessage, res: ServerResponse, path: string): void => {
    switch (failure) {
      case 'down':
        // A reset, not an answer: what fetch reports as "fetch failed" / "other side closed".
        if (typeof req.socket.resetAndDestroy === 'function') req.socket.resetAndDestroy();
        else req.socket.destroy();
        return;
      case '500':
        sendJson(res, 500, clerkError('internal_clerk_error', 'Oops, an unexpected error occurred', 'There was an internal error on our servers.'));
        return;
      case '429':
        sendJson(res, 429, clerkError('too_many_requests', 'Too many requests', 'You have exceeded the maximum number of requests.'), {
          'retry-after': '1',
        });
        return;
      case 'slow': {
        const entry = { req, res, path };
        held.add(entry);
        res.on('close', () => held.delete(entry));
        return;
      }
      case 'garbage':
        send(res, 200, 'text/html; charset=utf-8', '<html><body>Service temporarily unavailable</body></html>');
        return;
      case 'invalid-json':
        send(res, 200, 'application/json', '{"object":"machine_to_machine_token","id":');
        return;
      case null:
        break;
    }
    if (path === M2M_VERIFY) {
      void answerVerify(req, res, 'm2m_token', 'token', [machineSecretKey, secretKey], 'Machine token');
    } else if (path === OAUTH_VERIFY) {
      void answerVerify(req, res, 'oauth_token', 'access_token', [secretKey], 'OAuth token');
    } else if (path === API_KEY_VERIFY) {
      void answerVerify(req, res, 'api_key', 'secret', [secretKey], 'API key');
    } else if (path.startsWith(USERS) && path.length > USERS.length && !path.slice(USERS.length).includes('/')) {
      answerUser(req, res, decodeURIComponent(path.slice(USERS.length)));
    } else {
      notFound(res, 'Resource');
    }
  };

  const store = (secret: string, stored: StoredToken): string => {
    tokens.set(secret, stored);
    return secret;
  };

  return {
    count(path) {
      count(normalizePath(path));
    },

    handle(req, res, rawPath) {
      const path = normalizePath(rawPath);
      const isApiPath =
        rawPath.startsWith('/v1/') || path === M2M_VERIFY || path === OAUTH_VERIFY || path === API_KEY_VERIFY;
      if (!isApiPath) return false;
      count(path);
      answer(req, res, path);
      return true;
    },

    addUser(user) {
      if (typeof user !== 'object' || user === null || typeof user.id !== 'string' || user.id === '') {
        throw new TypeError('addUser: "id" must be a non-empty string.');
      }
      const json = userJson(user, clock());
      users.set(user.id, json);
      return structuredClone(json);
    },

    createOpaqueM2MToken(options = {}) {
      assertStrings(options.scopes, 'scopes');
      const now = clock();
      // Clerk's M2M token ids and secrets both start with mt_ (fixtures: id mt_ey966f..., token mt_8XOIuc...).
      return store(`mt_${base62(48)}`, {
        kind: 'm2m_token',
        id: `mt_${randomBytes(16).toString('hex')}`,
        subject: options.machineId ?? 'mch_test',
        scopes: [...(options.scopes ?? [])],
        claims: options.claims === undefined || options.claims === null ? null : structuredClone(options.claims),
        expiration: expirationOf(now, options.expiresInSeconds, 3600, 'expiresInSeconds'),
        createdAt: now,
        updatedAt: now,
        revoked: false,
        revocationReason: null,
      });
    },

    createOpaqueOAuthToken(options = {}) {
      assertStrings(options.scopes, 'scopes');
      const now = clock();
      const audience = options.audience === undefined ? undefined : [options.audience].flat();
      assertStrings(audience, 'audience');
      return store(`oat_${base62(48)}`, {
        kind: 'oauth_token',
        id: `oat_${randomBytes(16).toString('hex')}`,
        subject: options.userId ?? 'user_test',
        clientId: options.clientId ?? 'client_test',
        scopes: [...(options.scopes ?? ['profile', 'email'])],
        claims: null,
        ...(audience === undefined ? {} : { audience }),
        expiration: expirationOf(now, options.expiresInSeconds, 3600, 'expiresInSeconds'),
        createdAt: now,
        updatedAt: now,
        revoked: false,
        revocationReason: null,
      });
    },

    createApiKey(options = {}) {
      assertStrings(options.scopes, 'scopes');
      const now = clock();
      const subject = options.subject ?? 'user_test';
      return store(`ak_${base62(48)}`, {
        kind: 'api_key',
        id: `ak_${randomBytes(16).toString('hex')}`,
        subject,
        name: options.name ?? 'test-key',
        description: options.description ?? null,
        scopes: [...(options.scopes ?? [])],
        claims: options.claims === undefined || options.claims === null ? null : structuredClone(options.claims),
        createdBy: options.createdBy === undefined ? (subject.startsWith('user_') ? subject : null) : options.createdBy,
        lastUsedAt: null,
        expiration: expirationOf(now, options.expiresInSeconds, null, 'expiresInSeconds'),
        createdAt: now,
        updatedAt: now,
        revoked: false,
        revocationReason: null,
      });
    },

    revokeToken(token, reason = null) {
      const stored = tokens.get(token);
      if (stored === undefined) throw new TypeError('revokeToken: no such token was created by this issuer.');
      stored.revoked = true;
      stored.revocationReason = reason;
      stored.updatedAt = clock();
    },

    describeToken(token) {
      const stored = tokens.get(token);
      return stored === undefined ? undefined : tokenJson(stored, clock());
    },

    setInactiveTokenAnswer(answer) {
      if (answer !== 'not-found' && answer !== 'flags') {
        throw new TypeError('setInactiveTokenAnswer: expected "not-found" or "flags".');
      }
      inactiveAnswer = answer;
    },

    setFailure(mode) {
      failure = mode;
      if (mode === 'slow') return;
      for (const entry of [...held]) {
        held.delete(entry);
        if (!entry.res.destroyed && !entry.res.headersSent) answer(entry.req, entry.res, entry.path);
      }
    },

    calls(path) {
      if (path === undefined) {
        let total = 0;
        for (const value of counts.values()) total += value;
        return total;
      }
      const wanted = normalizePath(path).replace(/\/+$/, '');
      let total = 0;
      for (const [key, value] of counts) {
        if (key === wanted || key.startsWith(`${wanted}/`)) total += value;
      }
      return total;
    },

    resetCalls() {
      counts.clear();
    },

    close() {
      held.clear();
    },
  };
}
