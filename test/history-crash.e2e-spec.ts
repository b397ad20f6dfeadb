import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ServiceProcess } from './support/service-process';

/**
 * kill -9 right after a 202: the built service (`node dist/main.js`, STORE=embedded) is killed the moment
 * its last publish answered; after a restart on the same DATA_DIR every accepted message is in history
 * and the sequence continues.
 */
describe('history after kill -9 (STORE=embedded, the built service)', () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'wc-history-crash-'));
  const channelsFile = join(dataDir, 'channels.json');
  let service: ServiceProcess | undefined;

  beforeAll(() => {
    writeFileSync(channelsFile, JSON.stringify({ channels: [{ name: 'scores', types: ['BROADCAST'], history: { size: 100, ttlSeconds: 3600 } }] }));
  });

  afterAll(async () => {
    if (service !== undefined && service.child.exitCode === null) {
      service.kill('SIGKILL');
      await service.exited;
    }
    rmSync(dataDir, { recursive: true, force: true });
  });

  async function broadcast(target: ServiceProcess, message: string, key?: string): Promise<{ status: number; body: { messageId: string } }> {
    const response = await fetch(`${target.url}/v1/messages/broadcast`, {
      method: 'POST',
      headers: {
        authorization: `Bearer ${target.token('game-server', ['service'])}`,
        'content-type': 'application/json',
        ...(key === undefined ? {} : { 'idempotency-key': key }),
      },
      body: JSON.stringify({ channel: 'scores', message }),
    });
    return { status: response.status, body: (await response.json()) as { messageId: string } };
  }

  it('keeps every message answered 202, continues the sequence and remembers idempotency keys', async () => {
    service = await ServiceProcess.start({ CHANNELS_FILE: channelsFile }, dataDir);
    const first = await Promise.all(['a', 'b', 'c', 'd'].map((m) => broadcast(service!, m)));
    const keyed = await broadcast(service, 'e', 'crash-key');
    // The 202 is in: kill at once, no graceful shutdown.
    service.kill('SIGKILL');
    await service.exited;
    expect([...first, keyed].map((r) => r.status)).toEqual([202, 202, 202, 202, 202]);

    service = await ServiceProcess.start({ CHANNELS_FILE: channelsFile }, dataDir);
    const page = (await (
      await fetch(`${service.url}/v1/channels/scores/messages`, { headers: { authorization: `Bearer ${service.token('game-server', ['service'])}` } })
    ).json()) as { latestSeq: number; messages: Array<{ Seq: number; Id: string; Message: string }> };
    expect(page.latestSeq).toBe(5);
    expect(page.messages.map((m) => m.Seq)).toEqual([1, 2, 3, 4, 5]);
    expect(new Set(page.messages.map((m) => m.Id))).toEqual(new Set([...first, keyed].map((r) => r.body.messageId)));
    expect(page.messages[4].Message).toBe('e');
    // The retried call with its key publishes nothing and answers the first result.
    const retried = await broadcast(service, 'e', 'crash-key');
    expect(retried).toEqual(keyed);
    const next = await broadcast(service, 'f');
    expect(next.status).toBe(202);
    const after = (await (
      await fetch(`${service.url}/v1/channels/scores/messages?after=5`, { headers: { authorization: `Bearer ${service.token('game-server', ['service'])}` } })
    ).json()) as { messages: Array<{ Seq: number; Message: string }> };
    expect(after.messages.map((m) => [m.Seq, m.Message])).toEqual([[6, 'f']]);
  });
});
