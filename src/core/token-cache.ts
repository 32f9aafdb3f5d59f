/**
 * Verified tokens kept in memory, so a client that reuses its 60 s token costs one RS256 check.
 * Bounded: past `maxEntries` the oldest entry goes first. An entry is served until its own `exp` (the verifier still
 * applies the time rules) and for at most `MAX_AGE_IN_MS` after it was verified, and every entry goes when the key
 * set changes, so a key rotated out stops being trusted within a minute. Each verifier owns one cache, so an entry has
 * passed exactly that verifier's issuer, audience, `azp` and session-status rules.
 */
import { BoundedMap } from './bounded-map.js';

/** How long a verified token is trusted without checking its signature again (Clerk's token lifetime). */
export const MAX_AGE_IN_MS = 60_000;

interface Entry<T> {
  /** The whole token: a hit is a hit only for exactly this token. */
  token: string;
  value: T;
  verifiedAt: number;
}

/** The value (0-63) of each base64url character by its code; anything else counts as 0 (only ever a cache miss). */
const SIXTY_FOUR = new Uint8Array(128);
for (const [i, c] of [...'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_'].entries()) SIXTY_FOUR[c.charCodeAt(0)] = i;

/**
 * The map key of a token (the verified-token cache's, and the verifier's for tokens in flight): a small integer, the
 * 30 bits of five base64url characters near the end of its signature. Each request brings the token as a new string,
 * and a string key costs V8 a hash of its characters on every lookup (for the last 48 characters, 0.15 µs: most of
 * the cost of a hit); an integer costs a few instructions. The last character is skipped (it carries only 2 bits of an
 * RS256 signature). Two of 10,000 entries rarely share a key, and when they do the entry's full token tells them
 * apart: a collision costs a verification, never a wrong answer.
 */
export function tokenKey(token: string): number {
  let key = 0;
  for (let i = token.length - 6; i < token.length - 1; i++) key = (key << 6) | (SIXTY_FOUR[token.charCodeAt(i) & 127] ?? 0);
  return key;
}

export class TokenCache<T> {
  private readonly entries: BoundedMap<number, Entry<T>>;
  /** Bumped by `clear()`: a verification that started before a clear must not insert its result after it. */
  generation = 0;

  constructor(private readonly maxEntries: number) {
    this.entries = new BoundedMap(Math.max(maxEntries, 1));
  }

  get(token: string, now: number): T | undefined {
    if (this.maxEntries === 0) return undefined;
    const key = tokenKey(token);
    const entry = this.entries.get(key);
    if (!entry || entry.token !== token) return undefined;
    if (now - entry.verifiedAt > MAX_AGE_IN_MS || now < entry.verifiedAt) {
      this.entries.delete(key);
      return undefined;
    }
    return entry.value;
  }

  set(token: string, value: T, now: number, generation: number): void {
    if (this.maxEntries === 0 || generation !== this.generation) return;
    this.entries.set(tokenKey(token), { token, value, verifiedAt: now });
  }

  delete(token: string): void {
    const key = tokenKey(token);
    if (this.entries.get(key)?.token === token) this.entries.delete(key);
  }

  clear(): void {
    this.generation += 1;
    this.entries.clear();
  }

  get size(): number {
    return this.entries.size;
  }
}
