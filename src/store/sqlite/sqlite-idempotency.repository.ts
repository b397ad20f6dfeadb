import type { Statement } from 'better-sqlite3';
import { type IdempotencyClaim, type IdempotencyRecord, IdempotencyRepository } from '../idempotency.repository';
import { type SqliteConnection, type SqliteMigration, sqliteCall } from './sqlite-connection';

export const IDEMPOTENCY_MIGRATIONS: readonly SqliteMigration[] = [
  {
    id: 'idempotency-1',
    up: (db) =>
      db.exec(`
        CREATE TABLE idempotency_keys (key TEXT PRIMARY KEY, fingerprint TEXT NOT NULL, state TEXT NOT NULL, status INTEGER, result TEXT, claimed_at INTEGER NOT NULL, expires_at INTEGER NOT NULL) STRICT, WITHOUT ROWID;
        CREATE INDEX idempotency_keys_expiry ON idempotency_keys (expires_at);
      `),
  },
];

interface KeyRow {
  fingerprint: string;
  state: 'pending' | 'done';
  status: number | null;
  result: string | null;
  claimed_at: number;
  expires_at: number;
}

/** How many expired keys one completion sweeps away (keeps the table at about a day of keys, at a constant cost per call). */
const SWEEP_BATCH = 2;

/**
 * The SQLite engine's keys. One process owns the file (a second instance can't share an embedded store),
 * so a pending claim needs no write: it is kept in memory until the call completes (one write: the key,
 * done, with its answer) or fails (no write). A crash loses the pending claims, and with them nothing a
 * stored one would have kept: a stored pending claim of a dead process only made a retry wait for the
 * lease before running again. The rules are the DynamoDB engine's: free, expired or stale → claimed.
 */
export class SqliteIdempotencyRepository extends IdempotencyRepository {
  /** Claims whose call is running (or died less than a lease ago: `claimedAt` says). */
  private readonly pending = new Map<string, IdempotencyRecord>();
  private readonly selectOne: Statement<[string], KeyRow>;
  private readonly storeDone: Statement<[string, string, number, string, number, number]>;
  private readonly sweep: Statement<[number]>;

  constructor(private readonly connection: SqliteConnection) {
    super();
    const { db } = connection;
    this.selectOne = db.prepare('SELECT fingerprint, state, status, result, claimed_at, expires_at FROM idempotency_keys WHERE key = ?');
    this.storeDone = db.prepare(
      `INSERT INTO idempotency_keys (key, fingerprint, state, status, result, claimed_at, expires_at) VALUES (?, ?, 'done', ?, ?, ?, ?)
       ON CONFLICT (key) DO UPDATE SET fingerprint = excluded.fingerprint, state = 'done', status = excluded.status, result = excluded.result,
         claimed_at = excluded.claimed_at, expires_at = excluded.expires_at`,
    );
    this.sweep = db.prepare(`DELETE FROM idempotency_keys WHERE key IN (SELECT key FROM idempotency_keys WHERE expires_at < ? ORDER BY expires_at LIMIT ${SWEEP_BATCH})`);
  }

  async claim(key: string, claim: IdempotencyClaim): Promise<IdempotencyRecord | undefined> {
    const holder = this.pending.get(key) ?? this.stored(key);
    const free = holder === undefined || holder.expiresAt < claim.now || (holder.state === 'pending' && holder.claimedAt < claim.staleBefore);
    if (!free) {
      return { ...holder };
    }
    this.pending.set(key, { fingerprint: claim.fingerprint, state: 'pending', claimedAt: claim.now, expiresAt: claim.expiresAt });
    return undefined;
  }

  async complete(key: string, claimedAt: number, status: number, result: string): Promise<void> {
    const claim = this.pending.get(key);
    if (claim?.claimedAt !== claimedAt) {
      // Taken over (the claim went stale) or released: the call that holds the key now answers.
      return;
    }
    await this.connection.write(() => {
      this.sweep.run(Date.now());
      this.storeDone.run(key, claim.fingerprint, status, result, claim.claimedAt, claim.expiresAt);
    });
    // Pending until stored: a repeat meanwhile waits instead of running again. (A failed write leaves the
    // claim pending, as a stored one would stay: the caller retries, or it goes stale after the lease.)
    if (this.pending.get(key) === claim) {
      this.pending.delete(key);
    }
  }

  async release(key: string, claimedAt: number): Promise<void> {
    if (this.pending.get(key)?.claimedAt === claimedAt) {
      this.pending.delete(key);
    }
  }

  private stored(key: string): IdempotencyRecord | undefined {
    const row = sqliteCall(() => this.selectOne.get(key));
    return row === undefined
      ? undefined
      : {
          fingerprint: row.fingerprint,
          state: row.state,
          status: row.status ?? undefined,
          result: row.result ?? undefined,
          claimedAt: row.claimed_at,
          expiresAt: row.expires_at,
        };
  }
}
