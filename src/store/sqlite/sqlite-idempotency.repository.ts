import type { Statement } from 'better-sqlite3';
import { type IdempotencyClaim, type IdempotencyRecord, IdempotencyRepository } from '../idempotency.repository';
import { type SqliteConnection, type SqliteMigration } from './sqlite-connection';

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

/** How many expired keys one claim sweeps away (keeps the table at about a day of keys, at a constant cost per call). */
const SWEEP_BATCH = 2;

export class SqliteIdempotencyRepository extends IdempotencyRepository {
  private readonly claimRow: Statement<[string, string, number, number, number, number]>;
  private readonly selectOne: Statement<[string], KeyRow>;
  private readonly completeRow: Statement<[number, string, string, number]>;
  private readonly releaseRow: Statement<[string, number]>;
  private readonly sweep: Statement<[number]>;

  constructor(private readonly connection: SqliteConnection) {
    super();
    const { db } = connection;
    // One statement decides, as the DynamoDB engine's conditional put does: free, expired or stale → claimed.
    this.claimRow = db.prepare(
      `INSERT INTO idempotency_keys (key, fingerprint, state, claimed_at, expires_at) VALUES (?, ?, 'pending', ?, ?)
       ON CONFLICT (key) DO UPDATE SET fingerprint = excluded.fingerprint, state = 'pending', status = NULL, result = NULL,
         claimed_at = excluded.claimed_at, expires_at = excluded.expires_at
       WHERE expires_at < ? OR (state = 'pending' AND claimed_at < ?)`,
    );
    this.selectOne = db.prepare('SELECT fingerprint, state, status, result, claimed_at, expires_at FROM idempotency_keys WHERE key = ?');
    this.completeRow = db.prepare("UPDATE idempotency_keys SET state = 'done', status = ?, result = ? WHERE key = ? AND claimed_at = ?");
    this.releaseRow = db.prepare("DELETE FROM idempotency_keys WHERE key = ? AND claimed_at = ? AND state = 'pending'");
    this.sweep = db.prepare(`DELETE FROM idempotency_keys WHERE key IN (SELECT key FROM idempotency_keys WHERE expires_at < ? ORDER BY expires_at LIMIT ${SWEEP_BATCH})`);
  }

  async claim(key: string, claim: IdempotencyClaim): Promise<IdempotencyRecord | undefined> {
    return this.connection.write(() => {
      this.sweep.run(claim.now);
      if (this.claimRow.run(key, claim.fingerprint, claim.now, claim.expiresAt, claim.now, claim.staleBefore).changes === 1) {
        return undefined;
      }
      const row = this.selectOne.get(key)!;
      return {
        fingerprint: row.fingerprint,
        state: row.state,
        status: row.status ?? undefined,
        result: row.result ?? undefined,
        claimedAt: row.claimed_at,
        expiresAt: row.expires_at,
      };
    });
  }

  async complete(key: string, claimedAt: number, status: number, result: string): Promise<void> {
    await this.connection.write(() => this.completeRow.run(status, result, key, claimedAt));
  }

  async release(key: string, claimedAt: number): Promise<void> {
    await this.connection.write(() => this.releaseRow.run(key, claimedAt));
  }
}
