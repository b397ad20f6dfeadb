import request from 'supertest';
import { MosquittoSub, mosquittoPub, type TlsFiles, writeIdentity } from './support/mosquitto';
import { TestMqttClient } from './support/mqtt';
import { expectProblem, TestApp } from './support/test-app';

interface Registered {
  clientId: string;
  url: string;
  connectionToken: string;
}

async function register(t: TestApp, clientId: string): Promise<Registered> {
  const res = await request(t.url).post('/v1/registrations').set(t.auth(clientId)).send({ connectionType: 'WEBSOCKET' });
  expect(res.status).toBe(201);
  return res.body as Registered;
}

describe('client state documents over HTTP (API.md section 6)', () => {
  let t: TestApp;
  let service: { Authorization: string };
  let admin: { Authorization: string };

  beforeAll(async () => {
    t = await TestApp.start();
    service = t.auth('matchmaker', 'service');
    admin = t.auth('root', 'admin');
    for (const id of ['p1', 'p2', 'p3', 'p4', 'banned-1']) {
      await register(t, id);
    }
    expect((await request(t.url).patch('/v1/admin/users/banned-1').set(admin).send({ status: 'BANNED' })).status).toBe(200);
  });
  afterAll(async () => {
    await t.stop();
  });

  it('a client without a document reads it empty at version 0', async () => {
    const own = await request(t.url).get('/v1/state').set(t.auth('p1'));
    expect(own.status).toBe(200);
    expect(own.body).toEqual({ clientId: 'p1', state: { desired: {}, reported: {} }, version: 0 });
    const byService = await request(t.url).get('/v1/clients/p1/state').set(service);
    expect(byService.body).toEqual(own.body);
  });

  it('merges desired and reported (null removes), +1 per change, delta key by key', async () => {
    const first = await request(t.url)
      .patch('/v1/clients/p2/state')
      .set(service)
      .send({ desired: { loadout: 'sniper', audio: { volume: 7, music: true }, colors: ['red', 'blue'] } });
    expect(first.status).toBe(200);
    expect(first.body).toEqual({
      clientId: 'p2',
      state: {
        desired: { loadout: 'sniper', audio: { volume: 7, music: true }, colors: ['red', 'blue'] },
        reported: {},
        delta: { loadout: 'sniper', audio: { volume: 7, music: true }, colors: ['red', 'blue'] },
      },
      version: 1,
      updatedAt: expect.any(String),
    });

    const reported = await request(t.url)
      .patch('/v1/state')
      .set(t.auth('p2'))
      .send({ reported: { loadout: 'sniper', audio: { volume: 3, music: true }, colors: ['red'], fps: 60 }, version: 1 });
    expect(reported.status).toBe(200);
    expect(reported.body.version).toBe(2);
    // fps is only reported: not in the delta; the array differs: copied whole; nested: only the differing key.
    expect(reported.body.state.delta).toEqual({ audio: { volume: 7 }, colors: ['red', 'blue'] });

    const removed = await request(t.url)
      .patch('/v1/clients/p2/state')
      .set(admin)
      .send({ desired: { audio: null, colors: null } });
    expect(removed.status).toBe(200);
    expect(removed.body.version).toBe(3);
    expect(removed.body.state.desired).toEqual({ loadout: 'sniper' });
    expect(removed.body.state.delta).toBeUndefined();

    const read = await request(t.url).get('/v1/state').set(t.auth('p2'));
    expect(read.body).toEqual(removed.body);
  });

  it('409 VERSION_CONFLICT when the given version is not the current one; nothing changes', async () => {
    expect(
      (
        await request(t.url)
          .patch('/v1/clients/p3/state')
          .set(service)
          .send({ desired: { a: 1 } })
      ).body.version,
    ).toBe(1);
    const stale = await request(t.url)
      .patch('/v1/clients/p3/state')
      .set(service)
      .send({ desired: { a: 2 }, version: 0 });
    expectProblem(stale, 409, 'VERSION_CONFLICT');
    const read = await request(t.url).get('/v1/clients/p3/state').set(service);
    expect(read.body).toEqual(expect.objectContaining({ version: 1, state: expect.objectContaining({ desired: { a: 1 } }) }));
  });

  it('concurrent writers without a version each get their own version (no lost update)', async () => {
    const writes = await Promise.all(
      Array.from({ length: 8 }, (_, i) =>
        request(t.url)
          .patch('/v1/clients/p4/state')
          .set(service)
          .send({ desired: { [`k${i}`]: i } }),
      ),
    );
    expect(writes.map((w) => w.status)).toEqual(Array(8).fill(200));
    expect(writes.map((w) => w.body.version as number).sort((a, b) => a - b)).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
    const read = await request(t.url).get('/v1/clients/p4/state').set(service);
    expect(Object.keys(read.body.state.desired).sort()).toEqual(['k0', 'k1', 'k2', 'k3', 'k4', 'k5', 'k6', 'k7']);
  });

  describe('bad input', () => {
    it('a client may not change desired (403); its document does not change', async () => {
      const res = await request(t.url)
        .patch('/v1/state')
        .set(t.auth('p1'))
        .send({ desired: { cheat: true } });
      expectProblem(res, 403, 'FORBIDDEN');
      expect((await request(t.url).get('/v1/state').set(t.auth('p1'))).body.version).toBe(0);
    });

    it('non-object bodies and sections are 400', async () => {
      for (const body of ['[]', '"text"', '42', 'null']) {
        const res = await request(t.url).patch('/v1/state').set(t.auth('p1')).set('Content-Type', 'application/json').send(body);
        expect([res.status, res.body.code]).toEqual([400, expect.stringMatching(/^(VALIDATION_FAILED|MALFORMED_JSON|BAD_REQUEST)$/)]);
      }
      for (const reported of [[1, 2], 'x', 3, true]) {
        expectProblem(await request(t.url).patch('/v1/state').set(t.auth('p1')).send({ reported }), 400, 'VALIDATION_FAILED');
      }
      expectProblem(await request(t.url).patch('/v1/state').set(t.auth('p1')).send({}), 400, 'VALIDATION_FAILED');
      expectProblem(await request(t.url).patch('/v1/state').set(t.auth('p1')).send({ reported: {}, extra: 1 }), 400, 'VALIDATION_FAILED');
      expectProblem(
        await request(t.url)
          .patch('/v1/state')
          .set(t.auth('p1'))
          .send({ reported: { a: [null] } }),
        400,
        'VALIDATION_FAILED',
      );
      expectProblem(
        await request(t.url)
          .patch('/v1/state')
          .set(t.auth('p1'))
          .send({ reported: { a: { b: { c: { d: { e: { f: { g: 1 } } } } } } } }),
        400,
        'VALIDATION_FAILED',
      );
    });

    it('version as a string (or negative, or fractional) is 400', async () => {
      for (const version of ['0', -1, 1.5]) {
        expectProblem(
          await request(t.url)
            .patch('/v1/state')
            .set(t.auth('p1'))
            .send({ reported: { a: 1 }, version }),
          400,
          'VALIDATION_FAILED',
        );
      }
      expect((await request(t.url).get('/v1/state').set(t.auth('p1'))).body.version).toBe(0);
    });

    it('a document over 8 KB is 413; the stored one is unchanged', async () => {
      expect(
        (
          await request(t.url)
            .patch('/v1/state')
            .set(t.auth('p1'))
            .send({ reported: { small: 'x'.repeat(4000) } })
        ).status,
      ).toBe(200);
      const res = await request(t.url)
        .patch('/v1/state')
        .set(t.auth('p1'))
        .send({ reported: { big: 'y'.repeat(4300) } });
      expectProblem(res, 413, 'STATE_TOO_LARGE');
      const read = await request(t.url).get('/v1/state').set(t.auth('p1'));
      expect(read.body.version).toBe(1);
      expect(read.body.state.reported.big).toBeUndefined();
    });

    it('unknown client 404, banned client 403, wrong role 403', async () => {
      expectProblem(await request(t.url).get('/v1/clients/nobody/state').set(service), 404, 'USER_NOT_FOUND');
      expectProblem(
        await request(t.url)
          .patch('/v1/clients/nobody/state')
          .set(service)
          .send({ desired: { a: 1 } }),
        404,
        'USER_NOT_FOUND',
      );
      expectProblem(await request(t.url).get('/v1/clients/bad%2Fid/state').set(service), 404, 'USER_NOT_FOUND');
      expectProblem(await request(t.url).get('/v1/state').set(t.auth('unregistered')), 404, 'USER_NOT_FOUND');
      expectProblem(await request(t.url).get('/v1/clients/banned-1/state').set(service), 403, 'CLIENT_BANNED');
      expectProblem(
        await request(t.url)
          .patch('/v1/clients/banned-1/state')
          .set(service)
          .send({ desired: { a: 1 } }),
        403,
        'CLIENT_BANNED',
      );
      expectProblem(await request(t.url).get('/v1/clients/p1/state').set(t.auth('p2')), 403, 'FORBIDDEN');
      expectProblem(
        await request(t.url)
          .patch('/v1/clients/p1/state')
          .set(t.auth('p2'))
          .send({ reported: { a: 1 } }),
        403,
        'FORBIDDEN',
      );
    });
  });
});

