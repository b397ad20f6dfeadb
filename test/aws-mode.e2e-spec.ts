/*
 * BROKER=aws-iot STORE=dynamodb end to end through the HTTP API: the store is a
 * dynalite server in another process (DYNAMODB_ENDPOINT), AWS IoT is a local
 * HTTP double receiving the real SDK's signed requests (AWS_ENDPOINT_URL_IOT*).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { join } from 'node:path';
import { Aedes } from 'aedes';
import request from 'supertest';
import { createWebSocketStream, WebSocketServer } from 'ws';
import { OutboundEvents } from '../src/events/out/outbound-events';
import { freePort } from './support/service-process';
import { expectProblem, TestApp } from './support/test-app';

interface Call {
  method: string;
  path: string;
  query: URLSearchParams;
  body: string;
  authorization?: string;
}

const IDENTITY = 'eu-west-1:0c1a8e2d-1111-4222-8333-444455556666';
const AWS_ENV = {
  AWS_ACCESS_KEY_ID: 'AKIDE2ETEST',
  AWS_SECRET_ACCESS_KEY: 'e2e-secret',
  AWS_REGION: 'eu-west-1',
};

/** Just enough of the IoT control and data planes for the driver's calls. */
function iotDouble(calls: Call[]): Server {
  const policies = new Map<string, string>();
  // Classic Device Shadows as IoT keeps them: merged with null removing keys, version-checked.
  const shadows = new Map<string, { state: Record<string, Record<string, unknown>>; version: number }>();
  let certificates = 0;
  const reply = (res: ServerResponse, status: number, body: unknown, errorType?: string): void => {
    res.writeHead(status, { 'content-type': 'application/json', ...(errorType ? { 'x-amzn-errortype': errorType } : {}) });
    res.end(JSON.stringify(body));
  };
  return createServer((req: IncomingMessage, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const url = new URL(req.url ?? '/', 'http://double');
      const path = decodeURIComponent(url.pathname);
      const body = Buffer.concat(chunks).toString('utf8');
      calls.push({ method: req.method ?? '', path, query: url.searchParams, body, authorization: req.headers.authorization });
      const policy = /^\/policies\/([^/]+)$/.exec(path);
      if (req.method === 'GET' && path === '/endpoint') {
        return reply(res, 200, { endpointAddress: 'abc123-ats.iot.eu-west-1.amazonaws.com' });
      }
      if (policy && req.method === 'GET') {
        const document = policies.get(policy[1]);
        return document === undefined
          ? reply(res, 404, { message: 'not found' }, 'ResourceNotFoundException')
          : reply(res, 200, { policyName: policy[1], policyDocument: document, defaultVersionId: '1' });
      }
      if (policy && req.method === 'POST') {
        policies.set(policy[1], (JSON.parse(body) as { policyDocument: string }).policyDocument);
        return reply(res, 200, { policyName: policy[1], policyArn: `arn:aws:iot:eu-west-1:123456789012:policy/${policy[1]}`, policyVersionId: '1' });
      }
      if (path === '/keys-and-certificate') {
        certificates += 1;
        const id = `${'c'.repeat(63)}${certificates}`;
        return reply(res, 200, {
          certificateArn: `arn:aws:iot:eu-west-1:123456789012:cert/${id}`,
          certificateId: id,
          certificatePem: '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n',
          keyPair: { PublicKey: 'pub', PrivateKey: '-----BEGIN RSA PRIVATE KEY-----\nMIIE\n-----END RSA PRIVATE KEY-----\n' },
        });
      }
      const shadow = /^\/things\/([^/]+)\/shadow$/.exec(path);
      if (shadow) {
        const current = shadows.get(shadow[1]);
        if (req.method === 'GET') {
          return current === undefined
            ? reply(res, 404, { message: `No shadow exists with name: '${shadow[1]}'` }, 'ResourceNotFoundException')
            : reply(res, 200, { state: current.state, metadata: {}, version: current.version, timestamp: 1767225600 });
        }
        const update = JSON.parse(body) as { state: Record<string, Record<string, unknown> | null>; version?: number };
        if (update.version !== undefined && update.version !== current?.version) {
          return reply(res, 409, { message: 'Version conflict' }, 'ConflictException');
        }
        const next = { state: { ...(current?.state ?? {}) }, version: (current?.version ?? 0) + 1 };
        for (const [section, patch] of Object.entries(update.state)) {
          if (patch === null) {
            delete next.state[section];
            continue;
          }
          const merged: Record<string, unknown> = { ...(next.state[section] ?? {}) };
          for (const [key, value] of Object.entries(patch)) {
            if (value === null) {
              delete merged[key];
            } else {
              merged[key] = value;
            }
          }
          next.state[section] = merged;
        }
        shadows.set(shadow[1], next);
        return reply(res, 200, { state: update.state, metadata: {}, version: next.version, timestamp: 1767225601 });
      }
      if (/^\/things\/[^/]+$/.test(path) && req.method === 'POST') {
        return reply(res, 200, { thingName: path.split('/')[2], thingArn: `arn:aws:iot:eu-west-1:123456789012:thing/${path.split('/')[2]}` });
      }
      return reply(res, 200, {});
    });
  });
}

