/**
 * An outage is logged once per back-off period, with its cause, and the next line counts the requests refused in
 * between: requests one after another during a back-off (which carry no cause of their own, or "in back-off") are
 * counted, not logged (found by an attacker session: the first version keyed the line by its cause, so they got one of
 * their own). Real issuer, its JWKS and fake Backend API, real Express, the clock of the `now` option.
 */
import { afterEach, beforeEach, expect, it } from '@jest/globals';
import express from 'express';
import request from 'supertest';
import { clerkMastraAuth } from '../../src/index.js';
import { createTestIssuer, type TestIssuer } from '../../src/testing/index.js';
import { addEchoRoute, machineOptions } from './support.js';

let issuer: TestIssuer;
let now: number;
beforeEach(async () => {
  now = Date.now();
  issuer = await createTestIssuer({ clock: () => now });
});
afterEach(async () => {
  await issuer.close();
});

const outages = (logged: string[]) => logged.filter((line) => line.includes('unavailable'));

it('a Backend API outage: one line per back-off period, the next one counting the requests between', async () => {
  const logged: string[] = [];
  const app = express();
  app.use(clerkMastraAuth(machineOptions(issuer, { acceptsToken: 'any', now: () => now, logger: (line: string) => logged.push(line) })));
  addEchoRoute(app);
  issuer.setBackendApiFailure('500');
  for (let i = 0; i < 10; i += 1) expect((await request(app).get('/who').set('Authorization', `Bearer ${issuer.createApiKey()}`)).status).toBe(503);
  const line = "[clerk-mastra-auth] Clerk's Backend API unavailable (backend-api-failed-to-load): the Backend API answered HTTP 500";
  expect(outages(logged)).toEqual([line]);
  now += 60_000; // past the back-off: the next request asks again, fails again
  expect((await request(app).get('/who').set('Authorization', `Bearer ${issuer.createApiKey()}`)).status).toBe(503);
  expect(outages(logged)).toEqual([line, `${line} (9 more since the last line)`]);
});

it('a key set outage: requests one after another within the back-off are counted, not logged', async () => {
  const logged: string[] = [];
  const app = express();
  app.use(clerkMastraAuth({ ...issuer.authOptions, env: {}, now: () => now, logger: (line: string) => logged.push(line), jwks: { failureBackoffInMs: 60_000 } }));
  addEchoRoute(app);
  issuer.setJwksFailure('down');
  const token = await issuer.mintToken({}, { expiresInSeconds: 3600 });
  for (let i = 0; i < 10; i += 1) expect((await request(app).get('/who').set('Authorization', `Bearer ${token}`)).status).toBe(503);
  const line = '[clerk-mastra-auth] keys unavailable (jwk-remote-failed-to-load): answered HTTP 503';
  expect(outages(logged)).toEqual([line]);
  now += 60_000;
  expect((await request(app).get('/who').set('Authorization', `Bearer ${token}`)).status).toBe(503);
  expect(outages(logged)).toEqual([line, `${line} (9 more since the last line)`]);
});
