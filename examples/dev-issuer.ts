/**
 * The embedded development issuer of `npm start` and `npm run token`: a stand-in for a Clerk development instance
 * (a Frontend API host, a `pk_test_` publishable key, an RSA key pair, its JWKS on 127.0.0.1, v2 session tokens).
 *
 * It is the testing kit's `createTestIssuer()` (`clerk-mastra-auth/testing`) given a kept key: instead of a new key per
 * run (what test suites want), its key pair is kept in a git-ignored file, `<DEMO_DATA_DIR or data>/dev-issuer.json`,
 * so that tokens survive restarts of the demo server. Delete the file to get a new instance (every token minted before
 * stops working).
 *
 * Development only: it refuses to run with `NODE_ENV=production`, and its JWKS listens on 127.0.0.1 only.
 */
import { createHash, randomBytes } from 'node:crypto';
import { link, mkdir, readFile, unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { exportJWK, generateKeyPair } from 'jose';
import type { JWK } from 'jose';
import { createTestIssuer, type TestIssuer, type TestOrg } from '../src/testing/index.js';

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
export type DevOrg = TestOrg;

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
  /** Where the JWKS is served: `http://127.0.0.1:<ephemeral port>/.well-known/jwks.json`. */
  readonly jwksUri: string;
  mint(options: DevMintOptions): Promise<DevToken>;
  /** Stops serving the JWKS (minting still works). Call it when done, or the process stays alive. */
  close(): Promise<void>;
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
 * Loads the development issuer from `<dir>/dev-issuer.json`, creating the file (mode 0600) on first use, and serves its
 * JWKS on an ephemeral port of 127.0.0.1 until `close()`. Throws a `DemoError` under `NODE_ENV=production` or for a
 * damaged key file.
 */
export async function loadDevIssuer({ dir = dataDirOf(), env = process.env }: { dir?: string; env?: Env } = {}): Promise<DevIssuer> {
  refuseProduction(env);
  await mkdir(dir, { recursive: true });
  const keyFile = join(dir, 'dev-issuer.json');
  const existing = await readKeyFile(keyFile);
  const { file, created } = existing ? { file: existing, created: false } : await createKeyFile(keyFile);

  let kit: TestIssuer;
  try {
    kit = await createTestIssuer({ frontendApi: file.frontendApi, key: { privateJwk: file.privateJwk, kid: file.kid } });
  } catch (error) {
    if (error instanceof TypeError) throw new DemoError(`${keyFile}: ${error.message} Delete it to make a new one.`);
    throw error;
  }

  const mint = async (options: DevMintOptions): Promise<DevToken> => {
    // One session per user and key, as a signed-in browser keeps its session across token refreshes.
    const sid = `sess_${createHash('sha256').update(`${kit.kid}:${options.userId}`).digest('hex').slice(0, 27)}`;
    const org = options.org && { ...options.org, slug: options.org.slug || undefined };
    const token = await kit.mintToken(
      { azp: options.azp ?? undefined, sid },
      { userId: options.userId, org, expiresInSeconds: options.expiresInSeconds, pending: options.pending, expired: options.expired },
    );
    const { header, claims } = decodeJwt(token) as { header: Record<string, unknown>; claims: Record<string, unknown> };
    return { token, header, claims, expiresAt: new Date(Number(claims.exp) * 1000) };
  };

  return {
    keyFile,
    created,
    frontendApi: kit.frontendApi,
    issuer: kit.issuer,
    publishableKey: kit.publishableKey,
    kid: kit.kid,
    jwksUri: kit.jwksUri,
    mint,
    close: kit.close,
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
