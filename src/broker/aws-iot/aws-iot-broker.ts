import { randomUUID } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import {
  AttachPolicyCommand,
  AttachThingPrincipalCommand,
  CreateKeysAndCertificateCommand,
  CreateThingCommand,
  DescribeEndpointCommand,
  DetachPolicyCommand,
  UpdateCertificateCommand,
} from '@aws-sdk/client-iot';
import { DeleteConnectionCommand, PublishCommand } from '@aws-sdk/client-iot-data-plane';
import { Logger, type OnApplicationBootstrap, type OnApplicationShutdown } from '@nestjs/common';
import type { ChannelCatalog } from '../../store/channel-catalog';
import type { AppConfig } from '../../config/app-config';
import type { ClientRepository } from '../../store/client.repository';
import { Broker, type BrokerEndpoint, type ConnectionState, type InternalMqttEndpoint, type IssuedCredentials, type PublishOptions } from '../broker';
import type { StateRepository } from '../../store/state.repository';
import { describeAwsError, isAwsError } from './aws-errors';
import { AwsIotShadows } from './aws-iot-shadows';
import { createIotClients, describeDataEndpoint, type IotClients } from './iot-clients';
import { LifecycleSubscriber } from './lifecycle-events';
import { buildPolicies, POLICY_KINDS, type PolicyKind, policyName, PolicyTooLargeError, serializePolicy } from './policies';
import { syncPolicy } from './policy-sync';
import type { ChannelDefinition } from '../../domain/channel';
import type { ClientRecord, ConnectionType } from '../../domain/client';
import { BrokerRulesTooLargeError, BrokerUnavailableError, DomainError, ValidationFailedError } from '../../domain/errors';

/** How long a readiness answer is reused, so probes don't spend IoT's DescribeEndpoint rate. */
const HEALTH_TTL_MS = 10_000;
/** MQTT client ids of the service's lifecycle subscriptions (the IAM policy allows exactly these). */
export const LIFECYCLE_CLIENT_PREFIX = 'webcommunicator-lifecycle-';
const HEALTH_TIMEOUT_MS = 3_000;
/** Cognito identity ids: `<region>:<uuid>` (the Cognito IdentityId pattern). */
const COGNITO_IDENTITY_ID = /^[\w-]+:[0-9a-f-]+$/;
const COGNITO_IDENTITY_ID_MAX = 55;
/** IoT thing names; a device's thing is named after its client id. */
const THING_NAME = /^[a-zA-Z0-9:_-]{1,128}$/;

type CertificateStatus = 'ACTIVE' | 'INACTIVE';

/**
 * Broker driver for AWS IoT Core. IoT holds the connections and the fan-out;
 * this class manages the IoT policies (generated from the channel table), the
 * principals they are attached to (Cognito identities for WEBSOCKET clients,
 * certificates for OPENSSL devices) and publishes through iot-data. It keeps
 * no state of its own, so any number of instances can run side by side.
 */
export class AwsIotBroker extends Broker implements OnApplicationBootstrap, OnApplicationShutdown {
  readonly kind = 'aws-iot' as const;
  readonly issuesCredentialsLocally = false;

  private readonly logger = new Logger(AwsIotBroker.name);
  private readonly sdk: IotClients;
  private readonly ownsSdk: boolean;
  private readonly policyNames: Record<PolicyKind, string>;
  /** Policy updates run one at a time, in the order the channel changes came in. */
  private policySync: Promise<void> = Promise.resolve();
  /** The three documents last written (or found) in IoT by this instance. */
  private lastSynced?: string;
  private readonly stopCatalogSync: () => void;
  private health?: { checkedAt: number; result: Promise<void> };
  private rootCaPem?: string;
  private readonly shadows: AwsIotShadows;
  private lifecycle?: LifecycleSubscriber;

