/**
 * What an MCP test needs besides the app: a stand-in for Clerk's OAuth authorization server (the Frontend API's
 * `/.well-known/oauth-authorization-server`, dynamic client registration, `/oauth/authorize` and `/oauth/token`,
 * issuing `at+jwt` access tokens signed by the test issuer), an in-memory OAuth client of the MCP SDK, and a
 * listening server whose origin is known before the app is built (the app's configuration names it).
 */
import { createHash, randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import {
  Client,
  StreamableHTTPClientTransport,
  type FetchLike,
  type OAuthClientMetadata,
  type OAuthClientProvider,
  type OAuthDiscoveryState,
  type StoredOAuthClientInformation,
  type StoredOAuthTokens,
} from '@modelcontextprotocol/client';
import type { TestIssuer } from '../../src/testing/index.js';

/** A listening 127.0.0.1 server whose request handler is set once the app, which must know the origin, is built. */
export async function serveLater(): Promise<{
  base: string;
  port: number;
  use: (handler: (req: IncomingMessage, res: ServerResponse) => void) => void;
  close: () => Promise<void>;
}> {
  let handler: ((req: IncomingMessage, res: ServerResponse) => void) | undefined;
  const server: Server = createServer((req, res) => {
    if (handler) handler(req, res);
    else {
      res.statusCode = 503;
      res.end();
    }
  });
  server.listen(0, '127.0.0.1');
  await new Promise((resolve) => server.once('listening', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    base: `http://127.0.0.1:${port}`,
    port,
    use: (h) => {
      handler = h;
    },
    close: async () => {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}

/** What the stand-in for Clerk knows of one authorization in progress. */
interface Grant {
  clientId: string;
  redirectUri: string;
  codeChallenge: string;
  resource: string | null;
  scope: string;
}

export interface FakeAuthorizationServer {
  /** The issuer: the test issuer's Frontend API URL, `https://<frontend api>`. */
  readonly issuer: string;
  /** A fetch for the MCP client: requests to the issuer are answered here, any other goes to the network. */
  readonly fetch: FetchLike;
  /** Every request the client made, in order, as `METHOD url` (the MCP server's and the issuer's). */
  readonly requests: string[];
  /** The clients registered through dynamic client registration. */
  readonly registered: string[];
  /**
   * The user signing in at Clerk and consenting: checks the authorization request the client redirected to and
   * returns the authorization code of the redirect back.
   */
  consent(authorizationUrl: URL): { code: string; grant: Grant };
  /** The access tokens issued, with their claims. */
  readonly issued: Array<{ token: string; claims: Record<string, unknown> }>;
}

/** Clerk's scopes, as its authorization server metadata lists them (the ones a test may request). */
const CLERK_SCOPES = ['openid', 'profile', 'email', 'public_metadata', 'private_metadata'];

function json(status: number, body: unknown): Response {
  return new Response(JSON.stringify(body), { status, headers: { 'content-type': 'application/json' } });
}

function s256(verifier: string): string {
  return createHash('sha256').update(verifier).digest('base64url');
}

/**
 * A stand-in for Clerk's OAuth authorization server on the test issuer's Frontend API origin, answering in process.
 * Access tokens are Clerk's OAuth JWTs (`typ: at+jwt`, `client_id`, `scp`, `jti: oat_…`), signed by the test issuer's
 * key (served by its JWKS), for `userId`, with `aud` the resource the client asked for (RFC 8707).
 */
export function fakeAuthorizationServer(testIssuer: TestIssuer, userId: string): FakeAuthorizationServer {
  const issuer = testIssuer.issuer;
  const requests: string[] = [];
  const registered: string[] = [];
  const issued: Array<{ token: string; claims: Record<string, unknown> }> = [];
  const grants = new Map<string, Grant>();
  const metadata = {
    issuer,
    authorization_endpoint: `${issuer}/oauth/authorize`,
    token_endpoint: `${issuer}/oauth/token`,
    registration_endpoint: `${issuer}/oauth/register`,
    jwks_uri: `${issuer}/.well-known/jwks.json`,
    scopes_supported: CLERK_SCOPES,
    response_types_supported: ['code'],
    grant_types_supported: ['authorization_code', 'refresh_token'],
    code_challenge_methods_supported: ['S256'],
    token_endpoint_auth_methods_supported: ['client_secret_basic', 'client_secret_post', 'none'],
  };

  async function answer(request: Request): Promise<Response> {
    const url = new URL(request.url);
    if (request.method === 'GET' && url.pathname === '/.well-known/oauth-authorization-server') return json(200, metadata);
    if (request.method === 'POST' && url.pathname === '/oauth/register') {
      const body = (await request.json()) as { redirect_uris?: string[] };
      const clientId = `client_${randomBytes(6).toString('hex')}`;
      registered.push(clientId);
      return json(201, { ...body, client_id: clientId, client_id_issued_at: Math.floor(Date.now() / 1000) });
    }
    if (request.method === 'POST' && url.pathname === '/oauth/token') {
      const form = new URLSearchParams(await request.text());
      const grant = grants.get(form.get('code') ?? '');
      const verifier = form.get('code_verifier') ?? '';
      if (
        form.get('grant_type') !== 'authorization_code' ||
        grant === undefined ||
        s256(verifier) !== grant.codeChallenge ||
        form.get('redirect_uri') !== grant.redirectUri ||
        form.get('client_id') !== grant.clientId
      ) {
        return json(400, { error: 'invalid_grant' });
      }
      grants.delete(form.get('code')!);
      const now = Math.floor(Date.now() / 1000);
      const claims: Record<string, unknown> = {
        iss: issuer,
        sub: userId,
        aud: grant.resource ?? undefined,
        client_id: grant.clientId,
        scp: grant.scope.split(' ').filter(Boolean),
        jti: `oat_${randomBytes(12).toString('hex')}`,
        iat: now,
        nbf: now,
        exp: now + 3600,
      };
      const token = await testIssuer.signJwt(claims, { header: { typ: 'at+jwt' } });
      issued.push({ token, claims });
      return json(200, { access_token: token, token_type: 'Bearer', expires_in: 3600, scope: grant.scope });
    }
    return json(404, { error: 'not_found' });
  }

  const fetchLike: FetchLike = async (input, init) => {
    const request = new Request(input, init);
    requests.push(`${request.method} ${request.url}`);
    if (new URL(request.url).origin === issuer) return answer(request);
    return fetch(request);
  };

  return {
    issuer,
    fetch: fetchLike,
    requests,
    registered,
    issued,
    consent(authorizationUrl: URL) {
      const params = authorizationUrl.searchParams;
      if (authorizationUrl.origin !== issuer || authorizationUrl.pathname !== '/oauth/authorize') {
        throw new Error(`the client was sent elsewhere than Clerk's authorize endpoint: ${authorizationUrl.origin}${authorizationUrl.pathname}`);
      }
      if (params.get('response_type') !== 'code' || params.get('code_challenge_method') !== 'S256') {
        throw new Error('not an authorization code request with PKCE S256');
      }
      const clientId = params.get('client_id') ?? '';
      if (!registered.includes(clientId)) throw new Error(`unknown client ${clientId}`);
      const grant: Grant = {
        clientId,
        redirectUri: params.get('redirect_uri') ?? '',
        codeChallenge: params.get('code_challenge') ?? '',
        resource: params.get('resource'),
        scope: params.get('scope') ?? '',
      };
      const code = randomBytes(16).toString('hex');
      grants.set(code, grant);
      return { code, grant };
    },
  };
}

/** An MCP client's OAuth state, in memory: what a desktop client keeps between the redirect and the callback. */
export class MemoryOAuthClient implements OAuthClientProvider {
  /** Where the client would send the user: set by the SDK when authorization is needed. */
  authorizationUrl: URL | undefined;
  private info: StoredOAuthClientInformation | undefined;
  private stored: StoredOAuthTokens | undefined;
  private verifier = '';
  private discovery: OAuthDiscoveryState | undefined;

  get redirectUrl(): string {
    return 'http://127.0.0.1:1/oauth/callback';
  }

  get clientMetadata(): OAuthClientMetadata {
    return {
      client_name: 'clerk-mastra-auth MCP test client',
      redirect_uris: [this.redirectUrl],
      grant_types: ['authorization_code', 'refresh_token'],
      response_types: ['code'],
      token_endpoint_auth_method: 'none',
    };
  }

  clientInformation(): StoredOAuthClientInformation | undefined {
    return this.info;
  }
  saveClientInformation(info: StoredOAuthClientInformation): void {
    this.info = info;
  }
  tokens(): StoredOAuthTokens | undefined {
    return this.stored;
  }
  saveTokens(tokens: StoredOAuthTokens): void {
    this.stored = tokens;
  }
  redirectToAuthorization(url: URL): void {
    this.authorizationUrl = url;
  }
  saveCodeVerifier(verifier: string): void {
    this.verifier = verifier;
  }
  codeVerifier(): string {
    return this.verifier;
  }
  discoveryState(): OAuthDiscoveryState | undefined {
    return this.discovery;
  }
  saveDiscoveryState(state: OAuthDiscoveryState): void {
    this.discovery = state;
  }
}

/** An MCP client speaking the protocol revision Mastra's MCP servers serve (2026-07-28, negotiated). */
export function mcpClient(): Client {
  return new Client({ name: 'clerk-mastra-auth-test', version: '1.0.0' }, { versionNegotiation: { mode: 'auto' } });
}

/** A Streamable HTTP transport to `url`, with an OAuth client or a fixed token, through `fetchLike`. */
export function mcpTransport(
  url: string,
  options: { authProvider?: OAuthClientProvider; token?: string; fetch?: FetchLike },
): StreamableHTTPClientTransport {
  return new StreamableHTTPClientTransport(new URL(url), {
    authProvider: options.authProvider,
    fetch: options.fetch,
    requestInit: options.token ? { headers: { Authorization: `Bearer ${options.token}` } } : undefined,
  });
}

/** The JSON-RPC request an MCP client opens with (2026-07-28 `server/discover`), for raw refusal checks. */
export const DISCOVER_BODY = JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'server/discover', params: {} });
