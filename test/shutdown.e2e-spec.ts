import { rmSync } from 'node:fs';
import { TestMqttClient } from './support/mqtt';
import { ServiceProcess } from './support/service-process';

describe('graceful shutdown (the built service as a child process)', () => {
  it('SIGTERM under load: every accepted message was delivered, the process exits 0', async () => {
    const service = await ServiceProcess.start();
    try {
      const alice = service.token('alice');
      const reg = (await (await fetch(`${service.url}/v1/registrations`, { method: 'POST', headers: { Authorization: `Bearer ${alice}`, 'Content-Type': 'application/json' }, body: JSON.stringify({ connectionType: 'WEBSOCKET' }) })).json()) as { url: string; connectionToken: string };
      const subscriber = await TestMqttClient.ws(reg.url, 'alice', reg.connectionToken);
      await subscriber.subscribe('webcommunicator/dev/CloudGemWebCommunicator');
      const headers = { Authorization: `Bearer ${service.token('svc', ['service'])}`, 'Content-Type': 'application/json' };

      const send = async (i: number): Promise<{ status: number; body?: { messageId: string } }> => {
        try {
          const res = await fetch(`${service.url}/v1/messages/broadcast`, { method: 'POST', headers, body: JSON.stringify({ channel: 'CloudGemWebCommunicator', message: `m${i}` }) });
          return { status: res.status, body: res.status === 202 ? ((await res.json()) as { messageId: string }) : undefined };
        } catch {
          return { status: 0 };
        }
      };
      // A steady stream of broadcasts across the signal: SIGTERM once the first was accepted, and the stream
      // goes on until the service refuses one (503 while draining, or a refused connection once closed).
      const results: Array<Promise<{ status: number; body?: { messageId: string } }>> = [];
      let refused = false;
      let signalled = false;
      for (let i = 0; !refused; i++) {
        if (i >= 5000) {
          throw new Error('the service never refused a request after SIGTERM');
        }
        const result = send(i);
        results.push(result);
        void result.then((r) => {
          if (r.status === 202 && !signalled) {
            signalled = true;
            service.kill('SIGTERM');
          } else if (r.status !== 202 && signalled) {
            refused = true;
          }
        });
        await new Promise((resolve) => setTimeout(resolve, 2));
      }
      const settled = await Promise.all(results);
      const code = await service.exited;

      const accepted = settled.filter((r) => r.status === 202).map((r) => r.body!.messageId);
      expect({ code, logs: code === 0 ? '' : service.logs.slice(-3000) }).toEqual({ code: 0, logs: '' });
      expect(accepted.length).toBeGreaterThan(0);
      expect(accepted.length).toBeLessThan(settled.length);
      // Refusals are 503 (closing) or refused connections, never a 500.
      expect(settled.filter((r) => r.status !== 202 && r.status !== 503 && r.status !== 0)).toEqual([]);
      const delivered = new Set(subscriber.received.map((m) => m.payload.Id as string));
      expect(accepted.filter((id) => !delivered.has(id))).toEqual([]);
      await subscriber.end();
    } finally {
      service.kill('SIGKILL');
      rmSync(service.config.dataDir, { recursive: true, force: true });
    }
  });

  it('a ban that returned 200 survives kill -9', async () => {
    const first = await ServiceProcess.start();
    const dataDir = first.config.dataDir;
    try {
      const admin = { Authorization: `Bearer ${first.token('root', ['admin'])}`, 'Content-Type': 'application/json' };
      await fetch(`${first.url}/v1/registrations`, { method: 'POST', headers: { Authorization: `Bearer ${first.token('mallory')}`, 'Content-Type': 'application/json' }, body: '{"connectionType":"WEBSOCKET"}' });
      const ban = await fetch(`${first.url}/v1/admin/users/mallory`, { method: 'PATCH', headers: admin, body: '{"status":"BANNED"}' });
      expect(ban.status).toBe(200);
      first.kill('SIGKILL');
      await first.exited;

      const second = await ServiceProcess.start({}, dataDir);
      try {
        const res = await fetch(`${second.url}/v1/registrations`, { method: 'POST', headers: { Authorization: `Bearer ${second.token('mallory')}`, 'Content-Type': 'application/json' }, body: '{"connectionType":"WEBSOCKET"}' });
        expect(res.status).toBe(403);
        expect(((await res.json()) as { code: string }).code).toBe('CLIENT_BANNED');
      } finally {
        second.kill('SIGKILL');
        await second.exited;
      }
    } finally {
      first.kill('SIGKILL');
      rmSync(dataDir, { recursive: true, force: true });
    }
  });
});
