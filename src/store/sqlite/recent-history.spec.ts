import { useSqliteConnection } from '../../../test/support/sqlite';
import { HISTORY_MIGRATIONS, SqliteHistoryRepository } from './sqlite-history.repository';
import { RecentHistory } from './recent-history';

describe('recent history (pages from memory)', () => {
  const sqlite = useSqliteConnection('recent', HISTORY_MIGRATIONS);

  const publish = async (history: SqliteHistoryRepository, stream: string, seq: number, at: number): Promise<void> => {
    await history.reserve(stream, { seq, payload: `{"Seq":${seq}}`, at, expiresAtSeconds: 0 });
    await history.commit(stream, seq);
  };

  it('answers every page exactly as the file does (a second repository on the file has nothing in memory)', async () => {
    const writer = new SqliteHistoryRepository(sqlite.connection);
    const stream = 'p/recent';
    // 1,500 Seqs in batches of 1 to 7; `at` 1 s apart, so a TTL cuts in the middle; text beyond ASCII (pages are UTF-8 bytes).
    let seq = 0;
    while (seq < 1500) {
      const batch = Math.min(1 + (seq % 7), 1500 - seq);
      for (let i = 1; i <= batch; i++) {
        await writer.reserve(stream, { seq: seq + i, payload: `{"Seq":${seq + i},"Message":"é ✓ 🎮"}`, at: (seq + i) * 1000, expiresAtSeconds: 0 });
      }
      seq += batch;
      await writer.commit(stream, seq);
    }
    const fileOnly = new SqliteHistoryRepository(sqlite.connection);
    const fileReads = jest.spyOn((writer as unknown as { selectPayloads: { all: () => unknown } }).selectPayloads, 'all');
    for (const query of [
      { after: 1400, limit: 100, size: 1000, notBefore: 0 },
      { after: 1499, limit: 100, size: 1000, notBefore: 0 },
      { after: 1500, limit: 100, size: 1000, notBefore: 0 },
      { after: 0, limit: 100, size: 1000, notBefore: 0 }, // from the window's start (Seq 501)
      { after: 0, limit: 100, size: 10_000, notBefore: 0 }, // before what memory holds: the file
      { after: 1000, limit: 50, size: 1000, notBefore: 1_200_500 }, // the TTL cuts in
      { after: 1000, limit: 0, size: 1000, notBefore: 0 },
    ]) {
      await expect(writer.readJson(stream, query)).resolves.toEqual(await fileOnly.readJson(stream, query));
    }
    // Only the page that starts before what memory holds read the file.
    expect(fileReads).toHaveBeenCalledTimes(1);
  });

  it('holds at most its bounds: per stream, and across streams the one written longest ago goes first', () => {
    const recent = new RecentHistory(3, 40); // bytes
    const entry = (seq: number, payload = `{"Seq":${seq}}`) => ({ seq, payload, at: seq });
    recent.committed('a', [entry(1), entry(2), entry(3), entry(4)]);
    expect(recent.page('a', 0, 4, 0, 10)).toBeUndefined(); // Seq 1 is no longer held
    expect(recent.page('a', 1, 4, 0, 10)).toEqual({ firstSeq: 2, count: 3, joined: Buffer.from('{"Seq":2},{"Seq":3},{"Seq":4}') });
    recent.committed('b', [entry(1, 'x'.repeat(20))]);
    // 3 × 9 + 20 bytes > 40: 'a' (written longest ago) is dropped, 'b' stays.
    expect(recent.page('a', 1, 4, 0, 10)).toBeUndefined();
    expect(recent.page('b', 0, 1, 0, 10)).toEqual({ firstSeq: 1, count: 1, joined: Buffer.from('x'.repeat(20)) });
    // A run that does not follow on is not joined to what is held; a hole drops the stream.
    recent.committed('b', [entry(5)]);
    expect(recent.page('b', 0, 5, 0, 10)).toBeUndefined();
    expect(recent.page('b', 4, 5, 0, 10)).toEqual({ firstSeq: 5, count: 1, joined: Buffer.from('{"Seq":5}') });
    recent.committed('b', [entry(6), entry(8)]);
    expect(recent.page('b', 4, 8, 0, 10)).toBeUndefined();
  });

  it('is not used for a head it does not end at (a commit without a reservation here)', async () => {
    const writer = new SqliteHistoryRepository(sqlite.connection);
    await publish(writer, 'p/head', 1, 1);
    await writer.commit('p/head', 2); // e.g. another writer's Seq: nothing held for it
    await expect(writer.readJson('p/head', { after: 0, limit: 10, size: 10, notBefore: 0 })).resolves.toEqual({ latestSeq: 2, firstSeq: 1, count: 1, joined: Buffer.from('{"Seq":1}') });
  });
});