describe('client state documents on the embedded broker (AWS IoT shadow topics, mqtt.js over WebSocket)', () => {
  let t: TestApp;
  let service: { Authorization: string };
  const clients: TestMqttClient[] = [];

  async function connect(clientId: string): Promise<TestMqttClient> {
    const registration = await register(t, clientId);
    const client = await TestMqttClient.ws(registration.url, clientId, registration.connectionToken);
    clients.push(client);
    return client;
  }

  beforeAll(async () => {
    t = await TestApp.start();
    service = t.auth('matchmaker', 'service');
  });
  afterAll(async () => {
    for (const client of clients) {
      client.client.end(true);
    }
    await t.stop();
  });

  it('a desired change reaches the device on update/delta and update/documents; the device reports back and is accepted', async () => {
    const device = await connect('dev-1');
    const shadow = '$aws/things/dev-1/shadow';
    expect(
      await device.subscribe(
        `${shadow}/update/delta`,
        `${shadow}/update/documents`,
        `${shadow}/update/accepted`,
        `${shadow}/update/rejected`,
      ),
    ).toEqual([0, 0, 0, 0]);

    const set = await request(t.url)
      .patch('/v1/clients/dev-1/state')
      .set(service)
      .send({ desired: { volume: 7, lights: { color: 'RED' } } });
    expect(set.status).toBe(200);
    await device.waitFor(2);
    const delta = device.received.find((m) => m.topic === `${shadow}/update/delta`)!;
    expect(delta.payload).toEqual({ state: { volume: 7, lights: { color: 'RED' } }, version: 1, timestamp: expect.any(Number) });
    expect(Math.abs((delta.payload.timestamp as number) - Date.now() / 1000)).toBeLessThan(60);
    const documents = device.received.find((m) => m.topic === `${shadow}/update/documents`)!;
    expect(documents.payload).toEqual({
      previous: { state: { desired: {}, reported: {} }, version: 0 },
      current: { state: { desired: { volume: 7, lights: { color: 'RED' } }, reported: {} }, version: 1 },
      timestamp: expect.any(Number),
    });

    // The device applies the delta and reports it back, exactly as an AWS IoT device does.
    device.received.length = 0;
    device.client.publish(
      `${shadow}/update`,
      JSON.stringify({ state: { reported: delta.payload.state }, version: 1, clientToken: 'tok-1' }),
      { qos: 1 },
    );
    await device.waitFor(2);
    const accepted = device.received.find((m) => m.topic === `${shadow}/update/accepted`)!;
    expect(accepted.payload).toEqual({
      state: { reported: { volume: 7, lights: { color: 'RED' } } },
      version: 2,
      timestamp: expect.any(Number),
      clientToken: 'tok-1',
    });
    // A reported change leaves no delta and sends none; the documents message goes out.
    expect(device.received.map((m) => m.topic).sort()).toEqual([`${shadow}/update/accepted`, `${shadow}/update/documents`]);

    const read = await request(t.url).get('/v1/clients/dev-1/state').set(service);
    expect(read.body).toEqual(
      expect.objectContaining({
        version: 2,
        state: { desired: { volume: 7, lights: { color: 'RED' } }, reported: { volume: 7, lights: { color: 'RED' } } },
      }),
    );
  });

  it('get answers on get/accepted (get/rejected 404 while there is no document, as AWS IoT)', async () => {
    const device = await connect('dev-2');
    const shadow = '$aws/things/dev-2/shadow';
    expect(await device.subscribe(`${shadow}/get/accepted`, `${shadow}/get/rejected`)).toEqual([0, 0]);
    device.client.publish(`${shadow}/get`, '');
    await device.waitFor(1);
    expect(device.received[0]).toEqual({
      topic: `${shadow}/get/rejected`,
      payload: expect.objectContaining({ code: 404, errorCode: 'NOT_FOUND', message: expect.any(String) }),
    });

    await request(t.url)
      .patch('/v1/clients/dev-2/state')
      .set(service)
      .send({ desired: { mode: 'ranked' } });
    device.client.publish(`${shadow}/get`, JSON.stringify({ clientToken: 'g1' }));
    await device.waitFor(2);
    expect(device.received[1]).toEqual({
      topic: `${shadow}/get/accepted`,
      payload: {
        state: { desired: { mode: 'ranked' }, reported: {}, delta: { mode: 'ranked' } },
        version: 1,
        timestamp: expect.any(Number),
        clientToken: 'g1',
      },
    });
  });

  it('bad updates are answered on update/rejected with a code; the connection stays up', async () => {
    const device = await connect('dev-3');
    const shadow = '$aws/things/dev-3/shadow';
    await device.subscribe(`${shadow}/update/rejected`, `${shadow}/update/accepted`);
    const cases: Array<[string, number, string]> = [
      ['{not json', 400, 'MALFORMED_JSON'],
      ['[1,2]', 400, 'VALIDATION_FAILED'],
      [JSON.stringify({ reported: { a: 1 } }), 400, 'VALIDATION_FAILED'],
      [JSON.stringify({ state: { reported: [1] } }), 400, 'VALIDATION_FAILED'],
      [JSON.stringify({ state: { desired: { cheat: true } } }), 403, 'FORBIDDEN'],
      [JSON.stringify({ state: { reported: { a: 1 } }, version: '0' }), 400, 'VALIDATION_FAILED'],
      [JSON.stringify({ state: { reported: { a: 1 } }, version: 5 }), 409, 'VERSION_CONFLICT'],
      [JSON.stringify({ state: { reported: { big: 'z'.repeat(9000) } } }), 413, 'STATE_TOO_LARGE'],
    ];
    for (const [i, [payload, code, errorCode]] of cases.entries()) {
      device.client.publish(`${shadow}/update`, payload, { qos: 1 });
      await device.waitFor(i + 1);
      expect([device.received[i].topic, device.received[i].payload.code, device.received[i].payload.errorCode]).toEqual([
        `${shadow}/update/rejected`,
        code,
        errorCode,
      ]);
    }
    expect(device.client.connected).toBe(true);
    expect((await request(t.url).get('/v1/clients/dev-3/state').set(service)).body.version).toBe(0);
  });

  it("a device can neither read nor write another device's shadow; the other document does not change", async () => {
    const victim = await connect('dev-4');
    const attacker = await connect('dev-5');
    await request(t.url)
      .patch('/v1/clients/dev-4/state')
      .set(service)
      .send({ desired: { x: 1 } });
    expect(
      await attacker.subscribe(
        '$aws/things/dev-4/shadow/update/delta',
        '$aws/things/+/shadow/update/delta',
        '$aws/things/dev-4/shadow/#',
        '#',
        '$aws/#',
      ),
    ).toEqual([128, 128, 128, 128, 128]);
    attacker.client.publish('$aws/things/dev-4/shadow/update', JSON.stringify({ state: { reported: { x: 99 } } }), { qos: 1 });
    // Refused like any forbidden PUBLISH: the broker closes the connection (AWS IoT does the same).
    await attacker.closed();
    const read = await request(t.url).get('/v1/clients/dev-4/state').set(service);
    expect(read.body).toEqual(expect.objectContaining({ version: 1, state: expect.objectContaining({ reported: {} }) }));
    expect(victim.client.connected).toBe(true);
  });

  it('only update and get may be published on the own shadow (delete and response topics are refused)', async () => {
    const device = await connect('dev-6');
    device.client.publish('$aws/things/dev-6/shadow/update/accepted', JSON.stringify({ state: {} }), { qos: 1 });
    await device.closed();
    const again = await connect('dev-7');
    again.client.publish('$aws/things/dev-7/shadow/delete', '', { qos: 1 });
    await again.closed();
  });
});

