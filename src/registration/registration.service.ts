import { randomUUID } from 'node:crypto';
import { Injectable, Logger } from '@nestjs/common';
import { Broker, type IssuedCredentials } from '../broker/broker';
import type { ApiCaller } from '../common/auth/api-caller';
import { AppConfig } from '../config/app-config';
import { OutboundEvents } from '../events/out/outbound-events';
import { MetricsService } from '../metrics/metrics.service';
import { RateLimiter } from '../publishing/rate-limiter';
import { ClientRepository } from '../store/client.repository';
import { type RegistrationResponseDto, toRegistrationResponse } from './registration.dto';
import type { ClientRecord, ConnectionType } from '../domain/client';
import { OpensslNotEnabledError, RateLimitedError, TooManyCertificatesError } from '../domain/errors';

@Injectable()
export class RegistrationService {
  private readonly logger = new Logger(RegistrationService.name);
  private readonly opensslLimiter = new RateLimiter();

  constructor(
    private readonly config: AppConfig,
    private readonly clients: ClientRepository,
    private readonly broker: Broker,
    private readonly metrics: MetricsService,
    private readonly events: OutboundEvents,
  ) {}

  /** A plain client registers itself (receive-only rights). */
  async registerClient(caller: ApiCaller, connectionType: ConnectionType): Promise<RegistrationResponseDto> {
    if (connectionType === 'OPENSSL') {
      if (!this.config.registration.clientOpenssl) {
        throw new OpensslNotEnabledError();
      }
      // Each one costs a key pair and a certificate (and, on AWS IoT, a certificate and a thing).
      const perHour = this.config.registration.clientOpensslPerHour;
      const wait = this.opensslLimiter.take(caller.clientId, { messages: perHour, perSeconds: 3600 });
      if (wait > 0) {
        throw new RateLimitedError(`A client may make ${perHour} OPENSSL registrations per hour.`, wait);
      }
    }
    return this.register(caller.clientId, connectionType, false);
  }

  /**
   * An admin registers a portal client (WEBSOCKET: the portal page or an editor,
   * with live-view rights) or a device (OPENSSL: plain receive-only rights).
   */
  async registerPortalClient(caller: ApiCaller, connectionType: ConnectionType, clientId?: string): Promise<RegistrationResponseDto> {
    const id = clientId ?? (connectionType === 'WEBSOCKET' ? caller.clientId : `device-${randomUUID()}`);
    return this.register(id, connectionType, connectionType === 'WEBSOCKET');
  }

  /** AWS IoT: the certificate exists already; if the cap was reached meanwhile, it is revoked again. */
  private async storeIssuedCertificate(record: ClientRecord, credentials: IssuedCredentials, maxCertificates: number): Promise<void> {
    const certificate = { id: credentials.certificateId!, arn: credentials.certificateArn };
    try {
      await this.clients.addCertificate(record.clientId, certificate.id, certificate.arn, new Date().toISOString(), maxCertificates);
    } catch (error) {
      if (error instanceof TooManyCertificatesError) {
        await this.broker.revokeCertificate(record, certificate);
      }
      throw error;
    }
  }

  private async register(clientId: string, connectionType: ConnectionType, portalClient: boolean): Promise<RegistrationResponseDto> {
    // Before anything is stored: a registration the broker can't serve must leave no client behind.
    this.broker.checkClientId(clientId, connectionType);
    const input = { clientId, connectionType, portalClient, now: new Date().toISOString() };
    const maxCertificates = this.config.registration.maxCertificatesPerClient;
    // A portal client re-registered as anything else loses portal rights on its live sessions too.
    const before = portalClient ? undefined : await this.clients.get(clientId);
    let credentials: IssuedCredentials;
    let record: ClientRecord;
    if (this.broker.issuesCredentialsLocally) {
      // One store write: the credentials are made first (nothing outside this process sees them) and
      // stored with the registration, atomically with the ban check and the certificate cap (TooManyCertificatesError, 409).
      credentials = await this.broker.issueCredentials({ ...input, status: 'REGISTERED', registeredAt: input.now, updatedAt: input.now }, connectionType);
      const certificate = credentials.certificateId === undefined ? undefined : { id: credentials.certificateId, arn: credentials.certificateArn };
      record = await this.clients.register({ ...input, certificate, maxCertificates });
    } else {
      // The ban check (a ClientBannedError is 403 CLIENT_BANNED) and the cap before the broker creates anything.
      record = await this.clients.register(input);
      if (connectionType === 'OPENSSL' && (record.certificateIds?.length ?? 0) >= maxCertificates) {
        throw new TooManyCertificatesError(clientId, maxCertificates);
      }
      credentials = await this.broker.issueCredentials(record, connectionType);
      if (credentials.certificateId !== undefined) {
        await this.storeIssuedCertificate(record, credentials, maxCertificates);
      }
    }
    if (before?.portalClient === true && !record.portalClient) {
      await this.broker.revokePortalRights(record);
    }
    const endpoint = await this.broker.endpoint(connectionType);
    this.metrics.registrations.inc({ connection_type: connectionType, portal: String(portalClient) });
    this.events.emit('client.registered', clientId, { connectionType, portalClient });
    this.logger.log({ clientId, connectionType, portalClient, certificateId: credentials.certificateId }, 'client registered');
    return toRegistrationResponse(clientId, connectionType, endpoint, credentials);
  }
}
