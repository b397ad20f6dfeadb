import Database from 'better-sqlite3';
import { StoreUnavailableError } from '../../domain/errors';
import { useSqliteConnection } from '../../../test/support/sqlite';
import { SqliteConnection } from './sqlite-connection';

describe('SqliteConnection.write (group commit)', () => {
  const sqlite = useSqliteConnection('sqlite', [{ id: 'items-1', up: (db) => db.exec('CREATE TABLE items (id TEXT PRIMARY KEY, n INTEGER NOT NULL) STRICT') }]);

  const rows = (): Array<{ id: string; n: number }> => sqlite.connection.db.prepare<[], { id: string; n: number }>('SELECT id, n FROM items ORDER BY id').all();

  it('writes queued in one turn share one transaction, settle after its commit, and resolve with their own results', async () => {
    const insert = sqlite.connection.db.prepare('INSERT INTO items (id, n) VALUES (?, ?)');
    // A second connection to the file sees only what was committed.
    const reader = new Database(sqlite.connection.path, { readonly: true });
    const committed = (): number => (reader.prepare('SELECT count(*) AS n FROM items').get() as { n: number }).n;
    try {
      const seenByOthers: number[] = [];
      const writes = ['a', 'b', 'c'].map((id, n) =>
        sqlite.connection.write(() => {
          seenByOthers.push(committed());
          return insert.run(id, n).changes;
        }),
      );
      expect(rows()).toEqual([]);
      await expect(Promise.all(writes)).resolves.toEqual([1, 1, 1]);
      // None of the three was committed before the last one ran: one transaction.
      expect(seenByOthers).toEqual([0, 0, 0]);
      expect(committed()).toBe(3);
      // A later turn: its own transaction, which sees the first one's rows committed.
      await sqlite.connection.write(() => seenByOthers.push(committed()));
      expect(seenByOthers).toEqual([0, 0, 0, 3]);
    } finally {
      reader.close();
    }
  });

  it('a write that throws is undone alone and rejects alone; SQLite errors reject as StoreUnavailableError', async () => {
    const insert = sqlite.connection.db.prepare('INSERT INTO items (id, n) VALUES (?, ?)');
    const outcomes = await Promise.allSettled([
      sqlite.connection.write(() => insert.run('a', 1)),
      sqlite.connection.write(() => {
        insert.run('half', 2);
        throw new RangeError('refused by the caller');
      }),
      sqlite.connection.write(() => insert.run('a', 3)), // primary key taken
      sqlite.connection.write(() => insert.run('c', 4)),
    ]);
    expect(outcomes.map((o) => o.status)).toEqual(['fulfilled', 'rejected', 'rejected', 'fulfilled']);
    expect((outcomes[1] as PromiseRejectedResult).reason).toBeInstanceOf(RangeError);
    expect((outcomes[2] as PromiseRejectedResult).reason).toBeInstanceOf(StoreUnavailableError);
    expect(rows()).toEqual([
      { id: 'a', n: 1 },
      { id: 'c', n: 4 },
    ]);
  });

  it('close() commits what is queued first; a write after close rejects as StoreUnavailableError', async () => {
    const insert = sqlite.connection.db.prepare('INSERT INTO items (id, n) VALUES (?, ?)');
    const queued = sqlite.connection.write(() => insert.run('a', 1).changes);
    sqlite.connection.close();
    await expect(queued).resolves.toBe(1);
    const reopened = SqliteConnection.open(sqlite.dataDir, []);
    expect(reopened.db.prepare('SELECT count(*) AS n FROM items').get()).toEqual({ n: 1 });
    reopened.close();
    await expect(sqlite.connection.write(() => insert.run('b', 2))).rejects.toBeInstanceOf(StoreUnavailableError);
  });
});
