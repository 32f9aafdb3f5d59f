/**
 * Clerk's own AuthObject (`userId`, `orgRole`, `has()`...), built by Clerk's own helpers from verified claims, so
 * v1 and v2 organization claims and `has({ role | permission | feature })` behave exactly as in Clerk's SDKs.
 */
import { signedInAuthObject, signedOutAuthObject } from '@clerk/backend/internal';
import type { ClerkClaims } from './claims.js';
import type { ResolvedOptions } from './options.js';

export type SignedInAuth = ReturnType<typeof signedInAuthObject>;
export type SignedOutAuth = ReturnType<typeof signedOutAuthObject>;
export type ClerkAuthObject = SignedInAuth | SignedOutAuth;

/**
 * AuthObjects already built, by the verified claims object. The verifier hands out the same frozen claims object
 * for every request that reuses a token, so Clerk's helper (which builds a Backend API client each time) runs once
 * per token; each request gets its own shallow copy, so an app that decorates its AuthObject touches only its own.
 */
const built = new WeakMap<ClerkClaims, SignedInAuth>();

/** The signed-in AuthObject for verified claims. `getToken()` reaches the Backend API only if a secret key is set. */
export function signedInAuth(config: ResolvedOptions, token: string, claims: ClerkClaims): SignedInAuth {
  let base = built.get(claims);
  if (!base) {
    const context = config.secretKey ? { secretKey: config.secretKey, apiUrl: config.apiUrl } : {};
    base = signedInAuthObject(context, token, claims as Parameters<typeof signedInAuthObject>[2]);
    // `has()` reads these arrays: shared between requests, they must not change.
    if (Array.isArray(base.orgPermissions)) Object.freeze(base.orgPermissions);
    if (Array.isArray(base.factorVerificationAge)) Object.freeze(base.factorVerificationAge);
    built.set(claims, base);
  }
  return { ...base };
}

/** The signed-out AuthObject; `sessionStatus` is `pending` for a pending session treated as signed out. */
export function signedOutAuth(sessionStatus?: 'pending'): SignedOutAuth {
  return signedOutAuthObject(undefined, sessionStatus);
}
