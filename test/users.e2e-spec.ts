import request from 'supertest';
import { expectProblem, TestApp } from './support/test-app';

async function register(t: TestApp, clientId: string): Promise<void> {
  const res = await request(t.url).post('/v1/registrations').set(t.auth(clientId)).send({ connectionType: 'WEBSOCKET' });
  expect(res.status).toBe(201);
}

describe('users', () => {
  let t: TestApp;
  let admin: { Authorization: string };
  const ids = Array.from({ length: 27 }, (_, i) => `player-${String(i).padStart(2, '0')}`);

  beforeAll(async () => {
    t = await TestApp.start();
    admin = t.auth('root', 'admin');
    for (const id of ids) {
      await register(t, id);
    }
  });
  afterAll(async () => {
    await t.stop();
  });

  it('pages through every user exactly once', async () => {
    const seen: string[] = [];
    let cursor: string | undefined;
    let pages = 0;
    do {
      const res = await request(t.url).get('/v1/admin/users').query({ limit: 10, ...(cursor ? { cursor } : {}) }).set(admin);
      expect(res.status).toBe(200);
      expect(res.body.users.length).toBeLessThanOrEqual(10);
      seen.push(...res.body.users.map((u: { clientId: string }) => u.clientId));
      cursor = res.body.nextCursor;
      pages += 1;
    } while (cursor !== undefined && pages < 20);
    expect(seen.sort()).toEqual([...ids].sort());
    expect(pages).toBeGreaterThanOrEqual(3);
  });

  it('bans with a reason, filters by status, un-bans; idempotent', async () => {
    const banned = await request(t.url).patch('/v1/admin/users/player-03').set(admin).send({ status: 'BANNED', reason: 'cheating' });
    expect(banned.status).toBe(200);
    expect(banned.body).toEqual(expect.objectContaining({ clientId: 'player-03', status: 'BANNED', banReason: 'cheating', bannedAt: expect.any(String), connectionType: 'WEBSOCKET', portalClient: false }));
    const again = await request(t.url).patch('/v1/admin/users/player-03').set(admin).send({ status: 'BANNED' });
    expect(again.status).toBe(200);
    expect(again.body.bannedAt).toBe(banned.body.bannedAt);

    const onlyBanned = await request(t.url).get('/v1/admin/users?status=BANNED').set(admin);
    expect(onlyBanned.body.users.map((u: { clientId: string }) => u.clientId)).toEqual(['player-03']);
    const registered = await request(t.url).get('/v1/admin/users?status=REGISTERED&limit=100').set(admin);
    expect(registered.body.users).toHaveLength(ids.length - 1);

    const unbanned = await request(t.url).patch('/v1/admin/users/player-03').set(admin).send({ status: 'REGISTERED' });
    expect(unbanned.status).toBe(200);
    expect(unbanned.body.status).toBe('REGISTERED');
    expect(unbanned.body.bannedAt).toBeUndefined();
    expect(unbanned.body.banReason).toBeUndefined();
  });

  it('gets one user; unknown → 404 USER_NOT_FOUND', async () => {
    const res = await request(t.url).get('/v1/admin/users/player-01').set(admin);
    expect(res.status).toBe(200);
    expect(res.body).toEqual(expect.objectContaining({ clientId: 'player-01', status: 'REGISTERED', registeredAt: expect.any(String), updatedAt: expect.any(String), connected: false }));
    expectProblem(await request(t.url).get('/v1/admin/users/nobody').set(admin), 404, 'USER_NOT_FOUND');
    expectProblem(await request(t.url).patch('/v1/admin/users/nobody').set(admin).send({ status: 'BANNED' }), 404, 'USER_NOT_FOUND');
  });

  it('refuses a bad status body', async () => {
    expectProblem(await request(t.url).patch('/v1/admin/users/player-01').set(admin).send({ status: 'DELETED' }), 400, 'VALIDATION_FAILED');
    expectProblem(await request(t.url).patch('/v1/admin/users/player-01').set(admin).send({ status: 'BANNED', reason: 'x'.repeat(501) }), 400, 'VALIDATION_FAILED');
  });

  it('a banned client can not re-register, list its channels or send', async () => {
    await request(t.url).patch('/v1/admin/users/player-05').set(admin).send({ status: 'BANNED' });
    expectProblem(await request(t.url).post('/v1/registrations').set(t.auth('player-05')).send({ connectionType: 'WEBSOCKET' }), 403, 'CLIENT_BANNED');
    expectProblem(await request(t.url).get('/v1/channels').set(t.auth('player-05')), 403, 'CLIENT_BANNED');
    expectProblem(await request(t.url).post('/v1/channels/chat/messages').set(t.auth('player-05')).send({ message: 'hi' }), 403, 'CLIENT_BANNED');
  });
});

describe('restart with the same DATA_DIR', () => {
  it('keeps users, bans and channels', async () => {
    const first = await TestApp.start();
    await register(first, 'keeper');
    await request(first.url).patch('/v1/admin/users/keeper').set(first.auth('root', 'admin')).send({ status: 'BANNED', reason: 'test' });
    await request(first.url).put('/v1/admin/channels/runtime').set(first.auth('root', 'admin')).send({ types: ['BROADCAST'] });
    const dataDir = first.dataDir;
    await first.stop({ keepData: true });

    const second = await TestApp.start({ dataDir });
    try {
      const user = await request(second.url).get('/v1/admin/users/keeper').set(second.auth('root', 'admin'));
      expect(user.body).toEqual(expect.objectContaining({ status: 'BANNED', banReason: 'test' }));
      const channels = await request(second.url).get('/v1/admin/channels').set(second.auth('root', 'admin'));
      expect(channels.body.channels.map((c: { name: string }) => c.name)).toEqual(['chat', 'news', 'runtime']);
    } finally {
      await second.stop();
      const { rmSync } = await import('node:fs');
      rmSync(dataDir, { recursive: true, force: true });
    }
  });
});
