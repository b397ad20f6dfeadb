import fc from 'fast-check';
import request from 'supertest';
import { TestApp } from '../support/test-app';
import { destroyAgent, type FuzzRequest, loadOperations, prototypeSnapshot, requestArbitrary, send, violation } from './support/http-fuzz';

/**
 * HTTP fuzzing from openapi/openapi.json (see support/http-fuzz.ts).
 *
 * CI runs 600 cases with a fixed seed; `npm run test:fuzz` runs FUZZ_RUNS (default
 * 10,000) with a fresh seed, printed so a failure can be replayed with FUZZ_SEED.
 */
const RUNS = Number(process.env.FUZZ_RUNS ?? 600);
const SEED =
  process.env.FUZZ_SEED !== undefined
    ? Number(process.env.FUZZ_SEED)
    : process.env.FUZZ_RUNS !== undefined
      ? Date.now() % 2 ** 31
      : 20_261_125;

describe(`HTTP fuzzing from the OpenAPI document (${RUNS} cases, seed ${SEED})`, () => {
  let t: TestApp;
  const before = prototypeSnapshot();

  beforeAll(async () => {
    t = await TestApp.start({
      channels: [
        { name: 'news', types: ['BROADCAST', 'PRIVATE'] },
        { name: 'chat', types: ['BROADCAST'], clientSend: true, maxMessageBytes: 64 },
        {
          name: 'fz-a',
          types: ['BROADCAST', 'PRIVATE'],
          clientSend: true,
          messageSchema: { type: 'object', required: ['pak'] },
          rateLimit: { messages: 1000, perSeconds: 1 },
        },
      ],
    });
    const admin = t.auth('fuzz-admin', 'admin');
    for (const id of ['fuzz-client', 'fuzz-banned']) {
      expect((await request(t.url).post('/v1/registrations').set(t.auth(id)).send({ connectionType: 'WEBSOCKET' })).status).toBe(201);
    }
    expect(
      (await request(t.url).post('/v1/admin/registrations').set(admin).send({ connectionType: 'OPENSSL', clientId: 'fuzz-device' })).status,
    ).toBe(201);
    expect((await request(t.url).patch('/v1/admin/users/fuzz-banned').set(admin).send({ status: 'BANNED' })).status).toBe(200);
  });

  afterAll(async () => {
    destroyAgent();
    await t?.stop();
  });

  it(
    'answers every generated request without a 5xx, with problem+json errors; stays up; pollutes no prototype',
    async () => {
      const operations = loadOperations();
      expect(operations.map((o) => o.operationId).sort()).toEqual(
        expect.arrayContaining([
          'broadcast',
          'deleteChannel',
          'getStatus',
          'getUser',
          'listUsers',
          'putChannel',
          'registerClient',
          'sendClientMessage',
          'setUserStatus',
        ]),
      );
      const ctx = {
        operations,
        bodyLimit: t.config.bodyLimitBytes,
        tokens: {
          client: t.token('fuzz-client'),
          banned: t.token('fuzz-banned'),
          service: t.token('fuzz-service', 'service'),
          admin: t.token('fuzz-admin', 'admin'),
        },
      };
      const statuses = new Map<string, number>();
      const byOperation = new Map<string, number>();
      let sent = 0;

      // fast-check's report quotes the whole counterexample (bodies of 100+ KB): keep the message readable.
      await fc
        .assert(
          fc.asyncProperty(requestArbitrary(ctx), async (req: FuzzRequest) => {
            const res = await send(t.url, req);
            sent++;
            const problem = violation(req, res);
            if (problem !== undefined) {
              throw new Error(
                `${req.method} ${req.path.slice(0, 200)} (${req.operationId}, token ${req.token}, body ${req.bodyKind}, ${JSON.stringify(req.headers['content-type'])}): ${problem}`,
              );
            }
            const key = `${res.status}`;
            statuses.set(key, (statuses.get(key) ?? 0) + 1);
            byOperation.set(req.operationId, (byOperation.get(req.operationId) ?? 0) + 1);
          }),
          { numRuns: RUNS, seed: SEED, endOnFailure: true },
        )
        .catch((error: Error) => {
          const cause = error.cause instanceof Error ? `\nCause: ${error.cause.message}` : '';
          throw new Error(`${error.message}${cause}`.replace(/(.{400})[^\n]{400,}/g, '$1…'));
        });

      // Still up and ready, and nothing leaked into the built-in prototypes.
      expect((await request(t.url).get('/health/live')).status).toBe(200);
      expect((await request(t.url).get('/health/ready')).status).toBe(200);
      expect(prototypeSnapshot()).toEqual(before);
      expect(({} as Record<string, unknown>).polluted).toBeUndefined();
      expect(({} as Record<string, unknown>).isAdmin).toBeUndefined();
      // The fuzz reached the services, not only the auth guard and the validator.
      expect([...statuses.keys()]).toEqual(expect.arrayContaining(['200', '400', '401', '403', '404', '413']));
      if (RUNS >= 1000) {
        expect([...statuses.keys()]).toEqual(expect.arrayContaining(['201', '202', '415']));
      }
      expect(byOperation.size).toBeGreaterThanOrEqual(RUNS >= 600 ? operations.length : 1);
      process.stdout.write(
        `fuzz: ${sent} requests, seed ${SEED}; statuses ${JSON.stringify(Object.fromEntries([...statuses].sort()))}; per operation ${JSON.stringify(Object.fromEntries([...byOperation].sort()))}\n`,
      );
    },
    60_000 + RUNS * 40,
  );
});
