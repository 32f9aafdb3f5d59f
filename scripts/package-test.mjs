#!/usr/bin/env node
/**
 * Package test: `npm pack` this repository, install the tarball into fresh projects, one per kind of user, and run
 * a small program in each, the way a user of the published package would.
 *
 *   node scripts/package-test.mjs
 *
 * Prints `PASS <check>` / `FAIL <check>: <reason>` per check, `SIZE <project> <MB>` (du -sk node_modules) per
 * project, `INFO ...` lines for facts worth knowing, and last a line `N passed, M failed`; exits 1 if any failed.
 * Needs npm and npx on PATH; Node 22 comes from `npx -p node@22`. Installs use the npm cache first
 * (--prefer-offline). Plain Node ESM, Node built-ins only.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const started = Date.now();
const repo = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const PKG = JSON.parse(readFileSync(join(repo, 'package.json'), 'utf8')).name;
const NPM_FLAGS = ['--prefer-offline', '--no-audit', '--no-fund', '--loglevel=error'];
const CONCURRENCY = Number(process.env.PACKAGE_TEST_CONCURRENCY ?? 3);
const KEEP = process.env.PACKAGE_TEST_KEEP === '1'; // keep the temp dirs, to look at a failure

/**
 * `@mastra/server@^1` is not installable on Node 20: npm prefers versions whose `engines` accept the running Node, and
 * the only 1.x releases without `engines` (>=22.13) are 1.0.2 / 1.0.3, which peer-depend on @mastra/core ^0.8 (ERESOLVE
 * next to @mastra/core@^1). 1.50.0 is the first release whose peer range matches ours (@mastra/core >=1.50) and it has
 * `getEffectivePermission` in `@mastra/server/server-adapter`, which `clerk-mastra-auth/mastra` imports (1.0.4 lacks it).
 */
const MASTRA_SERVER = process.env.PACKAGE_TEST_MASTRA_SERVER ?? '@mastra/server@^1.50';

const T = { pack: 300_000, install: 400_000, program: 60_000, tsc: 180_000, node22: 240_000, du: 30_000 };

// ---------------------------------------------------------------------------------------------------------------
// Child processes: every one bounded by a timeout; on timeout its whole process group (which we started) is killed.

/** Environment for children: not production (the testing kit refuses it), no npm-run leftovers pointing at the repo. */
function childEnv(extra = {}) {
  const env = { ...process.env, ...extra };
  for (const key of Object.keys(env)) {
    if (key.startsWith('npm_package_') || key.startsWith('npm_lifecycle_') || key === 'npm_config_local_prefix') {
      delete env[key];
    }
  }
  if (env.NODE_ENV === 'production') delete env.NODE_ENV;
  delete env.NODE_OPTIONS;
  return env;
}

const children = new Set();

function run(cmd, args, { cwd, timeout, env } = {}) {
  return new Promise((resolvePromise) => {
    const child = spawn(cmd, args, {
      cwd,
      env: env ?? childEnv(),
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true, // own process group, so a timeout kills npm's/npx's children too
    });
    children.add(child);
    let stdout = '';
    let stderr = '';
    let timedOut = false;
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    const timer = setTimeout(() => {
      timedOut = true;
      killGroup(child);
    }, timeout ?? 60_000);
    const finish = (code, error) => {
      clearTimeout(timer);
      children.delete(child);
      resolvePromise({ code, stdout, stderr, timedOut, error, ok: code === 0 && !timedOut && !error });
    };
    child.on('error', (error) => finish(null, error));
    child.on('close', (code) => finish(code));
  });
}

function killGroup(child) {
  try {
    process.kill(-child.pid, 'SIGKILL');
  } catch {
    try {
      child.kill('SIGKILL');
    } catch {
      /* already gone */
    }
  }
}

