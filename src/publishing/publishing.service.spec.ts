import { ChannelCatalog } from '../store/channel-catalog';
import { MessageSchemas } from '../channels/message-schemas';
import { Topics } from '../domain/topics';
import { loadConfig } from '../config/app-config';
import { MetricsService } from '../metrics/metrics.service';
import { InMemoryChannelRepository, InMemoryClientRepository, RecordingBroker, RecordingOutboundEvents } from '../../test/support/fakes';
import { PublishingService } from './publishing.service';
import { BrokerUnavailableError, DomainError } from '../domain/errors';

describe('PublishingService', () => {
  const clients = new InMemoryClientRepository();
  const broker = new RecordingBroker();
  let service: PublishingService;

  beforeEach(async () => {
    clients.reset();
    broker.published.length = 0;
    broker.failPublish = undefined;
    const channels = new InMemoryChannelRepository([
      { name: 'news', types: ['BROADCAST', 'PRIVATE'], clientSend: false, maxMessageBytes: 1024 },
      { name: 'patches', types: ['BROADCAST'], communicationChannel: 'news', clientSend: true, maxMessageBytes: 8, rateLimit: { messages: 1, perSeconds: 60 } },
    ]);
    const catalog = new ChannelCatalog(channels);
    await catalog.refresh();
    service = new PublishingService(loadConfig({}), catalog, new MessageSchemas(), clients, broker, new Topics('p/d'), new MetricsService(), new RecordingOutboundEvents().asService);
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
});
