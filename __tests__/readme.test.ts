/**
 * The README's "Testing your app" example is the file __tests__/readme-example.test.ts, which runs in this suite:
 * this test fails when the two drift apart.
 */
import { describe, expect, it } from '@jest/globals';
import { readFileSync } from 'node:fs';

describe('README', () => {
  it('shows the testing example exactly as it runs in the suite', () => {
    const readme = readFileSync('README.md', 'utf8');
    const match = /<!-- readme-example:start -->\n```ts\n([\s\S]*?)```\n<!-- readme-example:end -->/.exec(readme);
    expect(match).not.toBeNull();
    expect(match![1]).toBe(readFileSync('__tests__/readme-example.test.ts', 'utf8'));
  });

  it('shows the two commands a newcomer runs', () => {
    const readme = readFileSync('README.md', 'utf8');
    expect(readme).toContain('npm start');
    expect(readme).toContain('npm test');
  });
});
