import type { StateRecord, StateRepository } from '../../../src/store/state.repository';
import type { StoreEngine } from '../../../src/store/store-engine';

function record(version: number, desired: StateRecord['desired'] = {}, reported: StateRecord['reported'] = {}): StateRecord {
  return { clientId: 'dev-1', desired, reported, version, updatedAt: `2026-01-01T00:00:0${version}.000Z` };
}

/** The state documents' contract: every engine must pass it unchanged. */
export function stateRepositoryContract(open: () => Promise<StoreEngine>): void {
  describe('StateRepository', () => {
    let store: StoreEngine;
    let states: StateRepository;

    beforeEach(async () => {
      store = await open();
      states = store.states;
    });

    afterEach(async () => {
      await store.close();
    });

    it('has no document for a client that never had one', async () => {
      await expect(states.get('dev-1')).resolves.toBeUndefined();
    });

    it('round-trips a document exactly (arbitrary keys, nesting, numbers, arrays)', async () => {
      const first = record(1, { '': 1, 'a.b': { c: [1, 2.5, 'x', true, { d: -0.000001 }] }, big: 9007199254740991 }, { z: 'x', n: 0 });
      await expect(states.save(undefined, first)).resolves.toEqual(first);
      await expect(states.get('dev-1')).resolves.toEqual(first);
    });

    it('writes only on top of the version read: of two writers on the same version exactly one wins', async () => {
      const first = record(1, { a: 1 });
      expect(await states.save(undefined, first)).toEqual(first);
      // A second "first document" loses to the stored one.
      await expect(states.save(undefined, record(1, { other: true }))).resolves.toBeUndefined();

      const results = await Promise.all([states.save(first, record(2, { a: 2 })), states.save(first, record(2, { a: 3 }))]);
      expect(results.filter((r) => r !== undefined)).toHaveLength(1);
      const stored = await states.get('dev-1');
      expect(stored?.version).toBe(2);
      expect(stored).toEqual(results.find((r) => r !== undefined));

      // Stale: based on version 1 while 2 is stored.
      await expect(states.save(first, record(2, { a: 4 }))).resolves.toBeUndefined();
      await expect(states.save(stored, record(3, { a: 5 }, { a: 5 }))).resolves.toEqual(record(3, { a: 5 }, { a: 5 }));
      await expect(states.get('dev-1')).resolves.toEqual(record(3, { a: 5 }, { a: 5 }));
    });

    it('keeps documents per client', async () => {
      await states.save(undefined, { ...record(1, { a: 1 }), clientId: 'dev-2' });
      await expect(states.get('dev-1')).resolves.toBeUndefined();
      await expect(states.get('dev-2')).resolves.toEqual(expect.objectContaining({ clientId: 'dev-2', desired: { a: 1 } }));
    });
  });
}
