import { chmodSync, closeSync, openSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { prepareDataDir } from '../../common/data-dir';
import { StoreUnavailableError } from '../../domain/errors';

/** The store's file under DATA_DIR. */
export const SQLITE_FILE = 'store.sqlite';

/**
 * One schema change of one table. `id` is unique and never reused (convention: `<table>-<n>`, e.g.
 * `clients-1`); `up` runs once, in a transaction with the bookkeeping row, so a crash mid-way leaves
 * no half-applied migration.
 */
export interface SqliteMigration {
  id: string;
  up(db: Database.Database): void;
}

/**
 * The embedded store: one SQLite file in-process (better-sqlite3, synchronous calls of a few µs),
 * no network listener of any kind.
 *
 * How a table joins (issues 15/16 add history, idempotency keys, state):
 *  1. next to the repository, export `const X_MIGRATIONS: SqliteMigration[]` whose `up` creates the
 *     table and its indexes (`CREATE TABLE ...`); later changes append `x-2`, `x-3`... never edit a
 *     migration that shipped;
 *  2. add that list to `SQLITE_MIGRATIONS` in `sqlite-schema.ts` (the order of lists does not matter
 *     between tables, only within one);
 *  3. the repository takes the connection, prepares its statements once in its constructor from
 *     `connection.db`, and wraps multi-statement writes in `connection.db.transaction(...)`.
 * Use `connection.durable(fn)` for a write that must survive a power loss (see below).
 *
 * Durability: WAL with `synchronous=NORMAL`: a commit survives a crash of the process at once, and
 * survives a power loss or OS crash once the WAL is synced (at the next checkpoint). That is fine for
 * registrations (a lost one is redone by the client), `lastSeenAt` and channels (re-read from the
 * channels file at start), not for a ban: a ban that the admin was told about and that a power loss
 * then rolled back would let the client back in. So status changes go through `durable()`, which
 * commits with `synchronous=FULL` (the WAL is fsynced before the call returns; that also makes every
 * earlier commit durable).
 */
/**
 * Runs a store call, turning SQLite's own failures (disk full, I/O error, a lock held too long, the
 * file closed at shutdown) into StoreUnavailableError (503, retry later), as the DynamoDB engine does.
 */
export function sqliteCall<T>(call: () => T): T {
  try {
    return call();
  } catch (error) {
    if (error instanceof Database.SqliteError || (error instanceof TypeError && /database connection is not open/.test(error.message))) {
      throw new StoreUnavailableError(`store unavailable: ${error.message}`, { cause: error });
    }
    throw error;
  }
}

export class SqliteConnection {
  private constructor(
    readonly db: Database.Database,
    readonly path: string,
  ) {}

  static open(dataDir: string, migrations: readonly SqliteMigration[]): SqliteConnection {
    prepareDataDir(dataDir);
    const path = join(dataDir, SQLITE_FILE);
    // Created 0600 before SQLite opens it: SQLite gives the -wal and -shm files the database file's mode.
    closeSync(openSync(path, 'a', 0o600));
    chmodSync(path, 0o600);
    const db = new Database(path);
    try {
      db.pragma('journal_mode = WAL');
      db.pragma('synchronous = NORMAL');
      // One process owns the file; a second one (a mistaken second instance) waits instead of failing at once.
      db.pragma('busy_timeout = 5000');
      db.pragma('foreign_keys = ON');
      const connection = new SqliteConnection(db, path);
      connection.migrate(migrations);
      return connection;
    } catch (error) {
      db.close();
      throw error;
    }
  }

  /** Applies, in order, the migrations not applied yet. */
  migrate(migrations: readonly SqliteMigration[]): void {
    this.db.exec('CREATE TABLE IF NOT EXISTS schema_migrations (id TEXT PRIMARY KEY, applied_at TEXT NOT NULL) STRICT');
    const applied = new Set(
      this.db
        .prepare<[], { id: string }>('SELECT id FROM schema_migrations')
        .all()
        .map((row) => row.id),
    );
    const record = this.db.prepare('INSERT INTO schema_migrations (id, applied_at) VALUES (?, ?)');
    for (const migration of migrations) {
      if (!applied.has(migration.id)) {
        this.db.transaction(() => {
          migration.up(this.db);
          record.run(migration.id, new Date().toISOString());
        })();
      }
    }
  }

  /** Runs `write` (a transaction) with `synchronous=FULL`: durable against a power loss when it returns. */
  durable<T>(write: () => T): T {
    this.db.pragma('synchronous = FULL');
    try {
      return this.db.transaction(write)();
    } finally {
      this.db.pragma('synchronous = NORMAL');
    }
  }

  close(): void {
    if (this.db.open) {
      this.db.close();
    }
  }
}
