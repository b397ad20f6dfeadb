import type { Statement } from 'better-sqlite3';
import { type HistoryEntry, type HistoryPage, type HistoryReadQuery, HistoryRepository, type HistoryReservation } from '../history.repository';
import { type SqliteConnection, type SqliteMigration, sqliteCall } from './sqlite-connection';

export const HISTORY_MIGRATIONS: readonly SqliteMigration[] = [
  {
    id: 'history-1',
    // history_heads keeps the last committed Seq of every stream: it outlives the entries (retention deletes
    // those), so the sequence never restarts.
    up: (db) =>
      db.exec(`
        CREATE TABLE history (stream TEXT NOT NULL, seq INTEGER NOT NULL, payload TEXT NOT NULL, at INTEGER NOT NULL, PRIMARY KEY (stream, seq)) STRICT, WITHOUT ROWID;
        CREATE TABLE history_heads (stream TEXT PRIMARY KEY, last_seq INTEGER NOT NULL) STRICT, WITHOUT ROWID;
      `),
  },
];

interface EntryRow {
  seq: number;
  payload: string;
  at: number;
}

export class SqliteHistoryRepository extends HistoryRepository {
  private readonly selectHead: Statement<[string], { last_seq: number }>;
  private readonly insert: Statement<[string, number, string, number]>;
  private readonly selectOne: Statement<[string, number], EntryRow>;
  private readonly deleteReserved: Statement<[string, number, number]>;
  private readonly upsertHead: Statement<[string, number]>;
  private readonly selectRange: Statement<[string, number, number, number, number], EntryRow>;
  private readonly deleteBelow: Statement<[string, number]>;
  private readonly deleteExpired: Statement<[string, string, number]>;

  constructor(connection: SqliteConnection) {
    super();
    const { db } = connection;
    // One process owns the file: reservations above a head are left by a crash (their calls never
    // succeeded), so they go at open.
    db.exec('DELETE FROM history WHERE seq > coalesce((SELECT last_seq FROM history_heads h WHERE h.stream = history.stream), 0)');
    this.selectHead = db.prepare('SELECT last_seq FROM history_heads WHERE stream = ?');
    this.insert = db.prepare('INSERT INTO history (stream, seq, payload, at) VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING');
    this.selectOne = db.prepare('SELECT seq, payload, at FROM history WHERE stream = ? AND seq = ?');
    this.deleteReserved = db.prepare('DELETE FROM history WHERE stream = ? AND seq = ? AND at = ?');
    this.upsertHead = db.prepare(
      'INSERT INTO history_heads (stream, last_seq) VALUES (?, ?) ON CONFLICT (stream) DO UPDATE SET last_seq = excluded.last_seq WHERE excluded.last_seq > last_seq',
    );
    this.selectRange = db.prepare('SELECT seq, payload, at FROM history WHERE stream = ? AND seq > ? AND seq <= ? AND at >= ? ORDER BY seq LIMIT ?');
    this.deleteBelow = db.prepare('DELETE FROM history WHERE stream = ? AND seq < ?');
    // Oldest first, in seq order (times grow with seq): the expired entries are at the start.
    this.deleteExpired = db.prepare('DELETE FROM history WHERE stream = ? AND seq IN (SELECT seq FROM history WHERE stream = ? ORDER BY seq LIMIT 10000) AND at < ?');
  }

  async head(stream: string): Promise<number> {
    return sqliteCall(() => this.selectHead.get(stream)?.last_seq ?? 0);
  }

  async reserve(stream: string, entry: HistoryReservation): Promise<boolean> {
    return sqliteCall(() => this.insert.run(stream, entry.seq, entry.payload, entry.at).changes === 1);
  }

  async reservation(stream: string, seq: number): Promise<HistoryEntry | undefined> {
    return sqliteCall(() => {
      const head = this.selectHead.get(stream)?.last_seq ?? 0;
      return seq > head ? this.selectOne.get(stream, seq) : undefined;
    });
  }

  async abort(stream: string, seq: number, at: number): Promise<boolean> {
    return sqliteCall(() => {
      const head = this.selectHead.get(stream)?.last_seq ?? 0;
      return seq > head && this.deleteReserved.run(stream, seq, at).changes === 1;
    });
  }

  async commit(stream: string, seq: number): Promise<void> {
    sqliteCall(() => this.upsertHead.run(stream, seq));
  }

  async read(stream: string, query: HistoryReadQuery): Promise<HistoryPage> {
    return sqliteCall(() => {
      const latestSeq = this.selectHead.get(stream)?.last_seq ?? 0;
      const from = Math.max(query.after, latestSeq - query.size);
      const entries = from >= latestSeq ? [] : this.selectRange.all(stream, from, latestSeq, query.notBefore, query.limit);
      return { latestSeq, entries };
    });
  }

  async prune(stream: string, keepFrom: number, notBefore?: number): Promise<void> {
    sqliteCall(() => {
      this.deleteBelow.run(stream, keepFrom);
      if (notBefore !== undefined) {
        this.deleteExpired.run(stream, stream, notBefore);
      }
    });
  }
}
