import { Injectable, Logger } from '@nestjs/common';
import { Broker, type ConnectionState } from '../broker/broker';
import { isClientId } from '../domain/ids';
import { OutboundEvents } from '../events/out/outbound-events';
import { MetricsService } from '../metrics/metrics.service';
import { ClientRepository } from '../store/client.repository';
import type { ClientRecord, ClientStatus } from '../domain/client';
import { CertificateNotFoundError, UserNotFoundError, ValidationFailedError } from '../domain/errors';

export const DEFAULT_PAGE_SIZE = 25;
/** ISO-8601 date-time with seconds optional and a zone required: a time without one would be read in the server's zone. */
const DATE_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:\d{2})$/i;
/** Certificate ids: the embedded CA's serials (hex) and AWS IoT's ids (64 hex). */
const CERTIFICATE_ID = /^[A-Za-z0-9]{1,128}$/;
/** The actor named in the audit line when a timed ban ends by itself. */
export const BAN_EXPIRY_ACTOR = 'ban-expiry';

/** A client as the admin API shows it: its record and, where the broker knows it, its live connection. */
export interface User {
  record: ClientRecord;
  connection?: ConnectionState;
  /** After a ban in an embedded cluster: instances that did not confirm within the bound that they closed its sessions. */
  unconfirmedInstances?: string[];
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
    private readonly events: OutboundEvents,
  ) {}

  async list(query: { status?: ClientStatus; limit?: number; cursor?: string }): Promise<UserPage> {
    const page = await this.clients.list({ status: query.status, limit: query.limit ?? DEFAULT_PAGE_SIZE, cursor: query.cursor });
    const live = await this.broker.clientsConnected(page.items.map((record) => record.clientId));
    return { users: page.items.map((record) => this.withConnection(record, live)), nextCursor: page.nextCursor };
  }

  async get(clientId: string): Promise<User> {
    this.assertClientId(clientId);
    const record = await this.clients.get(clientId);
    if (record === undefined) {
      throw new UserNotFoundError(clientId);
    }
    return this.withConnection(record, await this.broker.clientsConnected([record.clientId]));
  }

  /**
   * Bans or un-bans. Returns only after the broker-side effect is done: a ban
   * has closed the client's live sessions. The store is written first, so a
   * crash between the two leaves the client banned (it can't reconnect), and a
   * retry of the same call finishes the broker side. `expiresAt` (BANNED only,
   * ISO-8601 in the future) makes the ban end by itself (BanExpiry).
   */
  async setStatus(clientId: string, status: ClientStatus, reason: string | undefined, actor: string, expiresAt?: string): Promise<User> {
    this.assertClientId(clientId);
    const banExpiresAt = expiresAt === undefined ? undefined : this.assertBanEnd(status, expiresAt);
    const before = await this.clients.get(clientId);
    const record = await this.clients.setStatus(clientId, { status, reason, expiresAt: banExpiresAt, now: new Date().toISOString() });
    if (record === undefined) {
      throw new UserNotFoundError(clientId);
    }
    let unconfirmed: string[] = [];
    if (status === 'BANNED') {
      // Before the revoke: backends hear of the ban, then of the sessions it closed (`client.disconnected`, reason `ban`).
      if (before?.status !== 'BANNED' || before.banReason !== record.banReason || before.banExpiresAt !== record.banExpiresAt) {
        this.events.emit('client.banned', clientId, { reason: record.banReason, expiresAt: record.banExpiresAt });
      }
      unconfirmed = (await this.broker.revoke(record))?.unconfirmed ?? [];
      if (before?.status !== 'BANNED') {
        this.metrics.bans.inc();
      }
      this.logger.log({ audit: 'user.status', clientId, from: before?.status, to: status, reason, expiresAt: banExpiresAt, actor }, 'client status changed');
    } else {
      await this.broker.grant(record);
      this.unbanned(record, before?.status, actor, { reason });
    }
    // Read after the broker side is done: a ban has closed the sessions by now.
    const user = this.withConnection(record, await this.broker.clientsConnected([record.clientId]));
    return unconfirmed.length > 0 ? { ...user, unconfirmedInstances: unconfirmed } : user;
  }

  /** `live`: who is connected anywhere, when the broker knows it across instances (an embedded cluster). */
  private withConnection(record: ClientRecord, live: Set<string> | undefined): User {
    if (live !== undefined) {
      const connected = live.has(record.clientId);
      return { record, connection: { connected, lastSeenAt: connected ? new Date().toISOString() : undefined } };
    }
    return { record, connection: this.broker.connectionState(record.clientId) };
  }

  /**
   * Lifts a timed ban whose end has passed, as an admin's un-ban would (store, broker, audit line).
   * False when there was nothing to do: the ban changed meanwhile, or another instance lifted it.
   */
  async liftExpiredBan(expired: ClientRecord): Promise<boolean> {
    if (expired.banExpiresAt === undefined) {
      return false;
    }
    const record = await this.clients.expireBan(expired.clientId, expired.banExpiresAt, new Date().toISOString());
    if (record === undefined) {
      return false;
    }
    await this.broker.grant(record);
    this.unbanned(record, 'BANNED', BAN_EXPIRY_ACTOR, { banExpiresAt: expired.banExpiresAt });
    return true;
  }

  /**
   * Every un-ban passes here, an admin's or an expired ban's: the audit line, and the place
   * for the `client.unbanned` outbound event (API.md section 7).
   */
  private unbanned(record: ClientRecord, from: ClientStatus | undefined, actor: string, detail: { reason?: string; banExpiresAt?: string }): void {
    if (from === 'BANNED') {
      this.events.emit('client.unbanned', record.clientId, { reason: detail.reason });
    }
    this.logger.log({ audit: 'user.status', clientId: record.clientId, from, to: record.status, actor, ...detail }, 'client status changed');
  }

  private assertBanEnd(status: ClientStatus, expiresAt: string): string {
    const problem = (message: string): ValidationFailedError => new ValidationFailedError(`expiresAt ${message}.`, [{ field: '/expiresAt', message }]);
    if (status !== 'BANNED') {
      throw problem('is only allowed with status BANNED');
    }
    const end = Date.parse(expiresAt);
    if (!DATE_TIME.test(expiresAt) || !Number.isFinite(end)) {
      throw problem('must be an ISO-8601 date-time with a time zone (e.g. 2030-01-01T00:00:00Z)');
    }
    if (end <= Date.now()) {
      throw problem('must be in the future');
    }
    // One format in the store, so that string comparisons order times correctly.
    return new Date(end).toISOString();
  }

  /**
   * Revokes one certificate: off the record first (CONNECTs with it are refused from then on),
   * then the broker makes it unusable and closes live sessions that used it, before this returns.
   */
  async revokeCertificate(clientId: string, certificateId: string, actor: string): Promise<{ unconfirmedInstances: string[] }> {
    this.assertClientId(clientId);
    const notFound = (): CertificateNotFoundError => new CertificateNotFoundError(clientId, certificateId);
    if (!CERTIFICATE_ID.test(certificateId)) {
      throw notFound();
    }
    const before = await this.clients.get(clientId);
    if (before === undefined) {
      throw new UserNotFoundError(clientId);
    }
    const removed = await this.clients.removeCertificate(clientId, certificateId, new Date().toISOString());
    if (removed === undefined) {
      throw notFound();
    }
    const closed = await this.broker.revokeCertificate(removed.record, { id: certificateId, arn: removed.arn });
    this.logger.log({ audit: 'user.certificate.revoked', clientId, certificateId, actor }, 'certificate revoked');
    return { unconfirmedInstances: closed?.unconfirmed ?? [] };
  }

  private assertClientId(clientId: string): void {
    if (!isClientId(clientId)) {
      throw new ValidationFailedError('Client ids match ^[A-Za-z0-9:._-]{1,128}$.', [
        { field: '/clientId', message: 'must match ^[A-Za-z0-9:._-]{1,128}$' },
      ]);
    }
  }
}
