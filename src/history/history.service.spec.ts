import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig } from '../config/app-config';
import { InMemoryChannelRepository } from '../../test/support/fakes';
import { ChannelCatalog } from '../store/channel-catalog';
import { SqliteStore } from '../store/sqlite/sqlite-store';
import { StoreUnavailableError } from '../domain/errors';
import { HistoryService, RESERVATION_LEASE_MS } from './history.service';

const SETTINGS = { size: 1000, ttlSeconds: 60 };

/** Two HistoryService instances on one store stand for two service instances sharing it (no shared lock in memory). */
describe('HistoryService', () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'wc-history-'));
  let store: SqliteStore;
  let a: HistoryService;
  let b: HistoryService;

  beforeAll(async () => {
    store = await SqliteStore.open(loadConfig({ DATA_DIR: dataDir }), { log: () => undefined, error: () => undefined, warn: () => undefined });
    const catalog = new ChannelCatalog(new InMemoryChannelRepository([]));
    a = new HistoryService(store.history, catalog);
    b = new HistoryService(store.history, catalog);
  });

  afterAll(async () => {
    await store.close();
    rmSync(dataDir, { recursive: true, force: true });
  });

  const append = (service: HistoryService, stream: string, sent: number[], fail = false): Promise<number> =>
    service.append(
      stream,
      SETTINGS,
      (seq) => JSON.stringify({ Seq: seq }),
      async (payload) => {
        await new Promise((resolve) => setImmediate(resolve));
        if (fail) {
          throw new Error('broker refused');
        }
        sent.push((JSON.parse(payload) as { Seq: number }).Seq);
      },
    );

  it('two instances publishing on one stream: gapless, each Seq once, delivered in Seq order', async () => {
    const sent: number[] = [];
    const seqs = await Promise.all(Array.from({ length: 40 }, (_, i) => append(i % 2 === 0 ? a : b, 'p/shared', sent)));
    expect([...seqs].sort((x, y) => x - y)).toEqual(Array.from({ length: 40 }, (_, i) => i + 1));
    expect(sent).toEqual(Array.from({ length: 40 }, (_, i) => i + 1));
    await expect(store.history.head('p/shared')).resolves.toBe(40);
  });

  it('a refused publish gives its Seq back, even with the other instance waiting for it', async () => {
    const sent: number[] = [];
    const results = await Promise.allSettled([append(a, 'p/refused', sent, true), append(b, 'p/refused', sent), append(a, 'p/refused', sent)]);
    expect(results.map((r) => r.status)).toEqual(['rejected', 'fulfilled', 'fulfilled']);
    expect(sent.sort()).toEqual([1, 2]);
    const page = await store.history.read('p/refused', { after: 0, limit: 10, size: 10, notBefore: 0 });
    expect(page.entries.map((e) => e.seq)).toEqual([1, 2]);
  });

  it("takes over a dead writer's reservation once its lease is over (its call never answered 2xx)", async () => {
    // A writer (another instance) reserved Seq 1 and died.
    await store.history.reserve('p/dead', { seq: 1, payload: '{"Seq":1,"lost":true}', at: Date.now() - RESERVATION_LEASE_MS - 1, expiresAtSeconds: 0 });
    const sent: number[] = [];
    await expect(append(a, 'p/dead', sent)).resolves.toBe(1);
    const page = await store.history.read('p/dead', { after: 0, limit: 10, size: 10, notBefore: 0 });
    expect(page.entries.map((e) => e.payload)).toEqual(['{"Seq":1}']);
  });

  describe('batches (one commit for the publishes queued on a stream)', () => {
    afterEach(() => jest.restoreAllMocks());

    it('publishes queued while a batch runs go together: in Seq order, one commit for the batch', async () => {
      const commit = jest.spyOn(store.history, 'commit');
      const sent: number[] = [];
      const seqs = await Promise.all(Array.from({ length: 30 }, () => append(a, 'p/batch', sent)));
      expect(seqs).toEqual(Array.from({ length: 30 }, (_, i) => i + 1));
      expect(sent).toEqual(seqs);
      // The first call starts a batch of one; the 29 queued behind it form the second.
      expect(commit.mock.calls).toEqual([
        ['p/batch', 1],
        ['p/batch', 30],
      ]);
      const page = await store.history.read('p/batch', { after: 0, limit: 100, size: 100, notBefore: 0 });
      expect(page.entries.map((e) => e.seq)).toEqual(seqs);
    });

    it('a publish the broker refuses inside a batch fails alone, and the next one of the batch takes its Seq', async () => {
      const sent: number[] = [];
      const results = await Promise.allSettled([
        append(a, 'p/batch-refused', sent),
        append(a, 'p/batch-refused', sent),
        append(a, 'p/batch-refused', sent, true),
        append(a, 'p/batch-refused', sent),
      ]);
      expect(results.map((r) => (r.status === 'fulfilled' ? r.value : 'rejected'))).toEqual([1, 2, 'rejected', 3]);
      expect(sent).toEqual([1, 2, 3]);
      const page = await store.history.read('p/batch-refused', { after: 0, limit: 10, size: 10, notBefore: 0 });
      expect(page.entries.map((e) => e.seq)).toEqual([1, 2, 3]);
    });

    it('a commit that fails fails every call of the batch; what they delivered is committed before the next publish', async () => {
      const sent: number[] = [];
      await append(a, 'p/batch-commit', sent);
      const realCommit = store.history.commit.bind(store.history);
      const commit = jest.spyOn(store.history, 'commit').mockRejectedValue(new StoreUnavailableError('store unavailable: test'));
      const failed = await Promise.allSettled(Array.from({ length: 3 }, () => append(a, 'p/batch-commit', sent)));
      expect(failed.map((r) => r.status)).toEqual(['rejected', 'rejected', 'rejected']);
      expect(sent).toEqual([1, 2, 3, 4]);
      await expect(store.history.head('p/batch-commit')).resolves.toBe(1);
      commit.mockImplementation(realCommit);
      await expect(append(a, 'p/batch-commit', sent)).resolves.toBe(5);
      const page = await store.history.read('p/batch-commit', { after: 0, limit: 10, size: 10, notBefore: 0 });
      expect(page.entries.map((e) => e.seq)).toEqual([1, 2, 3, 4, 5]);
    });

    it('while an owed commit still fails, the calls of the next batch fail too (none is left waiting) and publish nothing', async () => {
      const sent: number[] = [];
      const commit = jest.spyOn(store.history, 'commit').mockRejectedValue(new StoreUnavailableError('store unavailable: test'));
      await expect(append(a, 'p/owed', sent)).rejects.toBeInstanceOf(StoreUnavailableError);
      // Seq 1 was delivered and is owed; settling it fails again, before anything of this batch is published.
      const next = await Promise.allSettled([append(a, 'p/owed', sent), append(a, 'p/owed', sent)]);
      expect(next.map((r) => r.status)).toEqual(['rejected', 'rejected']);
      expect(sent).toEqual([1]);
      commit.mockRestore();
      await expect(append(a, 'p/owed', sent)).resolves.toBe(2);
    });
  });
});
