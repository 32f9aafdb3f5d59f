/**
 * The library reads Mastra's route table from the `@mastra/server` the app resolves, while `@mastra/express` and
 * `@mastra/deployer` (Mastra's own server) each depend on one exact version of it: an app can hold two copies (a new-user
 * session found 1.68.0 and 1.69.0 side by side). Every copy installed here must serve the table the library reads, or
 * the routes judged differ from the routes served; this fails the day a dependency bump makes them differ.
 */
import { describe, expect, it } from '@jest/globals';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { SERVER_ROUTES, type ServerRoute } from '@mastra/server/server-adapter';

/** Every installed copy of @mastra/server: the top-level one and any nested under another package. */
function copies(): string[] {
  const found = new Set<string>();
  const visit = (modules: string, depth: number): void => {
    if (!existsSync(modules) || depth > 3) return;
    for (const name of readdirSync(modules)) {
      if (name.startsWith('.')) continue;
      const scoped = name.startsWith('@') ? readdirSync(join(modules, name)).map((inner) => join(modules, name, inner)) : [join(modules, name)];
      for (const dir of scoped) {
        if (dir.endsWith(join('@mastra', 'server')) && existsSync(join(dir, 'package.json'))) found.add(dir);
        visit(join(dir, 'node_modules'), depth + 1);
      }
    }
  };
  visit(join(process.cwd(), 'node_modules'), 0);
  return [...found];
}

const shape = (schema: unknown): string[] | null => {
  const fields = (schema as { shape?: Record<string, unknown> } | undefined)?.shape;
  return fields ? Object.keys(fields).sort() : null;
};
const table = (routes: readonly ServerRoute[]): Record<string, unknown> =>
  Object.fromEntries(
    routes.map((r) => [
      `${r.method} ${r.path}`,
      { query: shape(r.queryParamSchema), body: shape(r.bodySchema), permission: r.requiresPermission ?? null, auth: r.requiresAuth ?? null },
    ]),
  );

describe('every installed @mastra/server serves the route table the library reads', () => {
  const dirs = copies();
  it('finds the copies (the top-level one at least)', () => {
    expect(dirs.length).toBeGreaterThanOrEqual(1);
  });
  it.each(dirs.map((dir) => [dir.slice(process.cwd().length + 1), dir]))('%s', async (_name, dir) => {
    const pkg = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as { exports: Record<string, { import: string | { default: string } }> };
    const entry = pkg.exports['./server-adapter']!.import;
    const file = join(dir, typeof entry === 'string' ? entry : entry.default);
    const copy = (await import(pathToFileURL(file).href)) as { SERVER_ROUTES: readonly ServerRoute[] };
    expect(dirname(file)).toContain(dir);
    expect(table(copy.SERVER_ROUTES)).toEqual(table(SERVER_ROUTES));
  });
});
