/**
 * Who a signed-in user is, for Mastra Studio (`IUserProvider`): the Clerk user from the Backend API
 * (`users.getUser`), bounded as `@mastra/auth-clerk` does not bound it:
 * - an answer is kept for `userCacheInMs` (default 60 s): at most one Backend API call per user per period;
 * - requests for the same user at once share one call (single flight);
 * - without a secret key, or while the Backend API fails (then no call for a backoff that doubles up to 30 s), the
 *   caller falls back to what the verified token or the Studio session already says (id, email, name).
 */
import { createClerkClient, type ClerkClient } from '@clerk/backend';
import { BoundedMap } from '../core/bounded-map.js';
import { Outage, withTimeout } from '../core/timeout.js';

/** Mastra's `User` (`EEUser`): what Studio shows of the signed-in user. */
export interface StudioUser {
  id: string;
  email?: string;
  name?: string;
  avatarUrl?: string;
  /** The Clerk user's `publicMetadata` (as `@mastra/auth-clerk`). */
  metadata?: Record<string, unknown>;
}

export interface UserDirectoryOptions {
  secretKey: string | undefined;
  apiUrl: string;
  cacheInMs: number;
  timeoutInMs: number;
  failureBackoffInMs: number;
  now: () => number;
  /** Logs an outage (warn), never the user id or a key. */
  onOutage: (reason: string) => void;
}

/** Users kept at most; past it the oldest goes first. */
const MAX_ENTRIES = 1_000;
const MAX_BACKOFF_IN_MS = 30_000;
/** Clerk user ids: `user_` and base62. Anything else is never sent to the Backend API (it becomes a URL path). */
const USER_ID = /^[A-Za-z0-9_-]{1,128}$/;

interface ClerkUserLike {
  id: string;
  firstName?: string | null;
  lastName?: string | null;
  username?: string | null;
  imageUrl?: string;
  primaryEmailAddressId?: string | null;
  emailAddresses?: Array<{ id?: string; emailAddress?: string }>;
  publicMetadata?: Record<string, unknown>;
}

/** Clerk's `User` as Mastra's user: the primary email (else the first), `First Last` (else the username). */
export function studioUserOf(user: ClerkUserLike): StudioUser {
  const emails = user.emailAddresses ?? [];
  const email = (emails.find((e) => e.id !== undefined && e.id === user.primaryEmailAddressId) ?? emails[0])?.emailAddress;
  const name = [user.firstName, user.lastName].filter(Boolean).join(' ') || user.username || undefined;
  return { id: user.id, email, name, avatarUrl: user.imageUrl || undefined, metadata: user.publicMetadata };
}

interface Entry {
  at: number;
  user: StudioUser | null;
}

export class UserDirectory {
  private clientInstance: ClerkClient | undefined;
  private readonly entries = new BoundedMap<string, Entry>(MAX_ENTRIES);
  private readonly inFlight = new Map<string, Promise<StudioUser | null | undefined>>();
  private blockedUntil = 0;
  private backoff: number;

  constructor(private readonly options: UserDirectoryOptions) {
    this.backoff = options.failureBackoffInMs;
  }

  /** Clerk's Backend API client, built on first use; none without a secret key. */
  private get client(): ClerkClient | undefined {
    const { secretKey, apiUrl } = this.options;
    if (!secretKey) return undefined;
    return (this.clientInstance ??= createClerkClient({ secretKey, apiUrl }));
  }

  /**
   * The Clerk user: a `StudioUser`, `null` when Clerk says there is no such user, `undefined` when it cannot be known
   * now (no secret key, the Backend API failing or backing off): the caller then uses what it already knows.
   */
  lookup(userId: string): Promise<StudioUser | null | undefined> {
    const client = this.client;
    if (!client || typeof userId !== 'string' || !USER_ID.test(userId)) return Promise.resolve(undefined);
    const now = this.options.now();
    const entry = this.entries.get(userId);
    if (entry && now - entry.at < this.options.cacheInMs && now >= entry.at) return Promise.resolve(entry.user);
    if (entry) this.entries.delete(userId);
    if (now < this.blockedUntil) return Promise.resolve(undefined);
    let call = this.inFlight.get(userId);
    if (!call) {
      call = this.fetch(client, userId).finally(() => this.inFlight.delete(userId));
      this.inFlight.set(userId, call);
    }
    return call;
  }

  private async fetch(client: ClerkClient, userId: string): Promise<StudioUser | null | undefined> {
    let user: StudioUser | null;
    try {
      user = studioUserOf(await withTimeout(client.users.getUser(userId), this.options.timeoutInMs));
    } catch (error) {
      const status = (error as { status?: number } | undefined)?.status;
      if (status === 404) {
        user = null;
      } else {
        // An outage (network, timeout, 5xx, 429, a refused secret key): back off, answer from what is known.
        this.blockedUntil = this.options.now() + this.backoff;
        this.backoff = Math.min(this.backoff * 2, MAX_BACKOFF_IN_MS);
        this.options.onOutage(
          error instanceof Outage ? error.message : status !== undefined ? `the Backend API answered HTTP ${status}` : 'the Backend API could not be reached',
        );
        return undefined;
      }
    }
    this.backoff = this.options.failureBackoffInMs;
    this.entries.set(userId, { at: this.options.now(), user });
    return user;
  }
}
