/**
 * A DATA_DIR written by the first release (its embedded engine: dynalite with LevelDB files in
 * DATA_DIR/dynamodb, tables without prefix) is imported once into SQLite at the first start.
 * The old format is made by the old code path: dynalite on DATA_DIR/dynamodb (here in another
 * process) written through the DynamoDB repositories, as the first release did in-process.
 */
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig } from '../../src/config/app-config';
import { DynamoStore } from '../../src/store/dynamodb/dynamo-store';
import { SqliteStore } from '../../src/store/sqlite/sqlite-store';
import { DynaliteProcess, useFakeAwsCredentials } from '../support/dynalite';
import type { ChannelDefinition } from '../../src/domain/channel';
import type { ClientRecord } from '../../src/domain/client';

class RecordingLogger {
  readonly lines: Array<{ level: string; message: unknown; context: unknown }> = [];
  log(message: unknown, context?: unknown): void {
    this.lines.push({ level: 'log', message, context });
  }
  error(message: unknown, context?: unknown): void {
    this.lines.push({ level: 'error', message, context });
  }
  warn(message: unknown, context?: unknown): void {
    this.lines.push({ level: 'warn', message, context });
  }
}

const channels: ChannelDefinition[] = [
  {
    name: 'chat',
    types: ['BROADCAST', 'PRIVATE'],
    clientSend: true,
    maxMessageBytes: 2048,
    messageSchema: { type: 'object', required: ['text'] },
    rateLimit: { messages: 3, perSeconds: 1 },
  },
  { name: 'news', types: ['BROADCAST'], clientSend: false, maxMessageBytes: 1024, communicationChannel: 'lobby' },
];

/** Writes the first release's format into `dataDir`; returns what it wrote. */
async function writeOldDataDir(dataDir: string): Promise<ClientRecord[]> {
  const dynalite = await DynaliteProcess.start({ path: join(dataDir, 'dynamodb') });
  const config = loadConfig({
    DATA_DIR: dataDir,
    STORE: 'dynamodb',
    DYNAMODB_ENDPOINT: dynalite.endpoint,
    DYNAMODB_CREATE_TABLES: 'true',
    AUTH_JWT_SECRET: 'x'.repeat(32),
  });
  // The first release's embedded engine named its tables without a prefix.
  const store = await DynamoStore.open({ ...config, store: { ...config.store, tablePrefix: '' } });
  try {
    for (let i = 0; i < 30; i += 1) {
      const id = `old-${String(i).padStart(2, '0')}`;
      await store.clients.register({
        clientId: id,
        connectionType: i % 2 === 0 ? 'WEBSOCKET' : 'OPENSSL',
        portalClient: i === 0,
        now: `2025-06-01T00:00:${String(i).padStart(2, '0')}.000Z`,
        certificate: i % 2 === 1 ? { id: `cert-${i}` } : undefined,
      });
      if (i % 2 === 1 && i % 3 === 0) {
        await store.clients.addCertificate(id, `cert-${i}-b`, `arn:cert-${i}-b`, '2025-06-02T00:00:00.000Z');
      }
      if (i % 5 === 0) {
        await store.clients.setStatus(id, {
          status: 'BANNED',
          reason: i === 5 ? undefined : `reason ${i}`,
          now: '2025-06-03T00:00:00.000Z',
        });
      }
      if (i % 4 === 0) {
        await store.clients.touchLastSeen(id, '2025-06-04T00:00:00.000Z');
      }
    }
    for (const channel of channels) {
      await store.channels.put(channel);
    }
    const written: ClientRecord[] = [];
    let cursor: string | undefined;
    do {
      const page = await store.clients.list({ limit: 7, cursor });
      written.push(...page.items);
      cursor = page.nextCursor;
    } while (cursor !== undefined);
    return written.sort((a, b) => a.clientId.localeCompare(b.clientId));
  } finally {
    await store.close();
    await dynalite.stop();
  }
}

