/**
 * The seed's own code on Mastra 1.x: `server.experimental_auth` (Mastra 0.x's name) is ignored by Mastra 1.x and the
 * server answers everyone. The provider notices that Mastra never used it and says so, naming the fix.
 */
import { afterEach, describe, expect, it, jest } from '@jest/globals';
import express from 'express';
import { Mastra } from '@mastra/core/mastra';
import { MastraServer } from '@mastra/express';
import { MastraAuthClerk } from '../../src/mastra/index.js';

const KEY_OPTIONS = { jwksUri: 'http://127.0.0.1:9/.well-known/jwks.json', env: {} };

afterEach(() => {
  jest.useRealTimers();
});

async function serve(server: Record<string, unknown>): Promise<void> {
  await new MastraServer({ app: express(), mastra: new Mastra({ server: server as never, logger: false }), prefix: '/api' }).init();
}

describe('a provider Mastra never uses', () => {
  it('is reported at warn level, naming server.auth, when it sits under server.experimental_auth', async () => {
    jest.useFakeTimers({ doNotFake: ['nextTick', 'queueMicrotask', 'setImmediate'] });
    const warnings: string[] = [];
    const provider = new MastraAuthClerk({ ...KEY_OPTIONS, logger: { warn: (line) => warnings.push(line) } });
    await serve({ experimental_auth: provider });
    jest.advanceTimersByTime(9_999);
    expect(warnings).toEqual([]);
    jest.advanceTimersByTime(1);
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toContain('Mastra has not used it yet. A server that has had no request yet says this too');
    expect(warnings[0]).toContain('it ignores server.experimental_auth');
    expect(warnings[0]).toContain('nothing is protected): new Mastra({ server: { auth: new MastraAuthClerk() } })');
  });

  it('says what it protects only once Mastra uses it: never under server.experimental_auth, once under server.auth', async () => {
    const infoOf = async (key: string) => {
      const info: string[] = [];
      const provider = new MastraAuthClerk({ ...KEY_OPTIONS, logger: { info: (line) => info.push(line), error: () => undefined } });
      await serve({ [key]: provider });
      return info.filter((line) => line.includes('every API route needs a Clerk session'));
    };
    expect(await infoOf('experimental_auth')).toEqual([]);
    expect(await infoOf('auth')).toHaveLength(1);
  });

  it("is not reported in Mastra's CLI processes (the CLI builds it to read the server's options; its server uses it per request)", async () => {
    jest.useFakeTimers({ doNotFake: ['nextTick', 'queueMicrotask', 'setImmediate'] });
    const script = process.argv[1];
    const lines: string[] = [];
    try {
      for (const path of ['/app/.mastra/output/index.mjs', '/app/node_modules/mastra/dist/index.js']) {
        process.argv[1] = path;
        new MastraAuthClerk({ ...KEY_OPTIONS, logger: { warn: (line) => lines.push(line), error: (line) => lines.push(line) } });
      }
    } finally {
      process.argv[1] = script!;
    }
    jest.advanceTimersByTime(60_000);
    expect(lines).toEqual([]);
  });

  it('is not reported when it sits under server.auth', async () => {
    jest.useFakeTimers({ doNotFake: ['nextTick', 'queueMicrotask', 'setImmediate'] });
    const warnings: string[] = [];
    const provider = new MastraAuthClerk({ ...KEY_OPTIONS, logger: { warn: (line) => warnings.push(line), error: (line) => warnings.push(line) } });
    await serve({ auth: provider });
    jest.advanceTimersByTime(60_000);
    expect(warnings).toEqual([]);
  });
});