  constructor(
    private readonly config: AppConfig,
    // Same constructor shape as the embedded driver; IoT itself keeps the live state this driver would need it for.
    _clients: ClientRepository,
    private readonly catalog: ChannelCatalog,
    sdk?: IotClients,
  ) {
    super();
    this.ownsSdk = sdk === undefined;
    this.sdk = sdk ?? createIotClients(config);
    const prefix = config.broker.iot.policyPrefix;
    this.shadows = new AwsIotShadows(this.sdk.data);
    this.policyNames = { Player: policyName(prefix, 'Player'), Device: policyName(prefix, 'Device'), Portal: policyName(prefix, 'Portal') };
    this.stopCatalogSync = catalog.onChange((channels) => this.channelsChangedElsewhere(channels));
  }

  /** Brings the IoT policies in line with the channel table before the app serves; starts hearing lifecycle events. */
  async onApplicationBootstrap(): Promise<void> {
    this.startLifecycleEvents();
    const rootCaFile = this.config.broker.iot.rootCaFile;
    if (rootCaFile !== undefined) {
      this.rootCaPem = await readFile(rootCaFile, 'utf8');
    }
    try {
      await this.syncPolicies(await this.catalog.all());
    } catch (error) {
      // Keep serving with the rules IoT has: failing every start would take the whole service down over one channel too many.
      if (error instanceof PolicyTooLargeError) {
        this.logger.error(`${error.message}; IoT keeps the previous policy version until the channel table fits`);
        return;
      }
      throw error;
    }
  }

  async onApplicationShutdown(): Promise<void> {
    this.stopCatalogSync();
    await this.lifecycle?.stop();
    if (this.ownsSdk) {
      this.sdk.iot.destroy();
      this.sdk.data.destroy();
    }
  }

  /**
   * Presence and `client.connected` / `client.disconnected` come from IoT Core's lifecycle events
   * (API.md section 7), heard with the service's own IAM credentials over MQTT/WebSocket (SigV4).
   * Every instance hears every event; the events carry the same id everywhere.
   */
  private startLifecycleEvents(): void {
    const { iot } = this.config.broker;
    if (!iot.lifecycleEvents || this.lifecycle !== undefined) {
      return;
    }
    this.lifecycle = new LifecycleSubscriber({
      url: async () => iot.mqttUrl ?? `wss://${iot.dataEndpoint ?? (await describeDataEndpoint(this.sdk.iot))}/mqtt`,
      region: this.config.aws.region,
      clientId: `${LIFECYCLE_CLIENT_PREFIX}${randomUUID()}`,
      onEvent: (event) => {
        for (const error of this.clientLifecycle(event)) {
          this.logger.error(`client lifecycle listener failed: ${describeAwsError(error)}`);
        }
      },
    });
    this.lifecycle.start();
  }

  async publish(topic: string, payload: Buffer, options?: PublishOptions): Promise<void> {
    const qos = options?.qos ?? this.config.broker.iot.qos;
    try {
      await this.sdk.data.send(new PublishCommand({ topic, qos, payload }));
    } catch (error) {
      throw this.unavailable(`publish to ${topic}`, error);
    }
  }

  /** IoT names the principal after the client id: a Cognito identity (WEBSOCKET) or a thing (OPENSSL). */
  override checkClientId(clientId: string, connectionType: ConnectionType): void {
    switch (connectionType) {
      case 'WEBSOCKET':
        if (cognitoIdentity(clientId) === undefined) {
          throw new ValidationFailedError(
            `With AWS IoT, a WEBSOCKET client id must be a Cognito identity id (region:uuid), got "${clientId}"; check AUTH_CLIENT_ID_CLAIM`,
          );
        }
        return;
      case 'OPENSSL':
        if (!THING_NAME.test(clientId)) {
          throw new ValidationFailedError(
            `With AWS IoT, an OPENSSL client id is also the device's thing name and must match [a-zA-Z0-9:_-]{1,128}, got "${clientId}"`,
          );
        }
        return;
    }
  }

  async issueCredentials(client: ClientRecord, connectionType: ConnectionType): Promise<IssuedCredentials> {
    this.checkClientId(client.clientId, connectionType);
    switch (connectionType) {
      case 'WEBSOCKET':
        return this.issueForIdentity(client);
      case 'OPENSSL':
        return this.issueCertificate(client);
    }
  }

