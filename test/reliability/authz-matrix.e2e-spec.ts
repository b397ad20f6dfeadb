import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import jwt from 'jsonwebtoken';
import mqtt from 'mqtt';
import request from 'supertest';
import { sleep, TestMqttClient } from '../support/mqtt';
import { ServiceProcess } from '../support/service-process';
import { resolveJwtSecret } from '../../src/common/auth/auth-keys';
import { TestApp } from '../support/test-app';
import { closesWithin, mqttPacket, rawTls, rawWebSocket, type TlsIdentity } from './support/raw-mqtt';

/**
 * The authorization matrix, generated from one table: every route of the
 * contract × every kind of caller, with the status the contract promises.
 * Then the broker's ACL at the e2e level (real registrations, real
 * credentials, both transports), and a scan of the built service's debug logs
 * for every secret it handled.
 *
 * The unit-level ACL matrix (topic by topic, against an in-memory registry) is
 * in src/broker/embedded/embedded-broker.spec.ts; this one complements it with
 * generated wildcard positions, the topic limits, devices over TLS and portal
 * clients, through the real app.
 */

const ISSUER = 'https://issuer.test';
const AUDIENCE = 'web-communicator';
const PREFIX = 'webcommunicator/dev';

type Caller =
  'none' | 'expired' | 'noExp' | 'wrongSignature' | 'algNone' | 'wrongIssuer' | 'wrongAudience' | 'client' | 'banned' | 'service' | 'admin';
const CALLERS: Caller[] = [
  'none',
  'expired',
  'noExp',
  'wrongSignature',
  'algNone',
  'wrongIssuer',
  'wrongAudience',
  'client',
  'banned',
  'service',
  'admin',
];
const INVALID: Caller[] = ['none', 'expired', 'noExp', 'wrongSignature', 'algNone', 'wrongIssuer', 'wrongAudience'];

interface Route {
  operationId: string;
  method: 'get' | 'post' | 'put' | 'patch' | 'delete';
  /** Path and body for one cell; `cell` makes names unique, so cells don't interfere. */
  build: (cell: string) => { path: string; body?: unknown };
  /** Expected status for each valid caller; every invalid token is 401 unless `public`. */
  expect: Record<'client' | 'banned' | 'service' | 'admin', number>;
  public?: boolean;
}

