import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  type ChannelDefinition,
  type ClientPresence,
  createWebCommunicatorClient,
  type Presence,
  type Problem,
  type ProblemCode,
  unwrap,
  WebCommunicatorError,
  type WebCommunicatorClient,
} from '../clients/typescript/src';
import { TestMqttClient } from './support/mqtt';
import { TestApp } from './support/test-app';

const ROOT = join(__dirname, '..');
const SCHEMA = join(ROOT, 'clients', 'typescript', 'src', 'schema.ts');

describe('TypeScript SDK (clients/typescript)', () => {
  it('src/schema.ts is what openapi-typescript generates from openapi/openapi.json (run `npm run sdk`)', () => {
    const dir = mkdtempSync(join(tmpdir(), 'wc-sdk-'));
    try {
      const out = join(dir, 'schema.ts');
      execFileSync(process.execPath, [join(ROOT, 'clients', 'typescript', 'scripts', 'generate.mjs'), out], { stdio: 'pipe' });
      expect(readFileSync(SCHEMA, 'utf8')).toBe(readFileSync(out, 'utf8'));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

/** Drives the running service through the SDK only (MQTT clients just watch what arrives). */
describe('the service through the SDK', () => {
  const PREFIX = 'webcommunicator/dev';
  let t: TestApp;
  let admin: WebCommunicatorClient;
  let service: WebCommunicatorClient;
  let alice: WebCommunicatorClient;
  const watchers: TestMqttClient[] = [];

  beforeAll(async () => {
    t = await TestApp.start();
    admin = createWebCommunicatorClient(`${t.url}/`, t.token('root', 'admin'));
    service = createWebCommunicatorClient(t.url, t.token('content-service', 'service'));
    // A token function: called for every request.
    alice = createWebCommunicatorClient(t.url, () => t.token('alice'));
  });

  afterAll(async () => {
    await Promise.all(watchers.map((w) => w.end()));
    await t.stop();
  });

  it('reads the status without a token', async () => {
    const { data, error } = await createWebCommunicatorClient(t.url).GET('/v1/status');
    expect(error).toBeUndefined();
    expect(data).toEqual(expect.objectContaining({ status: 'online', broker: 'embedded', store: 'embedded' }));
  });

  it('registers, lists subscriptions, receives a broadcast and a direct message', async () => {
    const registered = await alice.POST('/v1/registrations', { body: { connectionType: 'WEBSOCKET' } });
    expect(registered.response.status).toBe(201);
    const reg = registered.data!;
    expect(reg).toEqual(
      expect.objectContaining({
        clientId: 'alice',
        status: 'REGISTERED',
        url: expect.stringMatching(/^ws:\/\//),
        connectionToken: expect.any(String),
      }),
    );

    const { data: listed } = await alice.GET('/v1/channels');
    expect(listed!.subscriptions).toEqual([
      { channel: 'chat', type: 'BROADCAST', topic: `${PREFIX}/chat` },
      { channel: 'news', type: 'BROADCAST', topic: `${PREFIX}/news` },
      { channel: 'news', type: 'PRIVATE', topic: `${PREFIX}/news/client/alice` },
    ]);

    const watcher = await TestMqttClient.ws(reg.url, reg.clientId, reg.connectionToken!);
    watchers.push(watcher);
    expect(await watcher.subscribe(...listed!.subscriptions.map((s) => s.topic))).toEqual([0, 0, 0]);

    const broadcast = await service.POST('/v1/messages/broadcast', { body: { channel: 'news', message: 'new pak available' } });
    expect(broadcast.response.status).toBe(202);
    expect(broadcast.data).toEqual({ messageId: expect.any(String), channel: 'news', topic: `${PREFIX}/news` });

    const direct = await unwrap(
      service.POST('/v1/messages/direct', { body: { channel: 'news', clientId: 'alice', message: 'for alice' } }),
    );
    expect(direct.topic).toBe(`${PREFIX}/news/client/alice`);

    const sent = await unwrap(
      alice.POST('/v1/channels/{channel}/messages', { params: { path: { channel: 'chat' } }, body: { message: 'gg' } }),
    );
    expect(sent.channel).toBe('chat');

    const received = await watcher.waitFor(3);
    expect(received.map((m) => [m.topic, m.payload.Message, m.payload.From])).toEqual([
      [`${PREFIX}/news`, 'new pak available', undefined],
      [`${PREFIX}/news/client/alice`, 'for alice', undefined],
      [`${PREFIX}/chat`, 'gg', 'alice'],
    ]);
  });

  it('lists users a page at a time, gets one, bans and un-bans', async () => {
    for (const id of ['bob', 'carol']) {
      await unwrap(createWebCommunicatorClient(t.url, t.token(id)).POST('/v1/registrations', { body: { connectionType: 'WEBSOCKET' } }));
    }
    const seen: string[] = [];
    let cursor: string | undefined;
    do {
      const page = await unwrap(admin.GET('/v1/admin/users', { params: { query: { status: 'REGISTERED', limit: 2, cursor } } }));
      expect(page.users.length).toBeLessThanOrEqual(2);
      seen.push(...page.users.map((u) => u.clientId));
      cursor = page.nextCursor;
    } while (cursor !== undefined);
    expect(seen.sort()).toEqual(['alice', 'bob', 'carol']);

    const bob = await unwrap(admin.GET('/v1/admin/users/{clientId}', { params: { path: { clientId: 'bob' } } }));
    expect(bob).toEqual(
      expect.objectContaining({ clientId: 'bob', status: 'REGISTERED', connectionType: 'WEBSOCKET', portalClient: false }),
    );

    const banned = await unwrap(
      admin.PATCH('/v1/admin/users/{clientId}', { params: { path: { clientId: 'bob' } }, body: { status: 'BANNED', reason: 'spam' } }),
    );
    expect(banned).toEqual(expect.objectContaining({ status: 'BANNED', banReason: 'spam', bannedAt: expect.any(String) }));
    const refused = await createWebCommunicatorClient(t.url, t.token('bob')).POST('/v1/registrations', {
      body: { connectionType: 'WEBSOCKET' },
    });
    expect(refused.response.status).toBe(403);
    expect(refused.error?.code).toBe('CLIENT_BANNED');

    const onlyBanned = await unwrap(admin.GET('/v1/admin/users', { params: { query: { status: 'BANNED' } } }));
    expect(onlyBanned.users.map((u) => u.clientId)).toEqual(['bob']);
    const back = await unwrap(
      admin.PATCH('/v1/admin/users/{clientId}', { params: { path: { clientId: 'bob' } }, body: { status: 'REGISTERED' } }),
    );
    expect(back.status).toBe('REGISTERED');
  });

  it('bans with an end (expiresAt, banExpiresAt) and revokes a certificate (revokeCertificate)', async () => {
    await unwrap(createWebCommunicatorClient(t.url, t.token('dave')).POST('/v1/registrations', { body: { connectionType: 'WEBSOCKET' } }));
    const expiresAt = new Date(Date.now() + 3_600_000).toISOString();
    const banned = await unwrap(admin.PATCH('/v1/admin/users/{clientId}', { params: { path: { clientId: 'dave' } }, body: { status: 'BANNED', expiresAt } }));
    expect(banned.banExpiresAt).toBe(expiresAt);
    const device = await unwrap(admin.POST('/v1/admin/registrations', { body: { connectionType: 'OPENSSL', clientId: 'sdk-device' } }));
    const revoked = await admin.DELETE('/v1/admin/users/{clientId}/certificates/{certificateId}', {
      params: { path: { clientId: 'sdk-device', certificateId: device.certificateId! } },
    });
    expect(revoked.response.status).toBe(204);
    const user = await unwrap(admin.GET('/v1/admin/users/{clientId}', { params: { path: { clientId: 'sdk-device' } } }));
    expect(user.certificateIds ?? []).toEqual([]);
  });

  it('reads presence of several clients at once (getPresence)', async () => {
    const presence: Presence = await unwrap(admin.GET('/v1/presence', { params: { query: { clientId: ['alice', 'nobody-at-all'] } } }));
    expect(presence.clients.map((c: ClientPresence) => [c.clientId, typeof c.connected])).toEqual([
      ['alice', 'boolean'],
      ['nobody-at-all', 'boolean'],
    ]);
    expect(presence.clients[1]).toEqual({ clientId: 'nobody-at-all', connected: false });
  });

  it('puts, lists and deletes channels', async () => {
    const definition: ChannelDefinition = {
      types: ['BROADCAST'],
      clientSend: true,
      maxMessageBytes: 256,
      rateLimit: { messages: 5, perSeconds: 10 },
      messageSchema: { type: 'object' },
    };
    const created = await admin.PUT('/v1/admin/channels/{channel}', { params: { path: { channel: 'tournament' } }, body: definition });
    expect(created.response.status).toBe(201);
    expect(created.data).toEqual({ name: 'tournament', ...definition });
    const replaced = await admin.PUT('/v1/admin/channels/{channel}', {
      params: { path: { channel: 'tournament' } },
      body: { ...definition, clientSend: false },
    });
    expect(replaced.response.status).toBe(200);
    expect(replaced.data?.clientSend).toBe(false);

    const { data: listed } = await admin.GET('/v1/admin/channels');
    expect(listed!.channels.map((c) => c.name)).toEqual(expect.arrayContaining(['chat', 'news', 'tournament']));

    const deleted = await admin.DELETE('/v1/admin/channels/{channel}', { params: { path: { channel: 'tournament' } } });
    expect(deleted.response.status).toBe(204);
    const again = await admin.DELETE('/v1/admin/channels/{channel}', { params: { path: { channel: 'tournament' } } });
    expect(again.error?.code).toBe('CHANNEL_NOT_FOUND');
  });

  it('surfaces problem+json errors with their code, typed', async () => {
    const { data, error, response } = await service.POST('/v1/messages/broadcast', { body: { channel: 'nope', message: 'x' } });
    expect(data).toBeUndefined();
    expect(response.status).toBe(404);
    expect(response.headers.get('content-type')).toMatch(/^application\/problem\+json/);
    // `error` is typed as the Problem schema: `code` is a union of the documented codes.
    const problem: Problem | undefined = error;
    const code: ProblemCode | undefined = problem?.code;
    expect(code).toBe('CHANNEL_NOT_FOUND');
    expect(problem).toEqual(
      expect.objectContaining({ status: 404, type: expect.any(String), title: expect.any(String), detail: expect.any(String) }),
    );

    const invalid = await admin.PUT('/v1/admin/channels/{channel}', {
      params: { path: { channel: 'bad' } },
      body: { types: ['BROADCAST'], maxMessageBytes: 999_999 },
    });
    expect(invalid.error?.code).toBe('VALIDATION_FAILED');
    expect(invalid.error?.errors).toEqual([expect.objectContaining({ field: '/maxMessageBytes' })]);

    const forbidden = unwrap(alice.POST('/v1/messages/broadcast', { body: { channel: 'news', message: 'x' } }));
    await expect(forbidden).rejects.toBeInstanceOf(WebCommunicatorError);
    await expect(forbidden).rejects.toMatchObject({ status: 403, code: 'FORBIDDEN' });

    const anonymous = await createWebCommunicatorClient(t.url).GET('/v1/channels');
    expect([anonymous.response.status, anonymous.error?.code]).toEqual([401, 'UNAUTHORIZED']);
  });
});
