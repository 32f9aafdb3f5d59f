/**
 * Verified tokens kept in memory, so a client that reuses its 60 s token costs one RS256 check.
 * Bounded: past `maxEntries` the oldest entry goes first. An entry is served until its own `exp` (the verifier still
 * applies the time rules) and for at most `MAX_AGE_IN_MS` after it was verified, and every entry goes when the key
 * set changes, so a key rotated out stops being trusted within a minute. Each verifier owns one cache, so an entry has
 * passed exactly that verifier's issuer, audience, `azp` and session-status rules.
 */
/** How long a verified token is trusted without checking its signature again (Clerk's token lifetime). */
export const MAX_AGE_IN_MS = 60_000;

interface Entry<T> {
  /** The whole token: a hit is a hit only for exactly this token. */
  token: string;
  value: T;
  verifiedAt: number;
}

/**
 * The map key of a token: the end of its signature. Each request brings the token as a new string, and hashing the
 * whole ~1 KiB for the lookup was most of the cost of a reused token; 48 characters of an RS256 signature tell
 * tokens apart, and the entry's full token is compared on a hit (a collision only costs a verification).
 */
function keyOf(token: string): string {
  return token.length > 48 ? token.slice(-48) : token;
}

export class TokenCache<T> {
  private readonly entries = new Map<string, Entry<T>>();
  /** Bumped by `clear()`: a verification that started before a clear must not insert its result after it. */
  generation = 0;

  constructor(private readonly maxEntries: number) {}

  get(token: string, now: number): T | undefined {
    if (this.maxEntries === 0) return undefined;
    const key = keyOf(token);
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
    if (this.entries.size >= this.maxEntries) {
      // Map iterates in insertion order: the first key is the oldest.
      const oldest = this.entries.keys().next().value;
      if (oldest !== undefined) this.entries.delete(oldest);
    }
    const key = keyOf(token);
    // Re-inserted at the end: a token verified again is the newest, not the first to go.
    this.entries.delete(key);
    this.entries.set(key, { token, value, verifiedAt: now });
  }

  delete(token: string): void {
    const key = keyOf(token);
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
