/**
 * OAuth 2.0 Protected Resource Metadata (RFC 9728) for the MCP endpoints this library protects: the document an MCP
 * client fetches to learn which authorization server (Clerk's Frontend API) issues tokens for a resource, where that
 * document lives (`/.well-known/oauth-protected-resource` inserted before the resource's path, RFC 9728 section 3.1),
 * and the `resource_metadata` parameter of the 401 challenge that points to it (section 5.1).
 *
 * Pure and framework-neutral: the adapters decide which paths are resources and send what this module computes.
 *
 * Trust: every URL in the document and in the challenge is built from an origin the application configured, never
 * from the request's Host alone. A Host only selects one of the configured origins (several names for one server);
 * a Host that matches none gets the first. Echoing the Host would let anyone who can send a request (or poison a
 * cache in front of the server) make the server advertise `resource: https://evil.example/...`, and MCP clients bind
 * the token they request to that resource (RFC 8707).
 */
import { ClerkAuthConfigError, HTTPS_ONLY, isLoopbackHost } from './options.js';
import { routablePath } from './target.js';

/** The well-known path prefix of RFC 9728 (section 3). */
export const PROTECTED_RESOURCE_WELL_KNOWN = '/.well-known/oauth-protected-resource';

/** What the application configures (the option the adapters expose). */
export interface ProtectedResourceOptions {
  /**
   * The origin MCP clients reach this server at, e.g. `'https://api.example.com'` (scheme, host, port; no path), or
   * several when the server has several names: the one whose host is the request's Host is used, else the first.
   * `https:` is required except on loopback hosts (`localhost`, `127.0.0.1`, `[::1]`). Behind a proxy, this is the
   * public origin, not the one the proxy forwards to.
   */
  origin: string | readonly string[];
  /** `scopes_supported`: the OAuth scopes a client should request for these resources, e.g. `['profile', 'email']`. */
  scopes?: readonly string[] | undefined;
  /** `resource_name`: a human-readable name of the resource, shown by clients. */
  resourceName?: string | undefined;
  /** `resource_documentation`: a URL of documentation for developers of clients. */
  resourceDocumentation?: string | undefined;
}

/**
 * The document served at a resource's well-known URL: RFC 9728's fields, plus the descriptive fields of Clerk's own
 * helper (`@clerk/mcp-tools` `generateClerkProtectedResourceMetadata`) that hold here. Two of Clerk's fields are left
 * out on purpose: `jwks_uri`, which RFC 9728 defines as the resource server's own keys (Clerk points it at the
 * Frontend API's token-signing keys), and `token_introspection_endpoint`, which Clerk sets to its token endpoint.
 */
export interface ProtectedResourceMetadata {
  /** The resource identifier: the absolute URL of the MCP endpoint, which a token's `aud` names (RFC 8707). */
  resource: string;
  /** Issuers that issue tokens for the resource: Clerk's Frontend API URL. */
  authorization_servers: string[];
  /** Present when scopes are configured. */
  scopes_supported?: string[];
  /** Only the `Authorization` header carries a bearer token here (never the body or the query string). */
  bearer_methods_supported: ['header'];
  resource_name?: string;
  resource_documentation?: string;
  /** Clerk's field: access tokens, as RFC 8693 names the type. */
  token_types_supported: ['urn:ietf:params:oauth:token-type:access_token'];
  /** Clerk's field. */
  authorization_data_types_supported: ['oauth_scope'];
  /** Clerk's field (Clerk says `['header', 'body']`; this library reads the header only). */
  authorization_data_locations_supported: ['header'];
  /** Clerk's field: PKCE with S256, which Clerk's authorization server requires of public clients. */
  key_challenges_supported: [{ challenge_type: 'urn:ietf:params:oauth:pkce:code_challenge'; challenge_algs: ['S256'] }];
  /** Clerk's field. */
  service_documentation: 'https://clerk.com/docs';
}

