import request from 'supertest';
import { expectProblem, TestApp } from '../support/test-app';

/** An admin-written messageSchema can't stall the service, leak between channels or outgrow the compiler. */
describe('channel message schemas are safe to run', () => {
  let t: TestApp;
  let admin: { Authorization: string };

  beforeAll(async () => {
    t = await TestApp.start();
    admin = t.auth('root', 'admin');
  });
  afterAll(async () => {
    await t.stop();
  });

  const putChannel = (name: string, body: Record<string, unknown>) => request(t.url).put(`/v1/admin/channels/${name}`).set(admin).send(body);
  const send = (name: string, sender: string, message: string) => request(t.url).post(`/v1/channels/${name}/messages`).set(t.auth(sender)).send({ message });

  it('runs `^(a+)+$` in linear time: a 40-character near-match is refused at once (a backtracking engine needs hours)', async () => {
    const saved = await putChannel('redos', { types: ['BROADCAST'], clientSend: true, messageSchema: { type: 'string', pattern: '^(a+)+$' } });
    expect(saved.status).toBe(201);
    expect((await request(t.url).post('/v1/registrations').set(t.auth('redos-sender')).send({ connectionType: 'WEBSOCKET' })).status).toBe(201);
    expectProblem(await send('redos', 'redos-sender', JSON.stringify(`${'a'.repeat(40)}!`)), 422, 'MESSAGE_SCHEMA_MISMATCH');
    expect((await send('redos', 'redos-sender', JSON.stringify('a'.repeat(40)))).status).toBe(202);
  });

  it('applies the linear-time engine to patternProperties too', async () => {
    const saved = await putChannel('redos-keys', { types: ['BROADCAST'], clientSend: true, messageSchema: { type: 'object', patternProperties: { '^(x+)+$': { type: 'number' } } } });
    expect(saved.status).toBe(201);
    expectProblem(await send('redos-keys', 'redos-sender', JSON.stringify({ ['x'.repeat(40)]: 'not a number' })), 422, 'MESSAGE_SCHEMA_MISMATCH');
  });

  it.each([
    ['lookahead', '^(?=a)a$'],
    ['a backreference', '^(a)\\1$'],
  ])('refuses a pattern with %s when the channel is saved (400, names the reason)', async (_name, pattern) => {
    const problem = expectProblem(await putChannel('unsafe', { types: ['BROADCAST'], messageSchema: { type: 'string', pattern } }), 400, 'VALIDATION_FAILED');
    expect(JSON.stringify(problem.errors)).toMatch(/RE2|linear-time/);
    const channels = await request(t.url).get('/v1/admin/channels').set(admin);
    expect(channels.body.channels.map((c: { name: string }) => c.name)).not.toContain('unsafe');
  });

  it('re-saves a schema with an $id (each schema compiles on its own)', async () => {
    const schema = { $id: 'https://schemas.example.com/score.json', type: 'object', properties: { score: { type: 'integer' } }, required: ['score'] };
    expect((await putChannel('scored', { types: ['BROADCAST'], messageSchema: schema })).status).toBe(201);
    expect((await putChannel('scored', { types: ['BROADCAST'], messageSchema: schema })).status).toBe(200);
    expect((await putChannel('scored', { types: ['BROADCAST'], messageSchema: { ...schema, required: [] } })).status).toBe(200);
    expect((await putChannel('scored-too', { types: ['BROADCAST'], messageSchema: schema })).status).toBe(201);
  });

  it("does not let one channel's schema $ref another channel's", async () => {
    const schema = { $id: 'https://schemas.example.com/private.json', type: 'object', properties: { secret: { type: 'string' } } };
    expect((await putChannel('owner', { types: ['BROADCAST'], messageSchema: schema })).status).toBe(201);
    const problem = expectProblem(
      await putChannel('borrower', { types: ['BROADCAST'], messageSchema: { $ref: 'https://schemas.example.com/private.json' } }),
      400,
      'VALIDATION_FAILED',
    );
    expect(JSON.stringify(problem.errors)).toMatch(/resolve reference/);
  });

  it('refuses a 3,500-property schema with a clear 400, and the service keeps answering', async () => {
    const properties = Object.fromEntries(Array.from({ length: 3500 }, (_, i) => [`p${i}`, { type: 'string', maxLength: 10 }]));
    const [saved, health] = await Promise.all([
      putChannel('huge', { types: ['BROADCAST'], messageSchema: { type: 'object', properties } }),
      request(t.url).get('/health/live'),
    ]);
    const problem = expectProblem(saved, 400, 'VALIDATION_FAILED');
    expect(JSON.stringify(problem)).not.toMatch(/call stack/i);
    expect(problem.errors).toEqual([{ field: '/messageSchema', message: expect.stringMatching(/at most|more than/) }]);
    expect(health.status).toBe(200);
  });

  it('refuses a schema nested deeper than the limit', async () => {
    let schema: Record<string, unknown> = { type: 'string' };
    for (let i = 0; i < 20; i++) {
      schema = { type: 'object', properties: { a: schema } };
    }
    const problem = expectProblem(await putChannel('deep', { types: ['BROADCAST'], messageSchema: schema }), 400, 'VALIDATION_FAILED');
    expect(JSON.stringify(problem.errors)).toMatch(/deeper|more than/);
  });

  it('rate-limits before the schema check: refused sends use up the rate too', async () => {
    const saved = await putChannel('limited', {
      types: ['BROADCAST'],
      clientSend: true,
      rateLimit: { messages: 2, perSeconds: 3600 },
      messageSchema: { type: 'object', required: ['move'] },
    });
    expect(saved.status).toBe(201);
    expect((await request(t.url).post('/v1/registrations').set(t.auth('flooder')).send({ connectionType: 'WEBSOCKET' })).status).toBe(201);
    expectProblem(await send('limited', 'flooder', '{}'), 422, 'MESSAGE_SCHEMA_MISMATCH');
    expectProblem(await send('limited', 'flooder', '{}'), 422, 'MESSAGE_SCHEMA_MISMATCH');
    expectProblem(await send('limited', 'flooder', '{"move":"e4"}'), 429, 'RATE_LIMITED');
  });
});
