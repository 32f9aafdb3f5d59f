/**
 * A local stand-in for Clerk's Frontend API as an OAuth 2.0 / OpenID Connect identity provider (Clerk as an IdP),
 * on 127.0.0.1, for tests of Mastra Studio's "Sign in with Clerk":
 * - `GET /sign-in?user_id=…[&redirect_url=…]` signs a browser in (a cookie on this server), as Clerk's sign-in page;
 *   `GET /sign-out` signs it out and revokes what its session granted;
 * - `GET /oauth/authorize`: the authorization-code flow for the registered client and redirect URIs, PKCE required
 *   (S256 only), `state` and `nonce` echoed; a browser not signed in is sent to `/sign-in`;
 * - `POST /oauth/token`: `authorization_code` (the code once, within 60 s, with its `redirect_uri` and PKCE verifier;
 *   a replayed code revokes what it granted, RFC 6749 section 4.1.2) and `refresh_token` (rotated; a reused one
 *   revokes the grant), client authentication by HTTP Basic or in the body; ID tokens signed by the issuer's key
 *   (`issuer.signJwt`) with `iss`, `aud` (the client id), `sub`, `iat`, `exp`, `nonce`, `sid` and the profile;
 * - `GET /oauth/userinfo`: the user of a live access token (Clerk's `user_id` and OpenID's `sub`);
 * - `revokeSession(sid)`: Clerk ending a session (sign-out elsewhere, revoked from the dashboard): its grants die.
 *
 * Never use it in production.
 */
import { createHash, randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { TestUser } from './backend-api.js';
import type { TestIssuer } from './index.js';

/** A user the fake sign-in page knows: the shape of the issuer's `addUser`. */
export type OAuthTestUser = TestUser;

export interface TestOAuthServerOptions {
  /** The issuer whose key signs the ID tokens (`issuer.signJwt`) and whose `issuer` is their `iss`. */
  issuer: TestIssuer;
  /** Default `client_<random>`. */
  clientId?: string;
  /** Default a random secret. */
  clientSecret?: string;
  /** Registered redirect URIs (exact match). More with `allowRedirectUri`. */
  redirectUris?: string[];
  /** Lifetime of access tokens, seconds (default 3600). */
  accessTokenTtlSeconds?: number;
  /** Lifetime of ID tokens, seconds (default 3600). */
  idTokenTtlSeconds?: number;
  /** Issue refresh tokens (default true). */
  refreshTokens?: boolean;
  /** Put the Clerk session id (`sid`) in ID tokens (default true). */
  sessionIdInIdToken?: boolean;
  /** Clock in milliseconds (default `Date.now`). */
  clock?: () => number;
}

/** Counts of requests per endpoint. */
export interface OAuthCounts {
  authorize: number;
  token: number;
  refresh: number;
  userinfo: number;
}

export interface TestOAuthServer {
  /** `http://127.0.0.1:<port>`: the Frontend API URL (`frontendApiUrl`). */
  readonly url: string;
  readonly clientId: string;
  readonly clientSecret: string;
  /** Requests received per endpoint since start or `resetCounts`. */
  readonly counts: Readonly<OAuthCounts>;
  resetCounts(): void;
  addUser(user: OAuthTestUser): void;
  allowRedirectUri(uri: string): void;
  /** `/sign-in?user_id=…`, optionally returning to `redirectUrl`. */
  signInUrl(userId: string, redirectUrl?: string): string;
  /** The Clerk session ids signed in to this server, newest last, and their users. */
  sessions(): Array<{ sid: string; userId: string; active: boolean }>;
  /** Clerk ends a session: its access and refresh tokens stop working. */
  revokeSession(sid: string): void;
  /**
   * Changes the next ID token the token endpoint issues (claims merged over the real ones, `undefined` removes one;
   * `header` likewise; `signWith: 'foreign'` signs with an unpublished key).
   */
  tamperNextIdToken(change: { claims?: Record<string, unknown>; header?: Record<string, unknown>; signWith?: 'current' | 'foreign' }): void;
  /** Makes the token and userinfo endpoints answer 503 (`true`) or normally again. */
  setDown(down: boolean): void;
  close(): Promise<void>;
}

interface Session {
  sid: string;
  userId: string;
  active: boolean;
}

interface Code {
  clientId: string;
  redirectUri: string;
  challenge: string;
  nonce?: string;
  scope: string;
  sid: string;
  userId: string;
  expiresAt: number;
  used: boolean;
  /** Tokens issued from it: revoked when the code is replayed. */
  grant?: Grant;
}

interface Grant {
  sid: string;
  userId: string;
  scope: string;
  revoked: boolean;
  refreshToken?: string;
}

interface AccessToken {
  grant: Grant;
  expiresAt: number;
}

const SESSION_COOKIE = '__test_clerk_session';
const CODE_TTL_MS = 60_000;
const random = (bytes = 16): string => randomBytes(bytes).toString('base64url');

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (chunk: string) => {
      body += chunk;
      if (body.length > 64 * 1024) req.destroy();
    });
    req.on('end', () => resolve(body));
    req.on('error', reject);
  });
}