/**
 * The configured origins, validated once at start-up, as canonical `URL.origin` strings (lower-case host, default
 * port dropped). Throws a `ClerkAuthConfigError` naming `option`.
 */
export function parseResourceOrigins(value: unknown, option = 'protectedResource.origin'): readonly string[] {
  const list: unknown[] = typeof value === 'string' ? [value] : Array.isArray(value) ? value : [];
  if (list.length === 0) {
    throw new ClerkAuthConfigError(`"${option}" must be the origin MCP clients reach this server at, e.g. "https://api.example.com"`);
  }
  const origins: string[] = [];
  for (const item of list) {
    const origin = typeof item === 'string' ? originOf(item.trim()) : undefined;
    if (origin === undefined) {
      throw new ClerkAuthConfigError(
        `"${option}" must be an origin such as "https://api.example.com": scheme, host and port only (no path, query, ` +
          'fragment or credentials)',
      );
    }
    const url = new URL(origin);
    if (url.protocol !== 'https:' && !isLoopbackHost(url.hostname)) {
      throw new ClerkAuthConfigError(`"${option}" ${HTTPS_ONLY}`);
    }
    if (!origins.includes(origin)) origins.push(origin);
  }
  return Object.freeze(origins);
}

function originOf(value: string): string | undefined {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    return undefined;
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') return undefined;
  if (url.username || url.password || url.search || url.hash || value.includes('?') || value.includes('#')) return undefined;
  if (url.pathname !== '/') return undefined;
  return url.origin;
}

/**
 * The configured origin a request is answered with: the one whose host (with port) is the request's Host, compared
 * case-insensitively, else the first. The Host never becomes part of a URL by itself.
 */
export function resourceOriginFor(origins: readonly string[], host: string | null | undefined): string {
  const first = origins[0];
  if (first === undefined) throw new TypeError('resourceOriginFor: no configured origin');
  if (origins.length === 1 || !host) return first;
  const wanted = host.trim().toLowerCase();
  for (const origin of origins) {
    const url = new URL(origin);
    // `url.host` drops a default port; a Host may carry it (`example.com:443`).
    if (url.host === wanted || `${url.host}:${url.protocol === 'https:' ? 443 : 80}` === wanted) return origin;
  }
  return first;
}

/**
 * The resource identifier of an endpoint: `origin` + `path`. The path is the one the client requested, as sent
 * (percent-encoded), without query; it must be a plain path (see `routablePath`), else undefined.
 */
export function resourceUrl(origin: string, path: string): string | undefined {
  const checked = routablePath(path);
  if (checked === undefined || checked.raw !== path) return undefined;
  return path === '/' ? origin : `${origin}${path.replace(/\/+$/, '')}`;
}

/**
 * The well-known URL of a resource's metadata (RFC 9728 section 3.1): the well-known prefix inserted between the
 * resource's origin and its path, `https://api.example.com/api/mcp/x/mcp` →
 * `https://api.example.com/.well-known/oauth-protected-resource/api/mcp/x/mcp`. A resource with a query or fragment
 * has none (RFC 9728 section 1.2).
 */
export function protectedResourceMetadataUrl(resource: string): string {
  const url = new URL(resource);
  if (url.search || url.hash || resource.includes('#')) {
    throw new TypeError('protectedResourceMetadataUrl: a resource identifier has no query or fragment');
  }
  const path = url.pathname === '/' ? '' : url.pathname.replace(/\/+$/, '');
  return `${url.origin}${PROTECTED_RESOURCE_WELL_KNOWN}${path}`;
}

/**
 * The resource path a well-known request path asks about, or undefined when the path is not a well-known metadata
 * path (or not a plain path): `/.well-known/oauth-protected-resource/api/mcp/x/mcp` → `/api/mcp/x/mcp`, and
 * `/.well-known/oauth-protected-resource` (or with a trailing `/`) → `/`. The path is compared as sent
 * (percent-encoded) and returned as sent: the adapter decides whether it names a protected resource.
 */
