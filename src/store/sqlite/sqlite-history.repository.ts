import type { Statement } from 'better-sqlite3';
import { type HistoryEntry, type HistoryJsonPage, type HistoryPage, type HistoryReadQuery, HistoryRepository, type HistoryReservation } from '../history.repository';
import { RecentHistory } from './recent-history';
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

/**
 * The SQLite engine's history. One process owns the file (a second instance can't share an embedded store:
 * `REDIS_URL` with `STORE=embedded` is refused at start), so a reservation needs no write: it is kept in
 * memory until its commit, which stores the entry and moves the head in one transaction. A publish on a
 * history channel is one SQLite commit, not three; a crash between publish and commit loses the
 * reservation exactly as the stored one was lost before (reservations above the head were deleted at open).
 */
export class SqliteHistoryRepository extends HistoryRepository {
  /** Uncommitted entries, per stream then Seq. */
  private readonly reservations = new Map<string, Map<number, HistoryEntry>>();
  /** Heads read or committed by this process (the only writer of the file). */
  private readonly heads = new Map<string, number>();
  /** The newest committed entries of recently written streams: recent pages without a read of the file. */
  private readonly recent = new RecentHistory();
  private readonly selectHead: Statement<[string], { last_seq: number }>;
  private readonly insert: Statement<[string, number, string, number]>;
  private readonly upsertHead: Statement<[string, number]>;
  private readonly selectRange: Statement<[string, number, number, number, number], EntryRow>;
  private readonly selectPayloads: Statement<[string, number, number, number, number], string>;
  private readonly selectFirstSeq: Statement<[string, number, number, number], number>;
  private readonly deleteBelow: Statement<[string, number]>;
  private readonly deleteExpired: Statement<[string, string, number]>;

  constructor(private readonly connection: SqliteConnection) {
    super();
    const { db } = connection;
    // Releases before this one stored reservations; any still above a head were left by a crash.
    db.exec('DELETE FROM history WHERE seq > coalesce((SELECT last_seq FROM history_heads h WHERE h.stream = history.stream), 0)');
    this.selectHead = db.prepare('SELECT last_seq FROM history_heads WHERE stream = ?');
    this.insert = db.prepare('INSERT INTO history (stream, seq, payload, at) VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING');
    this.upsertHead = db.prepare(
      'INSERT INTO history_heads (stream, last_seq) VALUES (?, ?) ON CONFLICT (stream) DO UPDATE SET last_seq = excluded.last_seq WHERE excluded.last_seq > last_seq',
    );
    this.selectRange = db.prepare('SELECT seq, payload, at FROM history WHERE stream = ? AND seq > ? AND seq <= ? AND at >= ? ORDER BY seq LIMIT ?');
    // A page as JSON text: the payload column alone, plucked (no object per entry: a third of the cost of
    // `selectRange`), and the first Seq by a seek of the primary key.
    this.selectPayloads = db.prepare<[string, number, number, number, number], string>(
      'SELECT payload FROM history WHERE stream = ? AND seq > ? AND seq <= ? AND at >= ? ORDER BY seq LIMIT ?',
    ).pluck();
    this.selectFirstSeq = db.prepare<[string, number, number, number], number>('SELECT seq FROM history WHERE stream = ? AND seq > ? AND seq <= ? AND at >= ? ORDER BY seq LIMIT 1').pluck();
    this.deleteBelow = db.prepare('DELETE FROM history WHERE stream = ? AND seq < ?');
    // Oldest first, in seq order (times grow with seq): the expired entries are at the start.
    this.deleteExpired = db.prepare('DELETE FROM history WHERE stream = ? AND seq IN (SELECT seq FROM history WHERE stream = ? ORDER BY seq LIMIT 10000) AND at < ?');
  }

  async head(stream: string): Promise<number> {
    return sqliteCall(() => this.headNow(stream));
  }

  async reserve(stream: string, entry: HistoryReservation): Promise<boolean> {
    const held = this.reservations.get(stream);
    if (held?.has(entry.seq) === true || entry.seq <= sqliteCall(() => this.headNow(stream))) {
      return false;
    }
    const pending = held ?? new Map<number, HistoryEntry>();
    pending.set(entry.seq, { seq: entry.seq, payload: entry.payload, at: entry.at });
    this.reservations.set(stream, pending);
    return true;
  }

  async reservation(stream: string, seq: number): Promise<HistoryEntry | undefined> {
    return this.reservations.get(stream)?.get(seq);
  }

  async abort(stream: string, seq: number, at: number): Promise<boolean> {
    const held = this.reservations.get(stream);
    if (held?.get(seq)?.at !== at) {
      return false;
    }
    this.release(stream, held, seq);
    return true;
  }

  /** Stores the reservations up to `seq` and moves the head, in the connection's shared transaction (group commit). */
  async commit(stream: string, seq: number): Promise<void> {
    const held = this.reservations.get(stream);
    const entries = held === undefined ? [] : [...held.values()].filter((entry) => entry.seq <= seq);
    await this.connection.write(() => {
      for (const entry of entries) {
        this.insert.run(stream, entry.seq, entry.payload, entry.at);
      }
      this.upsertHead.run(stream, seq);
    });
    if (seq > (this.heads.get(stream) ?? 0)) {
      this.heads.set(stream, seq);
      this.recent.committed(stream, entries);
    }
    if (held !== undefined) {
      for (const entry of entries) {
        this.release(stream, held, entry.seq);
      }
    }
  }

  async read(stream: string, query: HistoryReadQuery): Promise<HistoryPage> {
    return sqliteCall(() => {
      const { latestSeq, from } = this.window(stream, query);
      const entries = from >= latestSeq ? [] : this.selectRange.all(stream, from, latestSeq, query.notBefore, query.limit);
      return { latestSeq, entries };
    });
  }

  override async readJson(stream: string, query: HistoryReadQuery): Promise<HistoryJsonPage> {
    return sqliteCall(() => {
      const { latestSeq, from } = this.window(stream, query);
      if (from >= latestSeq || query.limit <= 0) {
        return { latestSeq, firstSeq: undefined, count: 0, joined: Buffer.alloc(0) };
      }
      const recent = this.recent.page(stream, from, latestSeq, query.notBefore, query.limit);
      if (recent !== undefined) {
        return { latestSeq, ...recent };
      }
      const payloads = this.selectPayloads.all(stream, from, latestSeq, query.notBefore, query.limit);
      const firstSeq = payloads.length === 0 ? undefined : this.selectFirstSeq.get(stream, from, latestSeq, query.notBefore);
      return { latestSeq, firstSeq, count: payloads.length, joined: Buffer.from(payloads.join(','), 'utf8') };
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

  private headNow(stream: string): number {
    let head = this.heads.get(stream);
    if (head === undefined) {
      head = this.selectHead.get(stream)?.last_seq ?? 0;
      this.heads.set(stream, head);
    }
    return head;
  }

  /** Readers see the committed Seqs after `after`, of the last `size`. */
  private window(stream: string, query: HistoryReadQuery): { latestSeq: number; from: number } {
    const latestSeq = this.headNow(stream);
    return { latestSeq, from: Math.max(query.after, latestSeq - query.size) };
  }

  private release(stream: string, held: Map<number, HistoryEntry>, seq: number): void {
    held.delete(seq);
    if (held.size === 0) {
      this.reservations.delete(stream);
    }
  }
}