/** THE table. Valid callers' statuses come from API.md section 1 (roles) and the ban rules. */
const ROUTES: Route[] = [
  {
    operationId: 'getStatus',
    method: 'get',
    public: true,
    build: () => ({ path: '/v1/status' }),
    expect: { client: 200, banned: 200, service: 200, admin: 200 },
  },
  {
    operationId: 'registerClient',
    method: 'post',
    build: () => ({ path: '/v1/registrations', body: { connectionType: 'WEBSOCKET' } }),
    expect: { client: 201, banned: 403, service: 201, admin: 201 },
  },
  {
    operationId: 'registerPortalClient',
    method: 'post',
    build: (cell) => ({ path: '/v1/admin/registrations', body: { connectionType: 'WEBSOCKET', clientId: `portal-${cell}` } }),
    expect: { client: 403, banned: 403, service: 403, admin: 201 },
  },
  {
    operationId: 'listSubscriptions',
    method: 'get',
    build: () => ({ path: '/v1/channels' }),
    expect: { client: 200, banned: 403, service: 200, admin: 200 },
  },
  {
    operationId: 'sendClientMessage',
    method: 'post',
    build: () => ({ path: '/v1/channels/chat/messages', body: { message: 'hi' } }),
    expect: { client: 202, banned: 403, service: 202, admin: 202 },
  },
  {
    // `kept` (history on) is created in beforeAll.
    operationId: 'listChannelMessages',
    method: 'get',
    build: () => ({ path: '/v1/channels/kept/messages' }),
    expect: { client: 200, banned: 403, service: 200, admin: 200 },
  },
  {
    operationId: 'broadcast',
    method: 'post',
    build: () => ({ path: '/v1/messages/broadcast', body: { channel: 'news', message: 'hi' } }),
    expect: { client: 403, banned: 403, service: 202, admin: 202 },
  },
  {
    operationId: 'sendDirect',
    method: 'post',
    build: () => ({ path: '/v1/messages/direct', body: { channel: 'news', clientId: 'target', message: 'hi' } }),
    expect: { client: 403, banned: 403, service: 202, admin: 202 },
  },
  {
    operationId: 'listChannels',
    method: 'get',
    build: () => ({ path: '/v1/admin/channels' }),
    expect: { client: 403, banned: 403, service: 403, admin: 200 },
  },
  {
    operationId: 'putChannel',
    method: 'put',
    build: (cell) => ({ path: `/v1/admin/channels/m-${cell}`, body: { types: ['BROADCAST'] } }),
    expect: { client: 403, banned: 403, service: 403, admin: 201 },
  },
  {
    operationId: 'deleteChannel',
    method: 'delete',
    build: (cell) => ({ path: `/v1/admin/channels/d-${cell}` }),
    expect: { client: 403, banned: 403, service: 403, admin: 204 },
  },
  {
    operationId: 'listUsers',
    method: 'get',
    build: () => ({ path: '/v1/admin/users' }),
    expect: { client: 403, banned: 403, service: 403, admin: 200 },
  },
  {
    operationId: 'getUser',
    method: 'get',
    build: () => ({ path: '/v1/admin/users/target' }),
    expect: { client: 403, banned: 403, service: 403, admin: 200 },
  },
  {
    operationId: 'setUserStatus',
    method: 'patch',
    build: () => ({ path: '/v1/admin/users/target', body: { status: 'REGISTERED' } }),
    expect: { client: 403, banned: 403, service: 403, admin: 200 },
  },
  {
    operationId: 'revokeCertificate',
    method: 'delete',
    // One device certificate per cell, registered in beforeAll.
    build: (cell) => ({ path: `/v1/admin/users/cert-${cell}/certificates/${CELL_CERTIFICATES[cell]}` }),
    expect: { client: 403, banned: 403, service: 403, admin: 204 },
  },
  // Own state: any role, for a registered caller (the service and admin ids registered themselves in the registerClient cells).
  {
    operationId: 'getOwnState',
    method: 'get',
    build: () => ({ path: '/v1/state' }),
    expect: { client: 200, banned: 403, service: 200, admin: 200 },
  },
  {
    operationId: 'updateOwnState',
    method: 'patch',
    build: (cell) => ({ path: '/v1/state', body: { reported: { cell } } }),
    expect: { client: 200, banned: 403, service: 200, admin: 200 },
  },
  {
    operationId: 'getClientState',
    method: 'get',
    build: () => ({ path: '/v1/clients/target/state' }),
    expect: { client: 403, banned: 403, service: 200, admin: 200 },
  },
  {
    operationId: 'updateClientState',
    method: 'patch',
    build: (cell) => ({ path: '/v1/clients/target/state', body: { desired: { cell } } }),
    expect: { client: 403, banned: 403, service: 200, admin: 200 },
  },
];

/** certificateId of device `cert-<caller>`, per matrix cell of revokeCertificate. */
const CELL_CERTIFICATES: Record<string, string> = {};

