import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SqliteConnection, type SqliteMigration } from '../../src/store/sqlite/sqlite-connection';

/** What `useSqliteConnection` gives each test: the connection, and the DATA_DIR its file lives in. */
export interface TestSqlite {
  readonly dataDir: string;
  readonly connection: SqliteConnection;
}

/**
 * A SqliteConnection with `migrations` applied, on a fresh temporary DATA_DIR for each test of the
 * calling `describe`: closed and removed after the test (closing twice is harmless).
 */
export function useSqliteConnection(label: string, migrations: readonly SqliteMigration[]): TestSqlite {
  const current = {} as { dataDir: string; connection: SqliteConnection };
  beforeEach(() => {
    current.dataDir = mkdtempSync(join(tmpdir(), `wc-${label}-`));
    current.connection = SqliteConnection.open(current.dataDir, migrations);
  });
  afterEach(() => {
    current.connection.close();
    rmSync(current.dataDir, { recursive: true, force: true });
  });
  return current;
}
