/**
 * `createClerkAuth(options)`: one verifier (keys, caches), one policy and one request flow, shared by every adapter
 * given it (`clerkMastraAuth({ clerkAuth })`, `new MastraAuthClerk({ clerkAuth })`). The adapters translate requests
 * and responses; what a request's credentials mean is decided here, once, for both.
 */
import { decodeJwt } from 'jose';
import type { ClerkClaims } from './claims.js';
import { readCredential, type CredentialHeaders, type CredentialRules, type TokenPeek } from './credentials.js';
import { ClerkAuthError, type ClerkAuthErrorCode } from './errors.js';
import { resolveOptions, type ClerkAuthOptions, type Logger, type ResolvedOptions } from './options.js';
import { allowAuthenticated, type AuthorizeContext, type AuthorizeUser } from './policy.js';
import { machineAuth } from './auth-object.js';
import type { RouteTable, RouteResource } from './routes.js';
import { createProtectedResources, type ProtectedResources } from './resource-metadata.js';
import { BackendApiVerifier } from './backend-api.js';
import { accepts, acceptsMask, opaqueTypeOf, SESSION_ONLY, MACHINE_TYPES, type TokenType, type TokenTypeMask } from './token-types.js';
import { MAX_TOKEN_LENGTH, Verifier, verifiedOf, type Verified } from './verifier.js';

const userOf = (verified: Verified): ClerkClaims => verified.user;

const NO_READINGS: readonly RouteResource[] = Object.freeze([]);

/** What an adapter knows of a request for the policy; the core adds the resource and the token's type. */
export type AdapterContext = Omit<AuthorizeContext, 'resource' | 'tokenType' | 'machine'>;

/** Why a request is signed out. With `optional: true` an adapter lets it through signed out; else it is a 401. */
export type SignedOutReason = Extract<ClerkAuthErrorCode, 'token-missing' | 'session-pending' | 'session-signed-out'>;

/** What a request's credentials amount to, computed once by the core; adapters only convert it. */
export type RequestState =
  | {
      readonly status: 'signed-in';
      readonly token: string;
      /** Which kind of Clerk token signed the request in. */
      readonly tokenType: TokenType;
      /** The `user` the policy sees: a session's claims, or a machine token's `{ sub, exp, jti }`. */
      readonly claims: ClerkClaims;
      /** The verified token (with Clerk's machine verification result for machine tokens). */
      readonly verified: Verified;
    }
  | { readonly status: 'signed-out'; readonly reason: SignedOutReason };

const SIGNED_OUT: Readonly<Record<SignedOutReason, RequestState>> = Object.freeze({
  'token-missing': Object.freeze({ status: 'signed-out', reason: 'token-missing' }),
  'session-pending': Object.freeze({ status: 'signed-out', reason: 'session-pending' }),
  'session-signed-out': Object.freeze({ status: 'signed-out', reason: 'session-signed-out' }),
});

type LogLevel = 'debug' | 'info' | 'warn' | 'error';
type LogSink = Record<LogLevel, ((line: string) => void) | undefined>;

function sinkOf(logger: Logger | false | undefined): LogSink {
  if (logger === false) return { debug: undefined, info: undefined, warn: undefined, error: undefined };
  // Default: outages and policy failures only; refusals (a client's mistake, or an attacker's) are not worth a line.
  if (logger === undefined) {
    return { debug: undefined, info: (l) => console.info(l), warn: (l) => console.warn(l), error: (l) => console.error(l) };
  }
  if (typeof logger === 'function') return { debug: logger, info: logger, warn: logger, error: logger };
  if (typeof logger !== 'object' || logger === null) throw new TypeError('"logger" must be a function, an object with debug/warn/error methods, or false');
  const level = (name: LogLevel) => (typeof logger[name] === 'function' ? (line: string) => logger[name]!(line) : undefined);
  return { debug: level('debug'), info: level('info'), warn: level('warn'), error: level('error') };
}

/** The reason an outage happened (`getaddrinfo ENOTFOUND …`, `answered HTTP 500`), from the error's causes. */
function outageReason(error: unknown): string {
  const reasons: string[] = [];
  let cause = (error as { cause?: unknown }).cause;
  for (let depth = 0; cause instanceof Error && depth < 3; depth += 1) {
    reasons.push(cause.message);
    cause = (cause as { cause?: unknown }).cause;
  }
  return reasons.length > 0 ? `: ${reasons.join(': ')}` : '';
}

export class ClerkAuth {
  /** The validated configuration (keys, issuer, parties...), frozen. */
  readonly config: ResolvedOptions;
  /** False when every verified user passes: adapters then skip building the policy's context. */
  readonly hasPolicy: boolean;
  private readonly verifier: Verifier;
  /** RFC 9728 metadata of the protected resources (MCP endpoints), when `protectedResource` is configured. */
  readonly protectedResources: ProtectedResources | undefined;
  /** Opaque machine tokens, verified by the Backend API; built only when some machine type is accepted. */
  private backend: BackendApiVerifier | undefined;
  private readonly policy: AuthorizeUser<ClerkClaims>;
  private readonly sink: LogSink;
  /** How this instance reads credentials, built once (not per request). */
  private readonly credentialRules: CredentialRules;
  private readonly peek = (token: string): TokenPeek | undefined => {
    const cached = this.verifier.cached(token);
    if (cached) return cached.user;
    try {
      return decodeJwt(token);
    } catch {
      return undefined;
    }
  };

