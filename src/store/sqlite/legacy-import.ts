import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { Agent, type ClientRequestArgs, type Server } from 'node:http';
import { createConnection } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Duplex } from 'node:stream';
import { DynamoDBClient, ResourceNotFoundException } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient, ScanCommand } from '@aws-sdk/lib-dynamodb';
import type { LoggerService } from '@nestjs/common';
import type { AppConfig } from '../../config/app-config';
import { type ChannelItem, toDefinitions } from '../dynamodb/dynamo-channel.repository';
import { type ClientItem, toRecord } from '../dynamodb/dynamo-client.repository';
import type { SqliteChannelRepository } from './sqlite-channel.repository';
import type { SqliteClientRepository } from './sqlite-client.repository';
import type { SqliteConnection, SqliteMigration } from './sqlite-connection';

/** Where the first release's embedded engine (dynalite, LevelDB) kept its files under DATA_DIR. */
export const LEGACY_DIR = 'dynamodb';
const SOURCE = 'dynalite';

export const IMPORT_MIGRATIONS: readonly SqliteMigration[] = [
  {
    id: 'imports-1',
    up: (db) =>
      db.exec(
        'CREATE TABLE imports (source TEXT PRIMARY KEY, imported_at TEXT NOT NULL, clients INTEGER NOT NULL, channels INTEGER NOT NULL) STRICT',
      ),
  },
];

interface ImportTarget {
  connection: SqliteConnection;
  clients: SqliteClientRepository;
  channels: SqliteChannelRepository;
}

/** An http.Agent whose every connection goes to a Unix socket (the SDK only knows URLs). */
class UnixSocketAgent extends Agent {
  constructor(private readonly socketPath: string) {
    super({ keepAlive: true });
  }

  override createConnection(_options: ClientRequestArgs, callback?: (error: Error | null, stream: Duplex) => void): Duplex {
    const socket = createConnection(this.socketPath);
    callback?.(null, socket);
    return socket;
  }
}

/**
 * Imports, once, the store of a DATA_DIR written by the first release (dynalite's LevelDB files in
 * `DATA_DIR/dynamodb`): every client with its status, ban time and reason, certificate ids and last
 * seen time, and every channel. It runs before the service serves anything, in one SQLite transaction
 * with the mark that it was done (a crash mid-way imports again next start). The old files are left
 * where they are (nothing is lost; remove them once satisfied).
 *
 * dynalite is only a development dependency now: it is loaded here, only when old files exist. It is
 * served on a Unix socket in a private temporary directory (0700), never on a TCP port, and closed
 * right after. Without dynalite installed, the start stops with one line saying what to do: starting
 * empty would forget every ban.
 */
export async function importLegacyStore(target: ImportTarget, config: AppConfig, logger: LoggerService): Promise<void> {
  const legacyPath = join(config.dataDir, LEGACY_DIR);
  if (!existsSync(legacyPath)) {
    return;
  }
  const { db } = target.connection;
  if (db.prepare('SELECT 1 FROM imports WHERE source = ?').get(SOURCE) !== undefined) {
    return;
  }
  let dynalite: Dynalite;
  try {
    dynalite = loadDynalite(legacyPath);
  } catch (error) {
    logger.error((error as Error).message);
    throw error;
  }
  const socketDir = mkdtempSync(join(tmpdir(), 'wc-import-'));
  const socketPath = join(socketDir, 'dynalite.sock');
  const server: Server = dynalite({ path: legacyPath, createTableMs: 0, deleteTableMs: 0, updateTableMs: 0 });
  const client = new DynamoDBClient({
    region: config.aws.region,
    endpoint: 'http://localhost',
    credentials: { accessKeyId: 'import', secretAccessKey: 'import' },
    requestHandler: { httpAgent: new UnixSocketAgent(socketPath) },
    maxAttempts: 1,
  });
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(socketPath, () => resolve());
    });
    const doc = DynamoDBDocumentClient.from(client);
    const clientItems = await scanAll<ClientItem>(doc, `${config.store.tablePrefix}ClientRegistry`);
    const channelItems = await scanAll<ChannelItem>(doc, `${config.store.tablePrefix}ChannelData`);
    const records = clientItems.map(toRecord);
    // Not the revision marker: bookkeeping of the DynamoDB engine (a store written by a later release), not a channel.
    const channels = toDefinitions(channelItems);
    const counts = target.connection.durable(() => {
      const imported = {
        clients: records.filter((record) => target.clients.importRecord(record)).length,
        channels: channels.filter((channel) => target.channels.importDefinition(channel)).length,
      };
      db.prepare('INSERT INTO imports (source, imported_at, clients, channels) VALUES (?, ?, ?, ?)').run(
        SOURCE,
        new Date().toISOString(),
        imported.clients,
        imported.channels,
      );
      return imported;
    });
    logger.log(
      {
        from: legacyPath,
        clients: counts.clients,
        banned: records.filter((record) => record.status === 'BANNED').length,
        certificates: records.reduce((sum, record) => sum + (record.certificateIds?.length ?? 0), 0),
        channels: counts.channels,
        alreadyPresent: records.length + channels.length - counts.clients - counts.channels,
      },
      `imported the store of an earlier release (${counts.clients} clients, ${counts.channels} channels) into SQLite; the old files in ${legacyPath} are no longer used and may be removed`,
    );
  } finally {
    client.destroy();
    await new Promise<void>((resolve) => (server.listening ? server.close(() => resolve()) : resolve()));
    rmSync(socketDir, { recursive: true, force: true });
  }
}

type Dynalite = (options: { path: string; createTableMs: number; deleteTableMs: number; updateTableMs: number }) => Server;

function loadDynalite(legacyPath: string): Dynalite {
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    return require('dynalite') as Dynalite;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'MODULE_NOT_FOUND') {
      throw new Error(
        `${legacyPath} holds the store of an earlier release, and importing it needs the dynalite package, which is not installed: ` +
          'run this version once with it (npm install --no-save dynalite@4) to import, or move that folder away to start with an empty store',
      );
    }
    throw error;
  }
}

async function scanAll<T>(doc: DynamoDBDocumentClient, table: string): Promise<T[]> {
  const items: T[] = [];
  let startKey: Record<string, unknown> | undefined;
  try {
    do {
      const page = await doc.send(new ScanCommand({ TableName: table, ExclusiveStartKey: startKey, ConsistentRead: true }));
      items.push(...((page.Items ?? []) as T[]));
      startKey = page.LastEvaluatedKey;
    } while (startKey !== undefined);
  } catch (error) {
    if (error instanceof ResourceNotFoundException) {
      return items;
    }
    throw error;
  }
  return items;
}
