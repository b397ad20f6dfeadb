import { rmSync } from 'node:fs';
import request from 'supertest';
import { TestMqttClient } from './support/mqtt';
import { connect, register } from './support/outbound';
import { ServiceProcess } from './support/service-process';
import { TestApp } from './support/test-app';

interface Presence {
  clientId: string;
  connected: boolean;
  lastSeenAt?: string;
}

describe('presence (getPresence, API.md section 7) on the embedded broker', () => {
  let t: TestApp;
  const clients: TestMqttClient[] = [];

  async function presence(...ids: string[]): Promise<Presence[]> {
    const response = await request(t.url)
      .get(`/v1/presence?${ids.map((id) => `clientId=${encodeURIComponent(id)}`).join('&')}`)
      .set(t.auth('backend', 'service'));
    expect(response.status).toBe(200);
    return (response.body as { clients: Presence[] }).clients;
  }

  async function until(predicate: () => Promise<boolean>, what: string): Promise<void> {
    const deadline = Date.now() + 20_000;
    while (!(await predicate())) {
      if (Date.now() > deadline) {
        throw new Error(`timed out waiting for ${what}`);
      }
      await new Promise((resolve) => setTimeout(resolve, 25));
    }
  }

  beforeAll(async () => {
    t = await TestApp.start();
  });

  afterEach(async () => {
    await Promise.all(clients.splice(0).map((c) => c.end()));
  });

  afterAll(async () => {
    await t?.stop();
  });

  it('answers connected and lastSeenAt per id, in the order asked, through connects, a takeover and disconnects', async () => {
    const alice = await register(t, 'p-alice');
    await register(t, 'p-bob');
    expect(await presence('p-alice', 'p-bob', 'p-nobody')).toEqual([
      { clientId: 'p-alice', connected: false },
      { clientId: 'p-bob', connected: false },
      { clientId: 'p-nobody', connected: false },
    ]);

    const first = await connect(alice, 'p-alice');
    await until(async () => (await presence('p-alice'))[0].connected, 'p-alice connected');
    const [connected] = await presence('p-alice');
    expect(Number.isNaN(Date.parse(connected.lastSeenAt!))).toBe(false);

    // A takeover: the newer session is live, so the client stays connected.
    const firstClosed = first.closed();
    const second = await connect(alice, 'p-alice');
    await firstClosed;
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect((await presence('p-alice'))[0].connected).toBe(true);

    await second.end();
    await until(async () => !(await presence('p-alice'))[0].connected, 'p-alice disconnected');
    const [gone] = await presence('p-alice');
    expect(gone.lastSeenAt! >= connected.lastSeenAt!).toBe(true);
  });

  it('a ban shows the client disconnected once the ban returns', async () => {
    const carol = await connect(await register(t, 'p-carol'), 'p-carol');
    clients.push(carol);
    await until(async () => (await presence('p-carol'))[0].connected, 'p-carol connected');
    const ban = await request(t.url).patch('/v1/admin/users/p-carol').set(t.auth('root', 'admin')).send({ status: 'BANNED' });
    expect(ban.status).toBe(200);
    await until(async () => !(await presence('p-carol'))[0].connected, 'p-carol disconnected');
  });

  it('takes 1 to 100 valid ids from a service or an admin, and refuses anything else', async () => {
    const get = (query: string, roles: string | string[] = 'service') => request(t.url).get(`/v1/presence${query}`).set(t.auth('caller', roles));
    expect((await get('?clientId=p-one')).body).toEqual({ clients: [{ clientId: 'p-one', connected: false }] });
    expect((await get('?clientId=p-one', 'admin')).status).toBe(200);
    const hundred = Array.from({ length: 100 }, (_, i) => `clientId=id-${i}`).join('&');
    expect((await get(`?${hundred}`)).body.clients).toHaveLength(100);

    for (const query of ['', '?clientId=', `?${hundred}&clientId=one-more`, '?clientId=a%2Fb', '?clientId=p-one&other=1']) {
      const response = await get(query);
      expect(response.status).toBe(400);
      expect(response.headers['content-type']).toMatch(/application\/problem\+json/);
      expect(response.body.code).toBe('VALIDATION_FAILED');
    }
    expect((await get('?clientId=p-one', [])).status).toBe(403);
    expect((await request(t.url).get('/v1/presence?clientId=p-one')).status).toBe(401);
  });
});

describe('presence after a kill -9 (the built service)', () => {
  let service: ServiceProcess | undefined;
  let dataDir: string | undefined;

  afterAll(async () => {
    service?.kill('SIGTERM');
    await service?.exited;
    if (dataDir !== undefined) {
      rmSync(dataDir, { recursive: true, force: true });
    }
  });

  it('leaves no client marked connected after a restart', async () => {
    service = await ServiceProcess.start();
    dataDir = service.config.dataDir;
    const registration = await request(service.url).post('/v1/registrations').set({ Authorization: `Bearer ${service.token('k-alice')}` }).send({ connectionType: 'WEBSOCKET' });
    expect(registration.status).toBe(201);
    const alice = await TestMqttClient.ws(registration.body.url, 'k-alice', registration.body.connectionToken);
    const ask = async (): Promise<Presence> => {
      const response = await request(service!.url).get('/v1/presence?clientId=k-alice').set({ Authorization: `Bearer ${service!.token('backend', ['service'])}` });
      expect(response.status).toBe(200);
      return (response.body as { clients: Presence[] }).clients[0];
    };
    const deadline = Date.now() + 20_000;
    while (!(await ask()).connected) {
      expect(Date.now()).toBeLessThan(deadline);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    // Let the coalesced lastSeenAt write (1 s) reach the file, as a long-lived session would have.
    await new Promise((resolve) => setTimeout(resolve, 1_500));

    const closed = alice.closed();
    service.kill('SIGKILL');
    await service.exited;
    await closed;
    await alice.end();

    service = await ServiceProcess.start({}, dataDir);
    const after = await ask();
    expect(after.connected).toBe(false);
    expect(after.lastSeenAt).toEqual(expect.any(String));
  }, 400_000);
});
