/**
 * The built service on its embedded defaults: DATA_DIR and every directory in it 0700, every file
 * 0600 (CA key, secrets, the SQLite database and its -wal/-shm), and no listener but HTTP and the
 * MQTT ports (the store has none).
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ServiceProcess } from '../support/service-process';

function modes(dir: string, into: Record<string, string> = {}, base = dir): Record<string, string> {
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    into[path.slice(base.length + 1)] = (statSync(path).mode & 0o777).toString(8);
    if (entry.isDirectory()) {
      modes(path, into, base);
    }
  }
  return into;
}

/** TCP ports the process listens on (from `ss`). */
function listeningPorts(pid: number): number[] {
  const out = execFileSync('ss', ['-ltnpH'], { encoding: 'utf8' });
  return out
    .split('\n')
    .filter((line) => line.includes(`pid=${pid},`))
    .map((line) => Number(/:(\d+)\s/.exec(line.split(/\s+/)[3] + ' ')?.[1]));
}

describe('DATA_DIR and listeners of the embedded default', () => {
  const root = mkdtempSync(join(tmpdir(), 'wc-perm-'));
  let service: ServiceProcess | undefined;

  afterAll(async () => {
    service?.kill('SIGTERM');
    await service?.exited;
    rmSync(root, { recursive: true, force: true });
  });

  it('creates DATA_DIR 0700 with every file 0600, and opens no listener for the store', async () => {
    const dataDir = join(root, 'nested', 'data');
    service = await ServiceProcess.start({ REGISTRATION_CLIENT_OPENSSL: 'true', EVENTS_TRANSPORT: 'mqtt' }, dataDir);
    const registered = await fetch(`${service.url}/v1/registrations`, {
      method: 'POST',
      headers: { authorization: `Bearer ${service.token('perm-client')}`, 'content-type': 'application/json' },
      body: JSON.stringify({ connectionType: 'OPENSSL' }),
    });
    expect(registered.status).toBe(201);

    expect((statSync(dataDir).mode & 0o777).toString(8)).toBe('700');
    const found = modes(dataDir);
    expect(Object.keys(found)).toEqual(expect.arrayContaining(['store.sqlite', 'store.sqlite-wal', 'store.sqlite-shm', 'ca']));
    for (const [path, mode] of Object.entries(found)) {
      expect(`${path} ${mode}`).toBe(`${path} ${statSync(join(dataDir, path)).isDirectory() ? '700' : '600'}`);
    }

    const ports = listeningPorts(service.child.pid!);
    expect(ports).toContain(Number(new URL(service.url).port));
    // HTTP (REST + MQTT over WebSocket), the MQTT TLS listener and the events transport's internal MQTT
    // listener (loopback, authenticated); nothing for the store.
    expect(ports).toHaveLength(3);
  });

  it('listens on HTTP and the MQTT TLS port only when the events transport is not the internal MQTT one', async () => {
    const other = await ServiceProcess.start({ EVENTS_TRANSPORT: 'none' }, join(root, 'other'));
    try {
      const ports = listeningPorts(other.child.pid!);
      expect(ports).toContain(Number(new URL(other.url).port));
      expect(ports).toHaveLength(2);
    } finally {
      other.kill('SIGTERM');
      await other.exited;
    }
  });
});
