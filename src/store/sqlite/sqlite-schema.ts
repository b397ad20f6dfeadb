import { IMPORT_MIGRATIONS } from './legacy-import';
import { CHANNEL_MIGRATIONS } from './sqlite-channel.repository';
import { CLIENT_MIGRATIONS } from './sqlite-client.rows';
import { HISTORY_MIGRATIONS } from './sqlite-history.repository';
import { IDEMPOTENCY_MIGRATIONS } from './sqlite-idempotency.repository';
import { STATE_MIGRATIONS } from './sqlite-state.repository';
import type { SqliteMigration } from './sqlite-connection';

/** Every table's migrations (see SqliteConnection for how a table joins). */
export const SQLITE_MIGRATIONS: readonly SqliteMigration[] = [...CLIENT_MIGRATIONS, ...CHANNEL_MIGRATIONS, ...IMPORT_MIGRATIONS, ...STATE_MIGRATIONS, ...HISTORY_MIGRATIONS, ...IDEMPOTENCY_MIGRATIONS];