  async grant(client: ClientRecord): Promise<void> {
    const identity = cognitoIdentity(client.clientId);
    await this.call(`grant rights to ${client.clientId}`, () =>
      Promise.all([
        ...(identity === undefined ? [] : [this.attach(client.portalClient ? 'Portal' : 'Player', identity)]),
        ...(client.certificateArns ?? []).map((arn) => this.attach(client.portalClient ? 'Portal' : 'Device', arn)),
        ...(client.certificateIds ?? []).map((id) => this.setCertificateStatus(id, 'ACTIVE')),
      ]),
    );
  }

  /**
   * Detaches every policy this service manages from every principal of the
   * client, deactivates its certificates, then closes its live connection:
   * once rights are gone it can't connect again, so the disconnect is final.
   */
  async revoke(client: ClientRecord): Promise<void> {
    const identity = cognitoIdentity(client.clientId);
    const principals = [...(identity === undefined ? [] : [identity]), ...(client.certificateArns ?? [])];
    await this.call(`revoke rights of ${client.clientId}`, async () => {
      await Promise.all([
        ...principals.flatMap((principal) => POLICY_KINDS.map((kind) => this.detach(kind, principal))),
        ...(client.certificateIds ?? []).map((id) => this.setCertificateStatus(id, 'INACTIVE')),
      ]);
      await this.disconnect(client.clientId);
    });
  }

  /**
   * One certificate only: detach this service's policies from it, set it INACTIVE (IoT then refuses
   * it at the TLS handshake), and close the client's live connection (IoT disconnects by client id,
   * so a session on another of its certificates reconnects; the revoked one can't). The persistent
   * session is kept, as on the embedded broker: it belongs to the client id, not to a certificate,
   * and the client's other certificates resume it.
   */
  async revokeCertificate(client: ClientRecord, certificate: { id: string; arn?: string }): Promise<void> {
    await this.call(`revoke certificate ${certificate.id} of ${client.clientId}`, async () => {
      if (certificate.arn !== undefined) {
        const arn = certificate.arn;
        await Promise.all(POLICY_KINDS.map((kind) => this.detach(kind, arn)));
      }
      await this.setCertificateStatus(certificate.id, 'INACTIVE');
      await this.disconnect(client.clientId, { keepSession: true });
    });
  }

  /**
   * A demoted client: the portal policy comes off its identity and certificates (the player or
   * device policy goes on instead, as a registration of its new kind would do), and its live
   * connection is closed so it reconnects with the rights it has now.
   */
  async revokePortalRights(client: ClientRecord): Promise<void> {
    const identity = cognitoIdentity(client.clientId);
    await this.call(`revoke portal rights of ${client.clientId}`, async () => {
      await Promise.all([
        ...(identity === undefined ? [] : [this.detach('Portal', identity)]),
        ...(client.certificateArns ?? []).map(async (arn) => {
          await this.attach('Device', arn);
          await this.detach('Portal', arn);
        }),
      ]);
      await this.disconnect(client.clientId);
    });
  }

  async endpoint(connectionType: ConnectionType): Promise<BrokerEndpoint> {
    const host =
      this.config.broker.iot.dataEndpoint ?? (await this.call('describe the IoT endpoint', () => describeDataEndpoint(this.sdk.iot)));
    switch (connectionType) {
      case 'WEBSOCKET':
        return { endpoint: host, port: 443, url: `wss://${host}:443/mqtt` };
      case 'OPENSSL':
        return { endpoint: host, port: 8883, url: `mqtts://${host}:8883` };
    }
  }

  async channelsChanged(channels: ChannelDefinition[]): Promise<void> {
    try {
      await this.syncPolicies(channels);
    } catch (error) {
      if (error instanceof PolicyTooLargeError) {
        throw new BrokerRulesTooLargeError(`${error.message}. IoT keeps the previous rules.`, { cause: error });
      }
      throw error;
    }
  }

  /** IoT has no endpoint for the service's own clients: the MQTT events transport needs EVENTS_URL. */
  internalMqttEndpoint(): InternalMqttEndpoint | undefined {
    return undefined;
  }

  /** State documents are the things' Device Shadows; IoT Core publishes the shadow topics itself. */
  override shadowDocuments(): StateRepository {
    return this.shadows;
  }

