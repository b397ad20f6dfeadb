import type { HistoryRepository } from '../../../src/store/history.repository';
import type { StoreEngine } from '../../../src/store/store-engine';

const entry = (seq: number, at = 1_000 + seq): { seq: number; payload: string; at: number; expiresAtSeconds: number } => ({
  seq,
  payload: JSON.stringify({ Message: `m${seq}`, Seq: seq }),
  at,
  expiresAtSeconds: Math.ceil(at / 1000) + 60,
});
const ALL = { after: 0, limit: 1000, size: 10_000, notBefore: 0 };

/** The history's contract: every engine must pass it unchanged. */
export function historyRepositoryContract(open: () => Promise<StoreEngine>): void {
  describe('HistoryRepository', () => {
    let store: StoreEngine;
    let history: HistoryRepository;

    beforeEach(async () => {
      store = await open();
      history = store.history;
    });

    afterEach(async () => {
      await store.close();
    });

    async function append(stream: string, seq: number, at?: number): Promise<void> {
      expect(await history.reserve(stream, entry(seq, at))).toBe(true);
      await history.commit(stream, seq);
    }

    it('starts every stream at head 0, empty', async () => {
      await expect(history.head('p/news')).resolves.toBe(0);
      await expect(history.read('p/news', ALL)).resolves.toEqual({ latestSeq: 0, entries: [] });
    });

    it('a reservation is invisible until committed; of two writers of one Seq exactly one wins', async () => {
      const results = await Promise.all([history.reserve('p/news', entry(1)), history.reserve('p/news', { ...entry(1), payload: 'other' })]);
      expect(results.filter(Boolean)).toHaveLength(1);
      await expect(history.read('p/news', ALL)).resolves.toEqual({ latestSeq: 0, entries: [] });
      await expect(history.reservation('p/news', 1)).resolves.toEqual(expect.objectContaining({ seq: 1 }));
      await history.commit('p/news', 1);
      await expect(history.head('p/news')).resolves.toBe(1);
      await expect(history.reservation('p/news', 1)).resolves.toBeUndefined();
      const page = await history.read('p/news', ALL);
      expect(page.latestSeq).toBe(1);
      expect(page.entries).toHaveLength(1);
    });

    it('abort deletes only the reservation made at that time, never a committed entry', async () => {
      await history.reserve('p/news', entry(1, 5_000));
      await expect(history.abort('p/news', 1, 4_999)).resolves.toBe(false);
      await expect(history.abort('p/news', 1, 5_000)).resolves.toBe(true);
      await expect(history.reservation('p/news', 1)).resolves.toBeUndefined();
      await append('p/news', 1, 6_000);
      await expect(history.abort('p/news', 1, 6_000)).resolves.toBe(false);
      await expect(history.read('p/news', ALL)).resolves.toEqual({ latestSeq: 1, entries: [{ seq: 1, payload: entry(1).payload, at: 6_000 }] });
    });

    it('the head never moves backwards', async () => {
      await append('p/news', 1);
      await append('p/news', 2);
      await history.commit('p/news', 1);
      await expect(history.head('p/news')).resolves.toBe(2);
    });

    it('reads after a Seq, ascending, up to a limit, per stream', async () => {
      for (let seq = 1; seq <= 7; seq++) {
        await append('p/news', seq);
      }
      await append('p/news/client/alice', 1);
      const page = await history.read('p/news', { ...ALL, after: 2, limit: 3 });
      expect(page.latestSeq).toBe(7);
      expect(page.entries.map((e) => e.seq)).toEqual([3, 4, 5]);
      expect(page.entries[0].payload).toBe(entry(3).payload);
      expect((await history.read('p/news', { ...ALL, after: 7 })).entries).toEqual([]);
      expect((await history.read('p/news/client/alice', ALL)).entries.map((e) => e.seq)).toEqual([1]);
    });

    it('readJson is read as JSON bytes: the same entries, joined in Seq order', async () => {
      for (let seq = 1; seq <= 6; seq++) {
        await append('p/news', seq, seq * 1000);
      }
      await history.reserve('p/news', entry(7));
      for (const query of [ALL, { ...ALL, after: 2, limit: 3 }, { ...ALL, size: 2 }, { ...ALL, notBefore: 5000 }, { ...ALL, after: 6 }]) {
        const page = await history.read('p/news', query);
        await expect(history.readJson('p/news', query)).resolves.toEqual({
          latestSeq: 6,
          firstSeq: page.entries[0]?.seq,
          count: page.entries.length,
          joined: Buffer.from(page.entries.map((e) => e.payload).join(',')),
        });
      }
      expect(JSON.parse(`[${(await history.readJson('p/news', ALL)).joined.toString('utf8')}]`)).toEqual([1, 2, 3, 4, 5, 6].map((seq) => ({ Message: `m${seq}`, Seq: seq })));
    });

    it('retention: readers see only the last `size` and the unexpired; prune deletes the rest and keeps the head', async () => {
      for (let seq = 1; seq <= 6; seq++) {
        await append('p/news', seq, seq * 1000);
      }
      expect((await history.read('p/news', { ...ALL, size: 3 })).entries.map((e) => e.seq)).toEqual([4, 5, 6]);
      expect((await history.read('p/news', { ...ALL, notBefore: 5000 })).entries.map((e) => e.seq)).toEqual([5, 6]);
      await history.prune('p/news', 3);
      expect((await history.read('p/news', ALL)).entries.map((e) => e.seq)).toEqual([3, 4, 5, 6]);
      await history.prune('p/news', 3, 6000);
      expect(await history.read('p/news', ALL)).toEqual({ latestSeq: 6, entries: [expect.objectContaining({ seq: 6 })] });
      await history.prune('p/news', 7, Number.MAX_SAFE_INTEGER);
      await expect(history.read('p/news', ALL)).resolves.toEqual({ latestSeq: 6, entries: [] });
      await expect(history.head('p/news')).resolves.toBe(6);
    });
  });
}
