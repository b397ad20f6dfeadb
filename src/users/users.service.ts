import { Injectable, Logger } from '@nestjs/common';
import { Broker, type ConnectionState } from '../broker/broker';
import { isClientId } from '../domain/ids';
import { MetricsService } from '../metrics/metrics.service';
import { ClientRepository } from '../store/client.repository';
import type { ClientRecord, ClientStatus } from '../domain/client';
import { UserNotFoundError, ValidationFailedError } from '../domain/errors';

export const DEFAULT_PAGE_SIZE = 25;

/** A client as the admin API shows it: its record and, where the broker knows it, its live connection. */
export interface User {
  record: ClientRecord;
  connection?: ConnectionState;
}

export interface UserPage {
  users: User[];
  nextCursor?: string;
}

@Injectable()
export class UsersService {
  private readonly logger = new Logger(UsersService.name);

  constructor(
    private readonly clients: ClientRepository,
    private readonly broker: Broker,
    private readonly metrics: MetricsService,
  ) {}

  async list(query: { status?: ClientStatus; limit?: number; cursor?: string }): Promise<UserPage> {
    const page = await this.clients.list({ status: query.status, limit: query.limit ?? DEFAULT_PAGE_SIZE, cursor: query.cursor });
    return { users: page.items.map((record) => this.withConnection(record)), nextCursor: page.nextCursor };
  }

  async get(clientId: string): Promise<User> {
    this.assertClientId(clientId);
    const record = await this.clients.get(clientId);
    if (record === undefined) {
      throw new UserNotFoundError(clientId);
    }
    return this.withConnection(record);
  }

  /**
   * Bans or un-bans. Returns only after the broker-side effect is done: a ban
   * has closed the client's live sessions. The store is written first, so a
   * crash between the two leaves the client banned (it can't reconnect), and a
   * retry of the same call finishes the broker side.
   */
  async setStatus(clientId: string, status: ClientStatus, reason: string | undefined, actor: string): Promise<User> {
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
    // Read after the broker side is done: a ban has closed the sessions by now.
    return this.withConnection(record);
  }

  private withConnection(record: ClientRecord): User {
    return { record, connection: this.broker.connectionState(record.clientId) };
  }

  private assertClientId(clientId: string): void {
    if (!isClientId(clientId)) {
      throw new ValidationFailedError('Client ids match ^[A-Za-z0-9:._-]{1,128}$.', [
        { field: '/clientId', message: 'must match ^[A-Za-z0-9:._-]{1,128}$' },
      ]);
    }
  }
}