  /** IoT doesn't push connection events to this service; unknown. */
  connectionState(_clientId: string): ConnectionState | undefined {
    return undefined;
  }

  async checkHealth(): Promise<void> {
    const now = Date.now();
    if (this.health === undefined || now - this.health.checkedAt > HEALTH_TTL_MS) {
      const result = this.sdk.iot
        .send(new DescribeEndpointCommand({ endpointType: 'iot:Data-ATS' }), { abortSignal: AbortSignal.timeout(HEALTH_TIMEOUT_MS) })
        .then(
          () => undefined,
          (error: unknown) => {
            throw new BrokerUnavailableError(`AWS IoT unreachable: ${describeAwsError(error)}`, { cause: error });
          },
        );
      this.health = { checkedAt: now, result };
    }
    await this.health.result;
  }

  /**
   * The catalog saw the stored channel table change (an edit through another instance): the policies
   * follow when they differ from what this instance last wrote. This is what settles a race between
   * instances writing different tables (one starting with the table read just before another's edit):
   * every instance converges on the stored table within the catalog's refresh bound. An edit through
   * this instance already synced the same documents: nothing is sent.
   */
  private async channelsChangedElsewhere(channels: readonly ChannelDefinition[]): Promise<void> {
    try {
      await this.syncPolicies(channels, { unlessSynced: true });
    } catch (error) {
      const detail = error instanceof PolicyTooLargeError ? error.message : describeAwsError(error);
      this.logger.error(`IoT policies not brought in line with the stored channel table: ${detail}`);
    }
  }

  private syncPolicies(channels: readonly ChannelDefinition[], options: { unlessSynced?: boolean } = {}): Promise<void> {
    const run = this.policySync
      .catch(() => undefined)
      .then(() => (options.unlessSynced && this.documentTexts(channels).join('\n') === this.lastSynced ? undefined : this.writePolicies(channels)));
    this.policySync = run;
    return run;
  }

  /** The three documents in POLICY_KINDS order; throws PolicyTooLargeError when one is over IoT's limit. */
  private documentTexts(channels: readonly ChannelDefinition[]): string[] {
    const documents = buildPolicies(channels, {
      topicPrefix: this.config.broker.topicPrefix,
      region: this.config.aws.region,
      policyPrefix: this.config.broker.iot.policyPrefix,
    });
    return POLICY_KINDS.map((kind) => serializePolicy(this.policyNames[kind], documents[kind]));
  }

  private async writePolicies(channels: readonly ChannelDefinition[]): Promise<void> {
    // Size-check all three before changing any, so IoT never holds a mix of old and new rules for this reason.
    const texts = this.documentTexts(channels);
    this.lastSynced = undefined;
    for (const [index, kind] of POLICY_KINDS.entries()) {
      const name = this.policyNames[kind];
      const result = await this.call(`update IoT policy ${name}`, () => syncPolicy(this.sdk.iot, name, texts[index]));
      if (result !== 'unchanged') {
        this.logger.log(`IoT policy ${name} ${result}`);
      }
    }
    this.lastSynced = texts.join('\n');
  }

  /** WEBSOCKET: the client connects with its Cognito credentials (SigV4); its rights are the policy attached to its identity. */
  private async issueForIdentity(client: ClientRecord): Promise<IssuedCredentials> {
    // checkClientId made sure it is one.
    const identity = client.clientId;
    const wanted: PolicyKind = client.portalClient ? 'Portal' : 'Player';
    const other: PolicyKind = client.portalClient ? 'Player' : 'Portal';
    await this.call(`grant rights to ${client.clientId}`, async () => {
      await this.attach(wanted, identity);
      // A client re-registered with the other role must not keep the rights of the first.
      await this.detach(other, identity);
    });
    return {};
  }

