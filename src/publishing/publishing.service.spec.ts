import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ChannelCatalog } from '../store/channel-catalog';
import { HistoryService } from '../history/history.service';
import { SqliteStore } from '../store/sqlite/sqlite-store';
import { MessageSchemas } from '../channels/message-schemas';
import { Topics } from '../domain/topics';
import { loadConfig } from '../config/app-config';
import { MetricsService } from '../metrics/metrics.service';
import { InMemoryChannelRepository, InMemoryClientRepository, RecordingBroker, RecordingOutboundEvents } from '../../test/support/fakes';
import { MemoryRateLimits } from './rate-limiter';
import { PublishingService } from './publishing.service';
import { BrokerUnavailableError, DomainError } from '../domain/errors';

describe('PublishingService', () => {
  const clients = new InMemoryClientRepository();
  const broker = new RecordingBroker();
  let service: PublishingService;
  let store: SqliteStore;
  const dataDir = mkdtempSync(join(tmpdir(), 'wc-publishing-'));

  beforeAll(async () => {
    store = await SqliteStore.open(loadConfig({ DATA_DIR: dataDir }), { log: () => undefined, error: () => undefined, warn: () => undefined });
  });

  afterAll(async () => {
    await store.close();
    rmSync(dataDir, { recursive: true, force: true });
  });

  beforeEach(async () => {
    clients.reset();
    broker.published.length = 0;
    broker.failPublish = undefined;
    const channels = new InMemoryChannelRepository([
      { name: 'news', types: ['BROADCAST', 'PRIVATE'], clientSend: false, maxMessageBytes: 1024 },
      { name: 'patches', types: ['BROADCAST'], communicationChannel: 'news', clientSend: true, maxMessageBytes: 8, rateLimit: { messages: 1, perSeconds: 60 } },
      { name: 'scores', types: ['BROADCAST', 'PRIVATE'], clientSend: false, maxMessageBytes: 1024, history: { size: 10, ttlSeconds: 60 } },
      { name: 'rounds', types: ['BROADCAST'], communicationChannel: 'scores', clientSend: false, maxMessageBytes: 1024 },
    ]);
    const catalog = new ChannelCatalog(channels);
    await catalog.refresh();
    service = new PublishingService(
      loadConfig({}),
      catalog,
      new MessageSchemas(),
      clients,
      broker,
      new Topics('p/d'),
      new MetricsService(),
      new RecordingOutboundEvents().asService,
      new HistoryService(store.history, catalog),
      new MemoryRateLimits(),
    );
  });

  async function code(promise: Promise<unknown>): Promise<string> {
    try {
      await promise;
      return 'OK';
    } catch (error) {
      return error instanceof DomainError ? error.code : (error as Error).name;
    }
  }

  it('publishes the envelope on the delivery channel topic', async () => {
    const result = await service.publish({ source: 'client', senderId: 'alice', channel: 'patches', message: 'hi' });
    expect(result.topic).toBe('p/d/news');
    expect(broker.published).toHaveLength(1);
    const envelope = JSON.parse(broker.published[0].payload.toString());
    expect(envelope).toEqual({ Channel: 'patches', Message: 'hi', Id: result.messageId, Time: expect.any(String), From: 'alice' });
  });

  it('checks in contract order: channel, client send, size, rate limit', async () => {
    expect(await code(service.publish({ source: 'client', senderId: 'a', channel: 'ghost', message: 'x'.repeat(5000) }))).toBe('CHANNEL_NOT_FOUND');
    expect(await code(service.publish({ source: 'client', senderId: 'a', channel: 'news', message: 'x'.repeat(5000) }))).toBe('CLIENT_SEND_DISABLED');
    expect(await code(service.publish({ source: 'client', senderId: 'a', channel: 'patches', message: 'x'.repeat(9) }))).toBe('MESSAGE_TOO_LARGE');
    expect(await code(service.publish({ source: 'client', senderId: 'a', channel: 'patches', message: 'ok' }))).toBe('OK');
    expect(await code(service.publish({ source: 'client', senderId: 'a', channel: 'patches', message: 'ok' }))).toBe('RATE_LIMITED');
    expect(broker.published).toHaveLength(1);
  });

  it('refuses a banned sender and a banned or unknown recipient', async () => {
    await clients.register({ clientId: 'bad', connectionType: 'WEBSOCKET', portalClient: false, now: 'now' });
    await clients.setStatus('bad', { status: 'BANNED', now: 'now' });
    expect(await code(service.publish({ source: 'client', senderId: 'bad', channel: 'patches', message: 'x' }))).toBe('CLIENT_BANNED');
    expect(await code(service.publish({ source: 'service', senderId: 's', channel: 'news', message: 'x', targetClientId: 'bad' }))).toBe('RECIPIENT_BANNED');
    expect(await code(service.publish({ source: 'service', senderId: 's', channel: 'news', message: 'x', targetClientId: 'nobody' }))).toBe('USER_NOT_FOUND');
  });

  it('service sends are not bound by the client size limit, only by the envelope limit', async () => {
    expect(await code(service.publish({ source: 'service', senderId: 's', channel: 'patches', message: 'x'.repeat(100) }))).toBe('OK');
    expect(await code(service.publish({ source: 'service', senderId: 's', channel: 'patches', message: 'x'.repeat(140_000) }))).toBe('PAYLOAD_TOO_LARGE');
  });

  it('passes broker failures through (503 upstream) and reports nothing as sent', async () => {
    broker.failPublish = new BrokerUnavailableError();
    expect(await code(service.publish({ source: 'service', senderId: 's', channel: 'news', message: 'x' }))).toBe('BROKER_UNAVAILABLE');
    expect(broker.published).toHaveLength(0);
  });

  it('uses a caller-given id (queue events)', async () => {
    const result = await service.publish({ source: 'event', senderId: 's', channel: 'news', message: 'x', id: 'evt-1' });
    expect(result.messageId).toBe('evt-1');
  });

  describe('on a history channel', () => {
    const seqs = (): unknown[] => broker.published.map((p) => (JSON.parse(p.payload.toString()) as { Seq?: number }).Seq);

    it('numbers each stream from 1; a channel riding on it shares its streams; channels without history carry no Seq', async () => {
      await service.publish({ source: 'service', senderId: 's', channel: 'scores', message: 'a' });
      await service.publish({ source: 'service', senderId: 's', channel: 'rounds', message: 'b' });
      await Promise.all([1, 2, 3].map((n) => service.publish({ source: 'service', senderId: 's', channel: 'scores', message: `c${n}` })));
      await service.publish({ source: 'service', senderId: 's', channel: 'news', message: 'none' });
      expect(seqs()).toEqual([1, 2, 3, 4, 5, undefined]);
      expect(broker.published.slice(0, 5).every((p) => p.topic === 'p/d/scores')).toBe(true);
    });

    it('a refused publish uses no Seq and leaves nothing in history', async () => {
      const before = await store.history.head('p/d/scores');
      broker.failPublish = new BrokerUnavailableError();
      expect(await code(service.publish({ source: 'service', senderId: 's', channel: 'scores', message: 'lost' }))).toBe('BROKER_UNAVAILABLE');
      broker.failPublish = undefined;
      await service.publish({ source: 'service', senderId: 's', channel: 'scores', message: 'next' });
      expect(seqs()).toEqual([before + 1]);
      const page = await store.history.read('p/d/scores', { after: before, limit: 10, size: 10, notBefore: 0 });
      expect(page.entries.map((e) => JSON.parse(e.payload).Message)).toEqual(['next']);
    });
  });
});
