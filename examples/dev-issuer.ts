/**
 * The embedded development issuer of `npm start` and `npm run token`: a stand-in for a Clerk development instance
 * (a Frontend API host, a `pk_test_` publishable key, an RSA key pair, its JWKS on 127.0.0.1, v2 session tokens).
 *
 * Unlike the testing kit's `createTestIssuer()` (a new key per run, for test suites), its key pair is kept in a
 * git-ignored file, `<DEMO_DATA_DIR or data>/dev-issuer.json`, so that tokens survive restarts of the demo server.
 * Delete the file to get a new instance (every token minted before stops working).
 *
 * Development only: it refuses to run with `NODE_ENV=production`, and its JWKS listens on 127.0.0.1 only.
 */
import { createHash, randomBytes, webcrypto } from 'node:crypto';
import { link, mkdir, readFile, unlink, writeFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { exportJWK, generateKeyPair, importJWK } from 'jose';
import type { JWK } from 'jose';

/** The variables that make `npm start` use real Clerk instead of the development issuer. */
export const CLERK_KEY_VARIABLES = ['CLERK_PUBLISHABLE_KEY', 'CLERK_SECRET_KEY', 'CLERK_JWKS_URI', 'CLERK_JWT_KEY'] as const;

type Env = Record<string, string | undefined>;

/** The `CLERK_*` key variables set (non-empty) in `env`: none means development mode. */
export function clerkVariablesSet(env: Env = process.env): string[] {
  return CLERK_KEY_VARIABLES.filter((name) => (env[name] ?? '').trim() !== '');
}

/** Where the demo keeps its state (key file, LibSQL database): `DEMO_DATA_DIR`, else `data/` (git-ignored). */
export function dataDirOf(env: Env = process.env): string {
  return env.DEMO_DATA_DIR || 'data';
}

/** A one-line, user-facing failure: printed without a stack trace. */
export class DemoError extends Error {
  override readonly name = 'DemoError';
}

/** Throws a `DemoError` when `NODE_ENV` is `production`: the development issuer signs tokens with its own keys. */
export function refuseProduction(env: Env = process.env): void {
  if (env.NODE_ENV === 'production') {
    throw new DemoError(
      'NODE_ENV is "production" and no CLERK_* key is set: the development issuer refuses to run in production. ' +
        'Set CLERK_PUBLISHABLE_KEY (and optionally CLERK_JWKS_URI or CLERK_JWT_KEY) to use real Clerk.',
    );
  }
}

/** An organization membership (Clerk's user-facing form: `org:admin`, `org:<feature>:<permission>`). */
export interface DevOrg {
  id: string;
  slug?: string;
  role: string;
  permissions?: string[];
}

export interface DevMintOptions {
  /** `sub`. */
  userId: string;
  org?: DevOrg;
  /** `azp`: the origin that asked for the token; `null` leaves it out. */
  azp: string | null;
  /** `exp - iat`, default 60 (Clerk's session-token lifetime). */
  expiresInSeconds?: number;
  /** `sts: 'pending'`: a session with pending tasks, signed out for the server. */
  pending?: boolean;
  /** `exp` 120 s in the past. */
  expired?: boolean;
}

export interface DevToken {
  token: string;
  header: Record<string, unknown>;
  claims: Record<string, unknown>;
  /** `exp`, as a Date. */
  expiresAt: Date;
}

/** The demo's sign-in choices: what the playground offers and `npm run token -- --user <name>` mints. */
export const DEV_USERS = {
  member: {
    label: 'Member of Acme (org:member)',
    userId: 'user_member',
    org: { id: 'org_acme', slug: 'acme', role: 'org:member', permissions: ['org:weather:read'] },
  },
  admin: {
    label: 'Admin of Acme (org:admin)',
    userId: 'user_admin',
    org: { id: 'org_acme', slug: 'acme', role: 'org:admin', permissions: ['org:weather:read', 'org:weather:manage'] },
  },
  banned: {
    label: 'Banned user (the policy refuses user_banned_*)',
    userId: 'user_banned_1',
    org: undefined,
  },
} satisfies Record<string, { label: string; userId: string; org: DevOrg | undefined }>;
export type DevUserName = keyof typeof DEV_USERS;

export interface DevIssuer {
  /** The key file, e.g. `data/dev-issuer.json`. */
  readonly keyFile: string;
  /** True when this call created the key file (first run, or after it was deleted). */
  readonly created: boolean;
  /** Frontend API host, e.g. `demo-1a2b3c4d.clerk.accounts.dev` (never resolved: the JWKS is served locally). */
  readonly frontendApi: string;
  /** `https://<frontendApi>`, the `iss` of its tokens. */
  readonly issuer: string;
  /** `pk_test_` + base64(`<frontendApi>$`), as Clerk's development instances. */
  readonly publishableKey: string;
  readonly kid: string;
  /** The public key set. */
  readonly jwks: { keys: JWK[] };
  mint(options: DevMintOptions): Promise<DevToken>;
  /** Serves the JWKS at `http://127.0.0.1:<ephemeral port>/.well-known/jwks.json`. */
  serveJwks(): Promise<{ jwksUri: string; close(): Promise<void> }>;
}

interface KeyFile {
  about: string;
  frontendApi: string;
  kid: string;
  privateJwk: JWK;
  createdAt: string;
}

const ABOUT =
  'Development issuer of the clerk-mastra-auth demo (npm start, npm run token). Its tokens are accepted only by the ' +
  'demo in development mode. Never use it in production. Delete this file for a new key: older tokens then fail.';

function isKeyFile(value: unknown): value is KeyFile {
  const file = value as Partial<KeyFile> | null;
  return (
    typeof file === 'object' &&
    file !== null &&
    typeof file.frontendApi === 'string' &&
    /^[a-z0-9-]+\.clerk\.accounts\.dev$/.test(file.frontendApi) &&
    typeof file.kid === 'string' &&
    typeof file.privateJwk === 'object' &&
    file.privateJwk?.kty === 'RSA' &&
    typeof file.privateJwk.d === 'string'
  );
}

async function readKeyFile(path: string): Promise<KeyFile | undefined> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    parsed = undefined;
  }
  if (!isKeyFile(parsed)) throw new DemoError(`${path} is not a development-issuer key file: delete it to make a new one.`);
  return parsed;
}