/** A one-line reason from a failed run. */
function why(r, what) {
  if (r.error) return `${what}: ${r.error.message}`;
  if (r.timedOut) return `${what}: timed out (did not finish or exit by itself)`;
  const text = `${r.stderr}\n${r.stdout}`
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l && !/^npm warn/i.test(l) && !/ExperimentalWarning|--trace-warnings/.test(l));
  return `${what}: exit ${r.code}: ${text.slice(0, 12).join(' | ').slice(0, 1500) || '(no output)'}`;
}

// ---------------------------------------------------------------------------------------------------------------
// Results

const results = [];

function report(name, ok, reason) {
  results.push({ name, ok });
  return ok ? `PASS ${name}` : `FAIL ${name}: ${String(reason).replace(/\s*\n\s*/g, ' | ')}`;
}

/** Runs a node program and expects exit 0 with a line `OK ...` on stdout. */
async function programCheck(name, r) {
  if (!r.ok) return report(name, false, why(r, 'program'));
  const okLine = r.stdout.split('\n').find((l) => l.startsWith('OK'));
  if (!okLine) return report(name, false, `program exited 0 without an OK line: ${r.stdout.slice(0, 500)}`);
  return report(name, true) + (okLine.length > 2 ? `  (${okLine.slice(3)})` : '');
}

// ---------------------------------------------------------------------------------------------------------------
// Programs

const ESM_EXPRESS_MASTRA = `
import express from 'express';
import { Mastra } from '@mastra/core/mastra';
import { MastraServer } from '@mastra/express';
import { createClerkAuth, clerkMastraAuth } from '${PKG}';
import { MastraAuthClerk } from '${PKG}/mastra';
import { createTestIssuer } from '${PKG}/testing';

const issuer = await createTestIssuer();
let server;
try {
  const clerkAuth = createClerkAuth({ ...issuer.authOptions, logger: false });
  const app = express();
  app.use(clerkMastraAuth({ clerkAuth }));
  const mastra = new Mastra({ server: { auth: new MastraAuthClerk({ clerkAuth }) }, logger: false });
  await new MastraServer({ app, mastra, prefix: '/api' }).init();
  server = app.listen(0, '127.0.0.1');
  await new Promise((ok, ko) => { server.once('listening', ok); server.once('error', ko); });
  const base = 'http://127.0.0.1:' + server.address().port;
  const token = await issuer.mintToken({}, { userId: 'user_pkg' });
  const withToken = await fetch(base + '/api/agents', { headers: { authorization: 'Bearer ' + token } });
  const withTokenBody = await withToken.text();
  if (withToken.status !== 200) throw new Error('GET /api/agents with a token: ' + withToken.status + ' ' + withTokenBody.slice(0, 300));
  const without = await fetch(base + '/api/agents');
  await without.text();
  if (without.status !== 401) throw new Error('GET /api/agents without a token: ' + without.status + ', expected 401');
  console.log('OK 200 with token, 401 without');
} finally {
  if (server) { server.closeAllConnections(); await new Promise((ok) => server.close(ok)); }
  await issuer.close();
}
`;

const CJS = `'use strict';
const { verifyClerkToken, clerkMastraAuth } = require('${PKG}');
const { createTestIssuer } = require('${PKG}/testing');
const express = require('express');

(async () => {
  if (typeof clerkMastraAuth !== 'function') throw new Error('clerkMastraAuth is ' + typeof clerkMastraAuth);
  if (typeof express !== 'function') throw new Error('express did not load');
  const issuer = await createTestIssuer();
  try {
    const token = await issuer.mintToken({}, { userId: 'user_cjs' });
    const claims = await verifyClerkToken(token, issuer.authOptions);
    if (claims.sub !== 'user_cjs') throw new Error('unexpected claims: ' + JSON.stringify(claims));
    let rejected = false;
    try { await verifyClerkToken(token + 'x', issuer.authOptions); } catch { rejected = true; }
    if (!rejected) throw new Error('a tampered token was accepted');
    console.log('OK ' + process.version + ', sub ' + claims.sub);
  } finally {
    await issuer.close();
  }
})().catch((error) => { console.error(error && error.stack || error); process.exitCode = 1; });
`;