describe('authorization matrix: every route × every caller (AUTH_ISSUER and AUTH_AUDIENCE set)', () => {
  let t: TestApp;
  const tokens = {} as Record<Caller, string | undefined>;

  beforeAll(async () => {
    t = await TestApp.start({ env: { AUTH_ISSUER: ISSUER, AUTH_AUDIENCE: AUDIENCE } });
    const forged = (claims: Record<string, unknown>): string =>
      jwt.sign({ sub: 'mallory', roles: ['admin'], ...claims }, 'another-secret-that-is-long-enough-0123456789', {
        algorithm: 'HS256',
        expiresIn: 600,
      });
    const algNone = [
      { alg: 'none', typ: 'JWT' },
      { sub: 'mallory', roles: ['admin'], iss: ISSUER, aud: AUDIENCE, exp: Math.floor(Date.now() / 1000) + 600 },
    ]
      .map((part) => Buffer.from(JSON.stringify(part)).toString('base64url'))
      .join('.');
    Object.assign(tokens, {
      none: undefined,
      expired: t.token('root', 'admin', { expiresIn: -10 }),
      // A valid signature, issuer and audience, but no exp: it would never expire (API.md section 8).
      noExp: jwt.sign({ sub: 'root', roles: ['admin'] }, resolveJwtSecret(t.config)!, { algorithm: 'HS256', issuer: ISSUER, audience: AUDIENCE }),
      wrongSignature: forged({ iss: ISSUER, aud: AUDIENCE }),
      algNone: `${algNone}.`,
      wrongIssuer: t.token('root', 'admin', { issuer: 'https://evil.test' }),
      wrongAudience: t.token('root', 'admin', { audience: 'someone-else' }),
      client: t.token('alice'),
      banned: t.token('mallory'),
      service: t.token('svc', 'service'),
      admin: t.token('root', 'admin'),
    });
    const admin = t.auth('root', 'admin');
    for (const id of ['alice', 'mallory', 'target']) {
      expect((await request(t.url).post('/v1/registrations').set(t.auth(id)).send({ connectionType: 'WEBSOCKET' })).status).toBe(201);
    }
    expect((await request(t.url).patch('/v1/admin/users/mallory').set(admin).send({ status: 'BANNED' })).status).toBe(200);
    expect((await request(t.url).put('/v1/admin/channels/kept').set(admin).send({ types: ['BROADCAST'], history: { size: 10, ttlSeconds: 60 } })).status).toBe(201);
    for (const caller of CALLERS) {
      const device = await request(t.url).post('/v1/admin/registrations').set(admin).send({ connectionType: 'OPENSSL', clientId: `cert-${caller}` });
      expect(device.status).toBe(201);
      CELL_CERTIFICATES[caller] = device.body.certificateId as string;
      expect(
        (
          await request(t.url)
            .put(`/v1/admin/channels/d-${caller}`)
            .set(admin)
            .send({ types: ['BROADCAST'] })
        ).status,
      ).toBe(201);
    }
  });

  afterAll(async () => {
    await t?.stop();
  });

  const cells = ROUTES.flatMap((route) =>
    CALLERS.map((caller) => {
      const status = INVALID.includes(caller) ? (route.public ? 200 : 401) : route.expect[caller as keyof Route['expect']];
      return [route.operationId, caller, status, route] as const;
    }),
  );

  it(`answers all ${ROUTES.length} × ${CALLERS.length} = ${ROUTES.length * CALLERS.length} cells as the table says, refusals as problem+json`, async () => {
    const got: string[] = [];
    const want: string[] = [];
    for (const [operationId, caller, status, route] of cells) {
      const { path, body } = route.build(caller);
      let req = request(t.url)[route.method](path);
      if (tokens[caller] !== undefined) {
        req = req.set('Authorization', `Bearer ${tokens[caller]}`);
      }
      const res = body === undefined ? await req : await req.send(body as object);
      const problem =
        res.status >= 400
          ? `${/^application\/problem\+json/.test(res.headers['content-type'] ?? '') ? '' : ' NOT problem+json'} ${res.body?.code}`
          : '';
      got.push(`${operationId} × ${caller} → ${res.status}${problem}`);
      const expectedCode =
        status === 401
          ? ' UNAUTHORIZED'
          : status === 403
            ? caller === 'banned' &&
              ![
                'registerPortalClient',
                'broadcast',
                'sendDirect',
                'listChannels',
                'putChannel',
                'deleteChannel',
                'listUsers',
                'getUser',
                'setUserStatus',
                'revokeCertificate',
                'getClientState',
                'updateClientState',
              ].includes(operationId)
              ? ' CLIENT_BANNED'
              : ' FORBIDDEN'
            : '';
      want.push(`${operationId} × ${caller} → ${status}${expectedCode}`);
    }
    expect(got).toEqual(want);
  });
});

// ---- the broker ACL, end to end -----------------------------------------------------------------

/** Every way to put a wildcard into one of the client's own allowed topics: `+` at each level, `#` from each level. */
function wildcardVariants(topic: string): string[] {
  const levels = topic.split('/');
  const plus = levels.map((_, i) => levels.map((l, j) => (i === j ? '+' : l)).join('/'));
  const hash = levels.map((_, i) => [...levels.slice(0, i), '#'].join('/'));
  return [...plus, ...hash, `${topic}/#`, `${topic}/+`];
}

