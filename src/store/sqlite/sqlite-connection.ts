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
 * Use `connection.durable(fn)` for a write that must survive a power loss (see below), and
 * `connection.write(fn)` for the writes of a request's hot path (group commit, below).
 *
 * Durability: WAL with `synchronous=NORMAL`: a commit survives a crash of the process at once, and
 * survives a power loss or OS crash once the WAL is synced (at the next checkpoint). That is fine for
 * registrations (a lost one is redone by the client), `lastSeenAt` and channels (re-read from the
 * channels file at start), not for a ban: a ban that the admin was told about and that a power loss
 * then rolled back would let the client back in. So status changes go through `durable()`, which
 * commits with `synchronous=FULL` (the WAL is fsynced before the call returns; that also makes every
 * earlier commit durable).
 *
 * Group commit: a commit costs far more than the statements in it (the WAL append of every page the
 * transaction touched, and now and then a checkpoint with its fsync): about 25 µs of CPU for one small
 * write, against 4–6 µs per write when 20 share a transaction. `write(fn)` queues `fn`; everything
 * queued in one turn of the event loop runs in one transaction when the turn's I/O is done
 * (`setImmediate`), each `fn` in its own savepoint (a throw undoes that `fn` alone and rejects its
 * promise only). The promises settle after the commit, so a caller acts on a durable write exactly
 * as before; it only waits for the end of the turn.
 */
/**
 * Runs a store call, turning SQLite's own failures (disk full, I/O error, a lock held too long, the
 * file closed at shutdown) into StoreUnavailableError (503, retry later), as the DynamoDB engine does.
 */
export function sqliteCall<T>(call: () => T): T {
  try {
    return call();
  } catch (error) {
    throw sqliteFailure(error);
  }
}

/** SQLite's own failures as StoreUnavailableError; anything else (a domain error thrown by a write) as it is. */
function sqliteFailure(error: unknown): unknown {
  // By name and code, not `instanceof`: the native module is loaded once per process and keeps the classes of
  // the first module registry that loaded it (jest runs several), and its TypeError may come from another realm.
  if (typeof error !== 'object' || error === null) {
    return error;
  }
  const { name, message, code } = error as Error & { code?: unknown };
  const sqlite = error instanceof Database.SqliteError || (typeof code === 'string' && code.startsWith('SQLITE_'));
  const closed = name === 'TypeError' && /database connection is not open/.test(message);
  if (sqlite || closed) {
    return new StoreUnavailableError(`store unavailable: ${message}`, { cause: error });
  }
  return error;
}

interface QueuedWrite {
  work: () => unknown;
  resolve: (value: unknown) => void;
  reject: (reason: unknown) => void;
}

export class SqliteConnection {
  private queued: QueuedWrite[] = [];
  private control?: Record<'begin' | 'commit' | 'rollback' | 'savepoint' | 'release' | 'rollbackTo', Database.Statement>;

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

  /**
   * Runs `work` (synchronous statements) in the transaction shared by the writes of this turn of
   * the event loop; resolves with its result once that transaction has committed. SQLite's own
   * failures reject as StoreUnavailableError, like `sqliteCall`.
   */
  write<T>(work: () => T): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      this.queued.push({ work, resolve: resolve as (value: unknown) => void, reject });
      if (this.queued.length === 1) {
        setImmediate(() => this.flush());
      }
    });
  }

  /** Commits what `write` queued: one transaction, one savepoint per write. */
  private flush(): void {
    const batch = this.queued;
    this.queued = [];
    if (batch.length === 0) {
      return;
    }
    // Statements prepared once: better-sqlite3's `db.transaction(fn)` builds four wrappers per call.
    const control = (this.control ??= {
      begin: this.db.prepare('BEGIN'),
      commit: this.db.prepare('COMMIT'),
      rollback: this.db.prepare('ROLLBACK'),
      savepoint: this.db.prepare('SAVEPOINT queued_write'),
      release: this.db.prepare('RELEASE queued_write'),
      rollbackTo: this.db.prepare('ROLLBACK TO queued_write'),
    });
    const outcomes: Array<{ ok: true; value: unknown } | { ok: false; error: unknown }> = [];
    try {
      sqliteCall(() => {
        control.begin.run();
        for (const { work } of batch) {
          control.savepoint.run();
          try {
            outcomes.push({ ok: true, value: work() });
            control.release.run();
          } catch (error) {
            if (!this.db.inTransaction) {
              // SQLite rolled the whole transaction back (disk full, I/O error): nothing of the batch is stored.
              throw error;
            }
            control.rollbackTo.run();
            control.release.run();
            outcomes.push({ ok: false, error });
          }
        }
        control.commit.run();
      });
    } catch (error) {
      if (this.db.open && this.db.inTransaction) {
        control.rollback.run();
      }
      for (const { reject } of batch) {
        reject(error);
      }
      return;
    }
    batch.forEach(({ resolve, reject }, i) => {
      const outcome = outcomes[i];
      if (outcome.ok) {
        resolve(outcome.value);
      } else {
        reject(sqliteFailure(outcome.error));
      }
    });
  }

  close(): void {
    this.flush();
    if (this.db.open) {
      this.db.close();
    }
  }
}