  /** OPENSSL: a new active certificate, attached to the device's thing (named after its client id) and to the device (or portal) policy. */
  private async issueCertificate(client: ClientRecord): Promise<IssuedCredentials> {
    const thingName = client.clientId;
    const created = await this.call('create a certificate', () =>
      this.sdk.iot.send(new CreateKeysAndCertificateCommand({ setAsActive: true })),
    );
    const { certificateArn, certificateId, certificatePem } = created;
    const privateKeyPem = created.keyPair?.PrivateKey;
    if (!certificateArn || !certificateId || !certificatePem || !privateKeyPem) {
      throw new BrokerUnavailableError('AWS IoT returned an incomplete certificate');
    }
    try {
      await this.ensureThing(thingName);
      await this.sdk.iot.send(
        new AttachThingPrincipalCommand({ thingName, principal: certificateArn, thingPrincipalType: 'EXCLUSIVE_THING' }),
      );
      await this.attach(client.portalClient ? 'Portal' : 'Device', certificateArn);
    } catch (error) {
      // The client never learns this certificate; leave it unusable.
      await this.setCertificateStatus(certificateId, 'INACTIVE').catch((cleanup: unknown) =>
        this.logger.warn(`could not deactivate unused certificate ${certificateId}: ${describeAwsError(cleanup)}`),
      );
      throw this.unavailable(`set up the certificate of ${thingName}`, error);
    }
    this.logger.log(`issued certificate ${certificateId} to ${thingName}`);
    return {
      certificatePem,
      privateKeyPem,
      certificateId,
      certificateArn,
      ...(this.rootCaPem === undefined ? {} : { caCertificatePem: this.rootCaPem }),
    };
  }

  private async ensureThing(thingName: string): Promise<void> {
    try {
      await this.sdk.iot.send(new CreateThingCommand({ thingName }));
    } catch (error) {
      if (!isAwsError(error, 'ResourceAlreadyExistsException')) {
        throw error;
      }
    }
  }

  private async attach(kind: PolicyKind, target: string): Promise<void> {
    await this.sdk.iot.send(new AttachPolicyCommand({ policyName: this.policyNames[kind], target }));
  }

  /** Detaching what isn't attached (or is gone) is not an error. */
  private async detach(kind: PolicyKind, target: string): Promise<void> {
    try {
      await this.sdk.iot.send(new DetachPolicyCommand({ policyName: this.policyNames[kind], target }));
    } catch (error) {
      if (!isAwsError(error, 'ResourceNotFoundException')) {
        throw error;
      }
    }
  }

  private async setCertificateStatus(certificateId: string, newStatus: CertificateStatus): Promise<void> {
    try {
      await this.sdk.iot.send(new UpdateCertificateCommand({ certificateId, newStatus }));
    } catch (error) {
      // A deleted or revoked certificate can't be used either way.
      if (!isAwsError(error, 'ResourceNotFoundException', 'CertificateStateException')) {
        throw error;
      }
      this.logger.warn(`certificate ${certificateId} left as is: ${describeAwsError(error)}`);
    }
  }

  /**
   * Closes the client's live MQTT connection, if it has one, and discards its persistent session
   * (IoT Core's `cleanSession`) unless told to keep it.
   */
  private async disconnect(clientId: string, options: { keepSession?: boolean } = {}): Promise<void> {
    try {
      await this.sdk.data.send(new DeleteConnectionCommand({ clientId, cleanSession: options.keepSession !== true }));
    } catch (error) {
      // Not connected.
      if (!isAwsError(error, 'ResourceNotFoundException')) {
        throw error;
      }
    }
  }

  /** Runs IoT calls (already retried by the SDK); a failure means the broker can't make the change now. */
  private async call<T>(action: string, run: () => Promise<T>): Promise<T> {
    try {
      return await run();
    } catch (error) {
      if (error instanceof DomainError) {
        throw error;
      }
      throw this.unavailable(action, error);
    }
  }

  private unavailable(action: string, error: unknown): BrokerUnavailableError {
    const detail = describeAwsError(error);
    this.logger.warn(`AWS IoT: could not ${action}: ${detail}`);
    return new BrokerUnavailableError(`AWS IoT: could not ${action}: ${detail}`, { cause: error });
  }
}

/** The client id as a Cognito identity (the principal WEBSOCKET clients connect as), when it is one. */
function cognitoIdentity(clientId: string): string | undefined {
  return clientId.length <= COGNITO_IDENTITY_ID_MAX && COGNITO_IDENTITY_ID.test(clientId) ? clientId : undefined;
}