const TS_MAIN = `
import express from 'express';
import type { Request, Response } from 'express';
import { clerkMastraAuth, createClerkAuth, getClerkAuth, rolePermissions, verifyClerkToken } from '${PKG}';
import type { AuthorizeContext, ClerkAuthOptions, ClerkClaims } from '${PKG}';
import { createTestIssuer } from '${PKG}/testing';
import type { TestIssuer } from '${PKG}/testing';

// Options straight from the environment (string | undefined), as the README writes them: they type-check under
// exactOptionalPropertyTypes too (tsc --init turns it on).
export const fromEnv: ClerkAuthOptions = { publishableKey: process.env.CLERK_PUBLISHABLE_KEY, secretKey: process.env.CLERK_SECRET_KEY };
export const sharedFromEnv = createClerkAuth({
  jwtKey: process.env.CLERK_JWT_KEY,
  env: process.env.NODE_ENV === 'test' ? {} : undefined,
  authorizedParties: process.env.APP_ORIGIN === undefined ? undefined : [process.env.APP_ORIGIN],
});
export const rolesFromEnv = rolePermissions({ organizations: ['org_acme'], roles: { 'org:admin': ['*'] }, withoutOrganization: process.env.SOLO ? ['agents:read'] : undefined });
export const middlewareFromEnv = clerkMastraAuth({ jwtKey: process.env.CLERK_JWT_KEY, optional: process.env.OPTIONAL === '1' ? true : undefined });

const policy = (user: ClerkClaims, ctx: AuthorizeContext): boolean => !ctx.path.startsWith('/admin') || user.sub === 'user_admin';

export async function main(): Promise<string> {
  const issuer: TestIssuer = await createTestIssuer();
  const options: ClerkAuthOptions = { ...issuer.authOptions, authorizeUser: policy, logger: false };
  const app = express();
  app.use(clerkMastraAuth(options));
  app.use(clerkMastraAuth({ clerkAuth: createClerkAuth(options), optional: true }));
  app.get('/me', (req: Request, res: Response) => {
    const userId: string | null | undefined = getClerkAuth(req).userId;
    res.json({ userId });
  });
  const claims: ClerkClaims = await verifyClerkToken(await issuer.mintToken(), options);
  await issuer.close();
  return claims.sub;
}
`;

/** The Mastra provider's options from the environment, under exactOptionalPropertyTypes (tsc --init's default). */
const TS_MASTRA_OPTIONS = `
import { MastraAuthClerk } from '${PKG}/mastra';

export const auth = new MastraAuthClerk({
  publishableKey: process.env.CLERK_PUBLISHABLE_KEY,
  secretKey: process.env.CLERK_SECRET_KEY,
  jwksUri: process.env.CLERK_JWKS_URI,
  oauthClientId: process.env.CLERK_OAUTH_CLIENT_ID,
  oauthClientSecret: process.env.CLERK_OAUTH_CLIENT_SECRET,
  session: { cookiePassword: process.env.STUDIO_COOKIE_PASSWORD, revalidateAfterSeconds: 60 },
  mapUserToResourceId: process.env.SHARED_MEMORY ? () => 'shared' : undefined,
});
`;

const TS_CTS = `
import x = require('${PKG}');
import { verifyClerkToken } from '${PKG}';
import type { ClerkClaims } from '${PKG}';

export async function check(token: string): Promise<string> {
  const claims: ClerkClaims = await verifyClerkToken(token, { jwtKey: 'k' });
  const same: typeof verifyClerkToken = x.verifyClerkToken;
  return claims.sub + typeof same;
}
`;

