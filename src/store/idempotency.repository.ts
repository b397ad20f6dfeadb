/** What the store remembers of one idempotency key (or one relayed event id). */
export interface IdempotencyRecord {
  /** A hash of what the first call asked for: a repeat must ask for the same. */
  fingerprint: string;
  /** `pending` while the first call runs; `done` once it succeeded. */
  state: 'pending' | 'done';
  /** The first call's HTTP status and response body (JSON text), once done. */
  status?: number;
  result?: string;
  /** When it was claimed (epoch ms). */
  claimedAt: number;
  /** When it is forgotten (epoch ms). */
  expiresAt: number;
}

export interface IdempotencyClaim {
  fingerprint: string;
  now: number;
  expiresAt: number;
  /** A pending record claimed before this (epoch ms) belongs to a writer that died: it may be taken over. */
  staleBefore: number;
}

/**
 * Port: idempotency keys and relayed event ids (API.md section 5), remembered for 24 h in the store so
 * the guarantee holds across restarts and instances. `claim` is one conditional write: of concurrent
 * claims of a key exactly one wins, the others see its record.
 */
export abstract class IdempotencyRepository {
  /**
   * Claims `key` (a pending record) when it is free, expired, or held by a stale pending claim: returns
   * undefined. Otherwise returns the record that holds it.
   */
  abstract claim(key: string, claim: IdempotencyClaim): Promise<IdempotencyRecord | undefined>;

  /** Marks the claim made at `claimedAt` as done with the first call's answer. */
  abstract complete(key: string, claimedAt: number, status: number, result: string): Promise<void>;

  /** Forgets the pending claim made at `claimedAt` (the call failed: a retry may run it again). */
  abstract release(key: string, claimedAt: number): Promise<void>;
}
