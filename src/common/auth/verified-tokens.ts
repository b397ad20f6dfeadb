import type { ApiCaller } from './api-caller';

interface Entry {
  caller: ApiCaller;
  /** ms since the epoch after which the entry is not used. */
  until: number;
}

/**
 * Principals of bearer tokens that passport-jwt has already verified, keyed by
 * the exact token string, so that a caller sending the same token again skips
 * the signature check and passport's per-request machinery.
 *
 * Why it is safe: an entry exists only after a full verification succeeded, and
 * it is never used past the token's own `exp` (nor longer than `maxAgeMs`
 * after it was verified, which bounds how long a key rotation takes to bite).
 * Everything that can change about a caller (bans, roles in the registry) is
 * read from the store by the services, not from the token. Bounded: when full,
 * the oldest entry goes.
 */
export class VerifiedTokens {
  private readonly entries = new Map<string, Entry>();

  constructor(
    private readonly maxEntries = 10_000,
    private readonly maxAgeMs = 60_000,
  ) {}

  get(token: string, now = Date.now()): ApiCaller | undefined {
    const entry = this.entries.get(token);
    if (entry === undefined) {
      return undefined;
    }
    if (now >= entry.until) {
      this.entries.delete(token);
      return undefined;
    }
    return entry.caller;
  }

  /** Remembers a verified token; `exp` (seconds) comes from its verified payload. */
  set(token: string, caller: ApiCaller, exp: unknown, now = Date.now()): void {
    const until = Math.min(typeof exp === 'number' ? exp * 1000 : Infinity, now + this.maxAgeMs);
    if (!(until > now)) {
      return;
    }
    if (this.entries.size >= this.maxEntries) {
      const oldest = this.entries.keys().next();
      if (oldest.done !== true) {
        this.entries.delete(oldest.value);
      }
    }
    this.entries.set(token, { caller, until });
  }

  get size(): number {
    return this.entries.size;
  }
}

/** The token of an `Authorization: Bearer <token>` header, as passport-jwt's fromAuthHeaderAsBearerToken reads it. */
export function bearerToken(authorization: unknown): string | undefined {
  if (typeof authorization !== 'string') {
    return undefined;
  }
  const match = /^\s*bearer\s+(\S+)\s*$/i.exec(authorization);
  return match?.[1];
}

/** The `exp` claim of a token that has just been verified (so its payload is trusted). */
export function verifiedExpiry(token: string): unknown {
  try {
    const payload = JSON.parse(Buffer.from(token.split('.')[1] ?? '', 'base64url').toString('utf8')) as { exp?: unknown };
    return payload.exp;
  } catch {
    return undefined;
  }
}
