import type { IdempotencyRepository } from '../../../src/store/idempotency.repository';
import type { StoreEngine } from '../../../src/store/store-engine';

const claimAt = (now: number, fingerprint = 'f1'): { fingerprint: string; now: number; expiresAt: number; staleBefore: number } => ({
  fingerprint,
  now,
  expiresAt: now + 86_400_000,
  staleBefore: now - 30_000,
});

/** Idempotency keys' contract: every engine must pass it unchanged. */
export function idempotencyRepositoryContract(open: () => Promise<StoreEngine>): void {
  describe('IdempotencyRepository', () => {
    let store: StoreEngine;
    let keys: IdempotencyRepository;

    beforeEach(async () => {
      store = await open();
      keys = store.idempotency;
    });

    afterEach(async () => {
      await store.close();
    });

    it('of concurrent claims of a key exactly one wins; the others see it pending', async () => {
      const results = await Promise.all([1, 2, 3].map(() => keys.claim('k', claimAt(1_000_000))));
      expect(results.filter((r) => r === undefined)).toHaveLength(2 - 1);
      expect(results.filter((r) => r !== undefined)).toEqual([
        expect.objectContaining({ state: 'pending', fingerprint: 'f1', claimedAt: 1_000_000 }),
        expect.objectContaining({ state: 'pending', fingerprint: 'f1', claimedAt: 1_000_000 }),
      ]);
    });

    it('remembers the answer once done; keeps keys apart', async () => {
      await expect(keys.claim('k', claimAt(1_000_000))).resolves.toBeUndefined();
      await keys.complete('k', 1_000_000, 202, '{"messageId":"m1"}');
      await expect(keys.claim('k', claimAt(1_000_100, 'f2'))).resolves.toEqual({
        fingerprint: 'f1',
        state: 'done',
        status: 202,
        result: '{"messageId":"m1"}',
        claimedAt: 1_000_000,
        expiresAt: 1_000_000 + 86_400_000,
      });
      await expect(keys.claim('other', claimAt(1_000_100))).resolves.toBeUndefined();
    });

    it('a released claim frees the key; a stale pending or an expired key may be claimed again', async () => {
      await keys.claim('k', claimAt(1_000_000));
      await keys.release('k', 999);
      await expect(keys.claim('k', claimAt(1_000_001))).resolves.toEqual(expect.objectContaining({ state: 'pending' }));
      await keys.release('k', 1_000_000);
      await expect(keys.claim('k', claimAt(1_000_002))).resolves.toBeUndefined();
      // Its writer died: stale after 30 s.
      await expect(keys.claim('k', claimAt(1_020_000))).resolves.toEqual(expect.objectContaining({ state: 'pending' }));
      await expect(keys.claim('k', claimAt(1_032_003))).resolves.toBeUndefined();
      await keys.complete('k', 1_032_003, 202, '{}');
      // A completion by the writer that lost it changes nothing.
      await keys.complete('k', 1_000_002, 500, 'late');
      await expect(keys.claim('k', claimAt(1_040_000))).resolves.toEqual(expect.objectContaining({ state: 'done', status: 202, result: '{}' }));
      // A day later the key is forgotten.
      await expect(keys.claim('k', claimAt(1_032_003 + 86_400_001, 'f9'))).resolves.toBeUndefined();
    });
  });
}
