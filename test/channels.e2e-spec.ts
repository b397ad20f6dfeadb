import request from 'supertest';
import { expectProblem, TestApp } from './support/test-app';

describe('channels', () => {
  let t: TestApp;
  let admin: { Authorization: string };

  beforeAll(async () => {
    t = await TestApp.start();
    admin = t.auth('root', 'admin');
  });
  afterAll(async () => {
    await t.stop();
  });

  it('seeds the channels file with defaults applied', async () => {
    const res = await request(t.url).get('/v1/admin/channels').set(admin);
    expect(res.status).toBe(200);
    expect(res.body.channels).toEqual([
      { name: 'chat', types: ['BROADCAST'], clientSend: true, maxMessageBytes: 64 },
      { name: 'news', types: ['BROADCAST', 'PRIVATE'], clientSend: false, maxMessageBytes: 1024 },
    ]);
  });

  it('creates (201), replaces (200) and deletes (204) a channel', async () => {
    const created = await request(t.url).put('/v1/admin/channels/scores').set(admin).send({ types: ['BROADCAST'], rateLimit: { messages: 2, perSeconds: 1 } });
    expect(created.status).toBe(201);
    expect(created.body).toEqual({ name: 'scores', types: ['BROADCAST'], clientSend: false, maxMessageBytes: 1024, rateLimit: { messages: 2, perSeconds: 1 } });
    const replaced = await request(t.url).put('/v1/admin/channels/scores').set(admin).send({ name: 'scores', types: ['BROADCAST', 'PRIVATE'], clientSend: true });
    expect(replaced.status).toBe(200);
    expect(replaced.body.types).toEqual(['BROADCAST', 'PRIVATE']);
    expect((await request(t.url).delete('/v1/admin/channels/scores').set(admin)).status).toBe(204);
    expectProblem(await request(t.url).delete('/v1/admin/channels/scores').set(admin), 404, 'CHANNEL_NOT_FOUND');
  });

  it.each([
    ['empty types', { types: [] }],
    ['unknown type', { types: ['MULTICAST'] }],
    ['duplicate types', { types: ['BROADCAST', 'BROADCAST'] }],
    ['name differs from the path', { name: 'other', types: ['BROADCAST'] }],
    ['maxMessageBytes 0', { types: ['BROADCAST'], maxMessageBytes: 0 }],
    ['maxMessageBytes not an integer', { types: ['BROADCAST'], maxMessageBytes: 1.5 }],
    ['clientSend as a string', { types: ['BROADCAST'], clientSend: 'yes' }],
    ['a rate limit without a window', { types: ['BROADCAST'], rateLimit: { messages: 1 } }],
    ['a rate limit with an unknown field', { types: ['BROADCAST'], rateLimit: { messages: 1, perSeconds: 1, burst: 3 } }],
    ['an invalid JSON schema', { types: ['BROADCAST'], messageSchema: { type: 'no-such-type' } }],
    ['communicationChannel that does not exist', { types: ['BROADCAST'], communicationChannel: 'ghost' }],
    ['communicationChannel to itself', { types: ['BROADCAST'], communicationChannel: 'bad' }],
    ['types beyond its carrier', { types: ['BROADCAST', 'PRIVATE'], communicationChannel: 'chat' }],
  ])('refuses %s with 400 VALIDATION_FAILED', async (_name, body) => {
    expectProblem(await request(t.url).put('/v1/admin/channels/bad').set(admin).send(body), 400, 'VALIDATION_FAILED');
  });

  it('lists an invalid message schema together with the other invalid fields', async () => {
    const res = await request(t.url)
      .put('/v1/admin/channels/bad')
      .set(admin)
      .send({ types: ['MULTICAST'], maxMessageBytes: 0, rateLimit: { messages: 0, perSeconds: 10 }, messageSchema: { type: 12 } });
    expectProblem(res, 400, 'VALIDATION_FAILED');
    const fields = (res.body.errors as Array<{ field: string }>).map((e) => e.field);
    expect(new Set(fields)).toEqual(new Set(['/types', '/maxMessageBytes', '/rateLimit/messages', '/messageSchema']));
    expect(res.body.errors).toContainEqual({ field: '/messageSchema', message: expect.stringMatching(/schema is invalid/) });

    // A schema that isn't an object is reported once, as such.
    const notObject = await request(t.url).put('/v1/admin/channels/bad').set(admin).send({ types: ['BROADCAST'], messageSchema: 'object' });
    expectProblem(notObject, 400, 'VALIDATION_FAILED');
    expect(notObject.body.errors).toEqual([{ field: '/messageSchema', message: expect.stringMatching(/object/) }]);
    // Beyond the schema limits: the same place, with the limit.
    const properties = Object.fromEntries(Array.from({ length: 600 }, (_, i) => [`p${i}`, { type: 'string' }]));
    const tooBig = await request(t.url).put('/v1/admin/channels/bad').set(admin).send({ types: ['BROADCAST'], clientSend: 'yes', messageSchema: { type: 'object', properties } });
    expectProblem(tooBig, 400, 'VALIDATION_FAILED');
    expect(tooBig.body.errors).toEqual(
      expect.arrayContaining([
        { field: '/clientSend', message: expect.any(String) },
        { field: '/messageSchema', message: expect.stringMatching(/more than 500 objects/) },
      ]),
    );
  });

  it('routes a channel over its communicationChannel, refuses chains and deleting a carrier', async () => {
    expect((await request(t.url).put('/v1/admin/channels/patches').set(admin).send({ types: ['BROADCAST', 'PRIVATE'], communicationChannel: 'news' })).status).toBe(201);
    expectProblem(await request(t.url).put('/v1/admin/channels/chain').set(admin).send({ types: ['BROADCAST'], communicationChannel: 'patches' }), 400, 'VALIDATION_FAILED');
    expectProblem(await request(t.url).put('/v1/admin/channels/news').set(admin).send({ types: ['BROADCAST'], communicationChannel: 'chat' }), 400, 'VALIDATION_FAILED');
    expectProblem(await request(t.url).put('/v1/admin/channels/news').set(admin).send({ types: ['BROADCAST'] }), 400, 'VALIDATION_FAILED');
    expectProblem(await request(t.url).delete('/v1/admin/channels/news').set(admin), 409, 'CHANNEL_IN_USE');

    const subs = await request(t.url).get('/v1/channels').set(t.auth('alice'));
    expect(subs.status).toBe(200);
    expect(subs.body.subscriptions).toEqual(
      expect.arrayContaining([
        { channel: 'patches', type: 'BROADCAST', topic: 'webcommunicator/dev/news' },
        { channel: 'patches', type: 'PRIVATE', topic: 'webcommunicator/dev/news/client/alice' },
      ]),
    );
    expect((await request(t.url).delete('/v1/admin/channels/patches').set(admin)).status).toBe(204);
  });

  it('lists the caller\'s own subscriptions, never a wildcard', async () => {
    const res = await request(t.url).get('/v1/channels').set(t.auth('bob'));
    expect(res.body.subscriptions).toEqual([
      { channel: 'chat', type: 'BROADCAST', topic: 'webcommunicator/dev/chat' },
      { channel: 'news', type: 'BROADCAST', topic: 'webcommunicator/dev/news' },
      { channel: 'news', type: 'PRIVATE', topic: 'webcommunicator/dev/news/client/bob' },
    ]);
    for (const s of res.body.subscriptions as Array<{ topic: string }>) {
      expect(s.topic).not.toMatch(/[+#]/);
    }
  });

  it('stores and returns a message schema', async () => {
    const schema = { type: 'object', required: ['pak'], properties: { pak: { type: 'string' } } };
    const res = await request(t.url).put('/v1/admin/channels/content').set(admin).send({ types: ['BROADCAST'], messageSchema: schema });
    expect(res.status).toBe(201);
    const list = await request(t.url).get('/v1/admin/channels').set(admin);
    expect(list.body.channels.find((c: { name: string }) => c.name === 'content').messageSchema).toEqual(schema);
  });
});
