/**
 * Clerk's own AuthObject (`userId`, `orgRole`, `has()`...), built by Clerk's own helpers from verified claims, so
 * v1 and v2 organization claims and `has({ role | permission | feature })` behave exactly as in Clerk's SDKs.
 */
import {
  authenticatedMachineObject,
  getAuthObjectForAcceptedToken,
  invalidTokenAuthObject,
  signedInAuthObject,
  signedOutAuthObject,
  unauthenticatedMachineObject,
} from '@clerk/backend/internal';
import type { ClerkClaims } from './claims.js';
import type { ResolvedOptions } from './options.js';
import type { AcceptsToken } from './token-types.js';
import type { Verified } from './verifier.js';

export type SignedInAuth = ReturnType<typeof signedInAuthObject>;
export type SignedOutAuth = ReturnType<typeof signedOutAuthObject>;
/** Clerk's AuthObject of a machine token: `tokenType`, `id`, `subject`, `scopes`, `claims`, `machineId`, `userId`... */
export type MachineAuthObject = ReturnType<typeof authenticatedMachineObject>;
/** Clerk's AuthObject of a request whose token is not of the machine type asked for. */
export type UnauthenticatedMachineAuth = ReturnType<typeof unauthenticatedMachineObject>;
/** The session AuthObject: what `getClerkAuth(req)` returns, as `@clerk/express`'s `getAuth(req)`. */
export type ClerkAuthObject = SignedInAuth | SignedOutAuth;
/** Any AuthObject: what `getClerkAuth(req, { acceptsToken })` returns for machine types, 'any' or a list. */
export type AnyClerkAuthObject = ClerkAuthObject | MachineAuthObject | UnauthenticatedMachineAuth | ReturnType<typeof invalidTokenAuthObject>;

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

/** Machine AuthObjects already built, by verified token; shared and frozen (`ctx.machine`). */
const machines = new WeakMap<Verified, MachineAuthObject>();

/**
 * Clerk's machine AuthObject of a verified machine token, built by Clerk's `authenticatedMachineObject` once per
 * token and frozen (the policy's `ctx.machine`).
 */
export function machineAuth(verified: Verified): MachineAuthObject | undefined {
  if (!verified.machine) return undefined;
  let built = machines.get(verified);
  if (!built) {
    const { tokenType, data, token } = verified.machine;
    built = Object.freeze(
      authenticatedMachineObject(tokenType, token, data as unknown as Parameters<typeof authenticatedMachineObject>[2], {}),
    ) as MachineAuthObject;
    machines.set(verified, built);
  }
  return built;
}

/** Clerk's rule for `getAuth(req, { acceptsToken })`: the AuthObject when its type is accepted, else a signed-out one. */
export function forAcceptedToken(authObject: AnyClerkAuthObject, acceptsToken: AcceptsToken | undefined): AnyClerkAuthObject {
  return getAuthObjectForAcceptedToken({
    authObject: authObject as Parameters<typeof getAuthObjectForAcceptedToken>[0]['authObject'],
    acceptsToken: acceptsToken as Parameters<typeof getAuthObjectForAcceptedToken>[0]['acceptsToken'],
  });
}
