import { rmSync } from 'node:fs';
import request from 'supertest';
import { TestMqttClient } from '../support/mqtt';
import { expectProblem, TestApp } from '../support/test-app';
import { until } from './until';

describe('bans with an end (expiresAt)', () => {
  let t: TestApp;
  let admin: { Authorization: string };

  beforeAll(async () => {
    t = await TestApp.start({ env: { BAN_EXPIRY_SWEEP_MS: '200' } });
    admin = t.auth('root', 'admin');
  });
  afterAll(async () => {
    await t.stop();
  });

  const register = async (app: TestApp, clientId: string) => {
    const res = await request(app.url).post('/v1/registrations').set(app.auth(clientId)).send({ connectionType: 'WEBSOCKET' });
    expect(res.status).toBe(201);
    return res.body as { url: string; connectionToken: string };
  };
  const ban = (app: TestApp, clientId: string, body: Record<string, unknown>) =>
    request(app.url).patch(`/v1/admin/users/${clientId}`).set(app.auth('root', 'admin')).send({ status: 'BANNED', ...body });
  const inMs = (ms: number) => new Date(Date.now() + ms).toISOString();

  it.each([
    ['in the past', { expiresAt: '2001-01-01T00:00:00Z' }],
    ['not a date', { expiresAt: 'tomorrow' }],
    ['without a time zone', { expiresAt: '2099-01-01 00:00' }],
    ['given with an un-ban', { status: 'REGISTERED', expiresAt: '2099-01-01T00:00:00Z' }],
  ])('refuses an expiresAt %s (400)', async (_name, body) => {
    await register(t, 'edgy');
    const problem = expectProblem(await ban(t, 'edgy', body), 400, 'VALIDATION_FAILED');
    expect(JSON.stringify(problem.errors)).toContain('expiresAt');
    expect((await request(t.url).get('/v1/admin/users/edgy').set(admin)).body.status).toBe('REGISTERED');
  });

  it('keeps the client out until the end, then un-bans it by itself (it can connect again)', async () => {
    const credentials = await register(t, 'timeout');
    const expiresAt = inMs(1500);
    const banned = await ban(t, 'timeout', { reason: 'cool down', expiresAt });
    expect(banned.status).toBe(200);
    expect(banned.body).toMatchObject({ status: 'BANNED', banReason: 'cool down', banExpiresAt: new Date(expiresAt).toISOString() });
    await expect(TestMqttClient.ws(credentials.url, 'timeout', credentials.connectionToken)).rejects.toThrow();
    const lifted = await until(async () => {
      const user = (await request(t.url).get('/v1/admin/users/timeout').set(admin)).body as Record<string, unknown>;
      return user.status === 'REGISTERED' ? user : undefined;
    }, 'the ban to end');
    expect(Date.now()).toBeGreaterThanOrEqual(Date.parse(expiresAt));
    expect(lifted).not.toHaveProperty('banExpiresAt');
    expect(lifted).not.toHaveProperty('bannedAt');
    expect(lifted).not.toHaveProperty('banReason');
    const client = await TestMqttClient.ws(credentials.url, 'timeout', credentials.connectionToken);
    await client.end();
  });

  it('a ban without an end replaces a timed one; an un-ban clears it', async () => {
    await register(t, 'repeat');
    expect((await ban(t, 'repeat', { expiresAt: inMs(3_600_000) })).body.banExpiresAt).toEqual(expect.any(String));
    const permanent = await ban(t, 'repeat', {});
    expect(permanent.body.status).toBe('BANNED');
    expect(permanent.body).not.toHaveProperty('banExpiresAt');
    await ban(t, 'repeat', { expiresAt: inMs(3_600_000) });
    const unbanned = await request(t.url).patch('/v1/admin/users/repeat').set(admin).send({ status: 'REGISTERED' });
    expect(unbanned.body).not.toHaveProperty('banExpiresAt');
  });

  it('survives a restart: the end is in the store, and the next instance lifts the ban', async () => {
    const first = await TestApp.start({ env: { BAN_EXPIRY_SWEEP_MS: '200' } });
    const dataDir = first.dataDir;
    try {
      await register(first, 'sleeper');
      // Far enough ahead that the restart normally happens first, even on a busy machine (a start there takes seconds).
      const expiresAt = inMs(8000);
      expect((await ban(first, 'sleeper', { expiresAt })).status).toBe(200);
      await first.stop({ keepData: true });
      const second = await TestApp.start({ dataDir, env: { BAN_EXPIRY_SWEEP_MS: '200' } });
      try {
        const afterRestart = (await request(second.url).get('/v1/admin/users/sleeper').set(second.auth('root', 'admin'))).body;
        // Still banned: its end came back from the store. Already lifted (a start slower than 8 s): the next instance lifted it.
        if (afterRestart.status === 'BANNED') {
          expect(afterRestart.banExpiresAt).toBe(expiresAt);
        }
        await until(async () => (await request(second.url).get('/v1/admin/users/sleeper').set(second.auth('root', 'admin'))).body.status === 'REGISTERED', 'the ban to end after the restart');
      } finally {
        await second.stop();
      }
    } finally {
      rmSync(dataDir, { recursive: true, force: true });
    }
  });
});
