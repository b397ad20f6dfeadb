import request from 'supertest';
import { TestMqttClient } from '../support/mqtt';
import { expectProblem, TestApp } from '../support/test-app';

const PREFIX = 'webcommunicator/dev';

interface Registration {
  clientId: string;
  url: string;
  port: number;
  connectionToken?: string;
  certificatePem?: string;
  privateKeyPem?: string;
  caCertificatePem?: string;
  certificateId?: string;
}

/** Per-certificate revocation, the certificate cap, and portal rights bound to the credential (API.md section 8). */
describe('credentials bound to what they grant', () => {
  let t: TestApp;
  let admin: { Authorization: string };
  const open: TestMqttClient[] = [];

  beforeAll(async () => {
    t = await TestApp.start({ env: { MAX_CERTIFICATES_PER_CLIENT: '3' } });
    admin = t.auth('root', 'admin');
  });
  afterEach(async () => {
    await Promise.all(open.splice(0).map((c) => c.end()));
  });
  afterAll(async () => {
    await t.stop();
  });

  const registerDevice = async (clientId: string): Promise<Registration> => {
    const res = await request(t.url).post('/v1/admin/registrations').set(admin).send({ connectionType: 'OPENSSL', clientId });
    expect(res.status).toBe(201);
    return res.body as Registration;
  };
  const tls = async (reg: Registration): Promise<TestMqttClient> => {
    const client = await TestMqttClient.connect(`mqtts://127.0.0.1:${reg.port}`, {
      clientId: reg.clientId,
      ca: reg.caCertificatePem,
      cert: reg.certificatePem,
      key: reg.privateKeyPem,
      rejectUnauthorized: true,
    });
    open.push(client);
    return client;
  };
  const ws = async (reg: Registration): Promise<TestMqttClient> => {
    const client = await TestMqttClient.ws(reg.url, reg.clientId, reg.connectionToken!);
    open.push(client);
    return client;
  };
  const revoke = (clientId: string, certificateId: string) => request(t.url).delete(`/v1/admin/users/${clientId}/certificates/${certificateId}`).set(admin);

  it('revokes one certificate: its live session is closed before the 204, it is refused after, the second certificate still connects', async () => {
    const first = await registerDevice('sensor-1');
    const second = await registerDevice('sensor-1');
    const onFirst = await tls(first);
    const onSecond = await tls(second);
    const firstClosed = onFirst.closed();

    const res = await revoke('sensor-1', first.certificateId!);
    expect(res.status).toBe(204);
    await firstClosed;
    expect(onSecond.connected).toBe(true);

    await expect(tls(first)).rejects.toThrow();
    const again = await tls(second);
    expect(await again.subscribe(`${PREFIX}/news`)).toEqual([0]);
    expect((await request(t.url).get('/v1/admin/users/sensor-1').set(admin)).body.certificateIds).toEqual([second.certificateId]);
  });

  it('answers 404 for an unknown client or certificate, and only admins may revoke', async () => {
    const reg = await registerDevice('sensor-2');
    expectProblem(await revoke('nobody-here', reg.certificateId!), 404, 'USER_NOT_FOUND');
    expectProblem(await revoke('sensor-2', 'abcdef0123456789'), 404, 'CERTIFICATE_NOT_FOUND');
    expectProblem(await revoke('sensor-2', 'not-hex!'), 404, 'CERTIFICATE_NOT_FOUND');
    expectProblem(await request(t.url).delete(`/v1/admin/users/sensor-2/certificates/${reg.certificateId}`).set(t.auth('sensor-2')), 403, 'FORBIDDEN');
    await tls(reg);
    expect((await request(t.url).get('/v1/admin/users/sensor-2').set(admin)).body.connected).toBe(true);
    expect((await revoke('sensor-2', reg.certificateId!)).status).toBe(204);
    // Closed before the answer: the broker no longer lists the session.
    expect((await request(t.url).get('/v1/admin/users/sensor-2').set(admin)).body.connected).toBe(false);
    expectProblem(await revoke('sensor-2', reg.certificateId!), 404, 'CERTIFICATE_NOT_FOUND');
  });

  it('caps live certificates per client (409 TOO_MANY_CERTIFICATES); revoking one makes room; an un-ban does not bring a revoked one back', async () => {
    const regs = [await registerDevice('sensor-3'), await registerDevice('sensor-3'), await registerDevice('sensor-3')];
    const fourth = await request(t.url).post('/v1/admin/registrations').set(admin).send({ connectionType: 'OPENSSL', clientId: 'sensor-3' });
    expectProblem(fourth, 409, 'TOO_MANY_CERTIFICATES');
    expect((await request(t.url).get('/v1/admin/users/sensor-3').set(admin)).body.certificateIds).toHaveLength(3);
    expect((await revoke('sensor-3', regs[0].certificateId!)).status).toBe(204);
    const replacement = await registerDevice('sensor-3');
    await tls(replacement);
    expect((await request(t.url).patch('/v1/admin/users/sensor-3').set(admin).send({ status: 'BANNED' })).status).toBe(200);
    expect((await request(t.url).patch('/v1/admin/users/sensor-3').set(admin).send({ status: 'REGISTERED' })).status).toBe(200);
    await expect(tls(regs[0])).rejects.toThrow();
    await tls(regs[1]);
  });

  it("a portal admin's device certificate gets plain rights: no `{prefix}/#`, no publishing", async () => {
    const device = await registerDevice('boss');
    const portalRes = await request(t.url).post('/v1/admin/registrations').set(t.auth('boss', 'admin')).send({ connectionType: 'WEBSOCKET' });
    expect(portalRes.status).toBe(201);
    expect((await request(t.url).get('/v1/admin/users/boss').set(admin)).body.portalClient).toBe(true);
    const onDevice = await tls(device);
    expect(await onDevice.subscribe(`${PREFIX}/#`)).toEqual([128]);
    expect(await onDevice.subscribe(`${PREFIX}/news`)).toEqual([0]);
    const onPortal = await ws(portalRes.body as Registration);
    expect(await onPortal.subscribe(`${PREFIX}/#`)).toEqual([0]);
  });

  it('a plain connection token for a portal id carries no portal rights', async () => {
    const plain = await request(t.url).post('/v1/registrations').set(t.auth('editor')).send({ connectionType: 'WEBSOCKET' });
    const portal = await request(t.url).post('/v1/admin/registrations').set(t.auth('editor', 'admin')).send({ connectionType: 'WEBSOCKET' });
    expect([plain.status, portal.status]).toEqual([201, 201]);
    const onPlain = await ws(plain.body as Registration);
    expect(await onPlain.subscribe(`${PREFIX}/#`)).toEqual([128]);
    const onPortal = await ws(portal.body as Registration);
    expect(await onPortal.subscribe(`${PREFIX}/#`)).toEqual([0]);
  });

  it("a non-portal re-registration closes the id's live portal sessions before answering; its new token is plain", async () => {
    const portal = await request(t.url).post('/v1/admin/registrations').set(t.auth('demoted', 'admin')).send({ connectionType: 'WEBSOCKET' });
    const onPortal = await ws(portal.body as Registration);
    expect(await onPortal.subscribe(`${PREFIX}/#`)).toEqual([0]);
    const portalClosed = onPortal.closed();
    const plain = await request(t.url).post('/v1/registrations').set(t.auth('demoted')).send({ connectionType: 'WEBSOCKET' });
    expect(plain.status).toBe(201);
    // Closed before the answer: the broker no longer lists the session.
    const user = (await request(t.url).get('/v1/admin/users/demoted').set(admin)).body as { portalClient: boolean; connected: boolean };
    expect(user).toMatchObject({ portalClient: false, connected: false });
    await portalClosed;
    // The old portal token still authenticates the id, but without portal rights now.
    const withOldToken = await ws(portal.body as Registration);
    expect(await withOldToken.subscribe(`${PREFIX}/#`)).toEqual([128]);
  });
});
