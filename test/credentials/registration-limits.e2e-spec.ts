import request from 'supertest';
import { expectProblem, TestApp } from '../support/test-app';

describe('registration limits', () => {
  let t: TestApp;

  beforeAll(async () => {
    t = await TestApp.start({ env: { REGISTRATION_CLIENT_OPENSSL: 'true', REGISTRATION_CLIENT_OPENSSL_PER_HOUR: '2', MAX_CERTIFICATES_PER_CLIENT: '3' } });
  });
  afterAll(async () => {
    await t.stop();
  });

  const registerSelf = (clientId: string, connectionType = 'OPENSSL') => request(t.url).post('/v1/registrations').set(t.auth(clientId)).send({ connectionType });

  it('limits OPENSSL registrations per client (429 with Retry-After); other clients and WEBSOCKET are not affected', async () => {
    expect((await registerSelf('greedy')).status).toBe(201);
    expect((await registerSelf('greedy')).status).toBe(201);
    const limited = await registerSelf('greedy');
    expectProblem(limited, 429, 'RATE_LIMITED');
    expect(Number(limited.headers['retry-after'])).toBeGreaterThan(0);
    expect((await registerSelf('modest')).status).toBe(201);
    expect((await registerSelf('greedy', 'WEBSOCKET')).status).toBe(201);
  });
});
