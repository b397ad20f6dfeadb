import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { runSoak } from './support/soak';

/**
 * The CI form of the load soak (`npm run soak` is the full one: 2,000 clients × 60 s):
 * the built service (`npm run build` first), 200 clients over MQTT/WebSocket with QoS 1
 * subscriptions, 10 s of broadcasts and direct messages over HTTP with bans, un-bans and
 * new registrations, seeded. Every accepted message id must reach every client that was
 * connected and not banned for the whole window, at QoS 1; the service's RSS must stay
 * within a generous bound.
 */

describe('load soak (CI form: 200 clients × 10 s)', () => {
  it('loses nothing, keeps every stable session, and memory stays bounded', async () => {
    expect(existsSync(join(__dirname, '..', '..', 'dist', 'main.js'))).toBe(true);
    const result = await runSoak({
      clients: 200,
      seconds: 10,
      broadcastRate: 5,
      directRate: 40,
      bans: 3,
      newRegistrations: 10,
      warmupSeconds: 3,
      seed: 20261125,
      drainMs: 10_000,
    });
    expect(result.lostSamples).toEqual([]);
    expect({
      lost: result.lost,
      unexpectedDisconnects: result.unexpectedDisconnects,
      nonQos1Packets: result.nonQos1Packets,
      publishRejected: result.publishRejected,
      bans: result.bans,
      unbans: result.unbans,
      bannedKicked: result.bannedKicked,
      newRegistrations: result.newRegistrations,
    }).toEqual({ lost: 0, unexpectedDisconnects: 0, nonQos1Packets: 0, publishRejected: 0, bans: 3, unbans: 3, bannedKicked: 3, newRegistrations: 10 });
    expect(result.broadcastsAccepted).toBeGreaterThan(30);
    expect(result.directsAccepted).toBeGreaterThan(200);
    expect(result.delivered).toBe(result.expectedDeliveries);
    // Generous: a leak of a few KB per message or client would still show; noise won't.
    expect(result.rssMb.peak).toBeLessThan(600);
    expect(result.rssMb.end).toBeLessThan(result.rssMb.afterWarmup * 1.5 + 64);
  });
});