const EXPRESS_ONLY = `
import express from 'express';
import { clerkMastraAuth, getClerkAuth } from '${PKG}';
import { createTestIssuer } from '${PKG}/testing';

const issuer = await createTestIssuer();
let server;
try {
  const app = express();
  app.use(clerkMastraAuth({ ...issuer.authOptions, logger: false }));
  app.get('/me', (req, res) => res.json({ userId: getClerkAuth(req).userId }));
  server = app.listen(0, '127.0.0.1');
  await new Promise((ok, ko) => { server.once('listening', ok); server.once('error', ko); });
  const base = 'http://127.0.0.1:' + server.address().port;
  const token = await issuer.mintToken({}, { userId: 'user_express' });
  const withToken = await fetch(base + '/me', { headers: { authorization: 'Bearer ' + token } });
  const body = await withToken.text();
  if (withToken.status !== 200 || JSON.parse(body).userId !== 'user_express') throw new Error('GET /me with a token: ' + withToken.status + ' ' + body.slice(0, 300));
  const without = await fetch(base + '/me');
  await without.text();
  if (without.status !== 401) throw new Error('GET /me without a token: ' + without.status + ', expected 401');
  console.log('OK 200 with token, 401 without');
} finally {
  if (server) { server.closeAllConnections(); await new Promise((ok) => server.close(ok)); }
  await issuer.close();
}
`;

const VERIFY_ONLY = `
import { verifyClerkToken, isClerkAuthError } from '${PKG}';
import { createTestIssuer } from '${PKG}/testing';

const issuer = await createTestIssuer();
try {
  const claims = await verifyClerkToken(await issuer.mintToken({}, { userId: 'user_verify' }), issuer.authOptions);
  if (claims.sub !== 'user_verify') throw new Error('unexpected claims: ' + JSON.stringify(claims));
  let code;
  try { await verifyClerkToken(await issuer.mintToken({}, { expired: true }), issuer.authOptions); } catch (e) { code = isClerkAuthError(e) ? e.code : String(e); }
  if (code === undefined) throw new Error('an expired token was accepted');
  console.log('OK sub ' + claims.sub + ', expired token -> ' + code);
} finally {
  await issuer.close();
}
`;

const MASTRA_ONLY = `
import { MastraAuthClerk } from '${PKG}/mastra';
import { createTestIssuer } from '${PKG}/testing';

const issuer = await createTestIssuer();
try {
  const provider = new MastraAuthClerk({ ...issuer.authOptions, env: {}, logger: false });
  const token = await issuer.mintToken({}, { userId: 'user_mastra' });
  const claims = await provider.authenticateToken('', new Request('http://localhost/api/agents', { headers: { authorization: 'Bearer ' + token } }));
  if (!claims || claims.sub !== 'user_mastra') throw new Error('authenticateToken returned ' + JSON.stringify(claims));
  console.log('OK sub ' + claims.sub);
} finally {
  await issuer.close();
}
`;

// ---------------------------------------------------------------------------------------------------------------
// Projects

const root = mkdtempSync(join(tmpdir(), 'clerk-mastra-auth-pkgtest-'));
let cleaned = false;
function cleanup() {
  if (cleaned) return;
  cleaned = true;
  for (const child of children) killGroup(child);
  if (KEEP) {
    console.log(`INFO temp dirs kept in ${root}`);
    return;
  }
  rmSync(root, { recursive: true, force: true });
}
for (const signal of ['SIGINT', 'SIGTERM']) {
  process.on(signal, () => {
    cleanup();
    process.exit(130);
  });
}

function writeFiles(dir, files) {
  for (const [name, content] of Object.entries(files)) {
    writeFileSync(join(dir, name), typeof content === 'string' ? content : `${JSON.stringify(content, null, 2)}\n`);
  }
}

