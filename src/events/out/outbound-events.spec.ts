import type { Broker } from '../../broker/broker';
import { loadConfig } from '../../config/app-config';
import { MetricsService } from '../../metrics/metrics.service';
import { OutboundEvents } from './outbound-events';

describe('OutboundEvents', () => {
  const published: Array<{ topic: string; body: string }> = [];
  const broker = {
    internalTopicRoot: () => '$webcommunicator/internal',
    publish: async (topic: string, payload: Buffer) => {
      published.push({ topic, body: payload.toString('utf8') });
    },
  } as unknown as Broker;
  const events = new OutboundEvents(loadConfig({ EVENTS_TRANSPORT: 'mqtt' }), broker, new MetricsService());

  afterAll(() => events.onApplicationShutdown());

  it('emitClientMessage splices the published envelope in: the same event as emit, field for field and in order', async () => {
    const envelope = { Channel: 'chat', Message: '{"say":"gg \\"quoted\\" ✓ 🎮\\n"}', Id: 'b6d3c5a2-1f0e-4c1b-9a4e-7f2d3c1b0a99', Time: '2026-12-01T16:00:00.000Z', From: 'alice', Seq: 7 };
    events.emit('client.message', 'alice', { channel: 'chat', message: envelope });
    events.emitClientMessage('alice', 'chat', JSON.stringify(envelope));
    await new Promise((resolve) => setImmediate(resolve));
    expect(published.map((p) => p.topic)).toEqual(['$webcommunicator/internal/out/client.message', '$webcommunicator/internal/out/client.message']);
    const [viaEmit, spliced] = published.map((p) => JSON.parse(p.body) as Record<string, unknown>);
    const comparable = (event: Record<string, unknown>) => ({ ...event, id: undefined, time: undefined });
    expect(comparable(spliced)).toEqual(comparable(viaEmit));
    expect(Object.keys(spliced)).toEqual(Object.keys(viaEmit));
    expect(spliced.id).toMatch(/^[0-9a-f-]{36}$/);
    expect(Number.isNaN(Date.parse(spliced.time as string))).toBe(false);
  });
});
