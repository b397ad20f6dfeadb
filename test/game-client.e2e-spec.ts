import { join } from 'node:path';
import request from 'supertest';
import { ConnectionTokens } from '../src/broker/embedded/connection-tokens';
import { loadOrCreateSecret } from '../src/common/secrets';
import { type ChannelMessage, GameClient, type GameClientEvents, type Registration } from '../examples/game-client/src/game-client';
import { TestApp } from './support/test-app';

type EventName = keyof GameClientEvents;

/** Records the client's lifecycle events in order, and waits for one. */
class EventLog {
  readonly names: EventName[] = [];
  readonly details: Array<{ name: EventName; args: unknown[] }> = [];

  constructor(private readonly client: GameClient) {
    for (const name of ['registered', 'connected', 'disconnected', 'refused', 'banned', 'retrying'] as const) {
      client.events.on(name, (...args: unknown[]) => {
        this.names.push(name);
        this.details.push({ name, args });
      });
    }
  }

  /** Resolves when `name` happens (counting from now, or from `after` events in). */
  next(name: EventName, timeoutMs = 10_000): Promise<unknown[]> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no ${name} event within ${timeoutMs} ms; saw ${this.names.join(', ')}`)), timeoutMs);
      this.client.events.once(name, (...args: unknown[]) => {
        clearTimeout(timer);
        resolve(args);
      });
    });
  }
}

/** The game-client helper (examples/game-client) against a real app: dispatch, reconnect, re-registration. */
describe('examples/game-client', () => {
  let t: TestApp;
  const running: GameClient[] = [];

  function client(id: string, registration?: Registration): { game: GameClient; log: EventLog } {
    const game = new GameClient({ baseUrl: t.url, token: () => t.token(id), backoff: { initialMs: 100, maxMs: 400 }, registration });
    running.push(game);
    return { game, log: new EventLog(game) };
  }

  async function broadcast(channel: string, message: string): Promise<string> {
    const res = await request(t.url).post('/v1/messages/broadcast').set(t.auth('svc', 'service')).send({ channel, message });
    expect(res.status).toBe(202);
    return res.body.messageId as string;
  }

  function collect(game: GameClient, channel: string): ChannelMessage[] {
    const messages: ChannelMessage[] = [];
    game.on(channel, (m) => messages.push(m));
    return messages;
  }

  async function until(condition: () => boolean, what: string, timeoutMs = 30_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!condition()) {
      if (Date.now() > deadline) {
        throw new Error(`timed out waiting for ${what}`);
      }
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  }

  beforeAll(async () => {
    t = await TestApp.start({
      channels: [
        { name: 'news', types: ['BROADCAST', 'PRIVATE'] },
        { name: 'patches', types: ['BROADCAST'], communicationChannel: 'news' },
        { name: 'chat', types: ['BROADCAST'], clientSend: true, maxMessageBytes: 64 },
        { name: 'scores', types: ['BROADCAST', 'PRIVATE'], history: { size: 50, ttlSeconds: 600 } },
      ],
    });
  });

  afterEach(async () => {
    await Promise.all(running.splice(0).map((c) => c.stop()));
  });

  afterAll(async () => {
    await t.stop();
  });

  it('registers, subscribes to what the service lists and dispatches by channel', async () => {
    const { game, log } = client('hero');
    const news = collect(game, 'news');
    const patches = collect(game, 'patches');
    const chat = collect(game, 'chat');
    const all = collect(game, '*');
    await game.start();
    expect(log.names).toEqual(['registered', 'connected']);
    const connected = log.details[1].args[0] as { topics: string[] };
    // patches rides on news: one topic for both.
    expect(connected.topics.sort()).toEqual([
      'webcommunicator/dev/chat',
      'webcommunicator/dev/news',
      'webcommunicator/dev/news/client/hero',
      'webcommunicator/dev/scores',
      'webcommunicator/dev/scores/client/hero',
    ]);

    const newsId = await broadcast('news', 'server restart at 10:00');
    await broadcast('patches', 'patch 1.2');
    await request(t.url)
      .post('/v1/messages/direct')
      .set(t.auth('svc', 'service'))
      .send({ channel: 'news', clientId: 'hero', message: 'you won' });
    await game.send('chat', 'gg');
    await until(() => all.length === 4, 'four messages');

    expect(news.map((m) => [m.message, m.direct])).toEqual([
      ['server restart at 10:00', false],
      ['you won', true],
    ]);
    expect(news[0].id).toBe(newsId);
    expect(patches.map((m) => [m.message, m.topic])).toEqual([['patch 1.2', 'webcommunicator/dev/news']]);
    expect(chat.map((m) => [m.message, m.from])).toEqual([['gg', 'hero']]);
    await expect(game.send('news', 'x')).rejects.toMatchObject({ status: 403, code: 'CLIENT_SEND_DISABLED' });
  });

  it('a ban drops it and refuses it (CONNACK 5, then 403 CLIENT_BANNED); after the un-ban it re-registers, reconnects and receives again', async () => {
    const { game, log } = client('rogue');
    const news = collect(game, 'news');
    await game.start();
    const firstConnection = game.connection;

    const banned = log.next('banned');
    const ban = await request(t.url).patch('/v1/admin/users/rogue').set(t.auth('root', 'admin')).send({ status: 'BANNED', reason: 'test' });
    expect(ban.status).toBe(200);
    const [bannedError] = await banned;
    expect(bannedError).toMatchObject({ status: 403, code: 'CLIENT_BANNED' });
    // Dropped, then the old token refused as not authorized, then registration refused.
    expect(log.names.slice(2, 5)).toEqual(['disconnected', 'retrying', 'refused']);
    const refused = log.details.find((d) => d.name === 'refused')!.args[0] as { returnCode: number };
    expect(refused.returnCode).toBe(5);
    expect(game.connected).toBe(false);

    // It keeps trying at the backoff's pace (100 ms growing to 400 ms here, ±20 %) without hammering:
    // two more refused attempts come, and they took at least two backoff delays.
    const bannedCount = (): number => log.names.filter((n) => n === 'banned').length;
    const before = bannedCount();
    const waitStarted = Date.now();
    await until(() => bannedCount() >= before + 2, 'two more refused attempts');
    expect(Date.now() - waitStarted).toBeGreaterThanOrEqual(2 * 80);

    const reconnected = log.next('connected');
    await request(t.url).patch('/v1/admin/users/rogue').set(t.auth('root', 'admin')).send({ status: 'REGISTERED' });
    await reconnected;
    expect(game.connected).toBe(true);
    expect(game.connection).not.toBe(firstConnection);
    expect(log.names.filter((n) => n === 'registered').length).toBeGreaterThanOrEqual(2);

    await broadcast('news', 'welcome back');
    await until(() => news.some((m) => m.message === 'welcome back'), 'the message after the un-ban');
  });

  it('credentials kept from an earlier run whose token has expired: refused (CONNACK 4), registers again, connects', async () => {
    // A real connection token of this broker, issued to this client, that expired a minute ago.
    const secret = loadOrCreateSecret(join(t.dataDir, 'broker-token.secret'));
    const expired = new ConnectionTokens(secret, -60).issue('returning');
    const fresh = await request(t.url).post('/v1/registrations').set(t.auth('returning')).send({ connectionType: 'WEBSOCKET' });
    // Its clock says the token is still good (clock skew): only the broker can tell.
    const cached: Registration = {
      ...fresh.body,
      connectionToken: expired.token,
      connectionTokenExpiresAt: new Date(Date.now() + 3_600_000).toISOString(),
    };

    const { game, log } = client('returning', cached);
    const news = collect(game, 'news');
    await game.start();
    expect(log.names).toEqual(['refused', 'retrying', 'registered', 'connected']);
    expect(log.details[0].args[0]).toMatchObject({ returnCode: 4 });
    await broadcast('news', 'hello again');
    await until(() => news.length === 1, 'a broadcast');
  });

  it('a token about to expire is renewed before connecting (no refused attempt)', async () => {
    const fresh = await request(t.url).post('/v1/registrations').set(t.auth('punctual')).send({ connectionType: 'WEBSOCKET' });
    const cached: Registration = { ...fresh.body, connectionTokenExpiresAt: new Date(Date.now() + 1000).toISOString() };
    const { game, log } = client('punctual', cached);
    await game.start();
    expect(log.names).toEqual(['registered', 'connected']);
  });

  it('reconnects after the connection drops (network blip), reusing a still-valid token', async () => {
    const { game, log } = client('wanderer');
    const news = collect(game, 'news');
    await game.start();
    const reconnected = log.next('connected');
    game.connection!.stream.destroy();
    await reconnected;
    expect(log.names).toEqual(['registered', 'connected', 'disconnected', 'retrying', 'connected']);
    await broadcast('news', 'still there?');
    await until(() => news.length === 1, 'a broadcast after the reconnect');
  });

  it('applies a state delta and reports it back (the pending one at connect too), the AWS IoT device way', async () => {
    const service = t.auth('svc', 'service');
    const { game } = client('stateful');
    await game.register();
    // Set while the client is offline: applied at connect.
    expect((await request(t.url).patch('/v1/clients/stateful/state').set(service).send({ desired: { volume: 3 } })).status).toBe(200);
    const applied: Array<[Record<string, unknown>, number]> = [];
    game.onStateDelta((delta, version) => {
      applied.push([delta, version]);
    });
    await game.start();
    await until(() => applied.length === 1, 'the pending delta');
    expect(applied[0]).toEqual([{ volume: 3 }, 1]);
    // The report goes over MQTT; wait until the document shows it (a read per try, bounded).
    const synced = async (version: number): Promise<boolean> => {
      const state = await game.getState();
      return state.version === version && state.state.delta === undefined;
    };
    let ok = false;
    for (let i = 0; i < 100 && !ok; i += 1) {
      ok = await synced(2);
    }
    expect(ok).toBe(true);

    // Set while connected: the delta arrives over MQTT.
    expect((await request(t.url).patch('/v1/clients/stateful/state').set(service).send({ desired: { mode: 'ranked' } })).status).toBe(200);
    await until(() => applied.length === 2, 'the live delta');
    expect(applied[1]).toEqual([{ mode: 'ranked' }, 3]);
    ok = false;
    for (let i = 0; i < 100 && !ok; i += 1) {
      ok = await synced(4);
    }
    expect((await game.getState()).state).toEqual({ desired: { volume: 3, mode: 'ranked' }, reported: { volume: 3, mode: 'ranked' } });
  });

  it('recovers after a reconnect: missed messages from history in Seq order, before new ones, duplicates dropped by Id', async () => {
    const { game } = client('rita');
    const got = collect(game, 'scores');
    await game.start();
    await broadcast('scores', 'one');
    await until(() => got.length === 1, 'the first message');
    expect(got[0]).toEqual(expect.objectContaining({ message: 'one', seq: 1 }));
    await game.stop();
    for (const m of ['two', 'three', 'four']) {
      await broadcast('scores', m);
    }
    const direct = await request(t.url).post('/v1/messages/direct').set(t.auth('svc', 'service')).send({ channel: 'scores', clientId: 'rita', message: 'for rita' });
    expect(direct.status).toBe(202);
    const recovered: unknown[] = [];
    game.events.on('recovered', (r) => recovered.push(r));
    await game.start();
    await until(() => got.length === 4, 'the missed broadcasts');
    await broadcast('scores', 'five');
    await until(() => got.length === 5, 'the new message');
    expect(got.map((m) => [m.seq, m.message, m.recovered ?? false])).toEqual([
      [1, 'one', false],
      [2, 'two', true],
      [3, 'three', true],
      [4, 'four', true],
      [5, 'five', false],
    ]);
    // Only topics it had seen a Seq on are recovered (its private topic had none yet).
    expect(recovered).toEqual([{ topic: 'webcommunicator/dev/scores', count: 3, complete: true }]);
  });
});