  /** Use `createClerkAuth(options)`. */
  constructor(options: ClerkAuthOptions = {}) {
    if (options.authorizeUser !== undefined && typeof options.authorizeUser !== 'function') {
      throw new TypeError('"authorizeUser" must be a function');
    }
    this.sink = sinkOf(options.logger);
    this.config = resolveOptions(options);
    this.verifier = new Verifier(this.config);
    if ((this.config.acceptsToken & MACHINE_TYPES) !== 0 && !this.config.secretKey && !this.config.machineSecretKey) {
      this.notice('info', 'opaque machine tokens (mt_…, oat_…) need CLERK_SECRET_KEY; only their JWT form is accepted');
    }
    this.credentialRules = Object.freeze({
      realm: this.config.realm,
      cookieSuffix: this.config.cookieSuffix,
      issuers: this.config.issuers,
      peek: this.peek,
    });
    this.protectedResources =
      options.protectedResource === undefined ? undefined : createProtectedResources(options.protectedResource, this.config.issuers);
    this.policy = options.authorizeUser ?? allowAuthenticated;
    this.hasPolicy = options.authorizeUser !== undefined;
  }

  /** The verified claims of a session token; rejects with a `ClerkAuthError`. */
  verify(token: string): Promise<ClerkClaims> {
    // A token verified before costs no async hop: the cache answers and the promise is already settled.
    const cached = typeof token === 'string' && token.length <= MAX_TOKEN_LENGTH ? this.verifier.cached(token) : undefined;
    if (cached?.tokenType === 'session_token') return Promise.resolve(cached.user);
    return this.verifier.verify(token, SESSION_ONLY).then(userOf);
  }

  /**
   * The token types an adapter or guard accepts: its own `acceptsToken` (validated here, at start-up), else this
   * object's.
   */
  acceptsMask(value: unknown, option: string): TokenTypeMask {
    return acceptsMask(value, option, this.config.acceptsToken);
  }

  /** What a verified `user` object is: its token type and, for machine tokens, Clerk's verification result. */
  verifiedOf(user: ClerkClaims): Verified | undefined {
    return verifiedOf(user);
  }

  /**
   * The request state of a request's credentials: signed in (verified claims) or signed out (and why). Answers
   * synchronously for a token verified before, so a client reusing its token costs no promise. Throws (or rejects
   * with) a `ClerkAuthError` for credentials that must be refused whatever the route: malformed or ambiguous
   * (400), a bad token (401: a bad token never becomes anonymous), keys unreachable (503).
   */
  authenticate(headers: CredentialHeaders, mask: TokenTypeMask = this.config.acceptsToken): RequestState | Promise<RequestState> {
    const credential = readCredential(headers, this.credentialRules);
    if (credential.from === 'none') return SIGNED_OUT['token-missing'];
    if (credential.from === 'signed-out-cookie') return SIGNED_OUT['session-signed-out'];
    const { token } = credential;
    let clientUat = 0;
    if (credential.from === 'cookie') {
      // A cookie is a browser's session, never a machine's credential; where sessions are not accepted it is none.
      if (!accepts(mask, 'session_token')) return SIGNED_OUT['token-missing'];
      mask = SESSION_ONLY;
      clientUat = credential.clientUat;
    }
    const opaque = opaqueTypeOf(token);
    if (opaque !== undefined) {
      if (!accepts(mask, opaque)) throw this.typeMismatch();
      const backend = (this.backend ??= new BackendApiVerifier(this.config));
      const answered = backend.cached(token);
      if (answered instanceof ClerkAuthError) throw answered;
      if (answered) return this.signedIn(token, answered, 0);
      return backend.verify(token, opaque).then((verified) => this.signedIn(token, verified, 0));
    }
    const cached = this.verifier.cached(token);
    if (cached) {
      if (!accepts(mask, cached.tokenType)) throw this.typeMismatch();
      return this.signedIn(token, cached, clientUat);
    }
    return this.verifier.verify(token, mask).then(
      (verified) => this.signedIn(token, verified, clientUat),
      (error: unknown) => {
        if (error instanceof ClerkAuthError && error.code === 'session-pending') return SIGNED_OUT['session-pending'];
        throw error;
      },
    );
  }

  private typeMismatch(): ClerkAuthError {
    return new ClerkAuthError('token-type-mismatch', { realm: this.config.realm });
  }

  private signedIn(token: string, verified: Verified, clientUat: number): RequestState {
    const claims = verified.user;
    // A cookie older than the browser's last sign-in or refresh (`__client_uat`) belongs to an earlier session.
    if (typeof claims.iat === 'number' && claims.iat < clientUat) return SIGNED_OUT['session-signed-out'];
    return { status: 'signed-in', token, tokenType: verified.tokenType, claims, verified };
  }

