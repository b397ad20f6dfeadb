import Database from 'better-sqlite3';
import { useSqliteConnection } from '../../../test/support/sqlite';
import { SqliteStateRepository, STATE_MIGRATIONS } from './sqlite-state.repository';
import type { StateRecord } from '../state.repository';

/** `get` answers from a cache of documents: every save must leave it equal to the file. */
describe('SqliteStateRepository: cached documents follow every save', () => {
  const sqlite = useSqliteConnection('state-cache', STATE_MIGRATIONS);

  /** The version as the file has it, read through a second connection. */
  const versionOnDisk = (clientId: string): number | undefined => {
    const db = new Database(sqlite.connection.path, { readonly: true });
    try {
      return (db.prepare('SELECT version FROM client_state WHERE client_id = ?').get(clientId) as { version: number } | undefined)?.version;
    } finally {
      db.close();
    }
  };

  const record = (version: number, volume: number): StateRecord => ({
    clientId: 'dev-1',
    desired: { audio: { volume } },
    reported: {},
    version,
    updatedAt: `2026-12-01T00:00:0${version}.000Z`,
  });

  it('a save is what the next get answers; a save on a stale version changes neither the file nor the cache', async () => {
    const states = new SqliteStateRepository(sqlite.connection);
    await expect(states.save(undefined, record(1, 3))).resolves.toEqual(record(1, 3));
    expect(await states.get('dev-1')).toEqual(record(1, 3));
    await states.save(record(1, 3), record(2, 5));
    expect(await states.get('dev-1')).toEqual(record(2, 5));
    expect(versionOnDisk('dev-1')).toBe(2);
    // Another writer's view: it read version 1 and lost.
    await expect(states.save(record(1, 3), record(2, 9))).resolves.toBeUndefined();
    expect(await states.get('dev-1')).toEqual(record(2, 5));
    // A second repository (nothing cached) reads the same from the file.
    expect(await new SqliteStateRepository(sqlite.connection).get('dev-1')).toEqual(record(2, 5));
  });

  it('a save whose commit fails leaves the next get reading the file', async () => {
    const states = new SqliteStateRepository(sqlite.connection);
    await states.save(undefined, record(1, 3));
    expect(await states.get('dev-1')).toEqual(record(1, 3));
    // The statements run in the transaction (and drop the cached entry); then the commit fails: rolled back.
    jest.spyOn(sqlite.connection, 'write').mockImplementationOnce(async (work) => {
      sqlite.connection.db.exec('BEGIN');
      try {
        work();
      } finally {
        sqlite.connection.db.exec('ROLLBACK');
      }
      throw new Error('commit failed');
    });
    await expect(states.save(record(1, 3), record(2, 5))).rejects.toThrow('commit failed');
    expect(await states.get('dev-1')).toEqual(record(1, 3));
    expect(versionOnDisk('dev-1')).toBe(1);
  });
});
