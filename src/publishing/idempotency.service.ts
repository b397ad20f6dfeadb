import { createHash } from 'node:crypto';
import { Injectable, Logger } from '@nestjs/common';
import { IdempotencyRepository } from '../store/idempotency.repository';
import { errorMessage, IdempotencyKeyReusedError, StoreUnavailableError, ValidationFailedError } from '../domain/errors';

/** `Idempotency-Key`: 1–128 characters of `[A-Za-z0-9:._-]` (API.md section 5). */
export const IDEMPOTENCY_KEY_PATTERN = /^[A-Za-z0-9:._-]{1,128}$/;
/** How long a key (or a relayed event id) is remembered. */
export const IDEMPOTENCY_TTL_MS = 24 * 60 * 60 * 1000;
/** A claim pending this long belongs to a call that died (a crash mid-publish): a retry may run again. */
export const CLAIM_LEASE_MS = 30_000;
const COMPLETE_ATTEMPTS = 3;

export type IdempotencyBegin =
  /** First time: run the call, then `finish` (or `abandon` when it failed). */
  | { kind: 'claimed'; key: string; claimedAt: number }
  /** Done before: the first call's answer. */
  | { kind: 'done'; status: number; result: string };

/** The header, checked: 400 naming it when it is not a valid key. */
export function checkIdempotencyKey(value: unknown): string | undefined {
  if (value === undefined) {
    return undefined;
  }
  if (typeof value !== 'string' || !IDEMPOTENCY_KEY_PATTERN.test(value)) {
    throw new ValidationFailedError('The Idempotency-Key header is invalid.', [
      { field: 'Idempotency-Key', message: 'must be 1 to 128 characters of A-Z a-z 0-9 : . _ -' },
    ]);
  }
  return value;
}

/** A stable hash of what a call asks for (a repeat with the same key must ask for the same). */
export function fingerprint(...parts: Array<string | undefined>): string {
  return createHash('sha256').update(JSON.stringify(parts)).digest('base64url');
}

/**
 * Idempotency keys and event ids, remembered in the store for 24 h (API.md section 5): of concurrent
 * calls with one key, exactly one runs (the store's conditional claim decides, across instances); the
 * others wait for its answer. A failed call releases its key, so a retry runs again.
 */
@Injectable()
export class IdempotencyService {
  private readonly logger = new Logger(IdempotencyService.name);

  constructor(private readonly repository: IdempotencyRepository) {}

  /** Runs `call` unless this scope ran it with this key before: then answers the first call's result. */
  async once<T>(scope: string, key: string, print: string, status: number, call: () => Promise<T>): Promise<T> {
    const begun = await this.begin(scope, key, print);
    if (begun.kind === 'done') {
      return JSON.parse(begun.result) as T;
    }
    let result: T;
    try {
      result = await call();
    } catch (error) {
      await this.abandon(begun);
      throw error;
    }
    await this.finish(begun, status, JSON.stringify(result));
    return result;
  }

  /** Claims the key, or answers what holds it; waits while another call with this key runs. */
  async begin(scope: string, key: string, print: string): Promise<IdempotencyBegin> {
    const id = `${scope}\u0000${key}`;
    const deadline = Date.now() + CLAIM_LEASE_MS + 5_000;
    let pause = 5;
    for (;;) {
      const now = Date.now();
      const held = await this.repository.claim(id, { fingerprint: print, now, expiresAt: now + IDEMPOTENCY_TTL_MS, staleBefore: now - CLAIM_LEASE_MS });
      if (held === undefined) {
        return { kind: 'claimed', key: id, claimedAt: now };
      }
      if (held.fingerprint !== print) {
        throw new IdempotencyKeyReusedError();
      }
      if (held.state === 'done') {
        return { kind: 'done', status: held.status ?? 0, result: held.result ?? 'null' };
      }
      if (Date.now() > deadline) {
        throw new StoreUnavailableError(`idempotency key stayed pending: ${key.slice(0, 128)}`);
      }
      await new Promise((resolve) => setTimeout(resolve, pause));
      pause = Math.min(pause * 2, 100);
    }
  }

  /** Records the answer. The call succeeded: a store failure here is logged, not thrown (a retry within the lease waits, after it runs again). */
  async finish(claim: Extract<IdempotencyBegin, { kind: 'claimed' }>, status: number, result: string): Promise<void> {
    for (let attempt = 1; attempt <= COMPLETE_ATTEMPTS; attempt++) {
      try {
        await this.repository.complete(claim.key, claim.claimedAt, status, result);
        return;
      } catch (error) {
        if (attempt === COMPLETE_ATTEMPTS) {
          this.logger.warn({ reason: errorMessage(error) }, 'could not record an idempotency key as done');
        }
      }
    }
  }

  async abandon(claim: Extract<IdempotencyBegin, { kind: 'claimed' }>): Promise<void> {
    await this.repository.release(claim.key, claim.claimedAt).catch((error: unknown) => {
      // Left pending: it goes stale after CLAIM_LEASE_MS.
      this.logger.warn({ reason: errorMessage(error) }, 'could not release an idempotency key');
    });
  }
}