/** Creates the project, installs the tarball and deps; returns { dir, lines } or the install failure. */
async function setup(name, tarball, deps, files, type) {
  const dir = mkdtempSync(join(root, `${name}-`));
  const pkg = { name: `pkgtest-${name}`, version: '0.0.0', private: true };
  if (type) pkg.type = type;
  writeFiles(dir, { 'package.json': pkg, ...files });
  const r = await run('npm', ['install', tarball, ...deps, ...NPM_FLAGS], { cwd: dir, timeout: T.install });
  const size = await run('du', ['-sk', 'node_modules'], { cwd: dir, timeout: T.du });
  const kb = Number.parseInt(size.stdout, 10);
  const sizeLine = `SIZE ${name} ${Number.isFinite(kb) ? (kb / 1024).toFixed(1) : '?'}`;
  const names = deps.map((d) => d.replace(/(.)@.*$/, '$1'));
  const versions = names.map((n) => {
    try {
      return `${n} ${JSON.parse(readFileSync(join(dir, 'node_modules', n, 'package.json'), 'utf8')).version}`;
    } catch {
      return `${n} ?`;
    }
  });
  const versionLine = r.ok && names.length ? `INFO ${name}: ${versions.join(', ')}` : undefined;
  return { dir, installed: r.ok, installError: r.ok ? undefined : why(r, 'npm install'), sizeLine, versionLine };
}

const nodeRun = (dir, file) => run(process.execPath, [file], { cwd: dir, timeout: T.program });

const has = (dir, rel) => existsSync(join(dir, 'node_modules', rel));

/** Every file the exports map points to (and main/types) exists in the installed package. */
function exportTargetsMissing(pkgDir) {
  const pkg = JSON.parse(readFileSync(join(pkgDir, 'package.json'), 'utf8'));
  const targets = new Set([pkg.main, pkg.types].filter(Boolean));
  const walk = (v) => {
    if (typeof v === 'string') targets.add(v);
    else if (v && typeof v === 'object') Object.values(v).forEach(walk);
  };
  walk(pkg.exports);
  return [...targets].filter((t) => !t.includes('*') && !existsSync(join(pkgDir, t)));
}

/** A consumer's strict tsconfig for `module` (its resolution alike unless `extra` says otherwise). */
const tsOptions = (module, extra = {}) => ({
  module,
  moduleResolution: module,
  target: 'es2022',
  strict: true,
  noEmit: true,
  skipLibCheck: true,
  types: ['node'],
  ...extra,
});

