import { Logger, type LoggerService } from '@nestjs/common';
import type { AppConfig } from '../../config/app-config';
import { StoreEngine } from '../store-engine';
import { importLegacyStore } from './legacy-import';
import { SqliteChannelRepository } from './sqlite-channel.repository';
import { SqliteClientRepository } from './sqlite-client.repository';
import { SqliteConnection } from './sqlite-connection';
import { SqliteHistoryRepository } from './sqlite-history.repository';
import { SqliteIdempotencyRepository } from './sqlite-idempotency.repository';
import { SqliteStateRepository } from './sqlite-state.repository';
import { SQLITE_MIGRATIONS } from './sqlite-schema';

/** STORE=embedded: SQLite in-process, one file under DATA_DIR, no listener. */
export class SqliteStore extends StoreEngine {
  readonly kind = 'embedded' as const;
  readonly clients: SqliteClientRepository;
  readonly channels: SqliteChannelRepository;
  readonly states: SqliteStateRepository;
  readonly history: SqliteHistoryRepository;
  readonly idempotency: SqliteIdempotencyRepository;

  private constructor(readonly connection: SqliteConnection) {
    super();
    this.clients = new SqliteClientRepository(connection);
    this.channels = new SqliteChannelRepository(connection);
    this.states = new SqliteStateRepository(connection);
    this.history = new SqliteHistoryRepository(connection);
    this.idempotency = new SqliteIdempotencyRepository(connection);
  }

  /** Opens (creating or migrating) the file, then imports once a DATA_DIR written by the dynalite release. */
  static async open(config: AppConfig, logger: LoggerService = new Logger('Store')): Promise<SqliteStore> {
    const store = new SqliteStore(SqliteConnection.open(config.dataDir, SQLITE_MIGRATIONS));
    try {
      await importLegacyStore(store, config, logger);
    } catch (error) {
      store.connection.close();
      throw error;
    }
    return store;
  }

  async close(): Promise<void> {
    this.clients.flushLastSeen();
    this.connection.close();
  }
}
