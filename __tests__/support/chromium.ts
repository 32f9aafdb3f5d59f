/**
 * Debian's Chromium for the suites that test a page in a real browser (never a browser download), and how they behave
 * without it: skipped with a reason on a developer's machine, so `npm test` passes on a fresh clone, and a failure
 * under CI (`CI` set), where `.ci/run` installs it and a skipped browser suite would hide a regression.
 */
import { execFileSync } from 'node:child_process';
import { it } from '@jest/globals';

/** Where Chromium is: `CHROMIUM_PATH`, else `which chromium`; undefined when there is none. */
export const chromiumPath: string | undefined = process.env.CHROMIUM_PATH ?? findChromium();

/** The flags every browser suite launches Chromium with. */
export const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking'];

function findChromium(): string | undefined {
  try {
    return execFileSync('which', ['chromium'], { encoding: 'utf8' }).trim() || undefined;
  } catch {
    return undefined;
  }
}

/**
 * Whether the tests that need Chromium can run, called once at a file's top level: when there is none, a warning on a
 * developer's machine (the caller skips them), and under CI a failing test in their place. `what` names them.
 */
export function hasChromium(what: string): boolean {
  if (chromiumPath) return true;
  const why = `no Chromium (CHROMIUM_PATH, \`which chromium\`): ${what} cannot run`;
  if (process.env.CI) {
    it('needs Chromium under CI', () => {
      throw new Error(`CI is set but ${why}`);
    });
  } else {
    console.warn(`${why}; skipped (apt-get install chromium runs it)`);
  }
  return false;
}
