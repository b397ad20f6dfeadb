import { Injectable, Logger } from '@nestjs/common';
import { Broker } from '../broker/broker';
import { isClientId } from '../domain/ids';
import { MetricsService } from '../metrics/metrics.service';
import { type ClientPage, ClientRepository } from '../store/client.repository';
import type { ClientRecord, ClientStatus } from '../domain/client';
import { UserNotFoundError, ValidationFailedError } from '../domain/errors';

export const DEFAULT_PAGE_SIZE = 25;

@Injectable()
export class UsersService {
  private readonly logger = new Logger(UsersService.name);

  constructor(
    private readonly clients: ClientRepository,
    private readonly broker: Broker,
    private readonly metrics: MetricsService,
  ) {}

  async list(query: { status?: ClientStatus; limit?: number; cursor?: string }): Promise<ClientPage> {
    return this.clients.list({ status: query.status, limit: query.limit ?? DEFAULT_PAGE_SIZE, cursor: query.cursor });
  }

  async get(clientId: string): Promise<ClientRecord> {
    this.assertClientId(clientId);
    const record = await this.clients.get(clientId);
    if (record === undefined) {
      throw new UserNotFoundError(clientId);
    }
    return record;
  }

  /**
   * Bans or un-bans. Returns only after the broker-side effect is done: a ban
   * has closed the client's live sessions. The store is written first, so a
   * crash between the two leaves the client banned (it can't reconnect), and a
   * retry of the same call finishes the broker side.
   */
  async setStatus(clientId: string, status: ClientStatus, reason: string | undefined, actor: string): Promise<ClientRecord> {
    this.assertClientId(clientId);
    const before = await this.clients.get(clientId);
    const record = await this.clients.setStatus(clientId, { status, reason, now: new Date().toISOString() });
    if (record === undefined) {
      throw new UserNotFoundError(clientId);
    }
    if (status === 'BANNED') {
      await this.broker.revoke(record);
      if (before?.status !== 'BANNED') {
        this.metrics.bans.inc();
      }
    } else {
      await this.broker.grant(record);
    }
    this.logger.log({ audit: 'user.status', clientId, from: before?.status, to: status, reason, actor }, 'client status changed');
    return record;
  }

  connection(clientId: string) {
    return this.broker.connectionState(clientId);
  }

  private assertClientId(clientId: string): void {
    if (!isClientId(clientId)) {
      throw new ValidationFailedError('Client ids match ^[A-Za-z0-9:._-]{1,128}$.', [
        { field: '/clientId', message: 'must match ^[A-Za-z0-9:._-]{1,128}$' },
      ]);
    }
  }
}
