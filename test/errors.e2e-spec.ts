import request from 'supertest';
import { expectProblem, TestApp } from './support/test-app';

describe('request errors are problem+json with a stable code', () => {
  let t: TestApp;
  let admin: { Authorization: string };

  beforeAll(async () => {
    t = await TestApp.start();
    admin = t.auth('root', 'admin');
  });
  afterAll(async () => {
    await t.stop();
  });

  it('malformed JSON → 400 MALFORMED_JSON', async () => {
    const res = await request(t.url).post('/v1/messages/broadcast').set(admin).set('Content-Type', 'application/json').send('{"channel": "news",');
    expectProblem(res, 400, 'MALFORMED_JSON');
  });

  it('empty JSON body → 400', async () => {
    const res = await request(t.url).post('/v1/messages/broadcast').set(admin).set('Content-Type', 'application/json').send('');
    expect(res.status).toBe(400);
    expect(res.headers['content-type']).toMatch(/problem\+json/);
  });

  it('unknown fields → 400 VALIDATION_FAILED naming the field', async () => {
    const res = await request(t.url).post('/v1/messages/broadcast').set(admin).send({ channel: 'news', message: 'hi', extra: 1 });
    const body = expectProblem(res, 400, 'VALIDATION_FAILED');
    expect(body.errors).toEqual(expect.arrayContaining([expect.objectContaining({ field: '/extra' })]));
  });

  it('wrong types → 400 VALIDATION_FAILED', async () => {
    const res = await request(t.url).post('/v1/messages/broadcast').set(admin).send({ channel: 42, message: { nested: true } });
    const body = expectProblem(res, 400, 'VALIDATION_FAILED');
    expect((body.errors as Array<{ field: string }>).map((e) => e.field).sort()).toEqual(['/channel', '/message']);
  });

  it('a JSON array or scalar body → 400', async () => {
    expectProblem(await request(t.url).post('/v1/messages/broadcast').set(admin).send([1, 2]), 400, 'VALIDATION_FAILED');
    const res = await request(t.url).post('/v1/messages/broadcast').set(admin).set('Content-Type', 'application/json').send('"text"');
    expect(res.status).toBe(400);
  });

  it('prototype pollution keys → 400', async () => {
    const res = await request(t.url).post('/v1/messages/broadcast').set(admin).set('Content-Type', 'application/json').send('{"channel":"news","message":"x","__proto__":{"polluted":true}}');
    expect(res.status).toBe(400);
    expect(res.headers['content-type']).toMatch(/problem\+json/);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });

  it('unsupported content type → 415 telling the caller to send application/json', async () => {
    const res = await request(t.url).post('/v1/messages/broadcast').set(admin).set('Content-Type', 'application/xml').send('<a/>');
    const body = expectProblem(res, 415, 'UNSUPPORTED_MEDIA_TYPE');
    expect(body.detail).toContain('application/json');
  });

  it('a missing required field is reported as required, not as a wrong type', async () => {
    const res = await request(t.url).post('/v1/messages/broadcast').set(admin).send({ channel: 'news' });
    const body = expectProblem(res, 400, 'VALIDATION_FAILED');
    expect(body.errors).toEqual([{ field: '/message', message: 'message is required' }]);
  });

  it('an unknown method on a known path → 405 with Allow', async () => {
    const res = await request(t.url).delete('/v1/messages/broadcast').set(admin);
    expectProblem(res, 405, 'METHOD_NOT_ALLOWED');
    expect(res.headers.allow).toBe('POST');
    const user = await request(t.url).post('/v1/admin/users/alice').set(admin).send({});
    expectProblem(user, 405, 'METHOD_NOT_ALLOWED');
    expect(user.headers.allow).toBe('GET, HEAD, PATCH');
    // A path no route serves is still 404.
    expectProblem(await request(t.url).get('/v1/nothing-here').set(admin), 404, 'NOT_FOUND');
  });

  it('X-Request-Id is echoed in the response and in problem bodies', async () => {
    const res = await request(t.url).post('/v1/messages/broadcast').set(admin).set('X-Request-Id', 'trace-123').send({ channel: 'news' });
    const body = expectProblem(res, 400, 'VALIDATION_FAILED');
    expect(res.headers['x-request-id']).toBe('trace-123');
    expect(body.requestId).toBe('trace-123');
    const ok = await request(t.url).get('/v1/status');
    expect(ok.status).toBe(200);
    expect(ok.headers['x-request-id']).toMatch(/^[0-9a-f-]{36}$/);
  });

  it('body over the limit → 413 PAYLOAD_TOO_LARGE', async () => {
    const res = await request(t.url).post('/v1/messages/broadcast').set(admin).send({ channel: 'news', message: 'x'.repeat(t.config.bodyLimitBytes + 10) });
    expectProblem(res, 413, 'PAYLOAD_TOO_LARGE');
  });

  it('unknown route → 404 NOT_FOUND problem', async () => {
    expectProblem(await request(t.url).get('/v1/nope').set(admin), 404, 'NOT_FOUND');
  });

  it('bad query parameters → 400', async () => {
    expectProblem(await request(t.url).get('/v1/admin/users?limit=0').set(admin), 400, 'VALIDATION_FAILED');
    expectProblem(await request(t.url).get('/v1/admin/users?limit=abc').set(admin), 400, 'VALIDATION_FAILED');
    expectProblem(await request(t.url).get('/v1/admin/users?status=GONE').set(admin), 400, 'VALIDATION_FAILED');
    expectProblem(await request(t.url).get('/v1/admin/users?cursor=%7B%22evil%22%3A1%7D').set(admin), 400, 'INVALID_CURSOR');
    expectProblem(await request(t.url).get('/v1/admin/users?unknown=1').set(admin), 400, 'VALIDATION_FAILED');
  });

  it('bad path parameters → 400, never a wildcard topic', async () => {
    expectProblem(await request(t.url).put('/v1/admin/channels/a+b').set(admin).send({ types: ['BROADCAST'] }), 400, 'VALIDATION_FAILED');
    expectProblem(await request(t.url).get(`/v1/admin/users/${encodeURIComponent('a/#')}`).set(admin), 400, 'VALIDATION_FAILED');
    expectProblem(await request(t.url).post(`/v1/channels/${encodeURIComponent('#')}/messages`).set(t.auth('alice')).send({ message: 'x' }), 404, 'CHANNEL_NOT_FOUND');
  });

  it('router and HTTP-parser errors are problem+json too', async () => {
    expectProblem(await request(t.url).get('/v1/admin/users/a%zz%E0%A4').set(admin), 400, 'BAD_REQUEST');
    expectProblem(await request(t.url).get(`/v1/admin/users/${'a'.repeat(300)}`).set(admin), 400, 'VALIDATION_FAILED');
    const { connect } = await import('node:net');
    const raw = await new Promise<string>((resolve, reject) => {
      const socket = connect(t.port, '127.0.0.1', () => socket.write(`GET /v1/status HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(20_000)}\r\n\r\n`));
      let data = '';
      socket.on('data', (chunk: Buffer) => (data += chunk.toString()));
      socket.on('end', () => resolve(data));
      socket.on('error', reject);
    });
    expect(raw).toMatch(/^HTTP\/1.1 431 /);
    expect(raw).toContain('application/problem+json');
    expect(JSON.parse(raw.slice(raw.indexOf('\r\n\r\n') + 4)).code).toBe('HEADERS_TOO_LARGE');
  });

  it('no route answers 500 to hostile input', async () => {
    const hostile = ['{}', '[]', 'null', '{"channel":"\\u0000","message":"\\u0000"}', `{"channel":"${'a'.repeat(10_000)}","message":"x"}`, '{"a":'.repeat(500)];
    const routes: Array<[string, string]> = [
      ['post', '/v1/registrations'],
      ['post', '/v1/admin/registrations'],
      ['post', '/v1/channels/news/messages'],
      ['post', '/v1/messages/broadcast'],
      ['post', '/v1/messages/direct'],
      ['put', '/v1/admin/channels/x'],
      ['patch', '/v1/admin/users/alice'],
    ];
    for (const [method, path] of routes) {
      for (const body of hostile) {
        const res = await (request(t.url) as unknown as Record<string, (p: string) => request.Test>)[method](path).set(admin).set('Content-Type', 'application/json').send(body);
        expect({ path, body: body.slice(0, 30), status: res.status < 500 }).toEqual({ path, body: body.slice(0, 30), status: true });
        expect(res.headers['content-type']).toMatch(/problem\+json/);
      }
    }
  });
});