export function resourcePathFromMetadataPath(path: string): string | undefined {
  const checked = routablePath(path);
  if (checked === undefined) return undefined;
  const { raw } = checked;
  if (raw.length < PROTECTED_RESOURCE_WELL_KNOWN.length) return undefined;
  // The well-known prefix is matched exactly, in lower case, as RFC 8615 registers it.
  if (!raw.startsWith(PROTECTED_RESOURCE_WELL_KNOWN)) return undefined;
  const rest = raw.slice(PROTECTED_RESOURCE_WELL_KNOWN.length);
  if (rest === '' || rest === '/') return '/';
  if (rest.charCodeAt(0) !== 47 /* / */) return undefined; // `/.well-known/oauth-protected-resourcex`
  return rest.replace(/\/+$/, '');
}

export interface ProtectedResourceMetadataInput {
  /** The resource identifier (see `resourceUrl`). */
  resource: string;
  /** The authorization servers: Clerk's Frontend API URL (`https://<frontend api>`), the tokens' `iss`. */
  issuers: readonly string[];
  scopes?: readonly string[];
  resourceName?: string;
  resourceDocumentation?: string;
}

/** The RFC 9728 document of one resource. A fresh object per call: the adapters serialize it. */
export function protectedResourceMetadata(input: ProtectedResourceMetadataInput): ProtectedResourceMetadata {
  const metadata: ProtectedResourceMetadata = {
    resource: input.resource,
    authorization_servers: [...input.issuers],
    bearer_methods_supported: ['header'],
    token_types_supported: ['urn:ietf:params:oauth:token-type:access_token'],
    authorization_data_types_supported: ['oauth_scope'],
    authorization_data_locations_supported: ['header'],
    key_challenges_supported: [{ challenge_type: 'urn:ietf:params:oauth:pkce:code_challenge', challenge_algs: ['S256'] }],
    service_documentation: 'https://clerk.com/docs',
  };
  if (input.scopes !== undefined && input.scopes.length > 0) metadata.scopes_supported = [...input.scopes];
  if (input.resourceName !== undefined) metadata.resource_name = input.resourceName;
  if (input.resourceDocumentation !== undefined) metadata.resource_documentation = input.resourceDocumentation;
  return metadata;
}

function quoted(value: string): string {
  // RFC 9110 quoted-string: escape backslash and quote, drop control characters.
  // eslint-disable-next-line no-control-regex
  return `"${value.replace(/[\\"]/g, '\\$&').replace(/[\u0000-\u001f\u007f]/g, ' ')}"`;
}

/**
 * The challenge parameters that point a client at the metadata (RFC 9728 section 5.1), to append to a Bearer
 * challenge: `resource_metadata="<url>"`, and `scope="<scopes>"` when `scopes` are given. The adapters give none on a
 * 401: a client then requests the document's `scopes_supported`; a `scope` in the challenge is for a step-up
 * (`insufficient_scope`), which MCP clients answer by authorizing again.
 *
 * @example
 * `Bearer realm="api", ${resourceMetadataChallenge(url)}` // Bearer realm="api", resource_metadata="https://..."
 */
export function resourceMetadataChallenge(metadataUrl: string, scopes?: readonly string[]): string {
  let params = `resource_metadata=${quoted(metadataUrl)}`;
  if (scopes !== undefined && scopes.length > 0) params += `, scope=${quoted(scopes.join(' '))}`;
  return params;
}

/** Response headers of the metadata document: JSON, cacheable for an hour, readable cross-origin (browser clients). */
export const PROTECTED_RESOURCE_METADATA_HEADERS: Readonly<Record<string, string>> = Object.freeze({
  'Content-Type': 'application/json',
  'Cache-Control': 'public, max-age=3600',
  'Access-Control-Allow-Origin': '*',
});