  /** Runs the shared `authorizeUser` policy. Resolves true or false; rejects if the policy throws. */
  async authorize(user: ClerkClaims, ctx: AuthorizeContext): Promise<boolean> {
    return (await this.policy(user, ctx)) === true;
  }

  /** Mastra's routes, once a Mastra provider shares this object: then the Express middleware names them too. */
  private routes: RouteTable | undefined;
  /** Route patterns (without prefix) that are OAuth protected resources: Mastra's MCP transport routes. */
  private resourceRoutes: ReadonlySet<string> = new Set();

  /** @internal True when `rawPath` is a protected resource (an MCP endpoint) and `protectedResource` is configured. */
  isProtectedResource(rawPath: string): boolean {
    if (this.protectedResources === undefined || this.resourceRoutes.size === 0) return false;
    const readings = this.routes?.match('POST', rawPath);
    return Array.isArray(readings) && readings.some((reading) => this.resourceRoutes.has(reading.route));
  }

  /** Whether the policy judges routes that name their resource in the body (else they are refused). */
  private policyJudgesBodyAddressed = false;

  /** @internal Called by `MastraAuthClerk` when it shares this object. */
  useRouteTable(
    table: RouteTable,
    { policyJudgesBodyAddressed, resourceRoutes = [] }: { policyJudgesBodyAddressed: boolean; resourceRoutes?: readonly string[] },
  ): void {
    this.resourceRoutes = new Set(resourceRoutes);
    this.routes = table;
    this.policyJudgesBodyAddressed = policyJudgesBodyAddressed;
  }

  /**
   * Runs the policy for a request whose route may be one of the known routes (Mastra's): once per reading of the
   * path, with `ctx.resource` set, and every reading must be allowed. A path can have several readings because the
   * mount prefix is not known here (`/api/agents/agents` is agent `agents` under `/api`, or the agent list under
   * `/api/agents`). Resolves false for a route parameter whose percent-encoding does not decode.
   */
  /** The policy context of a request: what an adapter read, plus the token type and machine of the verified user. */
  contextFor(user: ClerkClaims, base: AdapterContext): AuthorizeContext {
    const verified = verifiedOf(user);
    return { ...base, tokenType: verified?.tokenType ?? 'session_token', machine: verified ? machineAuth(verified) : undefined };
  }

  async authorizeRoute(user: ClerkClaims, base: AdapterContext, rawPath: string): Promise<boolean> {
    const ctx = this.contextFor(user, base);
    const readings = this.routes?.match(ctx.method, rawPath) ?? NO_READINGS;
    if (readings === 'invalid') return false;
    if (readings.length === 0) return this.authorize(user, ctx);
    for (const resource of readings) {
      // A route acting on an agent or workflow named in its body: a rule about one agent cannot hold there, so with a
      // policy it is refused unless the app said its policy judges such routes.
      if (resource.addressedInBody && !this.policyJudgesBodyAddressed) return false;
      if (!(await this.authorize(user, { ...ctx, resource }))) return false;
    }
    return true;
  }

  /** The error for a signed-out reason, when the route needs a signed-in user. */
  signedOutError(reason: SignedOutReason): ClerkAuthError {
    return new ClerkAuthError(reason, { realm: this.config.realm });
  }

  /**
   * The one logging rule of both adapters: refusals by code at debug, outages with their cause at warn, a failing
   * policy at error. Never the token, a key, or the list of known kids.
   */
  log(event: string, error: unknown): void {
    if (error instanceof ClerkAuthError && error.status >= 500) {
      const what = error.code === 'backend-api-failed-to-load' ? "Clerk's Backend API unavailable" : 'keys unavailable';
      this.sink.warn?.(`[clerk-mastra-auth] ${what} (${error.code})${outageReason(error)}`);
      return;
    }
    const code = error instanceof ClerkAuthError ? error.code : typeof error === 'string' ? error : 'unexpected-error';
    if (code === 'authorization-error') this.sink.error?.(`[clerk-mastra-auth] ${event} (${code})`);
    else this.sink.debug?.(`[clerk-mastra-auth] ${event} (${code})`);
  }

  /** A start-up line: what is public, which key source is used (info), a configuration that protects nothing (error). */
  notice(level: 'info' | 'error', line: string): void {
    this.sink[level]?.(`[clerk-mastra-auth] ${line}`);
  }
}

/**
 * Builds the shared object: validates the options once (throwing `ClerkAuthConfigError` at start-up for a
 * configuration that cannot work) and builds the key resolver once.
 *
 * @example
 * const clerkAuth = createClerkAuth({ authorizeUser: (user, ctx) => ctx.resource?.params.agentId !== 'finance' || user.o?.rol === 'admin' });
 * app.use(clerkMastraAuth({ clerkAuth }));
 * const mastra = new Mastra({ server: { auth: new MastraAuthClerk({ clerkAuth }) } });
 */
export function createClerkAuth(options?: ClerkAuthOptions): ClerkAuth {
  return new ClerkAuth(options);
}
