import type { JWTPayload } from 'jose';

/** Organization claims of a v2 session token (`o`). */
export interface ClerkOrganizationClaims {
  /** Organization id. */
  id: string;
  /** Slug. */
  slg?: string;
  /** Role, without the `org:` prefix. */
  rol?: string;
  /** Permission names, comma-separated. */
  per?: string;
  /** Feature-permission map. */
  fpm?: string;
  [claim: string]: unknown;
}

/**
 * The verified claims of a Clerk session token. `sub` (the user id) and `exp` are always there once verified;
 * the rest depends on the token version (`v: 2`, or v1 without `v`) and the instance's settings.
 */
export interface ClerkClaims extends JWTPayload {
  /** The user id. */
  sub: string;
  exp: number;
  /** Session id. */
  sid?: string;
  /** The origin that requested the token. */
  azp?: string;
  /** Token version: 2 for v2 tokens, absent for v1. */
  v?: number;
  /** Session status: `active` or `pending`. */
  sts?: string;
  /** Factor verification age in minutes: [first factor, second factor]. */
  fva?: [number, number];
  /** Plans and features (v2). */
  pla?: string;
  fea?: string;
  /** Organization (v2). */
  o?: ClerkOrganizationClaims;
  /** Organization (v1). */
  org_id?: string;
  org_slug?: string;
  org_role?: string;
  org_permissions?: string[];
  [claim: string]: unknown;
}