const projects = [
  {
    name: 'esm-express-mastra',
    deps: ['express', '@mastra/core@^1', MASTRA_SERVER, '@mastra/express@^1', 'typescript@~5.9', '@types/node@20'],
    type: 'module',
    files: {
      'main.mjs': ESM_EXPRESS_MASTRA,
      'options.ts': TS_MASTRA_OPTIONS,
      'tsconfig.json': {
        compilerOptions: tsOptions('nodenext', { exactOptionalPropertyTypes: true }),
        files: ['options.ts'],
      },
    },
    checks: ['esm-express-mastra', 'ts-mastra-options'],
    async run(dir) {
      const tsc = join(dir, 'node_modules', 'typescript', 'bin', 'tsc');
      const [program, types] = await Promise.all([
        nodeRun(dir, 'main.mjs'),
        run(process.execPath, [tsc, '-p', 'tsconfig.json', '--pretty', 'false'], { cwd: dir, timeout: T.tsc }),
      ]);
      return [await programCheck('esm-express-mastra', program), report('ts-mastra-options', types.ok, why(types, 'tsc'))];
    },
  },
  {
    name: 'cjs',
    deps: ['express'],
    files: { 'main.cjs': CJS },
    checks: ['cjs-node20', 'cjs-node22'],
    async run(dir) {
      const node20 = await programCheck('cjs-node20', await nodeRun(dir, 'main.cjs'));
      const r22 = await run('npx', ['--yes', ...NPM_FLAGS, '-p', 'node@22', '-c', 'node main.cjs'], {
        cwd: dir,
        timeout: T.node22,
      });
      let node22 = await programCheck('cjs-node22', r22);
      if (r22.ok && !/OK v22\./.test(r22.stdout)) {
        results.pop();
        node22 = report('cjs-node22', false, `npx -p node@22 did not run Node 22: ${r22.stdout.trim()}`);
      }
      return [node20, node22];
    },
  },
  {
    name: 'ts',
    deps: ['typescript@~5.9', '@types/node@20', 'express', '@types/express'],
    type: 'module',
    files: {
      'main.ts': TS_MAIN,
      'check.cts': TS_CTS,
      'tsconfig.node16.json': {
        compilerOptions: tsOptions('node16'),
        files: ['main.ts'],
      },
      'tsconfig.bundler.json': {
        compilerOptions: tsOptions('esnext', { moduleResolution: 'bundler', exactOptionalPropertyTypes: true }),
        files: ['main.ts'],
      },
      // Every .d.ts checked, ours included; only errors located in this package's files count (@clerk/shared's
      // declarations name optional packages that are not installed, which is Clerk's, not ours).
      'tsconfig.libcheck.json': {
        compilerOptions: tsOptions('node16', { skipLibCheck: false }),
        files: ['main.ts'],
      },
      'tsconfig.cts-nodenext.json': {
        compilerOptions: tsOptions('nodenext'),
        files: ['check.cts'],
      },
      'tsconfig.cts-node16.json': {
        compilerOptions: tsOptions('node16'),
        files: ['check.cts'],
      },
    },
    checks: ['ts-node16', 'ts-bundler', 'ts-dts-own', 'ts-cts-nodenext'],
    async run(dir) {
      const tsc = join(dir, 'node_modules', 'typescript', 'bin', 'tsc');
      const check = async (name, config) => {
        const r = await run(process.execPath, [tsc, '-p', config, '--pretty', 'false'], { cwd: dir, timeout: T.tsc });
        return r;
      };
      const [node16, bundler, libcheck, ctsNext, cts16] = await Promise.all([
        check('ts-node16', 'tsconfig.node16.json'),
        check('ts-bundler', 'tsconfig.bundler.json'),
        check('ts-dts-own', 'tsconfig.libcheck.json'),
        check('ts-cts-nodenext', 'tsconfig.cts-nodenext.json'),
        check('ts-cts-node16', 'tsconfig.cts-node16.json'),
      ]);
      const dtsOwn = (r) => {
        if (r.error || r.timedOut) return [report('ts-dts-own', false, why(r, 'tsc'))];
        const errors = r.stdout.split('\n').filter((l) => /error TS\d+/.test(l));
        const own = errors.filter((l) => l.startsWith(`node_modules/${PKG}/`) || !l.startsWith('node_modules/'));
        const others = [...new Set(errors.filter((l) => !own.includes(l)).map((l) => l.split('(')[0]))];
        return [
          report('ts-dts-own', own.length === 0 && (r.ok || errors.length > 0), own.join(' | ').slice(0, 1500) || why(r, 'tsc')),
          ...(others.length ? [`INFO ts-dts-own: skipLibCheck false also reports errors in other packages' .d.ts (not counted): ${others.join(', ')}`] : []),
        ];
      };
      const errs = (r) => (r.stdout.match(/error TS\d+/g) ?? []).join(',');
      return [
        report('ts-node16', node16.ok, why(node16, 'tsc')),
        report('ts-bundler', bundler.ok, why(bundler, 'tsc')),
        ...dtsOwn(libcheck),
        report('ts-cts-nodenext', ctsNext.ok, why(ctsNext, 'tsc')),
        // Informative only, not counted: module node16 does not model require() of ES modules (TS1479 expected).
        `INFO ts-cts-node16 (not counted): ${cts16.ok ? 'type-checks' : `does not type-check: ${errs(cts16) || why(cts16, 'tsc')}`}`,
      ];
    },
  },
  {
    name: 'express-only',
    deps: ['express'],
    type: 'module',
    files: { 'main.mjs': EXPRESS_ONLY },
    checks: ['express-only', 'express-only-no-mastra'],
    async run(dir) {
      return [
        await programCheck('express-only', await nodeRun(dir, 'main.mjs')),
        report('express-only-no-mastra', !has(dir, '@mastra'), 'node_modules/@mastra exists'),
      ];
    },
  },
  {
    name: 'verify-only',
    deps: [],
    type: 'module',
    files: { 'main.mjs': VERIFY_ONLY },
    checks: ['verify-only', 'verify-only-no-frameworks', 'exports-files'],
    async run(dir) {
      const present = ['express', '@mastra'].filter((p) => has(dir, p));
      const missing = exportTargetsMissing(join(dir, 'node_modules', PKG));
      return [
        await programCheck('verify-only', await nodeRun(dir, 'main.mjs')),
        report('verify-only-no-frameworks', present.length === 0, `installed without being asked: ${present.map((p) => `node_modules/${p}`).join(', ')}`),
        report('exports-files', missing.length === 0, `files named in package.json but not in the tarball: ${missing.join(', ')}`),
      ];
    },
  },
  {
    name: 'mastra-only',
    deps: ['@mastra/core@^1', MASTRA_SERVER],
    type: 'module',
    files: { 'main.mjs': MASTRA_ONLY },
    checks: ['mastra-only'],
    async run(dir) {
      const express = has(dir, 'express') ? JSON.parse(readFileSync(join(dir, 'node_modules', 'express', 'package.json'), 'utf8')).version : undefined;
      return [
        await programCheck('mastra-only', await nodeRun(dir, 'main.mjs')),
        `INFO mastra-only: express ${express ? `${express} installed transitively (not asked for)` : 'not installed'}`,
      ];
    },
  },
];