/**
 * IoT Core's MQTT-over-WebSocket side, as far as lifecycle events go: an Aedes broker on
 * ws://…/mqtt that records the upgrade URL (the SigV4 presigned query) and the client ids, and
 * publishes lifecycle messages the way IoT Core does.
 */
class LifecycleDouble {
  readonly upgrades: string[] = [];
  readonly clientIds: string[] = [];
  readonly subscriptions: string[] = [];

  private constructor(
    readonly aedes: Aedes,
    private readonly server: Server,
    private readonly wss: WebSocketServer,
  ) {}

  static async start(): Promise<LifecycleDouble> {
    const aedes = await Aedes.createBroker();
    const server = createServer();
    const wss = new WebSocketServer({ server, path: '/mqtt' });
    const double = new LifecycleDouble(aedes, server, wss);
    wss.on('connection', (socket, req) => {
      double.upgrades.push(req.url ?? '');
      aedes.handle(createWebSocketStream(socket));
    });
    aedes.on('client', (client) => double.clientIds.push(client.id));
    aedes.on('subscribe', (subscriptions) => double.subscriptions.push(...subscriptions.map((s) => s.topic)));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    return double;
  }

  get url(): string {
    return `ws://127.0.0.1:${(this.server.address() as { port: number }).port}/mqtt`;
  }

  /** A lifecycle message with the fields AWS documents (AWS IoT developer guide, "Lifecycle events"). */
  async lifecycle(
    eventType: 'connected' | 'disconnected',
    clientId: string,
    versionNumber: number,
    disconnect: { disconnectReason?: string; clientInitiatedDisconnect?: boolean } = {},
  ): Promise<void> {
    const body = {
      clientId,
      timestamp: Date.now(),
      eventType,
      sessionIdentifier: `00000000-0000-4000-8000-${String(versionNumber).padStart(12, '0')}`,
      principalIdentifier: '123456789012/AIDAEXAMPLE:CognitoIdentityCredentials',
      ...(eventType === 'disconnected' ? { clientInitiatedDisconnect: false, ...disconnect } : { ipAddress: '192.0.2.10' }),
      versionNumber,
    };
    await new Promise<void>((resolve, reject) =>
      this.aedes.publish(
        { cmd: 'publish', topic: `$aws/events/presence/${eventType}/${clientId}`, payload: Buffer.from(JSON.stringify(body)), qos: 1, retain: false, dup: false },
        (error) => (error ? reject(error) : resolve()),
      ),
    );
  }

  async stop(): Promise<void> {
    for (const client of this.wss.clients) {
      client.terminate();
    }
    await new Promise<void>((resolve) => this.aedes.close(() => resolve()));
    this.wss.close();
    this.server.closeAllConnections();
    await new Promise((resolve) => this.server.close(resolve));
  }
}

