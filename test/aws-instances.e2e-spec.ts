/*
 * AWS mode with two instances on one store (API.md section 9): BROKER=aws-iot STORE=dynamodb, the
 * store a dynalite server in another process, AWS IoT a stateful HTTP double (policy versions as IoT
 * keeps them) receiving the real SDK's signed requests. Each test drives both instances.
 */
import request from 'supertest';
import { buildPolicies, POLICY_KINDS, policyName, samePolicyDocument } from '../src/broker/aws-iot/policies';
import { OutboundEvents } from '../src/events/out/outbound-events';
import { CATALOG_REFRESH_MS, ChannelCatalog } from '../src/store/channel-catalog';
import { BanExpiry } from '../src/users/ban-expiry';
import { until } from './credentials/until';
import { DynaliteProcess } from './support/dynalite';
import { IotDouble } from './support/iot-double';
import { TestApp } from './support/test-app';

const AWS_ENV = { AWS_ACCESS_KEY_ID: 'AKIDE2ETEST', AWS_SECRET_ACCESS_KEY: 'e2e-secret', AWS_REGION: 'eu-west-1' };
const OLD = '{"Version":"2012-10-17","Statement":[{"Effect":"Deny","Action":"iot:Connect","Resource":"*"}]}';
/** A Cognito identity id (what WEBSOCKET client ids are in AWS mode). */
const identity = (n: number): string => `eu-west-1:0c1a8e2d-1111-4222-8333-${String(n).padStart(12, '0')}`;

