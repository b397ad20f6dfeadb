import { UserNotFoundError } from '../domain/errors';
import { MetricsService } from '../metrics/metrics.service';
import { InMemoryClientRepository, RecordingBroker, RecordingOutboundEvents } from '../../test/support/fakes';
import { UsersService } from './users.service';

describe('UsersService.setStatus', () => {
  const clients = new InMemoryClientRepository();
  let broker: RecordingBroker;
  let metrics: MetricsService;
  let service: UsersService;
  let events: RecordingOutboundEvents;

  beforeEach(async () => {
    clients.reset();
    broker = new RecordingBroker();
    metrics = new MetricsService();
    events = new RecordingOutboundEvents();
    service = new UsersService(clients, broker, metrics, events.asService);
    await clients.register({ clientId: 'alice', connectionType: 'WEBSOCKET', portalClient: false, now: 't0' });
  });

  it('writes the ban first, then revokes on the broker; counts a ban once', async () => {
    const { record } = await service.setStatus('alice', 'BANNED', 'spam', 'root');
    expect(record.status).toBe('BANNED');
    expect(broker.calls).toEqual(['revoke:alice']);
    await service.setStatus('alice', 'BANNED', undefined, 'root');
    expect(broker.calls).toEqual(['revoke:alice', 'revoke:alice']);
    expect((await metrics.bans.get()).values[0].value).toBe(1);
  });

  it('un-ban grants on the broker', async () => {
    await service.setStatus('alice', 'BANNED', undefined, 'root');
    await service.setStatus('alice', 'REGISTERED', undefined, 'root');
    expect(broker.calls).toEqual(['revoke:alice', 'grant:alice']);
  });

  it('emits client.banned once per ban (not for a repeat of the same ban) and client.unbanned once per un-ban', async () => {
    const expiresAt = new Date(Date.now() + 3_600_000).toISOString();
    await service.setStatus('alice', 'BANNED', 'spam', 'root', expiresAt);
    await service.setStatus('alice', 'BANNED', 'spam', 'root', expiresAt);
    await service.setStatus('alice', 'REGISTERED', 'appeal', 'root');
    await service.setStatus('alice', 'REGISTERED', undefined, 'root');
    expect(events.emitted).toEqual([
      { type: 'client.banned', clientId: 'alice', fields: { reason: 'spam', expiresAt } },
      { type: 'client.unbanned', clientId: 'alice', fields: { reason: 'appeal' } },
    ]);
  });

  it('a broker failure fails the call but the ban stays written (retry finishes it)', async () => {
    broker.revoke = () => Promise.reject(new Error('broker down'));
    await expect(service.setStatus('alice', 'BANNED', undefined, 'root')).rejects.toThrow('broker down');
    expect((await clients.get('alice'))?.status).toBe('BANNED');
  });

  it('unknown and invalid ids', async () => {
    await expect(service.setStatus('nobody', 'BANNED', undefined, 'root')).rejects.toBeInstanceOf(UserNotFoundError);
    await expect(service.get('a/#')).rejects.toMatchObject({ code: 'VALIDATION_FAILED' });
  });

  it('lifts an expired ban once (store, then broker), and not one that was re-banned meanwhile', async () => {
    const soon = new Date(Date.now() + 60_000).toISOString();
    const { record: banned } = await service.setStatus('alice', 'BANNED', 'spam', 'root', soon);
    expect(banned.banExpiresAt).toBe(soon);
    expect(await service.liftExpiredBan(banned)).toBe(true);
    expect(clients.peek('alice')).toMatchObject({ status: 'REGISTERED' });
    expect(clients.peek('alice')?.banExpiresAt).toBeUndefined();
    expect(broker.calls).toEqual(['revoke:alice', 'grant:alice']);
    // A second sweep (or another instance) finds nothing left to do.
    expect(await service.liftExpiredBan(banned)).toBe(false);
    // Re-banned with another end: the old expiry no longer applies.
    await service.setStatus('alice', 'BANNED', undefined, 'root', soon);
    await service.setStatus('alice', 'BANNED', undefined, 'root');
    expect(await service.liftExpiredBan({ ...banned, banExpiresAt: soon })).toBe(false);
    expect(clients.peek('alice')?.status).toBe('BANNED');
  });
});