describe('BROKER=aws-iot STORE=dynamodb (out-of-process DynamoDB, AWS IoT double)', () => {
  let dynalite: ChildProcess;
  let double: Server;
  let lifecycle: LifecycleDouble;
  const calls: Call[] = [];
  let t: TestApp;
  let admin: { Authorization: string };
  const saved: Record<string, string | undefined> = {};

  beforeAll(async () => {
    const dynamoPort = await freePort();
    dynalite = spawn(process.execPath, [join(__dirname, '..', 'node_modules', 'dynalite', 'cli.js'), '--port', String(dynamoPort), '--createTableMs', '0'], { stdio: 'ignore' });
    double = iotDouble(calls);
    await new Promise<void>((resolve) => double.listen(0, '127.0.0.1', resolve));
    lifecycle = await LifecycleDouble.start();
    const iotUrl = `http://127.0.0.1:${(double.address() as { port: number }).port}`;
    // The SDK reads credentials and endpoint overrides from the environment itself (default chain).
    const env = { ...AWS_ENV, AWS_ENDPOINT_URL_IOT: iotUrl, AWS_ENDPOINT_URL_IOT_DATA_PLANE: iotUrl };
    for (const [key, value] of Object.entries(env)) {
      saved[key] = process.env[key];
      process.env[key] = value;
    }
    // Wait for the out-of-process store.
    for (let i = 0; i < 100; i += 1) {
      try {
        await fetch(`http://127.0.0.1:${dynamoPort}`);
        break;
      } catch {
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
    }
    t = await TestApp.start({
      env: {
        ...env,
        BROKER: 'aws-iot',
        STORE: 'dynamodb',
        DYNAMODB_ENDPOINT: `http://127.0.0.1:${dynamoPort}`,
        DYNAMODB_CREATE_TABLES: 'true',
        DYNAMODB_TABLE_PREFIX: 'e2e-',
        AUTH_JWT_SECRET: 'an-e2e-shared-secret-of-at-least-32-chars',
        TOPIC_PREFIX: 'mygame/prod',
        // The lifecycle subscription's endpoint override (production: wss://<data endpoint>/mqtt).
        IOT_MQTT_URL: lifecycle.url,
      },
    });
    admin = t.auth('root', 'admin');
  });

  afterAll(async () => {
    await t?.stop();
    for (const [key, value] of Object.entries(saved)) {
      if (value === undefined) {
        delete process.env[key];
      } else {
        process.env[key] = value;
      }
    }
    double?.closeAllConnections();
    await new Promise((resolve) => double?.close(resolve));
    await lifecycle?.stop();
    dynalite?.kill();
  });

  it('reports its drivers and is ready', async () => {
    expect((await request(t.url).get('/v1/status')).body).toEqual(expect.objectContaining({ broker: 'aws-iot', store: 'dynamodb' }));
    expect((await request(t.url).get('/health/ready')).status).toBe(200);
  });

  it('created the IoT policies at start, with SigV4-signed requests', () => {
    const created = calls.filter((c) => c.method === 'POST' && c.path.startsWith('/policies/')).map((c) => c.path);
    expect(created.sort()).toEqual(['/policies/WebCommunicator-Device', '/policies/WebCommunicator-Player', '/policies/WebCommunicator-Portal']);
    expect(calls.every((c) => /^AWS4-HMAC-SHA256 Credential=AKIDE2ETEST\//.test(c.authorization ?? ''))).toBe(true);
  });

  it('registers a Cognito identity over WEBSOCKET: player policy attached, port 443', async () => {
    const reg = await request(t.url).post('/v1/registrations').set(t.auth(IDENTITY)).send({ connectionType: 'WEBSOCKET' });
    expect(reg.status).toBe(201);
    expect(reg.body).toEqual(
      expect.objectContaining({ clientId: IDENTITY, status: 'REGISTERED', endpoint: 'abc123-ats.iot.eu-west-1.amazonaws.com', port: 443, url: 'wss://abc123-ats.iot.eu-west-1.amazonaws.com:443/mqtt' }),
    );
    const attach = calls.find((c) => c.method === 'PUT' && c.path === '/target-policies/WebCommunicator-Player');
    expect(JSON.parse(attach!.body)).toEqual({ target: IDENTITY });
    // Stored in the out-of-process DynamoDB.
    const user = await request(t.url).get(`/v1/admin/users/${IDENTITY}`).set(admin);
    expect(user.body).toEqual(expect.objectContaining({ clientId: IDENTITY, status: 'REGISTERED', connectionType: 'WEBSOCKET' }));
  });

  it('registers a device over OPENSSL: certificate created active and recorded; key returned, not stored', async () => {
    const reg = await request(t.url).post('/v1/admin/registrations').set(admin).send({ connectionType: 'OPENSSL', clientId: 'kiosk-7' });
    expect(reg.status).toBe(201);
    expect(reg.body).toEqual(expect.objectContaining({ clientId: 'kiosk-7', port: 8883, url: 'mqtts://abc123-ats.iot.eu-west-1.amazonaws.com:8883', certificatePem: expect.stringContaining('CERTIFICATE'), privateKeyPem: expect.stringContaining('PRIVATE KEY') }));
    expect(calls.some((c) => c.path === '/keys-and-certificate' && c.query.get('setAsActive') === 'true')).toBe(true);
    const user = await request(t.url).get('/v1/admin/users/kiosk-7').set(admin);
    expect(user.body.certificateIds).toEqual([reg.body.certificateId]);
    expect(JSON.stringify(user.body)).not.toContain('PRIVATE KEY');
  });

  it('a registration IoT would refuse is refused before it is stored: not listed, no direct message to it', async () => {
    // Not a Cognito identity (WEBSOCKET), not a valid thing name (OPENSSL): both ids pass the API's own pattern.
    expectProblem(await request(t.url).post('/v1/registrations').set(t.auth('player-1')).send({ connectionType: 'WEBSOCKET' }), 400, 'VALIDATION_FAILED');
    expectProblem(await request(t.url).post('/v1/admin/registrations').set(admin).send({ connectionType: 'OPENSSL', clientId: 'device.42' }), 400, 'VALIDATION_FAILED');
    for (const clientId of ['player-1', 'device.42']) {
      expectProblem(await request(t.url).get(`/v1/admin/users/${clientId}`).set(admin), 404, 'USER_NOT_FOUND');
      const direct = await request(t.url).post('/v1/messages/direct').set(t.auth('svc', 'service')).send({ channel: 'news', clientId, message: 'x' });
      expectProblem(direct, 404, 'USER_NOT_FOUND');
    }
    const listed = (await request(t.url).get('/v1/admin/users?limit=100').set(admin)).body.users.map((u: { clientId: string }) => u.clientId);
    expect(listed).not.toContain('player-1');
    expect(listed).not.toContain('device.42');
    expect(calls.some((c) => c.path.includes('player-1') || c.path.includes('device.42'))).toBe(false);
  });

  it('publishes broadcasts and direct messages through iot-data Publish (QoS 1)', async () => {
    const broadcast = await request(t.url).post('/v1/messages/broadcast').set(t.auth('svc', 'service')).send({ channel: 'news', message: 'season 2' });
    expect(broadcast.status).toBe(202);
    const direct = await request(t.url).post('/v1/messages/direct').set(t.auth('svc', 'service')).send({ channel: 'news', clientId: IDENTITY, message: 'for you' });
    expect(direct.status).toBe(202);
    const published = calls.filter((c) => c.method === 'POST' && c.path.startsWith('/topics/'));
    expect(published.map((c) => [c.path, c.query.get('qos')])).toEqual([
      ['/topics/mygame/prod/news', '1'],
      [`/topics/mygame/prod/news/client/${IDENTITY}`, '1'],
    ]);
    expect(JSON.parse(published[0].body)).toEqual({ Channel: 'news', Message: 'season 2', Id: broadcast.body.messageId, Time: expect.any(String) });
  });

  it('history (API.md sections 4-5): a Seq per stream in the envelopes IoT publishes, pages read from DynamoDB, a repeated Idempotency-Key publishes nothing', async () => {
    const put = await request(t.url).put('/v1/admin/channels/scores').set(admin).send({ types: ['BROADCAST', 'PRIVATE'], history: { size: 10, ttlSeconds: 3600 } });
    expect(put.status).toBe(201);
    const svc = t.auth('svc', 'service');
    const before = calls.length;
    const text: Record<string, string> = { k1: 'one', k2: 'two', k3: 'three' };
    const ids: string[] = [];
    for (const key of ['k1', 'k2', 'k2', 'k3']) {
      const res = await request(t.url).post('/v1/messages/broadcast').set(svc).set('Idempotency-Key', key).send({ channel: 'scores', message: text[key] });
      expect(res.status).toBe(202);
      ids.push(res.body.messageId as string);
    }
    expect(ids[2]).toBe(ids[1]);
    const direct = await request(t.url).post('/v1/messages/direct').set(svc).send({ channel: 'scores', clientId: IDENTITY, message: 'private' });
    expect(direct.status).toBe(202);
    const published = calls.slice(before).filter((c) => c.method === 'POST' && c.path.startsWith('/topics/'));
    expect(published.map((c) => [c.path, (JSON.parse(c.body) as { Message: string }).Message, (JSON.parse(c.body) as { Seq: number }).Seq])).toEqual([
      ['/topics/mygame/prod/scores', 'one', 1],
      ['/topics/mygame/prod/scores', 'two', 2],
      ['/topics/mygame/prod/scores', 'three', 3],
      [`/topics/mygame/prod/scores/client/${IDENTITY}`, 'private', 1],
    ]);
    const page = await request(t.url).get('/v1/channels/scores/messages').query({ after: 1 }).set(svc);
    expect(page.status).toBe(200);
    expect(page.body).toMatchObject({ channel: 'scores', topic: 'mygame/prod/scores', latestSeq: 3, complete: true });
    expect((page.body.messages as Array<{ Seq: number; Message: string; Id: string }>).map((m) => [m.Seq, m.Message, m.Id])).toEqual([
      [2, 'two', ids[1]],
      [3, 'three', ids[3]],
    ]);
    const mine = await request(t.url).get('/v1/channels/scores/messages').query({ clientId: IDENTITY }).set(svc);
    expect(mine.status).toBe(200);
    expect((mine.body.messages as Array<{ Seq: number; Message: string }>).map((m) => [m.Seq, m.Message])).toEqual([[1, 'private']]);
  });

  it('bans: detaches the policy, deactivates certificates, deletes the connection; un-ban reverses it', async () => {
    calls.length = 0;
    const ban = await request(t.url).patch('/v1/admin/users/kiosk-7').set(admin).send({ status: 'BANNED', reason: 'stolen device' });
    expect(ban.status).toBe(200);
    expect(calls.some((c) => c.method === 'PUT' && /^\/certificates\/c+1$/.test(c.path) && c.query.get('newStatus') === 'INACTIVE')).toBe(true);
    expect(calls.some((c) => c.method === 'DELETE' && c.path === '/connections/kiosk-7')).toBe(true);
    expect((await request(t.url).patch(`/v1/admin/users/${IDENTITY}`).set(admin).send({ status: 'BANNED' })).status).toBe(200);
    expectProblem(await request(t.url).post('/v1/registrations').set(t.auth(IDENTITY)).send({ connectionType: 'WEBSOCKET' }), 403, 'CLIENT_BANNED');
    expect(calls.some((c) => c.method === 'POST' && c.path === '/target-policies/WebCommunicator-Player' && JSON.parse(c.body).target === IDENTITY)).toBe(true);

    calls.length = 0;
    expect((await request(t.url).patch('/v1/admin/users/kiosk-7').set(admin).send({ status: 'REGISTERED' })).status).toBe(200);
    expect(calls.some((c) => c.method === 'PUT' && /^\/certificates\/c+1$/.test(c.path) && c.query.get('newStatus') === 'ACTIVE')).toBe(true);
  });

  it('revokes one certificate: detaches the policies from it, sets it INACTIVE and deletes the connection; the other certificate is untouched', async () => {
    const first = await request(t.url).post('/v1/admin/registrations').set(admin).send({ connectionType: 'OPENSSL', clientId: 'kiosk-9' });
    const second = await request(t.url).post('/v1/admin/registrations').set(admin).send({ connectionType: 'OPENSSL', clientId: 'kiosk-9' });
    expect([first.status, second.status]).toEqual([201, 201]);
    const [revoked, kept] = [first.body.certificateId as string, second.body.certificateId as string];
    const arnOf = (id: string): string => `arn:aws:iot:eu-west-1:123456789012:cert/${id}`;

    calls.length = 0;
    const res = await request(t.url).delete(`/v1/admin/users/kiosk-9/certificates/${revoked}`).set(admin);
    expect(res.status).toBe(204);
    // Signed requests, in this order: the policies come off, the certificate goes INACTIVE, then the connection is closed.
    expect(calls.every((c) => c.authorization?.startsWith('AWS4-HMAC-SHA256 '))).toBe(true);
    const detached = calls.filter((c) => c.method === 'POST' && c.path.startsWith('/target-policies/'));
    expect(detached.length).toBeGreaterThan(0);
    expect(detached.every((c) => JSON.parse(c.body).target === arnOf(revoked))).toBe(true);
    expect(detached.map((c) => c.path)).toContain('/target-policies/WebCommunicator-Device');
    const deactivated = calls.filter((c) => c.method === 'PUT' && c.path.startsWith('/certificates/'));
    expect(deactivated.map((c) => [c.path, c.query.get('newStatus')])).toEqual([[`/certificates/${revoked}`, 'INACTIVE']]);
    const disconnected = calls.filter((c) => c.method === 'DELETE' && c.path.startsWith('/connections/'));
    expect(disconnected.map((c) => c.path)).toEqual(['/connections/kiosk-9']);
    // The session belongs to the client id: the other certificate resumes it (API.md section 4; docs/sessions.md).
    expect(disconnected[0].query.get('cleanSession')).toBe('false');
    expect(Math.max(...detached.map((c) => calls.indexOf(c)))).toBeLessThan(calls.indexOf(deactivated[0]));
    expect(calls.indexOf(deactivated[0])).toBeLessThan(calls.indexOf(disconnected[0]));
    // Nothing touched the other certificate.
    expect(calls.some((c) => c.path.includes(kept) || c.body.includes(kept))).toBe(false);

    const user = await request(t.url).get('/v1/admin/users/kiosk-9').set(admin);
    expect(user.body.certificateIds).toEqual([kept]);
    expectProblem(await request(t.url).delete(`/v1/admin/users/kiosk-9/certificates/${revoked}`).set(admin), 404, 'CERTIFICATE_NOT_FOUND');
  });

  it("state documents are the things' Device Shadows (GetThingShadow / UpdateThingShadow with the version read)", async () => {
    const service = t.auth('svc', 'service');
    expect(
      (await request(t.url).post('/v1/admin/registrations').set(admin).send({ connectionType: 'OPENSSL', clientId: 'console-3' })).status,
    ).toBe(201);
    calls.length = 0;
    const empty = await request(t.url).get('/v1/clients/console-3/state').set(service);
    expect(empty.body).toEqual({ clientId: 'console-3', state: { desired: {}, reported: {} }, version: 0 });
    expect(calls.map((c) => [c.method, c.path])).toEqual([['GET', '/things/console-3/shadow']]);

    const set = await request(t.url)
      .patch('/v1/clients/console-3/state')
      .set(service)
      .send({ desired: { mode: 'kiosk', volume: 3 } });
    expect(set.status).toBe(200);
    expect(set.body).toEqual({
      clientId: 'console-3',
      state: { desired: { mode: 'kiosk', volume: 3 }, reported: {}, delta: { mode: 'kiosk', volume: 3 } },
      version: 1,
      updatedAt: '2026-01-01T00:00:01.000Z',
    });
    const update = calls.find((c) => c.method === 'POST' && c.path === '/things/console-3/shadow')!;
    expect(JSON.parse(update.body)).toEqual({ state: { desired: { mode: 'kiosk', volume: 3 } } });

    calls.length = 0;
    const change = await request(t.url)
      .patch('/v1/clients/console-3/state')
      .set(service)
      .send({ desired: { volume: null }, reported: { mode: 'kiosk' }, version: 1 });
    expect(change.status).toBe(200);
    expect(change.body).toEqual(
      expect.objectContaining({ version: 2, state: { desired: { mode: 'kiosk' }, reported: { mode: 'kiosk' } } }),
    );
    const sent = calls.filter((c) => c.method === 'POST' && c.path === '/things/console-3/shadow');
    expect(sent.map((c) => JSON.parse(c.body))).toEqual([
      { state: { desired: { volume: null }, reported: { mode: 'kiosk' } }, version: 1 },
    ]);
    // IoT Core publishes the shadow topics itself: the service publishes nothing.
    expect(calls.some((c) => c.path.startsWith('/topics/'))).toBe(false);

    expectProblem(
      await request(t.url)
        .patch('/v1/clients/console-3/state')
        .set(service)
        .send({ desired: { volume: 1 }, version: 1 }),
      409,
      'VERSION_CONFLICT',
    );
    expect((await request(t.url).get('/v1/clients/console-3/state').set(service)).body.version).toBe(2);
  });

  it('a channel whose IoT policies would be too large is refused (422) and not saved', async () => {
    let refused: string | undefined;
    for (let i = 0; i < 80 && refused === undefined; i += 1) {
      const name = `a-rather-long-broadcast-channel-name-number-${String(i).padStart(2, '0')}`;
      const res = await request(t.url).put(`/v1/admin/channels/${name}`).set(admin).send({ types: ['BROADCAST'] });
      if (res.status === 422) {
        expectProblem(res, 422, 'VALIDATION_FAILED');
        refused = name;
      } else {
        expect(res.status).toBe(201);
      }
    }
    expect(refused).toBeDefined();
    const names = (await request(t.url).get('/v1/admin/channels').set(admin)).body.channels.map((c: { name: string }) => c.name);
    expect(names).not.toContain(refused);
  });

  it('lists users with pagination from the real DynamoDB API', async () => {
    const page = await request(t.url).get('/v1/admin/users?limit=1').set(admin);
    expect(page.status).toBe(200);
    expect(page.body.users).toHaveLength(1);
    expect(page.body.nextCursor).toEqual(expect.any(String));
    const next = await request(t.url).get(`/v1/admin/users?limit=10&cursor=${page.body.nextCursor}`).set(admin);
    expect(next.body.users.map((u: { clientId: string }) => u.clientId)).not.toContain(page.body.users[0].clientId);
  });

  it('store down → 503 STORE_UNAVAILABLE with Retry-After, readiness 503; recovers without restart', async () => {
    dynalite.kill('SIGSTOP');
    try {
      const res = await request(t.url).get('/v1/admin/users').set(admin);
      expectProblem(res, 503, 'STORE_UNAVAILABLE');
      expect(res.headers['retry-after']).toBeDefined();
      expect((await request(t.url).get('/health/ready')).status).toBe(503);
    } finally {
      dynalite.kill('SIGCONT');
    }
    expect((await request(t.url).get('/v1/admin/users').set(admin)).status).toBe(200);
    expect((await request(t.url).get('/health/ready')).status).toBe(200);
  });

  it('hears IoT lifecycle events (MQTT over WebSocket, SigV4-presigned with its own credentials): presence and client.connected / client.disconnected', async () => {
    const player = 'eu-west-1:0c1a8e2d-2222-4222-8333-444455556666';
    expect((await request(t.url).post('/v1/registrations').set(t.auth(player)).send({ connectionType: 'WEBSOCKET' })).status).toBe(201);
    const deadline = Date.now() + 20_000;
    while (lifecycle.subscriptions.length < 2) {
      expect(Date.now()).toBeLessThan(deadline);
      await new Promise((resolve) => setTimeout(resolve, 25));
    }
    expect(lifecycle.subscriptions.sort()).toEqual(['$aws/events/presence/connected/+', '$aws/events/presence/disconnected/+']);
    expect(lifecycle.clientIds[0]).toMatch(/^webcommunicator-lifecycle-/);
    const query = new URL(lifecycle.upgrades[0], 'ws://x').searchParams;
    expect(query.get('X-Amz-Algorithm')).toBe('AWS4-HMAC-SHA256');
    expect(query.get('X-Amz-Credential')).toMatch(/^AKIDE2ETEST\/\d{8}\/eu-west-1\/iotdevicegateway\/aws4_request$/);
    expect(query.get('X-Amz-SignedHeaders')).toBe('host');
    expect(query.get('X-Amz-Signature')).toMatch(/^[0-9a-f]{64}$/);

    const emitted: Array<{ type: string; clientId: string; fields: unknown; id?: string }> = [];
    const outbound = t.app.get(OutboundEvents);
    const emit = jest.spyOn(outbound, 'emit').mockImplementation((type, clientId, fields, id) => {
      emitted.push({ type, clientId, fields, id });
    });
    const presence = async (): Promise<{ connected: boolean; lastSeenAt?: string }> =>
      (await request(t.url).get(`/v1/presence?clientId=${encodeURIComponent(player)}`).set(t.auth('svc', 'service'))).body.clients[0];
    const until = async (what: string, predicate: () => boolean | Promise<boolean>): Promise<void> => {
      const end = Date.now() + 20_000;
      while (!(await predicate())) {
        if (Date.now() > end) {
          throw new Error(`timed out waiting for ${what}: ${JSON.stringify(emitted)}`);
        }
        await new Promise((resolve) => setTimeout(resolve, 25));
      }
    };
    try {
      await lifecycle.lifecycle('connected', player, 1);
      await until('connected', async () => (await presence()).connected);
      // IoT may deliver a message twice: the same event id both times (consumers drop the repeat).
      await lifecycle.lifecycle('connected', player, 1);
      await until('two connected events', () => emitted.length === 2);
      expect(emitted[0]).toEqual({ type: 'client.connected', clientId: player, fields: { transport: 'aws-iot' }, id: expect.any(String) });
      expect(emitted[1].id).toBe(emitted[0].id);

      // A second connection replaces the first; IoT's disconnect of the old one may come after the new connect.
      await lifecycle.lifecycle('connected', player, 2);
      await lifecycle.lifecycle('disconnected', player, 1, { disconnectReason: 'DUPLICATE_CLIENTID' });
      await until('the takeover', () => emitted.length === 4);
      expect(emitted[3]).toEqual(expect.objectContaining({ type: 'client.disconnected', fields: { reason: 'takeover' } }));
      expect((await presence()).connected).toBe(true);

      await lifecycle.lifecycle('disconnected', player, 2, { disconnectReason: 'MQTT_KEEP_ALIVE_TIMEOUT' });
      await until('disconnected', async () => !(await presence()).connected);
      expect(emitted[4]).toEqual(expect.objectContaining({ type: 'client.disconnected', clientId: player, fields: { reason: 'timeout' } }));
      expect((await presence()).lastSeenAt).toEqual(expect.any(String));
    } finally {
      emit.mockRestore();
    }
  });
});
