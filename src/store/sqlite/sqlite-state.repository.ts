import type { Statement } from 'better-sqlite3';
import type { JsonObject } from '../../state/state-document';
import { type StateRecord, StateRepository } from '../state.repository';
import { BoundedCache } from './bounded-cache';
import { type SqliteConnection, type SqliteMigration, sqliteCall } from './sqlite-connection';

export const STATE_MIGRATIONS: readonly SqliteMigration[] = [
  {
    id: 'client_state-1',
    // The document is JSON text: always read and written whole, its keys arbitrary.
    up: (db) =>
      db.exec(
        'CREATE TABLE client_state (client_id TEXT PRIMARY KEY, document TEXT NOT NULL, version INTEGER NOT NULL, updated_at TEXT NOT NULL) STRICT, WITHOUT ROWID',
      ),
  },
];

interface StateRow {
  document: string;
  version: number;
  updated_at: string;
}

/** Characters of documents `get` keeps in memory (first in, first out). */
const CACHED_CHARS = 32 * 1024 * 1024;

/**
 * Documents on SQLite. `get` answers from a bounded cache of committed documents: exact because this
 * process is the file's only writer and `save` is the only write. A save drops the entry inside its
 * (group-committed) transaction and puts the new document back once committed, unless a read put the
 * committed one back first; if the commit fails, the next `get` reads the file.
 */
export class SqliteStateRepository extends StateRepository {
  private readonly cache = new BoundedCache<StateRecord>(CACHED_CHARS);
  private readonly selectOne: Statement<[string], StateRow>;
  private readonly insert: Statement<[string, string, number, string]>;
  private readonly update: Statement<[string, number, string, string, number]>;

  constructor(private readonly connection: SqliteConnection) {
    super();
    const { db } = connection;
    this.selectOne = db.prepare('SELECT document, version, updated_at FROM client_state WHERE client_id = ?');
    this.insert = db.prepare(
      'INSERT INTO client_state (client_id, document, version, updated_at) VALUES (?, ?, ?, ?) ON CONFLICT (client_id) DO NOTHING',
    );
    this.update = db.prepare('UPDATE client_state SET document = ?, version = ?, updated_at = ? WHERE client_id = ? AND version = ?');
  }

  async get(clientId: string): Promise<StateRecord | undefined> {
    const cached = this.cache.get(clientId);
    if (cached !== undefined) {
      return cached;
    }
    const row = sqliteCall(() => this.selectOne.get(clientId));
    if (row === undefined) {
      return undefined;
    }
    const document = JSON.parse(row.document) as { desired: JsonObject; reported: JsonObject };
    const record = { clientId, desired: document.desired, reported: document.reported, version: row.version, updatedAt: row.updated_at };
    this.cache.set(clientId, record, row.document.length);
    return record;
  }

  async save(previous: StateRecord | undefined, next: StateRecord): Promise<StateRecord | undefined> {
    const document = JSON.stringify({ desired: next.desired, reported: next.reported });
    // Conditional on the version read, like the DynamoDB engine: a write on top of a newer document changes nothing.
    const changes = await this.connection.write(() => {
      this.cache.delete(next.clientId);
      return previous === undefined
        ? this.insert.run(next.clientId, document, next.version, next.updatedAt).changes
        : this.update.run(document, next.version, next.updatedAt, next.clientId, previous.version).changes;
    });
    if (changes !== 1) {
      return undefined;
    }
    if (!this.cache.has(next.clientId)) {
      this.cache.set(next.clientId, next, document.length);
    }
    return next;
  }
}
