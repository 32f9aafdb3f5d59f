/**
 * The public surface: what each entry point exports. A change here is a change to the API.
 */
import { describe, expect, it } from '@jest/globals';
import { createRequire } from 'node:module';
import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import ts from 'typescript';

describe('public API', () => {
  it('"." exports the core and the Express adapter', async () => {
    const api = await import('clerk-mastra-auth');
    expect(Object.keys(api).sort()).toEqual([
      'ClerkAuthConfigError',
      'ClerkAuthError',
      'clerkMastraAuth',
      'createClerkAuth',
      'getClerkAuth',
      'getClerkClaims',
      'isClerkAuthError',
      'parsePublishableKey',
      'requireClerkAuth',
      'rolePermissions',
      'toErrorResponse',
      'verifyClerkToken',
    ]);
  });

  it('"./mastra" exports the Mastra provider and the memory-ownership guard', async () => {
    const mastra = await import('clerk-mastra-auth/mastra');
    expect(Object.keys(mastra).sort()).toEqual(['MastraAuthClerk', 'MemoryOwnershipError', 'protectMemory']);
  });

  it('"./client" exports the fresh-token client and its fetch wrapper', async () => {
    const client = await import('clerk-mastra-auth/client');
    expect(Object.keys(client).sort()).toEqual(['createClerkMastraClient', 'withClerkToken']);
  });

  it('"./testing" exports the local issuer and OAuth server, and the main entry never imports it', async () => {
    const testing = await import('clerk-mastra-auth/testing');
    expect(Object.keys(testing).sort()).toEqual(['createTestIssuer', 'createTestOAuthServer']);
    const sources = ['src/index.ts', 'src/core/clerk-auth.ts'].map((file) => readFileSync(file, 'utf8')).join('\n');
    expect(sources).not.toMatch(/testing/);
  });

  it('package.json maps each entry point to its source, built under dist/src, and to a CommonJS shim of the same build', () => {
    const pkg = JSON.parse(readFileSync('package.json', 'utf8'));
    expect(Object.keys(pkg.exports)).toEqual(['.', './mastra', './client', './testing', './package.json']);
    expect(pkg.exports['./package.json']).toBe('./package.json');
    expect(pkg.type).toBe('module');
    expect(pkg.engines.node).toBe('>=20.9');
    expect([pkg.main, pkg.types]).toEqual([pkg.exports['.'].import, pkg.exports['.'].types]);
    // `npm run build` (tsconfig.build.json) compiles src/<entry>/index.ts to dist/src/<entry>/index.js and .d.ts.
    const build = ts.parseJsonConfigFileContent(ts.readConfigFile('tsconfig.build.json', ts.sys.readFile).config, ts.sys, process.cwd());
    expect({ rootDir: build.options.rootDir, outDir: build.options.outDir, declaration: build.options.declaration }).toEqual({
      rootDir: resolve('.'),
      outDir: resolve('dist'),
      declaration: true,
    });
    expect(pkg.scripts.build).toContain('tsc -p tsconfig.build.json');
    for (const entry of ['.', './mastra', './client', './testing']) {
      const dir = entry === '.' ? '' : `${entry.slice(2)}/`;
      // The source the build compiles to these paths.
      expect({ entry, source: existsSync(`src/${dir}index.ts`), built: build.fileNames.includes(resolve(`src/${dir}index.ts`)) }).toEqual({
        entry,
        source: true,
        built: true,
      });
      const shim = `cjs/${entry === '.' ? 'index' : entry.slice(2)}.cjs`;
      expect(pkg.exports[entry]).toEqual({
        types: `./dist/src/${dir}index.d.ts`,
        import: `./dist/src/${dir}index.js`,
        require: `./${shim}`,
        default: `./dist/src/${dir}index.js`,
      });
      // The shim exists and requires exactly the ES build that "import" names.
      const required = [...readFileSync(shim, 'utf8').matchAll(/require\((['"])(.+?)\1\)/g)].map((m) => m[2]);
      expect({ shim, required }).toEqual({ shim, required: ['./load.cjs', `../dist/src/${dir}index.js`] });
      expect(join('cjs', required[1]!)).toBe(join(pkg.exports[entry].import));
    }
  });

  it('tells a Node without require(esm) why require() fails and what to do', () => {
    const load = createRequire(import.meta.url)('../cjs/load.cjs') as (requireEsm: () => unknown) => unknown;
    const old = Object.assign(new Error('require() of ES Module'), { code: 'ERR_REQUIRE_ESM' });
    expect(() => load(() => { throw old; })).toThrow(/needs Node 20\.19\+ or 22\.12\+ \(this is v\d+/);
    const other = new Error('something else');
    expect(() => load(() => { throw other; })).toThrow(other);
    expect(load(() => ({ ok: true }))).toEqual({ ok: true });
  });

  it('publishes what the exports map points to', () => {
    const pkg = JSON.parse(readFileSync('package.json', 'utf8'));
    expect(pkg.files).toEqual(expect.arrayContaining(['dist/src', 'cjs']));
  });
});