// ---------------------------------------------------------------------------------------------------------------
// Main

async function main() {
  const packDir = mkdtempSync(join(root, 'pack-'));
  const packed = await run('npm', ['pack', '--pack-destination', packDir, ...NPM_FLAGS], { cwd: repo, timeout: T.pack });
  const tgz = existsSync(packDir) ? readdirSync(packDir).filter((f) => f.endsWith('.tgz')) : [];
  if (!packed.ok || tgz.length !== 1) {
    console.log(report('pack', false, why(packed, 'npm pack') + (packed.ok ? `; tarballs: ${tgz.join(', ') || 'none'}` : '')));
    for (const p of projects) for (const c of p.checks) console.log(report(c, false, 'npm pack failed'));
    return;
  }
  const tarball = join(packDir, tgz[0]);
  console.log(report('pack', true) + `  (${tgz[0]})`);

  // Projects run CONCURRENCY at a time; their lines are printed in the order above.
  const pending = projects.map(() => undefined);
  let next = 0;
  const worker = async () => {
    while (next < projects.length) {
      const i = next++;
      const p = projects[i];
      pending[i] = (async () => {
        const s = await setup(p.name, tarball, p.deps, p.files, p.type);
        if (!s.installed) return [s.sizeLine, ...p.checks.map((c) => report(c, false, s.installError))];
        try {
          return [s.sizeLine, ...(s.versionLine ? [s.versionLine] : []), ...(await p.run(s.dir))];
        } catch (error) {
          return [s.sizeLine, ...p.checks.map((c) => report(c, false, `harness error: ${error?.stack ?? error}`))];
        }
      })();
      await pending[i];
    }
  };
  const workers = Array.from({ length: Math.max(1, CONCURRENCY) }, worker);
  for (let i = 0; i < projects.length; i++) {
    while (pending[i] === undefined) await new Promise((r) => setTimeout(r, 50));
    for (const line of await pending[i]) console.log(line);
  }
  await Promise.all(workers);
}

let exitCode = 1;
try {
  await main();
} catch (error) {
  console.log(report('harness', false, error?.stack ?? error));
} finally {
  cleanup();
  const passed = results.filter((r) => r.ok).length;
  const failed = results.length - passed;
  console.log(`INFO total ${((Date.now() - started) / 1000).toFixed(0)} s`);
  console.log(`${passed} passed, ${failed} failed`);
  exitCode = failed > 0 || passed === 0 ? 1 : 0;
}
process.exit(exitCode);
