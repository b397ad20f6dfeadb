import request from 'supertest';
import { TestApp } from '../support/test-app';

describe('security headers', () => {
  let t: TestApp;

  beforeAll(async () => {
    t = await TestApp.start({ env: { REGISTRATION_CLIENT_OPENSSL: 'true' } });
  });
  afterAll(async () => {
    await t.stop();
  });

  it.each(['/docs', '/docs/', '/docs/swagger-ui-init.js'])('%s has a CSP, refuses framing and sniffing', async (path) => {
    const res = await request(t.url).get(path);
    expect(res.status).toBeLessThan(400);
    expect(res.headers['content-security-policy']).toEqual(expect.stringContaining("frame-ancestors 'none'"));
    expect(res.headers['content-security-policy']).toEqual(expect.stringContaining("script-src 'self'"));
    expect(res.headers['content-security-policy']).not.toMatch(/script-src[^;]*unsafe-inline/);
    expect(res.headers['x-frame-options']).toBe('DENY');
    expect(res.headers['x-content-type-options']).toBe('nosniff');
  });

  it('Swagger UI still loads under its CSP: no inline script in the page', async () => {
    const res = await request(t.url).get('/docs');
    expect(res.text).toContain('swagger-ui-init.js');
    expect(res.text).not.toMatch(/<script>(?!\s*<\/script>)/);
  });

  it.each([
    ['a client WEBSOCKET registration (connection token)', '/v1/registrations', 'client', { connectionType: 'WEBSOCKET' }, 'connectionToken'],
    ['a client OPENSSL registration (private key)', '/v1/registrations', 'client', { connectionType: 'OPENSSL' }, 'privateKeyPem'],
    ['a portal registration (connection token)', '/v1/admin/registrations', 'admin', { connectionType: 'WEBSOCKET' }, 'connectionToken'],
    ['a device registration (private key)', '/v1/admin/registrations', 'admin', { connectionType: 'OPENSSL', clientId: 'hdr-device' }, 'privateKeyPem'],
  ])('%s is never stored by a cache', async (_name, path, role, body, secret) => {
    const res = await request(t.url).post(path).set(t.auth(`hdr-${role}`, role)).send(body);
    expect(res.status).toBe(201);
    expect(res.body[secret]).toEqual(expect.any(String));
    expect(res.headers['cache-control']).toBe('no-store');
  });
});