/** What an adapter needs, built once from the options: no parsing per request. */
export interface ProtectedResources {
  readonly origins: readonly string[];
  readonly scopes: readonly string[] | undefined;
  /**
   * For a 401 on a resource path (`isResource` already said yes): the resource and the challenge parameters, or
   * undefined when the path is not a plain path.
   */
  challenge(path: string, host: string | null | undefined): { resource: string; metadataUrl: string; params: string } | undefined;
  /**
   * For a GET of a well-known path: the resource path it names and its document, or undefined when the path is not a
   * well-known metadata path or names no resource (`isResource` says no): the adapter then answers 404 (or goes on).
   */
  metadata(
    wellKnownPath: string,
    host: string | null | undefined,
    isResource: (resourcePath: string) => boolean,
  ): { resourcePath: string; document: ProtectedResourceMetadata } | undefined;
}

/**
 * Validates the options (at start-up) against the verifier's issuers, and returns what the adapters use per request.
 * Without an issuer (a configuration with only `jwtKey`), no authorization server can be named: a config error.
 */
export function createProtectedResources(
  options: ProtectedResourceOptions,
  issuers: readonly string[] | undefined,
  option = 'protectedResource',
): ProtectedResources {
  if (typeof options !== 'object' || options === null) {
    throw new ClerkAuthConfigError(`"${option}" must be an object such as { origin: "https://api.example.com" }`);
  }
  const origins = parseResourceOrigins(options.origin, `${option}.origin`);
  if (issuers === undefined || issuers.length === 0) {
    throw new ClerkAuthConfigError(
      `"${option}" needs the issuer (Clerk's Frontend API URL) to name as authorization server: set "publishableKey" ` +
        '(CLERK_PUBLISHABLE_KEY) or "issuer"',
    );
  }
  const scopes = stringsOption(options.scopes, `${option}.scopes`);
  for (const scope of scopes ?? []) {
    // RFC 6749 section 3.3: scope-token = 1*( %x21 / %x23-5B / %x5D-7E ).
    if (!/^[\x21\x23-\x5b\x5d-\x7e]+$/.test(scope)) {
      throw new ClerkAuthConfigError(`"${option}.scopes" must be OAuth scope tokens (no spaces, quotes or backslashes)`);
    }
  }
  const resourceName = optionalString(options.resourceName, `${option}.resourceName`);
  const resourceDocumentation = optionalString(options.resourceDocumentation, `${option}.resourceDocumentation`);
  if (resourceDocumentation !== undefined) {
    try {
      new URL(resourceDocumentation);
    } catch {
      throw new ClerkAuthConfigError(`"${option}.resourceDocumentation" must be an absolute URL`);
    }
  }
  const frozenIssuers = Object.freeze([...issuers]);

  return Object.freeze({
    origins,
    scopes,
    challenge(path: string, host: string | null | undefined) {
      const resource = resourceUrl(resourceOriginFor(origins, host), path);
      if (resource === undefined) return undefined;
      const metadataUrl = protectedResourceMetadataUrl(resource);
      return { resource, metadataUrl, params: resourceMetadataChallenge(metadataUrl) };
    },
    metadata(wellKnownPath: string, host: string | null | undefined, isResource: (resourcePath: string) => boolean) {
      const resourcePath = resourcePathFromMetadataPath(wellKnownPath);
      if (resourcePath === undefined || !isResource(resourcePath)) return undefined;
      const resource = resourceUrl(resourceOriginFor(origins, host), resourcePath);
      if (resource === undefined) return undefined;
      return {
        resourcePath,
        document: protectedResourceMetadata({ resource, issuers: frozenIssuers, scopes, resourceName, resourceDocumentation }),
      };
    },
  });
}

function stringsOption(value: unknown, option: string): readonly string[] | undefined {
  if (value === undefined) return undefined;
  if (!Array.isArray(value) || value.some((item) => typeof item !== 'string' || item === '')) {
    throw new ClerkAuthConfigError(`"${option}" must be a list of non-empty strings`);
  }
  return value.length === 0 ? undefined : Object.freeze([...new Set(value as string[])]);
}

function optionalString(value: unknown, option: string): string | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'string' || value.trim() === '') throw new ClerkAuthConfigError(`"${option}" must be a non-empty string`);
  return value;
}
