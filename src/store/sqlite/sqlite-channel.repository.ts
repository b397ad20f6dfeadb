import type { Statement } from 'better-sqlite3';
import { ChannelRepository } from '../channel.repository';
import { type SqliteConnection, type SqliteMigration, sqliteCall } from './sqlite-connection';
import type { ChannelDefinition } from '../../domain/channel';

export const CHANNEL_MIGRATIONS: readonly SqliteMigration[] = [
  {
    id: 'channels-1',
    // The definition is stored whole as JSON: it is always read and written whole.
    up: (db) => db.exec('CREATE TABLE channels (name TEXT PRIMARY KEY, definition TEXT NOT NULL) STRICT, WITHOUT ROWID'),
  },
];

/** Drops undefined members, as a DynamoDB round trip does, so both engines return the same shape. */
function toDefinition(json: string): ChannelDefinition {
  return JSON.parse(json) as ChannelDefinition;
}

export class SqliteChannelRepository extends ChannelRepository {
  private readonly selectAll: Statement<[], { definition: string }>;
  private readonly selectOne: Statement<[string], { definition: string }>;
  private readonly exists: Statement<[string], unknown>;
  private readonly upsert: Statement<[string, string]>;
  private readonly remove: Statement<[string]>;
  private readonly insertImported: Statement<[string, string]>;

  constructor(private readonly connection: SqliteConnection) {
    super();
    const { db } = connection;
    this.selectAll = db.prepare('SELECT definition FROM channels');
    this.selectOne = db.prepare('SELECT definition FROM channels WHERE name = ?');
    this.exists = db.prepare('SELECT 1 FROM channels WHERE name = ?');
    this.upsert = db.prepare(
      'INSERT INTO channels (name, definition) VALUES (?, ?) ON CONFLICT (name) DO UPDATE SET definition = excluded.definition',
    );
    this.remove = db.prepare('DELETE FROM channels WHERE name = ?');
    this.insertImported = db.prepare('INSERT INTO channels (name, definition) VALUES (?, ?) ON CONFLICT (name) DO NOTHING');
  }

  async list(): Promise<ChannelDefinition[]> {
    // Sorted like the DynamoDB repository (locale order, not SQLite's binary order).
    return sqliteCall(() => this.selectAll.all())
      .map((row) => toDefinition(row.definition))
      .sort((a, b) => a.name.localeCompare(b.name));
  }

  async get(name: string): Promise<ChannelDefinition | undefined> {
    const row = sqliteCall(() => this.selectOne.get(name));
    return row === undefined ? undefined : toDefinition(row.definition);
  }

  async put(channel: ChannelDefinition): Promise<boolean> {
    return sqliteCall(() =>
      this.connection.db.transaction(() => {
        const created = this.exists.get(channel.name) === undefined;
        this.upsert.run(channel.name, JSON.stringify(channel));
        return created;
      })(),
    );
  }

  /** Inserts a channel from another store unless one of that name exists here already; true when inserted. */
  importDefinition(channel: ChannelDefinition): boolean {
    return this.insertImported.run(channel.name, JSON.stringify(channel)).changes === 1;
  }

  async delete(name: string): Promise<boolean> {
    return sqliteCall(() => this.remove.run(name).changes > 0);
  }
}
