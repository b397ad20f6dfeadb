import { UserNotFoundError } from '../domain/errors';
import { MetricsService } from '../metrics/metrics.service';
import { InMemoryClientRepository, RecordingBroker } from '../../test/support/fakes';
import { UsersService } from './users.service';

describe('UsersService.setStatus', () => {
  const clients = new InMemoryClientRepository();
  let broker: RecordingBroker;
  let metrics: MetricsService;
  let service: UsersService;

  beforeEach(async () => {
    clients.reset();
    broker = new RecordingBroker();
    metrics = new MetricsService();
    service = new UsersService(clients, broker, metrics);
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

  it('a broker failure fails the call but the ban stays written (retry finishes it)', async () => {
    broker.revoke = () => Promise.reject(new Error('broker down'));
    await expect(service.setStatus('alice', 'BANNED', undefined, 'root')).rejects.toThrow('broker down');
    expect((await clients.get('alice'))?.status).toBe('BANNED');
  });

  it('unknown and invalid ids', async () => {
    await expect(service.setStatus('nobody', 'BANNED', undefined, 'root')).rejects.toBeInstanceOf(UserNotFoundError);
    await expect(service.get('a/#')).rejects.toMatchObject({ code: 'VALIDATION_FAILED' });
  });
});