describe('import of a DATA_DIR written by the dynalite release', () => {
  let restore: () => void;
  const dirs: string[] = [];

  beforeAll(() => {
    restore = useFakeAwsCredentials();
  });

  afterAll(() => {
    restore();
    for (const dir of dirs) {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('imports every client (status, ban reason, certificates, last seen) and channel once, with counts in the log', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'wc-legacy-'));
    dirs.push(dataDir);
    const written = await writeOldDataDir(dataDir);
    expect(written).toHaveLength(30);
    expect(written.filter((r) => r.status === 'BANNED')).toHaveLength(6);
    expect(written.find((r) => r.clientId === 'old-03')?.certificateArns).toEqual(['arn:cert-3-b']);

    const logger = new RecordingLogger();
    const store = await SqliteStore.open(loadConfig({ DATA_DIR: dataDir }), logger);
    try {
      const imported: ClientRecord[] = [];
      let cursor: string | undefined;
      do {
        const page = await store.clients.list({ limit: 8, cursor });
        imported.push(...page.items);
        cursor = page.nextCursor;
      } while (cursor !== undefined);
      expect(imported).toEqual(written);
      // The ban holds after the move: a banned client can't re-register.
      await expect(
        store.clients.register({ clientId: 'old-10', connectionType: 'WEBSOCKET', portalClient: false, now: new Date().toISOString() }),
      ).rejects.toThrow(/banned/);
      await expect(store.channels.list()).resolves.toEqual(channels);
      expect(logger.lines).toEqual([
        expect.objectContaining({
          level: 'log',
          message: expect.objectContaining({ clients: 30, banned: 6, channels: 2, certificates: 20 }),
          context: expect.stringMatching(/imported the store of an earlier release \(30 clients, 2 channels\)/),
        }),
      ]);
      // A change made after the import...
      await store.clients.setStatus('old-10', { status: 'REGISTERED', now: new Date().toISOString() });
    } finally {
      await store.close();
    }
    // ... is not overwritten by a second import: the import runs once.
    const again = new RecordingLogger();
    const reopened = await SqliteStore.open(loadConfig({ DATA_DIR: dataDir }), again);
    try {
      await expect(reopened.clients.get('old-10')).resolves.toEqual(expect.objectContaining({ status: 'REGISTERED' }));
      expect(again.lines).toEqual([]);
    } finally {
      await reopened.close();
    }
    // The old files are kept.
    expect(readdirSync(join(dataDir, 'dynamodb')).length).toBeGreaterThan(0);
  });

  it('does nothing on a DATA_DIR without old files', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'wc-legacy-'));
    dirs.push(dataDir);
    const logger = new RecordingLogger();
    const store = await SqliteStore.open(loadConfig({ DATA_DIR: dataDir }), logger);
    await store.close();
    expect(logger.lines).toEqual([]);
    expect(existsSync(join(dataDir, 'dynamodb'))).toBe(false);
  });

  it('stops the start with one clear line when old files exist and dynalite is not installed', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'wc-legacy-'));
    dirs.push(dataDir);
    await writeOldDataDir(dataDir);
    const logger = new RecordingLogger();
    await jest.isolateModulesAsync(async () => {
      jest.doMock('dynalite', () => {
        throw Object.assign(new Error("Cannot find module 'dynalite'"), { code: 'MODULE_NOT_FOUND' });
      });
      const { SqliteStore: IsolatedStore } = await import('../../src/store/sqlite/sqlite-store');
      await expect(IsolatedStore.open(loadConfig({ DATA_DIR: dataDir }), logger)).rejects.toThrow(/needs the dynalite package/);
    });
    expect(logger.lines).toEqual([
      {
        level: 'error',
        message: expect.stringMatching(/dynamodb holds the store of an earlier release.*npm install --no-save dynalite@4/),
        context: undefined,
      },
    ]);
  });
});
