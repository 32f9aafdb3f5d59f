/**
 * The README's "Testing your app" example is the file __tests__/readme-example.test.ts, which runs in this suite:
 * this test fails when the two drift apart.
 */
import { describe, expect, it } from '@jest/globals';
import { existsSync, readFileSync } from 'node:fs';

describe('README', () => {
  it('shows the testing example exactly as it runs in the suite', () => {
    const readme = readFileSync('README.md', 'utf8');
    const match = /<!-- readme-example:start -->\n```ts\n([\s\S]*?)```\n<!-- readme-example:end -->/.exec(readme);
    expect(match).not.toBeNull();
    expect(match![1]).toBe(readFileSync('__tests__/readme-example.test.ts', 'utf8'));
  });

  it('names only npm scripts that package.json defines, and every file those scripts run exists', () => {
    const readme = readFileSync('README.md', 'utf8');
    const scripts: Record<string, string> = JSON.parse(readFileSync('package.json', 'utf8')).scripts;
    const named = new Set([...readme.matchAll(/\bnpm (?:run ([\w:-]+)|(start|test))\b/g)].map((m) => (m[1] ?? m[2])!));
    // The newcomer's two commands, the demo's token and tour, the benchmark and the package test.
    expect([...named].sort()).toEqual(['bench', 'start', 'test', 'test:package', 'test:resilience', 'token', 'tour']);
    for (const name of named) {
      expect({ name, defined: name in scripts }).toEqual({ name, defined: true });
      const files = scripts[name]!.split(/\s+/).filter((word) => /\.(?:[cm]?[jt]s)$/.test(word));
      for (const file of files) expect({ script: name, file, exists: existsSync(file) }).toEqual({ script: name, file, exists: true });
    }
    expect(scripts.start).toBe('node --import tsx examples/start.ts');
    expect(scripts.token).toBe('node --import tsx examples/token.ts');
    expect(scripts.tour).toBe('node --import tsx examples/tour.ts');
  });
});