describe('client state documents over mutual TLS (mosquitto_sub / mosquitto_pub, AWS IoT topics and payloads)', () => {
  let t: TestApp;
  let service: { Authorization: string };
  const subs: MosquittoSub[] = [];

  beforeAll(async () => {
    t = await TestApp.start();
    service = t.auth('matchmaker', 'service');
  });
  afterAll(async () => {
    for (const sub of subs) {
      sub.stop();
    }
    await t.stop();
  });

  async function device(clientId: string): Promise<{ files: TlsFiles; port: number }> {
    const reg = await request(t.url)
      .post('/v1/admin/registrations')
      .set(t.auth('root', 'admin'))
      .send({ connectionType: 'OPENSSL', clientId });
    expect(reg.status).toBe(201);
    return { files: writeIdentity(reg.body), port: reg.body.port as number };
  }

  it('a device hears update/delta and reports with mosquitto_pub; another device cannot touch its document', async () => {
    const { files, port } = await device('tls-dev');
    const sub = await MosquittoSub.start(port, 'tls-dev', files, '$aws/things/tls-dev/shadow/update/delta');
    subs.push(sub);
    expect(
      (
        await request(t.url)
          .patch('/v1/clients/tls-dev/state')
          .set(service)
          .send({ desired: { firmware: '2.1.0', led: { on: true } } })
      ).status,
    ).toBe(200);
    const [line] = await sub.waitForLines(1);
    expect(JSON.parse(line)).toEqual({ state: { firmware: '2.1.0', led: { on: true } }, version: 1, timestamp: expect.any(Number) });
    sub.stop();

    // The same identity reports back (one connection at a time per client id, as on AWS IoT).
    const report = mosquittoPub(
      port,
      'tls-dev',
      files,
      '$aws/things/tls-dev/shadow/update',
      JSON.stringify({ state: { reported: { firmware: '2.1.0', led: { on: true } } }, version: 1 }),
    );
    expect((await report).status).toBe(0);
    const read = async (): Promise<{ version: number; state: Record<string, unknown> }> =>
      (await request(t.url).get('/v1/clients/tls-dev/state').set(service)).body;
    for (let i = 0; i < 100 && (await read()).version < 2; i += 1) {
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    expect(await read()).toEqual(
      expect.objectContaining({
        version: 2,
        state: { desired: { firmware: '2.1.0', led: { on: true } }, reported: { firmware: '2.1.0', led: { on: true } } },
      }),
    );

    // Another device publishing to tls-dev's shadow is refused (its connection is closed); the document stays as it was.
    const other = await device('tls-other');
    await mosquittoPub(
      other.port,
      'tls-other',
      other.files,
      '$aws/things/tls-dev/shadow/update',
      JSON.stringify({ state: { reported: { firmware: 'evil' } } }),
    );
    // Its own update, sent after, is applied: so the refused one had its chance to be processed first.
    expect(
      await mosquittoPub(
        other.port,
        'tls-other',
        other.files,
        '$aws/things/tls-other/shadow/update',
        JSON.stringify({ state: { reported: { ok: 1 } } }),
      ),
    ).toEqual(expect.objectContaining({ status: 0 }));
    for (let i = 0; i < 100 && (await request(t.url).get('/v1/clients/tls-other/state').set(service)).body.version < 1; i += 1) {
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    expect((await request(t.url).get('/v1/clients/tls-other/state').set(service)).body.version).toBe(1);
    expect(await read()).toEqual(
      expect.objectContaining({ version: 2, state: expect.objectContaining({ reported: { firmware: '2.1.0', led: { on: true } } }) }),
    );
  });
});

describe('client state documents survive a restart', () => {
  it('the version continues from where it was (SQLite store)', async () => {
    const first = await TestApp.start();
    const service = first.auth('matchmaker', 'service');
    await register(first, 'keeper');
    expect(
      (
        await request(first.url)
          .patch('/v1/clients/keeper/state')
          .set(service)
          .send({ desired: { a: 1 } })
      ).body.version,
    ).toBe(1);
    expect(
      (
        await request(first.url)
          .patch('/v1/clients/keeper/state')
          .set(service)
          .send({ reported: { a: 1 } })
      ).body.version,
    ).toBe(2);
    await first.stop({ keepData: true });

    const second = await TestApp.start({ dataDir: first.dataDir });
    try {
      const read = await request(second.url).get('/v1/clients/keeper/state').set(service);
      expect(read.body).toEqual(expect.objectContaining({ version: 2, state: { desired: { a: 1 }, reported: { a: 1 } } }));
      const next = await request(second.url)
        .patch('/v1/clients/keeper/state')
        .set(second.auth('matchmaker', 'service'))
        .send({ desired: { a: 2 }, version: 2 });
      expect(next.body).toEqual(expect.objectContaining({ version: 3, state: { desired: { a: 2 }, reported: { a: 1 }, delta: { a: 2 } } }));
    } finally {
      await second.stop();
    }
  });
});