describe('AWS mode, two instances on one store (dynalite out of process, IoT double)', () => {
  let dynalite: DynaliteProcess;
  let iot: IotDouble;
  let a: TestApp;
  let b: TestApp;
  const saved: Record<string, string | undefined> = {};

  beforeAll(async () => {
    dynalite = await DynaliteProcess.start();
    iot = await IotDouble.start();
    const env = { ...AWS_ENV, AWS_ENDPOINT_URL_IOT: iot.url, AWS_ENDPOINT_URL_IOT_DATA_PLANE: iot.url };
    for (const [key, value] of Object.entries(env)) {
      saved[key] = process.env[key];
      process.env[key] = value;
    }
    // An older deployment left four versions of each policy: the two starts have one free slot between them.
    for (const kind of POLICY_KINDS) {
      iot.seed(policyName('WebCommunicator', kind), [OLD, OLD, OLD, OLD]);
    }
    iot.latencyMs = 10;
    const instance = (): Promise<TestApp> =>
      TestApp.start({
        env: {
          ...env,
          BROKER: 'aws-iot',
          STORE: 'dynamodb',
          DYNAMODB_ENDPOINT: dynalite.endpoint,
          DYNAMODB_CREATE_TABLES: 'true',
          DYNAMODB_TABLE_PREFIX: 'two-',
          AUTH_JWT_SECRET: 'an-e2e-shared-secret-of-at-least-32-chars',
          TOPIC_PREFIX: 'mygame/prod',
          IOT_LIFECYCLE_EVENTS: 'false',
          // The test sweeps by hand, on both instances at once.
          BAN_EXPIRY_SWEEP_MS: '60000',
        },
      });
    // Both start at once: tables, channel seeding and IoT policies raced.
    [a, b] = await Promise.all([instance(), instance()]);
    iot.latencyMs = 0;
  });

  afterAll(async () => {
    await Promise.all([a?.stop(), b?.stop()]);
    for (const [key, value] of Object.entries(saved)) {
      if (value === undefined) {
        delete process.env[key];
      } else {
        process.env[key] = value;
      }
    }
    await iot?.stop();
    await dynalite?.stop();
  });

  const service = (t: TestApp) => t.auth('svc', 'service');
  const admin = (t: TestApp) => t.auth('root', 'admin');

  it('starting at once, the two instances leave each policy saying the channel table, within five versions', async () => {
    const channels = await a.app.get(ChannelCatalog).all();
    const built = buildPolicies(channels, { topicPrefix: 'mygame/prod', region: 'eu-west-1', policyPrefix: 'WebCommunicator' });
    for (const kind of POLICY_KINDS) {
      const name = policyName('WebCommunicator', kind);
      expect(iot.versions(name).length).toBeLessThanOrEqual(5);
      expect(iot.versions(name).filter((v) => v.isDefault)).toHaveLength(1);
      expect(samePolicyDocument(iot.defaultDocument(name) ?? '', JSON.stringify(built[kind]))).toBe(true);
    }
  });

  it(`a channel created through A is served by B within ${CATALOG_REFRESH_MS} ms; B's policy re-check adds no version`, async () => {
    iot.calls.length = 0;
    const put = await request(a.url).put('/v1/admin/channels/patches').set(admin(a)).send({ types: ['BROADCAST'] });
    expect(put.status).toBe(201);
    const putReturnedAt = Date.now();
    const refused: number[] = [];
    const accepted = await until(async () => {
      const sentAt = Date.now();
      const res = await request(b.url).post('/v1/messages/broadcast').set(service(b)).send({ channel: 'patches', message: 'v1.2' });
      if (res.status === 404) {
        refused.push(sentAt);
        return undefined;
      }
      return res;
    }, 'B to know the channel');
    expect(accepted.status).toBe(202);
    // The bound, whatever the machine's load: no publish sent later than the bound after the edit was refused.
    expect(Math.max(putReturnedAt, ...refused)).toBeLessThan(putReturnedAt + CATALOG_REFRESH_MS);
    expect(iot.published.map((p) => p.topic)).toContain('mygame/prod/patches');

    // B's catalog heard the change and compared the policies (GETs) without writing a version: A did.
    const policyGets = (): number => iot.calls.filter((c) => c.method === 'GET' && /^\/policies\/[^/]+$/.test(c.path)).length;
    await until(async () => (policyGets() >= 6 ? true : undefined), "B's policy check");
    const versionWrites = iot.calls.filter((c) => c.method === 'POST' && c.path.endsWith('/version')).map((c) => c.path);
    expect(versionWrites.sort()).toEqual(['/policies/WebCommunicator-Device/version', '/policies/WebCommunicator-Player/version']);
  });

  it('an Idempotency-Key repeated on the other instance publishes nothing and answers the first messageId', async () => {
    const send = (t: TestApp) =>
      request(t.url).post('/v1/messages/broadcast').set(service(t)).set('Idempotency-Key', 'two-instances-1').send({ channel: 'news', message: 'once' });
    const before = iot.published.length;
    const first = await send(a);
    const again = await send(b);
    expect([first.status, again.status]).toEqual([202, 202]);
    expect(again.body.messageId).toBe(first.body.messageId);
    expect(iot.published.length - before).toBe(1);
  });

  it('history Seq stays gapless with both instances publishing to one stream at once', async () => {
    const put = await request(a.url).put('/v1/admin/channels/ledger').set(admin(a)).send({ types: ['BROADCAST'], history: { size: 100, ttlSeconds: 3600 } });
    expect(put.status).toBe(201);
    await b.app.get(ChannelCatalog).refresh();
    const sends = Array.from({ length: 12 }, (_, i) =>
      request((i % 2 === 0 ? a : b).url)
        .post('/v1/messages/broadcast')
        .set(service(a))
        .send({ channel: 'ledger', message: `m${i}` }),
    );
    const results = await Promise.all(sends);
    expect(results.map((r) => r.status)).toEqual(Array(12).fill(202));
    const seqs = iot.published.filter((p) => p.topic === 'mygame/prod/ledger').map((p) => (JSON.parse(p.payload) as { Seq: number }).Seq);
    expect([...seqs].sort((x, y) => x - y)).toEqual(Array.from({ length: 12 }, (_, i) => i + 1));
    // Delivered in Seq order: the stream's writers queue behind each other across instances.
    expect(seqs).toEqual([...seqs].sort((x, y) => x - y));
  });

  it('timed bans: both instances sweeping at once lift each ended ban exactly once (one grant, one client.unbanned)', async () => {
    const ids = [1, 2, 3, 4].map(identity);
    for (const id of ids) {
      expect((await request(a.url).post('/v1/registrations').set(a.auth(id)).send({ connectionType: 'WEBSOCKET' })).status).toBe(201);
    }
    // Far enough ahead for four bans on a busy machine (a ban in the past is refused).
    const expiresAt = new Date(Date.now() + 4000).toISOString();
    for (const [i, id] of ids.entries()) {
      const t = i % 2 === 0 ? a : b;
      expect((await request(t.url).patch(`/v1/admin/users/${id}`).set(admin(t)).send({ status: 'BANNED', expiresAt })).status).toBe(200);
    }
    const unbanned: string[] = [];
    for (const t of [a, b]) {
      const outbound = t.app.get(OutboundEvents);
      const original = outbound.emit.bind(outbound);
      jest.spyOn(outbound, 'emit').mockImplementation((type, clientId, fields, id) => {
        if (type === 'client.unbanned') {
          unbanned.push(clientId);
        }
        return original(type, clientId, fields, id);
      });
    }
    iot.calls.length = 0;
    await until(async () => (Date.now() > Date.parse(expiresAt) ? true : undefined), 'the bans to end');

    iot.latencyMs = 10;
    for (let round = 0; round < 3; round++) {
      await Promise.all([a.app.get(BanExpiry).sweep(), b.app.get(BanExpiry).sweep(), a.app.get(BanExpiry).sweep(), b.app.get(BanExpiry).sweep()]);
    }
    iot.latencyMs = 0;

    for (const id of ids) {
      expect((await request(b.url).get(`/v1/admin/users/${id}`).set(admin(b))).body.status).toBe('REGISTERED');
    }
    expect(unbanned.sort()).toEqual([...ids].sort());
    // The grant (the player policy attached again) once per client, by whichever instance won the store's conditional write.
    const grants = iot.calls.filter((c) => c.method === 'PUT' && c.path === '/target-policies/WebCommunicator-Player');
    expect(grants.map((c) => (JSON.parse(c.body) as { target: string }).target).sort()).toEqual([...ids].sort());
  });
});
