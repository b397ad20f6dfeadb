import { createServer, type Server } from 'node:http';
import { generateKeyPairSync, type KeyObject } from 'node:crypto';
import jwt from 'jsonwebtoken';
import request from 'supertest';
import { resolveJwtSecret } from '../src/common/auth/auth-keys';
import { expectProblem, TestApp } from './support/test-app';

describe('authentication and roles', () => {
  let t: TestApp;

  beforeAll(async () => {
    t = await TestApp.start({ env: { AUTH_ISSUER: 'https://issuer.test', AUTH_AUDIENCE: 'web-communicator' } });
  });
  afterAll(async () => {
    await t.stop();
  });

  const route = '/v1/channels';

  it('accepts a valid token', async () => {
    const res = await request(t.url).get(route).set(t.auth('alice'));
    expect(res.status).toBe(200);
    expect(res.body.subscriptions.length).toBeGreaterThan(0);
  });

  it.each([
    ['no Authorization header', undefined],
    ['a non-bearer scheme', 'Basic YWxpY2U6cHc='],
    ['a malformed token', 'Bearer not.a.jwt'],
  ])('refuses %s with 401 problem+json', async (_name, header) => {
    const req = request(t.url).get(route);
    const res = header === undefined ? await req : await req.set('Authorization', header);
    expectProblem(res, 401, 'UNAUTHORIZED');
  });

  it('refuses an expired token', async () => {
    const token = t.token('alice', [], { expiresIn: -10 });
    expectProblem(await request(t.url).get(route).set('Authorization', `Bearer ${token}`), 401, 'UNAUTHORIZED');
  });

  it('refuses a token with the wrong signature', async () => {
    const token = jwt.sign({ sub: 'alice' }, 'another-secret-that-is-long-enough-0123456789', { algorithm: 'HS256', issuer: 'https://issuer.test', audience: 'web-communicator' });
    expectProblem(await request(t.url).get(route).set('Authorization', `Bearer ${token}`), 401, 'UNAUTHORIZED');
  });

  it('refuses alg: none', async () => {
    const header = Buffer.from(JSON.stringify({ alg: 'none', typ: 'JWT' })).toString('base64url');
    const payload = Buffer.from(JSON.stringify({ sub: 'mallory', roles: ['admin'], iss: 'https://issuer.test', aud: 'web-communicator', exp: Math.floor(Date.now() / 1000) + 600 })).toString('base64url');
    expectProblem(await request(t.url).get('/v1/admin/users').set('Authorization', `Bearer ${header}.${payload}.`), 401, 'UNAUTHORIZED');
  });

  it('refuses the wrong issuer and the wrong audience, without naming the expected ones', async () => {
    const wrongIssuer = t.token('alice', [], { issuer: 'https://evil.test' });
    const wrongAudience = t.token('alice', [], { audience: 'someone-else' });
    const issuerProblem = expectProblem(await request(t.url).get(route).set('Authorization', `Bearer ${wrongIssuer}`), 401, 'UNAUTHORIZED');
    const audienceProblem = expectProblem(await request(t.url).get(route).set('Authorization', `Bearer ${wrongAudience}`), 401, 'UNAUTHORIZED');
    expect(issuerProblem.detail).toMatch(/issuer invalid/);
    expect(audienceProblem.detail).toMatch(/audience invalid/);
    for (const problem of [issuerProblem, audienceProblem]) {
      expect(JSON.stringify(problem)).not.toMatch(/issuer\.test|web-communicator"|expected/);
    }
  });

  it('refuses a token without exp (it would never expire)', async () => {
    const secret = resolveJwtSecret(t.config)!;
    const noExp = jwt.sign({ sub: 'alice' }, secret, { algorithm: 'HS256', issuer: 'https://issuer.test', audience: 'web-communicator' });
    expect(jwt.decode(noExp)).not.toHaveProperty('exp');
    const problem = expectProblem(await request(t.url).get(route).set('Authorization', `Bearer ${noExp}`), 401, 'UNAUTHORIZED');
    expect(problem.detail).toMatch(/no expiry/);
    // The same token with an exp is fine: only the missing claim is refused.
    const withExp = jwt.sign({ sub: 'alice' }, secret, { algorithm: 'HS256', issuer: 'https://issuer.test', audience: 'web-communicator', expiresIn: 60 });
    expect((await request(t.url).get(route).set('Authorization', `Bearer ${withExp}`)).status).toBe(200);
  });

  it.each(['alice/+', 'a#b', '', 'x'.repeat(129), 'white space'])('refuses client id %j (401)', async (sub) => {
    expectProblem(await request(t.url).get(route).set(t.auth(sub)), 401, 'UNAUTHORIZED');
  });

  it('accepts Cognito identity ids (with a colon)', async () => {
    const res = await request(t.url).get(route).set(t.auth('us-east-1:7d0c1a8e-1111-2222-3333-444455556666'));
    expect(res.status).toBe(200);
  });

  it('refuses a plain client on admin and service routes with 403', async () => {
    expectProblem(await request(t.url).get('/v1/admin/users').set(t.auth('alice')), 403, 'FORBIDDEN');
    expectProblem(await request(t.url).post('/v1/messages/broadcast').set(t.auth('alice')).send({ channel: 'news', message: 'x' }), 403, 'FORBIDDEN');
    expectProblem(await request(t.url).get('/v1/admin/users').set(t.auth('svc', 'service')), 403, 'FORBIDDEN');
  });

  it('reads roles from a string or an array', async () => {
    expect((await request(t.url).get('/v1/admin/users').set(t.auth('root', 'admin'))).status).toBe(200);
    expect((await request(t.url).get('/v1/admin/users').set(t.auth('root', ['reader', 'admin']))).status).toBe(200);
    expect((await request(t.url).get('/v1/admin/users').set(t.auth('root', 'reader admin'))).status).toBe(200);
  });

  it('leaves status, health and metrics open', async () => {
    const status = await request(t.url).get('/v1/status');
    expect(status.status).toBe(200);
    expect(status.body).toEqual({ status: 'online', version: expect.any(String), broker: 'embedded', store: 'embedded', uptimeSeconds: expect.any(Number) });
    expect((await request(t.url).get('/health/live')).status).toBe(200);
    expect((await request(t.url).get('/health/ready')).status).toBe(200);
    const metrics = await request(t.url).get('/metrics');
    expect(metrics.status).toBe(200);
    expect(metrics.text).toContain('http_request_duration_seconds');
  });
});

describe('custom claims and JWKS', () => {
  let jwks: Server;
  let privateKey: KeyObject;
  let t: TestApp;

  beforeAll(async () => {
    const pair = generateKeyPairSync('rsa', { modulusLength: 2048 });
    privateKey = pair.privateKey;
    const jwk = { ...pair.publicKey.export({ format: 'jwk' }), kid: 'test-key', use: 'sig', alg: 'RS256' };
    jwks = createServer((_req, res) => {
      res.setHeader('Content-Type', 'application/json');
      res.end(JSON.stringify({ keys: [jwk] }));
    });
    await new Promise<void>((resolve) => jwks.listen(0, '127.0.0.1', resolve));
    const port = (jwks.address() as { port: number }).port;
    t = await TestApp.start({
      env: {
        AUTH_JWKS_URI: `http://127.0.0.1:${port}/.well-known/jwks.json`,
        AUTH_ISSUER: ISSUER,
        AUTH_AUDIENCE: AUDIENCE,
        AUTH_CLIENT_ID_CLAIM: 'identity_id',
        AUTH_ROLES_CLAIM: 'cognito:groups',
      },
    });
  });
  afterAll(async () => {
    await t.stop();
    await new Promise((resolve) => jwks.close(resolve));
  });

  const ISSUER = 'https://idp.test/pool';
  const AUDIENCE = 'game-app';

  function sign(payload: Record<string, unknown>, kid = 'test-key', options: jwt.SignOptions = { expiresIn: 300 }): string {
    return jwt.sign(payload, privateKey, { algorithm: 'RS256', keyid: kid, issuer: ISSUER, audience: AUDIENCE, ...options });
  }

  it('refuses a JWKS token without exp', async () => {
    const noExp = sign({ identity_id: 'eu-west-1:abc' }, 'test-key', {});
    expect(jwt.decode(noExp)).not.toHaveProperty('exp');
    expectProblem(await request(t.url).get('/v1/channels').set('Authorization', `Bearer ${noExp}`), 401, 'UNAUTHORIZED');
    expect((await request(t.url).get('/v1/channels').set('Authorization', `Bearer ${sign({ identity_id: 'eu-west-1:abc' })}`)).status).toBe(200);
  });

  it('refuses tokens the same identity provider issued for another app or from another issuer, naming neither expected value', async () => {
    for (const options of [{ audience: 'other-app' }, { issuer: 'https://idp.test/other-pool' }]) {
      const token = jwt.sign({ identity_id: 'eu-west-1:abc' }, privateKey, { algorithm: 'RS256', keyid: 'test-key', issuer: ISSUER, audience: AUDIENCE, expiresIn: 300, ...options });
      const problem = expectProblem(await request(t.url).get('/v1/channels').set('Authorization', `Bearer ${token}`), 401, 'UNAUTHORIZED');
      expect(JSON.stringify(problem)).not.toContain(ISSUER);
      expect(JSON.stringify(problem)).not.toContain(AUDIENCE);
    }
  });

  it('accepts an RS256 token from the JWKS, with the configured claims', async () => {
    const token = sign({ sub: 'ignored', identity_id: 'eu-west-1:abc', 'cognito:groups': ['admin'] });
    const res = await request(t.url).get('/v1/admin/users').set('Authorization', `Bearer ${token}`);
    expect(res.status).toBe(200);
  });

  it('uses the configured roles claim, not `roles`', async () => {
    const token = sign({ identity_id: 'eu-west-1:abc', roles: ['admin'] });
    expectProblem(await request(t.url).get('/v1/admin/users').set('Authorization', `Bearer ${token}`), 403, 'FORBIDDEN');
  });

  it('refuses a token without the client id claim, and an HS256 token', async () => {
    expectProblem(await request(t.url).get('/v1/channels').set('Authorization', `Bearer ${sign({ sub: 'alice' })}`), 401, 'UNAUTHORIZED');
    const hs = jwt.sign({ identity_id: 'alice' }, 'a-shared-secret-that-is-long-enough-01234567', { algorithm: 'HS256', keyid: 'test-key' });
    expectProblem(await request(t.url).get('/v1/channels').set('Authorization', `Bearer ${hs}`), 401, 'UNAUTHORIZED');
  });

  it('refuses a key id the JWKS does not have', async () => {
    const token = sign({ identity_id: 'alice' }, 'unknown-kid');
    expectProblem(await request(t.url).get('/v1/channels').set('Authorization', `Bearer ${token}`), 401, 'UNAUTHORIZED');
  });
});
