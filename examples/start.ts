/**
 * `npm start`: verifies a Clerk-shaped session token against a local issuer (no Clerk account, no network) and
 * prints what the library answers, then how to use it in an app.
 */
import { createClerkAuth, ClerkAuthError } from '../src/index.js';
import { createTestIssuer } from '../src/testing/index.js';

const issuer = await createTestIssuer();
try {
  const auth = createClerkAuth({ ...issuer.authOptions, logger: false });
  const token = await issuer.mintToken({}, { userId: 'user_demo' });
  const claims = await auth.verify(token);
  console.log(`verified: user ${claims.sub}, session ${claims.sid}, expires in ${claims.exp - Math.floor(Date.now() / 1000)} s`);
  for (const [label, bad] of [
    ['expired token', await issuer.mintToken({}, { expired: true })],
    ['forged signature', await issuer.mintToken({}, { signWith: 'foreign' })],
    ['foreign origin (azp)', await issuer.mintToken({ azp: 'https://evil.example' })],
  ] as const) {
    const error = await auth.verify(bad).catch((e: unknown) => e);
    if (error instanceof ClerkAuthError) console.log(`${label}: ${error.status} ${error.code}`);
  }
} finally {
  await issuer.close();
}
console.log(`
Use it:
  import { createClerkAuth } from 'clerk-mastra-auth';
  const auth = createClerkAuth();            // reads CLERK_PUBLISHABLE_KEY / CLERK_JWKS_URI / CLERK_JWT_KEY / CLERK_SECRET_KEY
  const claims = await auth.verify(token);   // or: await verifyClerkToken(token)
See README.md.`);
