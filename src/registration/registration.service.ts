import { randomUUID } from 'node:crypto';
import { Injectable, Logger } from '@nestjs/common';
import { Broker, type IssuedCredentials } from '../broker/broker';
import type { ApiCaller } from '../common/auth/api-caller';
import { AppConfig } from '../config/app-config';
import { MetricsService } from '../metrics/metrics.service';
import { ClientRepository } from '../store/client.repository';
import { type RegistrationResponseDto, toRegistrationResponse } from './registration.dto';
import type { ConnectionType } from '../domain/client';
import { OpensslNotEnabledError } from '../domain/errors';

@Injectable()
export class RegistrationService {
  private readonly logger = new Logger(RegistrationService.name);

  constructor(
    private readonly config: AppConfig,
    private readonly clients: ClientRepository,
    private readonly broker: Broker,
    private readonly metrics: MetricsService,
  ) {}

  /** A plain client registers itself (receive-only rights). */
  async registerClient(caller: ApiCaller, connectionType: ConnectionType): Promise<RegistrationResponseDto> {
    if (connectionType === 'OPENSSL' && !this.config.registration.clientOpenssl) {
      throw new OpensslNotEnabledError();
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

  private async register(clientId: string, connectionType: ConnectionType, portalClient: boolean): Promise<RegistrationResponseDto> {
    // Before anything is stored: a registration the broker can't serve must leave no client behind.
    this.broker.checkClientId(clientId, connectionType);
    const input = { clientId, connectionType, portalClient, now: new Date().toISOString() };
    let credentials: IssuedCredentials;
    if (this.broker.issuesCredentialsLocally) {
      // One store write: the credentials are made first (nothing outside this process sees them) and
      // stored with the registration, atomically with the ban check; a banned client's are discarded.
      credentials = await this.broker.issueCredentials({ ...input, status: 'REGISTERED', registeredAt: input.now, updatedAt: input.now }, connectionType);
      const certificate = credentials.certificateId === undefined ? undefined : { id: credentials.certificateId, arn: credentials.certificateArn };
      await this.clients.register({ ...input, certificate });
    } else {
      // The ban check (a ClientBannedError is 403 CLIENT_BANNED) before the broker creates anything.
      const record = await this.clients.register(input);
      credentials = await this.broker.issueCredentials(record, connectionType);
      if (credentials.certificateId !== undefined) {
        await this.clients.addCertificate(clientId, credentials.certificateId, credentials.certificateArn, new Date().toISOString());
      }
    }
    const endpoint = await this.broker.endpoint(connectionType);
    this.metrics.registrations.inc({ connection_type: connectionType, portal: String(portalClient) });
    this.logger.log({ clientId, connectionType, portalClient, certificateId: credentials.certificateId }, 'client registered');
    return toRegistrationResponse(clientId, connectionType, endpoint, credentials);
  }
}