function json(res: ServerResponse, status: number, value: unknown, headers: Record<string, string> = {}): void {
  const body = JSON.stringify(value);
  res.writeHead(status, { 'content-type': 'application/json', 'cache-control': 'no-store', 'content-length': Buffer.byteLength(body), ...headers });
  res.end(body);
}

function redirect(res: ServerResponse, location: string, cookie?: string): void {
  res.writeHead(302, { location, ...(cookie ? { 'set-cookie': cookie } : {}), 'content-length': 0 });
  res.end();
}

function cookieOf(req: IncomingMessage, name: string): string | undefined {
  for (const part of (req.headers.cookie ?? '').split(';')) {
    const eq = part.indexOf('=');
    if (eq !== -1 && part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim();
  }
  return undefined;
}

/** Starts the fake OAuth server. `close()` it when done. */
export async function createTestOAuthServer(options: TestOAuthServerOptions): Promise<TestOAuthServer> {
  if (process.env.NODE_ENV === 'production') throw new Error('clerk-mastra-auth/testing: never in production');
  const { issuer } = options;
  const clientId = options.clientId ?? `client_${random(9)}`;
  const clientSecret = options.clientSecret ?? random(24);
  const clock = options.clock ?? Date.now;
  const accessTtl = options.accessTokenTtlSeconds ?? 3600;
  const idTtl = options.idTokenTtlSeconds ?? 3600;
  const issueRefresh = options.refreshTokens ?? true;
  const sidInIdToken = options.sessionIdInIdToken ?? true;
  const redirectUris = new Set(options.redirectUris ?? []);
  const users = new Map<string, OAuthTestUser>();
  const sessions = new Map<string, Session>();
  const codes = new Map<string, Code>();
  const accessTokens = new Map<string, AccessToken>();
  const refreshTokens = new Map<string, Grant>();
  /** Refresh tokens rotated away: presenting one again revokes its grant (reuse detection). */
  const rotated = new Map<string, Grant>();
  const counts: OAuthCounts = { authorize: 0, token: 0, refresh: 0, userinfo: 0 };
  let tamper: Parameters<TestOAuthServer['tamperNextIdToken']>[0] | undefined;
  let down = false;
  let url = '';

  const profile = (userId: string): Record<string, unknown> => {
    const user = users.get(userId);
    const name = [user?.firstName, user?.lastName].filter(Boolean).join(' ');
    return Object.fromEntries(
      Object.entries({
        email: user?.email,
        email_verified: user?.email === undefined ? undefined : true,
        name: name || undefined,
        given_name: user?.firstName ?? undefined,
        family_name: user?.lastName ?? undefined,
        preferred_username: user?.username ?? undefined,
        picture: user?.imageUrl,
      }).filter(([, v]) => v !== undefined),
    );
  };

  const oauthError = (res: ServerResponse, status: number, error: string, description: string): void =>
    json(res, status, { error, error_description: description });

  /** Client authentication: HTTP Basic (form-encoded parts) or `client_id`/`client_secret` in the body. */
  const clientOf = (req: IncomingMessage, form: URLSearchParams): boolean => {
    const header = req.headers.authorization;
    let id = form.get('client_id');
    let secret = form.get('client_secret');
    if (header?.startsWith('Basic ')) {
      const decoded = Buffer.from(header.slice(6), 'base64').toString('utf8');
      const colon = decoded.indexOf(':');
      id = decodeURIComponent(decoded.slice(0, colon));
      secret = decodeURIComponent(decoded.slice(colon + 1));
    }
    return id === clientId && secret === clientSecret;
  };

  const issueTokens = async (grant: Grant, nonce: string | undefined, withIdToken: boolean): Promise<Record<string, unknown>> => {
    const now = clock();
    const accessToken = `oat_${random(24)}`;
    accessTokens.set(accessToken, { grant, expiresAt: now + accessTtl * 1000 });
    const body: Record<string, unknown> = { access_token: accessToken, token_type: 'Bearer', expires_in: accessTtl, scope: grant.scope };
    if (issueRefresh) {
      if (grant.refreshToken) {
        refreshTokens.delete(grant.refreshToken);
        rotated.set(grant.refreshToken, grant);
      }
      grant.refreshToken = `ort_${random(24)}`;
      refreshTokens.set(grant.refreshToken, grant);
      body.refresh_token = grant.refreshToken;
    }
    if (withIdToken) {
      const iat = Math.floor(now / 1000);
      const change = tamper;
      tamper = undefined;
      const claims: Record<string, unknown> = {
        iss: issuer.issuer,
        sub: grant.userId,
        aud: clientId,
        iat,
        exp: iat + idTtl,
        nonce,
        sid: sidInIdToken ? grant.sid : undefined,
        ...profile(grant.userId),
        ...change?.claims,
      };
      body.id_token = await issuer.signJwt(claims, { header: change?.header, signWith: change?.signWith });
    }
    return body;
  };

  const revokeGrant = (grant: Grant): void => {
    grant.revoked = true;
    if (grant.refreshToken) refreshTokens.delete(grant.refreshToken);
    for (const [token, entry] of accessTokens) if (entry.grant === grant) accessTokens.delete(token);
  };

  const authorize = (req: IncomingMessage, res: ServerResponse, query: URLSearchParams): void => {
    counts.authorize += 1;
    const redirectUri = query.get('redirect_uri') ?? '';
    if (query.get('client_id') !== clientId) return oauthError(res, 401, 'invalid_client', 'Unknown client.');
    if (!redirectUris.has(redirectUri)) return oauthError(res, 400, 'invalid_request', 'The redirect_uri is not registered.');
    const back = (params: Record<string, string>): void => {
      const target = new URL(redirectUri);
      for (const [key, value] of Object.entries(params)) target.searchParams.set(key, value);
      const state = query.get('state');
      if (state !== null) target.searchParams.set('state', state);
      redirect(res, target.href);
    };
    if (query.get('response_type') !== 'code') return back({ error: 'unsupported_response_type' });
    const challenge = query.get('code_challenge');
    // PKCE is required, and only S256: `plain` would put the verifier in the URL.
    if (!challenge || query.get('code_challenge_method') !== 'S256') return back({ error: 'invalid_request', error_description: 'PKCE (S256) is required' });
    const state = query.get('state');
    if (state !== null && state.length < 8) return back({ error: 'invalid_request', error_description: 'state is too short' });
    const session = sessions.get(cookieOf(req, SESSION_COOKIE) ?? '');
    if (!session?.active) {
      redirect(res, `${url}/sign-in?redirect_url=${encodeURIComponent(`${url}${req.url}`)}`);
      return;
    }
    const code = random(24);
    codes.set(code, {
      clientId,
      redirectUri,
      challenge,
      nonce: query.get('nonce') ?? undefined,
      scope: query.get('scope') ?? 'profile email',
      sid: session.sid,
      userId: session.userId,
      expiresAt: clock() + CODE_TTL_MS,
      used: false,
    });
    back({ code });
  };

  const token = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    counts.token += 1;
    const form = new URLSearchParams(await readBody(req));
    if (down) return json(res, 503, { errors: [{ code: 'service_unavailable' }] });
    if (!clientOf(req, form)) return oauthError(res, 401, 'invalid_client', 'Client authentication failed.');
    const grantType = form.get('grant_type');
    if (grantType === 'authorization_code') {
      const code = codes.get(form.get('code') ?? '');
      if (!code) return oauthError(res, 400, 'invalid_grant', 'Unknown authorization code.');
      if (code.used) {
        // RFC 6749 section 4.1.2: a code used twice revokes the tokens it granted.
        if (code.grant) revokeGrant(code.grant);
        return oauthError(res, 400, 'invalid_grant', 'The authorization code was already used.');
      }
      code.used = true;
      if (code.expiresAt <= clock()) return oauthError(res, 400, 'invalid_grant', 'The authorization code has expired.');
      if (form.get('redirect_uri') !== code.redirectUri) return oauthError(res, 400, 'invalid_grant', 'The redirect_uri does not match.');
      const verifier = form.get('code_verifier');
      if (!verifier) return oauthError(res, 400, 'invalid_grant', 'code_verifier is required.');
      if (createHash('sha256').update(verifier).digest('base64url') !== code.challenge) {
        return oauthError(res, 400, 'invalid_grant', 'The code_verifier does not match the code_challenge.');
      }
      const session = sessions.get(code.sid);
      if (!session?.active) return oauthError(res, 400, 'invalid_grant', 'The session has ended.');
      const grant: Grant = { sid: code.sid, userId: code.userId, scope: code.scope, revoked: false };
      code.grant = grant;
      return json(res, 200, await issueTokens(grant, code.nonce, code.scope.split(' ').includes('openid')));
    }
    if (grantType === 'refresh_token') {
      counts.refresh += 1;
      const presented = form.get('refresh_token') ?? '';
      const reused = rotated.get(presented);
      if (reused) {
        revokeGrant(reused);
        return oauthError(res, 400, 'invalid_grant', 'The refresh token was already used.');
      }
      const grant = refreshTokens.get(presented);
      if (!grant || grant.revoked || !sessions.get(grant.sid)?.active) return oauthError(res, 400, 'invalid_grant', 'Invalid refresh token.');
      return json(res, 200, await issueTokens(grant, undefined, grant.scope.split(' ').includes('openid')));
    }
    return oauthError(res, 400, 'unsupported_grant_type', 'Unsupported grant type.');
  };

  const userinfo = (req: IncomingMessage, res: ServerResponse): void => {
    counts.userinfo += 1;
    if (down) return json(res, 503, { errors: [{ code: 'service_unavailable' }] });
    const header = req.headers.authorization ?? '';
    const entry = header.startsWith('Bearer ') ? accessTokens.get(header.slice(7)) : undefined;
    if (!entry || entry.grant.revoked || entry.expiresAt <= clock() || !sessions.get(entry.grant.sid)?.active) {
      return json(res, 401, { errors: [{ code: 'authentication_invalid', message: 'Invalid access token' }] });
    }
    const { userId } = entry.grant;
    json(res, 200, {
      object: 'user_info',
      instance_id: 'ins_test',
      user_id: userId,
      sub: userId,
      public_metadata: users.get(userId)?.publicMetadata ?? {},
      ...profile(userId),
    });
  };

  const signIn = (res: ServerResponse, query: URLSearchParams): void => {
    const userId = query.get('user_id');
    if (!userId || !users.has(userId)) return json(res, 400, { error: 'unknown user' });
    const sid = `sess_${random(12)}`;
    sessions.set(sid, { sid, userId, active: true });
    const cookie = `${SESSION_COOKIE}=${sid}; Path=/; HttpOnly; SameSite=Lax`;
    const back = query.get('redirect_url');
    if (back && back.startsWith(url)) return redirect(res, back, cookie);
    res.writeHead(200, { 'set-cookie': cookie, 'content-type': 'application/json' });
    res.end(JSON.stringify({ sid, userId }));
  };

  const revokeSession = (sid: string): void => {
    const session = sessions.get(sid);
    if (!session) return;
    session.active = false;
    for (const grant of [...refreshTokens.values(), ...[...accessTokens.values()].map((e) => e.grant)]) {
      if (grant.sid === sid) revokeGrant(grant);
    }
  };

  const server: Server = createServer((req, res) => {
    const target = new URL(req.url ?? '/', 'http://127.0.0.1');
    const route = `${req.method} ${target.pathname}`;
    const done = (promise: Promise<void>) => promise.catch(() => (res.headersSent ? res.destroy() : json(res, 500, { error: 'server_error' })));
    switch (route) {
      case 'GET /oauth/authorize':
        return authorize(req, res, target.searchParams);
      case 'POST /oauth/token':
        return void done(token(req, res));
      case 'GET /oauth/userinfo':
        return userinfo(req, res);
      case 'GET /sign-in':
        return signIn(res, target.searchParams);
      case 'GET /sign-out': {
        const sid = cookieOf(req, SESSION_COOKIE);
        if (sid) revokeSession(sid);
        res.writeHead(200, { 'set-cookie': `${SESSION_COOKIE}=; Path=/; Max-Age=0`, 'content-type': 'application/json' });
        return res.end('{"signedOut":true}');
      }
      default:
        return json(res, 404, { errors: [{ code: 'resource_not_found' }] });
    }
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  let closing: Promise<void> | undefined;

  return {
    url,
    clientId,
    clientSecret,
    get counts() {
      return { ...counts };
    },
    resetCounts() {
      Object.assign(counts, { authorize: 0, token: 0, refresh: 0, userinfo: 0 });
    },
    addUser(user) {
      users.set(user.id, { ...user });
    },
    allowRedirectUri(uri) {
      redirectUris.add(uri);
    },
    signInUrl(userId, redirectUrl) {
      const query = new URLSearchParams({ user_id: userId });
      if (redirectUrl) query.set('redirect_url', redirectUrl);
      return `${url}/sign-in?${query}`;
    },
    sessions() {
      return [...sessions.values()].map((s) => ({ ...s }));
    },
    revokeSession,
    tamperNextIdToken(change) {
      tamper = change;
    },
    setDown(value) {
      down = value;
    },
    close() {
      closing ??= new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
      return closing;
    },
  };
}
