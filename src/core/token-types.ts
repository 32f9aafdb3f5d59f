/**
 * Clerk's token types (`session_token`, `m2m_token`, `oauth_token`, `api_key`) and which of them a configuration,
 * an adapter or a route guard accepts. Inside the library a set of types is a bit mask, checked per request.
 */
import { ClerkAuthConfigError } from './options.js';

/** A Clerk token type, by Clerk's name. */
export type TokenType = 'session_token' | 'm2m_token' | 'oauth_token' | 'api_key';
/** The machine token types. */
export type MachineTokenType = Exclude<TokenType, 'session_token'>;

/** What `acceptsToken` takes: one type, a list of types, or `'any'` (as in `@clerk/express`). */
export type AcceptsToken = TokenType | readonly TokenType[] | 'any';

const BITS: Readonly<Record<TokenType, number>> = Object.freeze({
  session_token: 1,
  m2m_token: 2,
  oauth_token: 4,
  api_key: 8,
});

/** A set of token types as a bit mask. */
export type TokenTypeMask = number;

export const SESSION_ONLY: TokenTypeMask = BITS.session_token;
export const ANY_TOKEN: TokenTypeMask = 15;
/** The types that can only be verified with the Backend API when opaque. */
export const MACHINE_TYPES: TokenTypeMask = ANY_TOKEN & ~SESSION_ONLY;

export function bitOf(type: TokenType): number {
  return BITS[type];
}

export function accepts(mask: TokenTypeMask, type: TokenType): boolean {
  return (mask & BITS[type]) !== 0;
}

/** The types in a mask, in Clerk's order. */
export function typesOf(mask: TokenTypeMask): TokenType[] {
  return (Object.keys(BITS) as TokenType[]).filter((type) => accepts(mask, type));
}

/** Validates an `acceptsToken` value (at start-up) and returns its mask; `undefined` gives `fallback`. */
export function acceptsMask(value: unknown, option: string, fallback: TokenTypeMask): TokenTypeMask {
  if (value === undefined) return fallback;
  if (value === 'any') return ANY_TOKEN;
  const list: unknown[] = Array.isArray(value) ? value : [value];
  let mask = 0;
  for (const type of list) {
    if (typeof type !== 'string' || !Object.hasOwn(BITS, type)) {
      throw new ClerkAuthConfigError(
        `"${option}" must be 'any', or one or a list of 'session_token', 'm2m_token', 'oauth_token', 'api_key'`,
      );
    }
    mask |= BITS[type as TokenType];
  }
  if (mask === 0) throw new ClerkAuthConfigError(`"${option}" must name at least one token type`);
  return mask;
}

/** Clerk's prefixes of opaque machine tokens (`@clerk/backend` `isMachineTokenByPrefix`). */
export function opaqueTypeOf(token: string): MachineTokenType | undefined {
  if (token.startsWith('mt_')) return 'm2m_token';
  if (token.startsWith('oat_')) return 'oauth_token';
  if (token.startsWith('ak_')) return 'api_key';
  return undefined;
}
