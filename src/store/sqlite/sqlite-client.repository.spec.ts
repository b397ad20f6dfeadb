import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { loadConfig } from '../../config/app-config';
import { SqliteStore } from './sqlite-store';

const silent = { log: () => undefined, error: () => undefined, warn: () => undefined };

/** `get` answers from a cache of rows: every write of this process must leave it equal to the file. */
describe('SqliteClientRepository: cached rows follow every write', () => {
  let dataDir: string;
  let store: SqliteStore;

  beforeEach(async () => {
    dataDir = mkdtempSync(join(tmpdir(), 'wc-clients-cache-'));
    store = await SqliteStore.open(loadConfig({ DATA_DIR: dataDir }), silent);
  });

  afterEach(async () => {
    await store.close();
    rmSync(dataDir, { recursive: true, force: true });
  });

  /** The row as the file has it, read through a second connection. */
  const onDisk = (clientId: string): Record<string, unknown> | undefined => {
    const db = new Database(join(dataDir, 'store.sqlite'), { readonly: true });
    try {
      return db.prepare('SELECT status, certificate_ids, last_seen_at FROM clients WHERE client_id = ?').get(clientId) as Record<string, unknown> | undefined;
    } finally {
      db.close();
    }
  };

  it('a ban, its end and an un-ban are seen by the next get once the row was cached', async () => {
    const { clients } = store;
    await clients.register({ clientId: 'c1', connectionType: 'WEBSOCKET', portalClient: false, now: '2026-12-01T00:00:00.000Z' });
    expect((await clients.get('c1'))?.status).toBe('REGISTERED');
    await clients.setStatus('c1', { status: 'BANNED', now: '2026-12-01T00:00:01.000Z', reason: 'spam', expiresAt: '2026-12-01T00:01:00.000Z' });
    expect(await clients.get('c1')).toEqual(expect.objectContaining({ status: 'BANNED', banReason: 'spam' }));
    expect(onDisk('c1')?.status).toBe('BANNED');
    await clients.expireBan('c1', '2026-12-01T00:01:00.000Z', '2026-12-01T00:01:00.000Z');
    expect((await clients.get('c1'))?.status).toBe('REGISTERED');
    await clients.setStatus('c1', { status: 'BANNED', now: '2026-12-01T00:02:00.000Z' });
    await expect(clients.register({ clientId: 'c1', connectionType: 'WEBSOCKET', portalClient: false, now: '2026-12-01T00:03:00.000Z' })).rejects.toThrow();
    expect((await clients.get('c1'))?.status).toBe('BANNED');
    await clients.setStatus('c1', { status: 'REGISTERED', now: '2026-12-01T00:04:00.000Z' });
    expect((await clients.get('c1'))?.status).toBe('REGISTERED');
  });

  it('certificates added and removed, a re-registration and lastSeenAt are seen by the next get', async () => {
    const { clients } = store;
    await clients.register({ clientId: 'd1', connectionType: 'OPENSSL', portalClient: false, now: '2026-12-01T00:00:00.000Z', certificate: { id: 'cert-1' } });
    expect((await clients.get('d1'))?.certificateIds).toEqual(['cert-1']);
    await clients.register({ clientId: 'd1', connectionType: 'OPENSSL', portalClient: false, now: '2026-12-01T00:00:01.000Z', certificate: { id: 'cert-2' } });
    expect((await clients.get('d1'))?.certificateIds).toEqual(['cert-1', 'cert-2']);
    await clients.addCertificate('d1', 'cert-3', undefined, '2026-12-01T00:00:02.000Z');
    expect((await clients.get('d1'))?.certificateIds).toEqual(['cert-1', 'cert-2', 'cert-3']);
    await clients.removeCertificate('d1', 'cert-2', '2026-12-01T00:00:03.000Z');
    expect((await clients.get('d1'))?.certificateIds).toEqual(['cert-1', 'cert-3']);
    expect(onDisk('d1')?.certificate_ids).toBe('["cert-1","cert-3"]');
    await clients.touchLastSeen('d1', '2026-12-01T00:00:04.000Z');
    store.clients.flushLastSeen();
    expect((await clients.get('d1'))?.lastSeenAt).toBe('2026-12-01T00:00:04.000Z');
    expect(onDisk('d1')?.last_seen_at).toBe('2026-12-01T00:00:04.000Z');
  });
});
