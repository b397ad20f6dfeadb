import { Injectable, Logger } from '@nestjs/common';
import { Broker } from '../broker/broker';
import { isClientId } from '../common/ids';
import { ProblemCode, ProblemException } from '../common/problem/problem';
import { MetricsService } from '../metrics/metrics.service';
import { type ClientPage, type ClientRecord, ClientRepository, type ClientStatus } from '../store/client.repository';

export const DEFAULT_PAGE_SIZE = 25;
/** ISO-8601 date-time with seconds optional and a zone required: a time without one would be read in the server's zone. */
const DATE_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:\d{2})$/i;
/** Certificate ids: the embedded CA's serials (hex) and AWS IoT's ids (64 hex). */
const CERTIFICATE_ID = /^[A-Za-z0-9]{1,128}$/;
/** The actor named in the audit line when a timed ban ends by itself. */
export const BAN_EXPIRY_ACTOR = 'ban-expiry';

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
      throw ProblemException.notFound(ProblemCode.USER_NOT_FOUND, `Client ${clientId} is not registered.`);
    }
    return record;
  }

  /**
   * Bans or un-bans. Returns only after the broker-side effect is done: a ban
   * has closed the client's live sessions. The store is written first, so a
   * crash between the two leaves the client banned (it can't reconnect), and a
   * retry of the same call finishes the broker side. `expiresAt` (BANNED only,
   * ISO-8601 in the future) makes the ban end by itself (BanExpiry).
   */
  async setStatus(clientId: string, status: ClientStatus, reason: string | undefined, actor: string, expiresAt?: string): Promise<ClientRecord> {
    this.assertClientId(clientId);
    const banExpiresAt = expiresAt === undefined ? undefined : this.assertBanEnd(status, expiresAt);
    const before = await this.clients.get(clientId);
    const record = await this.clients.setStatus(clientId, { status, reason, expiresAt: banExpiresAt, now: new Date().toISOString() });
    if (record === undefined) {
      throw ProblemException.notFound(ProblemCode.USER_NOT_FOUND, `Client ${clientId} is not registered.`);
    }
    if (status === 'BANNED') {
      await this.broker.revoke(record);
      if (before?.status !== 'BANNED') {
        this.metrics.bans.inc();
      }
      this.logger.log({ audit: 'user.status', clientId, from: before?.status, to: status, reason, expiresAt: banExpiresAt, actor }, 'client status changed');
    } else {
      await this.broker.grant(record);
      this.unbanned(record, before?.status, actor, { reason });
    }
    return record;
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
    this.logger.log({ audit: 'user.status', clientId: record.clientId, from, to: record.status, actor, ...detail }, 'client status changed');
  }

  private assertBanEnd(status: ClientStatus, expiresAt: string): string {
    const problem = (message: string): ProblemException =>
      ProblemException.badRequest(ProblemCode.VALIDATION_FAILED, `expiresAt ${message}.`, [{ field: '/expiresAt', message }]);
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
  async revokeCertificate(clientId: string, certificateId: string, actor: string): Promise<void> {
    this.assertClientId(clientId);
    const notFound = (): ProblemException => ProblemException.notFound(ProblemCode.CERTIFICATE_NOT_FOUND, `Client ${clientId} has no certificate ${certificateId.slice(0, 128)}.`);
    if (!CERTIFICATE_ID.test(certificateId)) {
      throw notFound();
    }
    const before = await this.clients.get(clientId);
    if (before === undefined) {
      throw ProblemException.notFound(ProblemCode.USER_NOT_FOUND, `Client ${clientId} is not registered.`);
    }
    const removed = await this.clients.removeCertificate(clientId, certificateId, new Date().toISOString());
    if (removed === undefined) {
      throw notFound();
    }
    await this.broker.revokeCertificate(removed.record, { id: certificateId, arn: removed.arn });
    this.logger.log({ audit: 'user.certificate.revoked', clientId, certificateId, actor }, 'certificate revoked');
  }

  connection(clientId: string) {
    return this.broker.connectionState(clientId);
  }

  private assertClientId(clientId: string): void {
    if (!isClientId(clientId)) {
      throw ProblemException.badRequest(ProblemCode.VALIDATION_FAILED, 'Client ids match ^[A-Za-z0-9:._-]{1,128}$.', [
        { field: '/clientId', message: 'must match ^[A-Za-z0-9:._-]{1,128}$' },
      ]);
    }
  }
}