/** Creates the key file, or reads the one another process created at the same moment (never overwrites). */
async function createKeyFile(path: string): Promise<{ file: KeyFile; created: boolean }> {
  const { privateKey } = await generateKeyPair('RS256', { extractable: true, modulusLength: 2048 });
  const file: KeyFile = {
    about: ABOUT,
    frontendApi: `demo-${randomBytes(4).toString('hex')}.clerk.accounts.dev`,
    kid: `ins_dev_${randomBytes(12).toString('hex')}`,
    privateJwk: await exportJWK(privateKey),
    createdAt: new Date().toISOString(),
  };
  // Written whole under a temporary name, then linked into place: readers never see half a file, and a file that
  // appeared meanwhile wins (link fails with EEXIST).
  const temporary = `${path}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
  await writeFile(temporary, `${JSON.stringify(file, null, 2)}\n`, { mode: 0o600 });
  try {
    await link(temporary, path);
    return { file, created: true };
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    return { file: (await readKeyFile(path))!, created: false };
  } finally {
    await unlink(temporary).catch(() => undefined);
  }
}

/**
 * Encodes an organization as Clerk's v2 session tokens do: `o.rol` without the `org:` prefix, `o.per` the permission
 * names, `fea` the features (`o:<feature>`), `o.fpm` one bitmask per feature over `o.per`.
 */
export function encodeOrg(org: DevOrg): { o: Record<string, unknown>; fea?: string } {
  const features: string[] = [];
  const names: string[] = [];
  const pairs: Array<[number, number]> = [];
  for (const permission of org.permissions ?? []) {
    const parts = (permission.startsWith('org:') ? permission.slice(4) : permission).split(':');
    const [feature, name] = parts;
    if (parts.length !== 2 || !feature || !name) {
      throw new DemoError(`Invalid permission "${permission}": expected org:<feature>:<permission>, e.g. org:weather:read.`);
    }
    let f = features.indexOf(feature);
    if (f === -1) f = features.push(feature) - 1;
    let n = names.indexOf(name);
    if (n === -1) n = names.push(name) - 1;
    pairs.push([f, n]);
  }
  const masks = features.map(() => 0);
  for (const [f, n] of pairs) masks[f] = (masks[f] ?? 0) | (1 << n);
  const o: Record<string, unknown> = { id: org.id, rol: org.role.replace(/^org:/, '') };
  if (org.slug) o.slg = org.slug;
  if (names.length === 0) return { o };
  o.per = names.join(',');
  o.fpm = masks.join(',');
  return { o, fea: features.map((feature) => `o:${feature}`).join(',') };
}

const b64url = (data: Uint8Array | string): string => Buffer.from(data).toString('base64url');

/**
 * Loads the development issuer from `<dir>/dev-issuer.json`, creating the file (mode 0600) on first use.
 * Throws a `DemoError` under `NODE_ENV=production` or for a damaged key file.
 */
export async function loadDevIssuer({ dir = dataDirOf(), env = process.env }: { dir?: string; env?: Env } = {}): Promise<DevIssuer> {
  refuseProduction(env);
  await mkdir(dir, { recursive: true });
  const keyFile = join(dir, 'dev-issuer.json');
  const existing = await readKeyFile(keyFile);
  const { file, created } = existing ? { file: existing, created: false } : await createKeyFile(keyFile);

  const privateKey = (await importJWK({ ...file.privateJwk, alg: 'RS256' }, 'RS256')) as CryptoKey;
  const { kty, n, e } = file.privateJwk;
  const publicJwk: JWK = { kid: file.kid, kty, alg: 'RS256', use: 'sig', n, e };
  const issuer = `https://${file.frontendApi}`;

  const mint = async (options: DevMintOptions): Promise<DevToken> => {
    const lifetime = options.expiresInSeconds ?? 60;
    const now = Math.floor(Date.now() / 1000);
    const exp = options.expired ? now - 120 : now + lifetime;
    const iat = exp - lifetime;
    // One session per user and key, as a signed-in browser keeps its session across token refreshes.
    const sid = `sess_${createHash('sha256').update(`${file.kid}:${options.userId}`).digest('hex').slice(0, 27)}`;
    const claims: Record<string, unknown> = {
      ...(options.azp === null ? {} : { azp: options.azp }),
      exp,
      fva: [0, -1],
      iat,
      iss: issuer,
      nbf: iat - 10,
      sid,
      sts: options.pending ? 'pending' : 'active',
      sub: options.userId,
      v: 2,
    };
    if (options.org) {
      const { o, fea } = encodeOrg(options.org);
      claims.o = o;
      if (fea) claims.fea = fea;
    }
    const header = { alg: 'RS256', kid: file.kid, typ: 'JWT' };
    const input = `${b64url(JSON.stringify(header))}.${b64url(JSON.stringify(claims))}`;
    const signature = await webcrypto.subtle.sign({ name: 'RSASSA-PKCS1-v1_5' }, privateKey, new TextEncoder().encode(input));
    return { token: `${input}.${b64url(new Uint8Array(signature))}`, header, claims, expiresAt: new Date(exp * 1000) };
  };

  const serveJwks = async () => {
    const body = JSON.stringify({ keys: [publicJwk] });
    const server = createServer((req, res) => {
      const path = new URL(req.url ?? '/', 'http://127.0.0.1').pathname;
      const ok = path === '/.well-known/jwks.json' && (req.method === 'GET' || req.method === 'HEAD');
      res.writeHead(ok ? 200 : 404, { 'content-type': 'application/json', 'cache-control': 'no-store' });
      res.end(ok ? body : '{"error":"not found"}');
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => resolve());
    });
    const { port } = server.address() as AddressInfo;
    return {
      jwksUri: `http://127.0.0.1:${port}/.well-known/jwks.json`,
      close: () =>
        new Promise<void>((resolve) => {
          server.close(() => resolve());
          server.closeAllConnections();
        }),
    };
  };

  return {
    keyFile,
    created,
    frontendApi: file.frontendApi,
    issuer,
    publishableKey: `pk_test_${Buffer.from(`${file.frontendApi}$`).toString('base64')}`,
    kid: file.kid,
    jwks: { keys: [publicJwk] },
    mint,
    serveJwks,
  };
}

/** The decoded header and claims of a JWT (no verification: for display). */
export function decodeJwt(token: string): { header: unknown; claims: unknown } {
  const [header, payload] = token.split('.');
  return {
    header: JSON.parse(Buffer.from(header ?? '', 'base64url').toString('utf8')),
    claims: JSON.parse(Buffer.from(payload ?? '', 'base64url').toString('utf8')),
  };
}
