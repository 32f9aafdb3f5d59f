/**
 * `npm run tour`: the whole library at work, offline, as a script that runs and exits. The testing kit's local issuer
 * stands in for Clerk (keys, JWKS on 127.0.0.1, session tokens); one Express app serves its own routes and Mastra's
 * under `/api`, behind one `createClerkAuth()`; the fresh-token Mastra client and plain HTTP calls show what users get.
 *
 * `npm start` serves the same app and keeps running (examples/start.ts).
 */
import type { AddressInfo } from 'node:net';
import { createClerkMastraClient } from '../src/client/index.js';
import { createTestIssuer } from '../src/testing/index.js';
import { createApp } from './app.js';
import { createStorage } from './mastra/index.js';

const issuer = await createTestIssuer({ frontendApi: 'demo.clerk.accounts.dev' });
const { app } = await createApp({ ...issuer.authOptions, logger: (line) => console.log(`  log: ${line}`) }, { storage: await createStorage() });
const server = app.listen(0, '127.0.0.1');
await new Promise((resolve) => server.once('listening', resolve));
const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

async function show(label: string, path: string, token?: string, init: RequestInit = {}) {
  const headers = new Headers(init.headers);
  if (token) headers.set('Authorization', `Bearer ${token}`);
  const res = await fetch(`${base}${path}`, { ...init, headers });
  const body = await res.text();
  console.log(`${label.padEnd(44)} ${init.method ?? 'GET'} ${path} -> ${res.status} ${body.slice(0, 90)}`);
  const challenge = res.headers.get('www-authenticate');
  if (challenge) console.log(`${''.padEnd(44)} WWW-Authenticate: ${challenge}`);
}

console.log(`clerk-mastra-auth demo: Express + Mastra on ${base}, Clerk issuer ${issuer.issuer} (local)\n`);
const alice = await issuer.mintToken({}, { userId: 'user_alice' });
const admin = await issuer.mintToken({}, { userId: 'user_admin', org: { id: 'org_acme', slug: 'acme', role: 'org:admin' } });
// The agent has memory: each call names a thread; the resource is always the signed-in user (the provider maps it).
const generate = {
  method: 'POST',
  headers: { 'content-type': 'application/json' },
  body: JSON.stringify({ messages: 'London', memory: { thread: 'demo-london', resource: 'me' } }),
};

await show('signed-in user, Express route', '/me', alice);
await show('signed-in user, Mastra agent', '/api/agents/weatherAgent/generate', alice, generate);
await show('no token, Mastra agent', '/api/agents/weatherAgent/generate', undefined, generate);
await show('expired token, Express route', '/me', await issuer.mintToken({}, { expired: true }));
await show('token from another origin (azp)', '/api/agents', await issuer.mintToken({ azp: 'https://evil.example' }));
await show('forged signature', '/api/agents', await issuer.mintToken({}, { signWith: 'foreign' }));
await show('policy: /admin needs an org admin', '/admin/report', alice);
await show('policy: org admin', '/admin/report', admin);
await show('policy: banned user, Mastra route', '/api/agents', await issuer.mintToken({}, { userId: 'user_banned_9' }));

// The client side: a token per request, never one fixed in headers (Clerk tokens live 60 s).
let tokensFetched = 0;
const client = createClerkMastraClient({
  baseUrl: base,
  retries: 0,
  getToken: () => {
    tokensFetched += 1;
    return issuer.mintToken({}, { userId: 'user_alice' });
  },
});
const agents = await client.listAgents();
const answer = await client.getAgent('weatherAgent').generate('Tokyo', { memory: { thread: 'demo-tokyo', resource: 'me' } });
console.log(`\nMastraClient with a fresh token per request: agents ${Object.keys(agents).join(', ')}; "${answer.text}"; tokens fetched: ${tokensFetched}`);

server.closeAllConnections();
server.close();
await issuer.close();
console.log('\nSee README.md to use it in your app; `npm start` serves this app with a playground.');
