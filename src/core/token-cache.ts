/**
 * Verified tokens kept until their own expiry, so a client that reuses its 60 s token costs one RS256 check.
 * Bounded: past `maxEntries` the oldest entry goes first. Each verifier owns one, so an entry has passed exactly
 * that verifier's issuer, audience, `azp` and session-status rules.
 */
import type { ClerkClaims } from './claims.js';

export class TokenCache {
  private readonly entries = new Map<string, ClerkClaims>();

  constructor(private readonly maxEntries: number) {}

  get(token: string): ClerkClaims | undefined {
    return this.maxEntries > 0 ? this.entries.get(token) : undefined;
  }

  set(token: string, claims: ClerkClaims): void {
    if (this.maxEntries === 0) return;
    if (this.entries.size >= this.maxEntries) {
      // Map iterates in insertion order: the first key is the oldest.
      const oldest = this.entries.keys().next().value;
      if (oldest !== undefined) this.entries.delete(oldest);
    }
    this.entries.set(token, claims);
  }

  delete(token: string): void {
    this.entries.delete(token);
  }

  get size(): number {
    return this.entries.size;
  }
}