describe('broker ACL end to end: plain client, device over TLS, portal client', () => {
  let t: TestApp;
  let alice: TestMqttClient;
  let portal: TestMqttClient;
  let device: TlsIdentity;
  let tlsPort: number;
  let wsUrl: string;
  const creds: Record<string, string> = {};

  beforeAll(async () => {
    t = await TestApp.start();
    for (const id of ['alice', 'bob']) {
      const res = await request(t.url).post('/v1/registrations').set(t.auth(id)).send({ connectionType: 'WEBSOCKET' });
      creds[id] = res.body.connectionToken as string;
      wsUrl = res.body.url as string;
    }
    const admin = t.auth('root', 'admin');
    const p = await request(t.url).post('/v1/admin/registrations').set(admin).send({ connectionType: 'WEBSOCKET', clientId: 'editor' });
    creds.editor = p.body.connectionToken as string;
    const d = await request(t.url).post('/v1/admin/registrations').set(admin).send({ connectionType: 'OPENSSL', clientId: 'kiosk' });
    device = d.body as TlsIdentity;
    tlsPort = d.body.port as number;
    alice = await TestMqttClient.ws(wsUrl, 'alice', creds.alice);
    portal = await TestMqttClient.ws(wsUrl, 'editor', creds.editor);
  });

  afterAll(async () => {
    await alice?.end();
    await portal?.end();
    await sleep(300);
    await t?.stop();
  });

  it("a plain client gets its own topics, and SUBACK 0x80 for every wildcard position, $SYS, others' topics and over-limit topics", async () => {
    const own = [`${PREFIX}/news`, `${PREFIX}/chat`, `${PREFIX}/news/client/alice`];
    // Distinct: mqtt.js folds repeated filters of one SUBSCRIBE into one.
    const refused = [
      ...new Set([
        ...own.flatMap(wildcardVariants),
        '#',
        '+',
        '$SYS/#',
        '$SYS/broker/clients/connected',
        '$webcommunicator/internal/#',
        `${PREFIX}/news/client/bob`,
        `${PREFIX}/chat/client/alice`, // chat is BROADCAST only
        `${PREFIX}/unknown`,
        `${PREFIX}/news/${'x/'.repeat(8)}y`, // more levels than any channel topic
        `${PREFIX}/${'n'.repeat(65)}`, // a channel name over 64
        `${PREFIX}/news/client/${'a'.repeat(129)}`, // a client id over 128
      ]),
    ];
    const granted = await alice.subscribe(...own, ...refused);
    const byTopic = Object.fromEntries([...own, ...refused].map((topic, i) => [topic, granted[i]]));
    expect(byTopic).toEqual(Object.fromEntries([...own.map((topic) => [topic, 0]), ...refused.map((topic) => [topic, 0x80])]));
    expect(refused.length).toBeGreaterThanOrEqual(30);
    expect(alice.connected).toBe(true);
  });

  it.each([
    ['of 65,000 bytes', `${PREFIX}/${'x'.repeat(65_000)}`, [[0x80], 'closed']],
    // Aedes' maxTopicLevels (16) answers by closing the connection, before our ACL runs (docs/reliability.md).
    ['deeper than 16 levels', `${PREFIX}/news/${'x/'.repeat(20)}y`, ['closed']],
  ])('a topic filter %s is never granted (refused, or the connection dropped)', async (_what, filter, allowed) => {
    const probe = await TestMqttClient.ws(wsUrl, 'bob', creds.bob);
    const result = await Promise.race([probe.subscribe(filter).catch(() => 'closed'), probe.closed().then(() => 'closed')]);
    expect(allowed).toContainEqual(result);
    await probe.end();
  });

  it('the portal client may subscribe under the prefix with wildcards, never outside it', async () => {
    const cases: Array<[string, number]> = [
      [`${PREFIX}/#`, 0],
      [`${PREFIX}/+/client/+`, 0],
      [`${PREFIX}/news/client/bob`, 0],
      ['#', 0x80],
      ['+/+/#', 0x80],
      ['$SYS/#', 0x80],
      ['$webcommunicator/internal/#', 0x80],
      ['webcommunicator/other/#', 0x80],
    ];
    const granted = await portal.subscribe(...cases.map(([topic]) => topic));
    expect(Object.fromEntries(cases.map(([topic], i) => [topic, granted[i]]))).toEqual(Object.fromEntries(cases));
  });

  type Publisher = {
    who: string;
    connect: () => Promise<{ write: (b: Buffer) => void; closed: Promise<void>; destroy: () => void }>;
    connectPacket: () => Buffer;
  };
  const publishers = (): Publisher[] => [
    {
      who: 'plain client (WebSocket)',
      connect: () => rawWebSocket(t.url),
      connectPacket: () => mqttPacket.connect('bob', { username: 'bob', password: creds.bob }),
    },
    { who: 'device (TLS)', connect: () => rawTls(tlsPort, device), connectPacket: () => mqttPacket.connect('kiosk') },
  ];

  it.each([`${PREFIX}/news`, `${PREFIX}/news/client/bob`, `${PREFIX}/news/client/alice`, '$SYS/x', `${PREFIX}/news/#`])(
    'clients and devices are receive-only: a PUBLISH to %s closes the connection and is not delivered',
    async (topic) => {
      const seen = portal.received.length;
      await portal.subscribe(`${PREFIX}/#`);
      for (const p of publishers()) {
        const c = await p.connect();
        c.write(p.connectPacket());
        await sleep(50);
        c.write(mqttPacket.publish(topic, `forged by ${p.who}`, 0x32, 1));
        await expect(closesWithin(c as Parameters<typeof closesWithin>[0], 30_000)).resolves.toBe(true);
      }
      await sleep(100);
      expect(portal.received.slice(seen).filter((m) => JSON.stringify(m.payload).includes('forged'))).toEqual([]);
    },
  );

  it('a portal client publishes to channel topics (delivered); outside them it is dropped', async () => {
    expect(alice.connected).toBe(true);
    await alice.subscribe(`${PREFIX}/news`);
    const before = alice.received.length;
    const raw = mqtt.connect(wsUrl, {
      clientId: 'editor',
      username: 'editor',
      password: creds.editor,
      reconnectPeriod: 0,
      protocolVersion: 4,
    });
    await new Promise<void>((resolve, reject) => {
      raw.once('connect', () => resolve());
      raw.once('error', reject);
    });
    await raw.publishAsync(`${PREFIX}/news`, JSON.stringify({ Channel: 'news', Message: 'from the portal' }), { qos: 1 });
    await alice.waitFor(before + 1);
    const closed = new Promise<void>((resolve) => raw.once('close', () => resolve()));
    raw.publish(`${PREFIX}-other/news`, 'outside', { qos: 0 });
    await closed;
    raw.end(true);
  });
});

// ---- secrets never reach the logs ---------------------------------------------------------------

describe('secrets never appear in the logs (built service, LOG_LEVEL=debug)', () => {
  it('scans stdout/stderr after registrations, auth failures, bans and messages', async () => {
    const service = await ServiceProcess.start({ LOG_LEVEL: 'debug', REGISTRATION_CLIENT_OPENSSL: 'true', MQTT_TLS_HOST: '127.0.0.1' });
    const secrets: Array<[string, string]> = [];
    try {
      const bearer = (token: string): Record<string, string> => ({ Authorization: `Bearer ${token}`, 'Content-Type': 'application/json' });
      const post = (path: string, token: string, body: unknown, method = 'POST'): Promise<Response> =>
        fetch(`${service.url}${path}`, { method, headers: bearer(token), body: JSON.stringify(body) });
      const aliceJwt = service.token('alice');
      const adminJwt = service.token('root', ['admin']);
      const serviceJwt = service.token('svc', ['service']);
      const malloryJwt = service.token('mallory');
      secrets.push(['alice JWT', aliceJwt], ['admin JWT', adminJwt], ['service JWT', serviceJwt], ['mallory JWT', malloryJwt]);

      const ws = (await (await post('/v1/registrations', aliceJwt, { connectionType: 'WEBSOCKET' })).json()) as {
        url: string;
        connectionToken: string;
      };
      secrets.push(['connection token', ws.connectionToken]);
      const tlsReg = (await (await post('/v1/registrations', aliceJwt, { connectionType: 'OPENSSL' })).json()) as TlsIdentity & {
        port: number;
      };
      const deviceReg = (await (
        await post('/v1/admin/registrations', adminJwt, { connectionType: 'OPENSSL', clientId: 'kiosk' })
      ).json()) as TlsIdentity & { port: number; certificateId: string };
      for (const [name, pem] of [
        ['client private key', tlsReg.privateKeyPem],
        ['device private key', deviceReg.privateKeyPem],
      ] as const) {
        secrets.push([name, pem], ...pemBodyLines(pem).map((line, i): [string, string] => [`${name} line ${i}`, line]));
      }
      await post('/v1/registrations', malloryJwt, { connectionType: 'WEBSOCKET' });

      // Auth failures: bad JWTs, a wrong connection token, a borrowed one.
      const forged = jwt.sign({ sub: 'root', roles: ['admin'] }, 'x'.repeat(40));
      secrets.push(['forged JWT', forged]);
      await post('/v1/admin/users', forged, undefined, 'GET').catch(() => undefined);
      await fetch(`${service.url}/v1/channels`, { headers: { Authorization: `Bearer ${aliceJwt}x` } });
      await expect(TestMqttClient.ws(ws.url, 'alice', `${ws.connectionToken}x`)).rejects.toBeDefined();
      await expect(TestMqttClient.ws(ws.url, 'mallory', ws.connectionToken)).rejects.toBeDefined();

      // Messages, on a live session and to a device over TLS.
      const sub = await TestMqttClient.ws(ws.url, 'alice', ws.connectionToken);
      await sub.subscribe(`${PREFIX}/CloudGemWebCommunicator`, `${PREFIX}/CloudGemWebCommunicator/client/alice`);
      const tls = await rawTls(deviceReg.port, deviceReg);
      tls.write(mqttPacket.connect('kiosk'));
      const bodies = ['broadcast-body-6f1c2e', 'direct-body-93ab7d', 'client-send-body-41c0ee'];
      expect((await post('/v1/messages/broadcast', serviceJwt, { channel: 'CloudGemWebCommunicator', message: bodies[0] })).status).toBe(
        202,
      );
      expect(
        (await post('/v1/messages/direct', serviceJwt, { channel: 'CloudGemWebCommunicator', clientId: 'alice', message: bodies[1] }))
          .status,
      ).toBe(202);
      await post('/v1/channels/CloudGemWebCommunicator/messages', aliceJwt, { message: bodies[2] });
      await sub.waitFor(2);

      // Ban (cuts the live session), then un-ban.
      expect((await post('/v1/admin/users/alice', adminJwt, { status: 'BANNED', reason: 'log scan' }, 'PATCH')).status).toBe(200);
      await sub.closed();
      expect((await post('/v1/admin/users/alice', adminJwt, { status: 'REGISTERED' }, 'PATCH')).status).toBe(200);
      // A timed ban, a revoked certificate (its live session is cut) and a refused reconnect with it.
      const until = new Date(Date.now() + 3_600_000).toISOString();
      expect((await post('/v1/admin/users/mallory', adminJwt, { status: 'BANNED', expiresAt: until }, 'PATCH')).status).toBe(200);
      const revoked = await fetch(`${service.url}/v1/admin/users/kiosk/certificates/${deviceReg.certificateId}`, { method: 'DELETE', headers: { Authorization: `Bearer ${adminJwt}` } });
      expect(revoked.status).toBe(204);
      const refused = await rawTls(deviceReg.port, deviceReg).catch(() => undefined);
      refused?.write(mqttPacket.connect('kiosk'));
      refused?.destroy();
      tls.destroy();
      await sleep(300);

      const dataDir = service.config.dataDir;
      for (const file of ['auth-jwt.secret', 'broker-token.secret', join('ca', 'ca-key.pem')]) {
        const content = readFileSync(join(dataDir, file), 'utf8').trim();
        secrets.push([file, content], ...pemBodyLines(content).map((line, i): [string, string] => [`${file} line ${i}`, line]));
      }

      const logs = service.logs;
      expect(logs.length).toBeGreaterThan(1_000); // debug logging did happen
      expect(logs).toContain('refused MQTT client'); // and covered the auth failures
      const leaked = secrets.filter(([, secret]) => secret.length >= 16 && logs.includes(secret)).map(([name]) => name);
      // A JWT's signature alone would be enough to replay it.
      const leakedSignatures = secrets
        .filter(([name, secret]) => name.endsWith('JWT') && logs.includes(secret.split('.')[2]))
        .map(([name]) => `${name} signature`);
      expect([...leaked, ...leakedSignatures]).toEqual([]);

      // Message bodies: not at info level or above (debug may carry them).
      const infoLines = logs.split('\n').filter((line) => {
        try {
          return (JSON.parse(line) as { level?: number }).level! >= 30;
        } catch {
          return line.trim() !== '';
        }
      });
      expect(bodies.filter((body) => infoLines.some((line) => line.includes(body)))).toEqual([]);
      await sub.end();
    } finally {
      service.kill('SIGKILL');
      await service.exited;
      rmSync(service.config.dataDir, { recursive: true, force: true });
    }
  });
});

function pemBodyLines(text: string): string[] {
  return text
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l.length >= 40 && !l.startsWith('-----'));
}
