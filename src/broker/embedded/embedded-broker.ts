import { randomBytes } from 'node:crypto';
import type { EventEmitter } from 'node:events';
import type { Server as HttpServer } from 'node:http';
import { join } from 'node:path';
import { type BeforeApplicationShutdown, Logger, type OnApplicationBootstrap, type OnApplicationShutdown } from '@nestjs/common';
import type { HttpAdapterHost } from '@nestjs/core';
import { Aedes, type PublishPacket } from 'aedes';
import type { RedisLink } from '../../cluster/redis-link';
import type { ChannelCatalog } from '../../store/channel-catalog';
import { loadOrCreateSecret } from '../../common/secrets';
import { Topics } from '../../domain/topics';
import type { AppConfig } from '../../config/app-config';
import type { MetricsService } from '../../metrics/metrics.service';
import type { ClientRepository } from '../../store/client.repository';
import { Broker, type BrokerEndpoint, type ClientLifecycleEvent, type ClusterStatus, type ConnectionState, type InternalMqttEndpoint, type IssuedCredentials, type PublishOptions, type SessionsClosed, type ShadowRequestHandler } from '../broker';
import { checkInternals } from './aedes-internals';
import { BrokerAcl, INTERNAL_TOPIC_PREFIX } from './broker-acl';
import { CertificateAuthority } from './certificate-authority';
import { normalSerial } from './certificate-serial';
import { ConnectionTokens } from './connection-tokens';
import { addressPort, MQTT_WS_PATH, MqttListeners } from './listeners';
import { INTERNAL_USERNAME, MqttHooks } from './mqtt-hooks';
import { type CloseCommand, EmbeddedCluster } from './embedded-cluster';
import { PersistentSessions } from './persistent-sessions';
import { SessionRegistry } from './session-registry';
import type { ChannelDefinition } from '../../domain/channel';
import type { ClientRecord, ConnectionType } from '../../domain/client';
import { BrokerUnavailableError, errorMessage } from '../../domain/errors';

export { INTERNAL_TOPIC_PREFIX } from './broker-acl';
export { MQTT_WS_PATH } from './listeners';
export { INTERNAL_CLIENT_ID_PREFIX, INTERNAL_USERNAME } from './mqtt-hooks';

/** What the service's internal MQTT client (the `mqtt` events transport) connects with. */
export interface InternalConnection {
  /** `mqtt://127.0.0.1:<port>`: loopback only. */
  url: string;
  username: string;
  /** Random per process; never logged. */
  password: string;
}

/** Room for the topic and headers around the largest payload we accept. */
const PACKET_OVERHEAD_BYTES = 65_536 + 16;

/**
 * The embedded broker: Aedes in the service's process, behind the Broker port.
 *
 * Where its parts are:
 * - listeners.ts: MQTT over WebSocket on the HTTP port, TLS, the internal loopback listener;
 * - mqtt-hooks.ts: CONNECT authentication, SUBSCRIBE / PUBLISH authorization (rules in broker-acl.ts);
 * - session-registry.ts: who is connected where, revoke, close reasons, lifecycle listeners;
 * - aedes-internals/: every patch on Aedes, `ws` and mqtt-packet internals, and the start-up
 *   self-check that refuses to start when one of them changed shape.
 *
 * Developer notes (why it is built this way):
 * - Authorization reads the store and the channel catalog live (status at CONNECT and at
 *   every SUBSCRIBE, channels through ChannelCatalog), so a ban, an un-ban or a channel edit
 *   needs no broker-side state: `grant` and `channelsChanged` have nothing to do.
 * - Duplicate client id: the newest connection wins. Aedes closes the older session when a
 *   second CONNECT with the same id is accepted ([MQTT-3.1.4-2]).
 * - Persistent sessions (clean session off): Aedes' own in-memory persistence, bounded,
 *   expired and discarded on a ban by persistent-sessions.ts; lost on a restart.
 * - Delivery cost: the one hook per delivered message (authorizeForward) returns at once for
 *   clean sessions, WebSocket frames are coalesced per packet, nothing is compressed, and a subscriber that stops reading is dropped at
 *   MQTT_MAX_CLIENT_BUFFER_BYTES instead of stalling the fan-out (aedes-internals/).
 */
export class EmbeddedBroker extends Broker implements OnApplicationBootstrap, BeforeApplicationShutdown, OnApplicationShutdown {
  readonly kind = 'embedded' as const;
  readonly issuesCredentialsLocally = true;
  /** False in an embedded cluster (REDIS_URL): sessions live on every instance. */
  override readonly sessionsAreLocal: boolean;

  /** Who is connected where; listen here for session lifecycle events. */
  readonly sessions: SessionRegistry;

  private readonly logger = new Logger(EmbeddedBroker.name);
  private readonly acl: BrokerAcl;
  private readonly listeners: MqttListeners;
  /** Sessions kept for clients that connect with clean session off (API.md section 4). */
  private readonly persistentSessions: PersistentSessions;
  private readonly internalSecret = randomBytes(32).toString('base64url');
  /** This instance's part in an embedded cluster (REDIS_URL); undefined on its own. */
  private readonly cluster?: EmbeddedCluster;

  private aedes?: Aedes;
  private ca?: CertificateAuthority;
  private tokens?: ConnectionTokens;
  private starting?: Promise<void>;
  private stopping = false;
  private shadowRequests?: ShadowRequestHandler;

  constructor(
    private readonly config: AppConfig,
    private readonly clients: ClientRepository,
    catalog: ChannelCatalog,
    private readonly metrics: MetricsService,
    private readonly httpAdapterHost: HttpAdapterHost,
    redis?: RedisLink,
  ) {
    super();
    if (redis?.enabled === true) {
      this.cluster = new EmbeddedCluster({
        link: redis,
        metrics,
        confirmTimeoutMs: config.cluster.confirmTimeoutMs,
        closeLocal: (command) => this.closeLocal(command),
        takenOver: (clientId) => {
          this.sessions.takenOver(clientId);
          // The client's session now lives where it connected: what this instance kept for it would be replayed twice if it came back.
          this.persistentSessions.discard(clientId, 'moved').catch((error: unknown) => this.logger.warn(`could not discard the session of ${clientId}: ${errorMessage(error)}`));
        },
      });
    }
    this.sessionsAreLocal = this.cluster === undefined;
    this.acl = new BrokerAcl(new Topics(config.broker.topicPrefix), catalog);
    this.sessions = new SessionRegistry(clients, metrics);
    this.persistentSessions = new PersistentSessions({ ...config.broker.sessions, metrics, onDiscarded: (clientId) => this.cluster?.sessionDiscarded(clientId) });
    this.sessions.onOpened((session) => {
      if (session.transport !== 'internal') {
        this.cluster?.sessionOpened(session.clientId);
        this.lifecycle({ kind: 'connected', clientId: session.clientId, transport: session.transport, time: new Date().toISOString() });
      }
    });
    this.sessions.onClosed((session, reason) => {
      if (session.transport !== 'internal') {
        this.cluster?.sessionClosed(session.clientId);
        this.lifecycle({
          kind: 'disconnected',
          clientId: session.clientId,
          // The broker stopping is no fault of the client's; the contract has no word for it.
          reason: reason === 'shutdown' ? 'error' : reason,
          time: new Date().toISOString(),
          stillConnected: this.sessions.isConnected(session.clientId),
        });
      }
    });
    this.listeners = new MqttListeners(config, this.sessions, {
      maxBufferedBytes: config.broker.maxClientBufferBytes,
      maxInboundPacketBytes: config.broker.maxPayloadBytes + PACKET_OVERHEAD_BYTES,
    });
  }

  private lifecycle(event: ClientLifecycleEvent): void {
    for (const error of this.clientLifecycle(event)) {
      this.logger.error(`client lifecycle listener failed: ${errorMessage(error)}`);
    }
  }

  // ---- lifecycle ---------------------------------------------------------------------------

  async onApplicationBootstrap(): Promise<void> {
    this.starting ??= this.start();
    await this.starting;
  }

  /**
   * WebSocket sessions end before Nest closes the HTTP server: upgraded sockets keep an
   * HTTP server's close() waiting. TLS and internal sessions stay up until
   * onApplicationShutdown, after the events consumer (a Nest microservice) has stopped.
   */
  async beforeApplicationShutdown(): Promise<void> {
    this.stopping = true;
    this.listeners.detachWebSocket();
    await this.sessions.shutdown(['websocket']);
    // Before Redis connections close (onApplicationShutdown): the others stop counting on this instance now.
    await this.cluster?.stop();
  }

  async onApplicationShutdown(): Promise<void> {
    await this.starting?.catch(() => undefined);
    await this.stop();
  }

  private async start(): Promise<void> {
    const { broker, dataDir, publicHost } = this.config;
    const tokens = new ConnectionTokens(
      broker.connectionTokenSecret ?? loadOrCreateSecret(join(dataDir, 'broker-token.secret')),
      broker.connectionTokenTtlSeconds,
    );
    this.tokens = tokens;
    this.ca = await CertificateAuthority.open({
      dataDir,
      caCertFile: broker.tls.caCertFile,
      caKeyFile: broker.tls.caKeyFile,
      serverHosts: [publicHost, 'localhost', '127.0.0.1', '::1'],
    });
    const hooks = new MqttHooks({
      clients: this.clients,
      acl: this.acl,
      tokens,
      registry: this.sessions,
      internalSecret: this.internalSecret,
      maxPayloadBytes: broker.maxPayloadBytes,
      shadowRequests: () => this.shadowRequests,
      persistentSessions: this.persistentSessions.enabled,
      forgetSubscription: (client, topic) => this.persistentSessions.forget(client, [topic]),
    });
    const cluster = this.cluster;
    await cluster?.start();
    const aedes = await Aedes.createBroker({
      // In a cluster: messages go through Redis (embedded-cluster.ts), and the broker id names this instance.
      ...(cluster === undefined ? {} : { id: cluster.instanceId, mq: cluster.emitter }),
      connectTimeout: 10_000,
      // Only a safety net: aedes-internals/write-cap.ts never lets a write ask Aedes to wait.
      drainTimeout: 10_000,
      maxClientsIdLength: 128,
      // Channel topics have at most 7 levels; refuse deep junk before it reaches the router.
      maxTopicLevels: 16,
      preConnect: hooks.preConnect,
      authenticate: hooks.authenticate,
      authorizePublish: hooks.authorizePublish,
      authorizeSubscribe: hooks.authorizeSubscribe,
      authorizeForward: this.persistentSessions.authorizeForward,
      // Aedes' own in-memory persistence, bounded (persistent-sessions.ts).
      persistence: this.persistentSessions.persistence,
    });
    this.aedes = aedes;
    cluster?.attach(aedes);
    this.persistentSessions.attach(aedes);
    aedes.on('clientError', (client, error) => {
      this.sessions.connectionOf(client)?.closing('error');
      this.logger.debug(`MQTT client ${client.id ?? '?'} dropped: ${error.message}`);
    });
    aedes.on('keepaliveTimeout', (client) => this.sessions.connectionOf(client)?.closing('timeout'));
    aedes.on('connectionError', (_client, error) => this.logger.debug(`MQTT connection refused: ${error.message}`));
    // Aedes emits 'error' for persistence failures; unhandled, that would kill the process.
    (aedes as EventEmitter).on('error', (error: unknown) => this.logger.error(`MQTT broker error: ${errorMessage(error)}`));
    try {
      await checkInternals(aedes);
      await this.listeners.open(aedes, this.ca, this.httpServer());
    } catch (error) {
      await this.stop();
      throw error;
    }
    this.logger.log(
      `embedded MQTT broker: WebSocket ${this.listeners.websocketServer ? MQTT_WS_PATH : '(no HTTP server)'}, TLS on port ${this.listeners.tlsPort}`,
    );
  }

  private async stop(): Promise<void> {
    this.stopping = true;
    this.persistentSessions.close();
    const serversClosed = this.listeners.close();
    const aedes = this.aedes;
    if (aedes !== undefined) {
      await new Promise<void>((resolve) => aedes.close(() => resolve()));
    }
    // Aedes closes the sessions it knows; this also ends connections that never sent CONNECT.
    await this.sessions.shutdown();
    await serversClosed;
    await this.ca?.close();
  }

  private httpServer(): HttpServer | undefined {
    // Undefined when Nest runs without an HTTP adapter (a plain application context).
    const server = this.httpAdapterHost?.httpAdapter?.getHttpServer() as HttpServer | undefined;
    return typeof server?.on === 'function' ? server : undefined;
  }

  // ---- the Broker port ---------------------------------------------------------------------

  async publish(topic: string, payload: Buffer, options: PublishOptions = {}): Promise<void> {
    const aedes = this.aedes;
    if (aedes === undefined || aedes.closed) {
      throw new BrokerUnavailableError('embedded broker is not running');
    }
    const packet: PublishPacket = { cmd: 'publish', topic, payload, qos: options.qos ?? this.config.broker.publishQos, retain: false, dup: false };
    await new Promise<void>((resolve, reject) => {
      aedes.publish(packet, (error) =>
        error ? reject(new BrokerUnavailableError('embedded broker refused the message', { cause: error })) : resolve(),
      );
    });
  }

  async issueCredentials(client: ClientRecord, connectionType: ConnectionType): Promise<IssuedCredentials> {
    const { tokens, ca } = this;
    if (tokens === undefined || ca === undefined) {
      throw new BrokerUnavailableError('embedded broker is not running');
    }
    switch (connectionType) {
      case 'WEBSOCKET': {
        // Portal rights travel in the token of a portal registration only (API.md section 8).
        const { token, expiresAt } = tokens.issue(client.clientId, { portal: client.portalClient });
        return { connectionToken: token, connectionTokenExpiresAt: expiresAt };
      }
      case 'OPENSSL': {
        const issued = await ca.issueClientCertificate(client.clientId);
        return { ...issued, caCertificatePem: ca.caCertificatePem };
      }
    }
  }

  override handleShadowRequests(handler: ShadowRequestHandler): void {
    this.shadowRequests = handler;
  }

  /** Nothing to restore: CONNECT and SUBSCRIBE read the client's status from the store. */
  async grant(_client: ClientRecord): Promise<void> {}

  /**
   * Closes every live session of the client (WebSocket and TLS) and resolves once their
   * sockets are closed. The caller has already stored the ban, so reconnects and new
   * subscriptions are refused by the status check; CONNECTs caught between their store
   * read and their CONNACK are refused by the registry.
   */
  async revoke(client: ClientRecord): Promise<SessionsClosed> {
    return this.closeEverywhere({ op: 'ban', clientId: client.clientId });
  }

  /**
   * The certificate is off the record, so CONNECTs with it are refused; this closes the sessions already using it.
   * A persistent session belongs to the client id, not to a credential: the client's other certificates resume it.
   */
  async revokeCertificate(client: ClientRecord, certificate: { id: string }): Promise<SessionsClosed> {
    return this.closeEverywhere({ op: 'certificate', clientId: client.clientId, serial: normalSerial(certificate.id) });
  }

  /** Closes the client's portal sessions (a demotion); its other sessions keep their plain rights. */
  async revokePortalRights(client: ClientRecord): Promise<SessionsClosed> {
    return this.closeEverywhere({ op: 'portal', clientId: client.clientId });
  }

  /** Here, and in a cluster on every other instance at the same time (resolving once they confirmed, or at the bound). */
  private async closeEverywhere(command: CloseCommand): Promise<SessionsClosed> {
    const [, unconfirmed] = await Promise.all([this.closeLocal(command), this.cluster?.closeEverywhere(command)]);
    return { unconfirmed: unconfirmed ?? [] };
  }

  /** Closes this instance's sessions that a ban, revocation or demotion ends; resolves with how many once closed. */
  private async closeLocal(command: CloseCommand): Promise<number> {
    const { clientId } = command;
    switch (command.op) {
      case 'ban': {
        const closed = await this.sessions.revoke(clientId);
        if (closed > 0) {
          this.logger.log(`closed ${closed} MQTT session(s) of ${clientId}`);
        }
        // Un-banned later, the client starts afresh: nothing published during the ban is replayed.
        await this.persistentSessions.discard(clientId, 'ban');
        return closed;
      }
      case 'certificate': {
        const closed = await this.sessions.closeWhere(
          (s) => s.clientId === clientId && s.credential.kind === 'certificate' && normalSerial(s.credential.serialNumber) === command.serial,
          'ban',
        );
        this.metrics.forcedDisconnects.inc(closed);
        this.logger.log(`certificate ${command.serial} of ${clientId} revoked; closed ${closed} MQTT session(s) here`);
        return closed;
      }
      case 'portal': {
        const closed = await this.sessions.closeWhere((s) => s.clientId === clientId && s.portal, 'ban');
        this.metrics.forcedDisconnects.inc(closed);
        // What a portal session subscribed to under `{prefix}/#` must not be replayed to a plain one.
        await this.persistentSessions.discard(clientId, 'demotion');
        if (closed > 0) {
          this.logger.log(`closed ${closed} portal MQTT session(s) of ${clientId}`);
        }
        return closed;
      }
    }
  }

  async endpoint(connectionType: ConnectionType): Promise<BrokerEndpoint> {
    const { publicHost, broker } = this.config;
    switch (connectionType) {
      case 'WEBSOCKET': {
        if (broker.ws.publicUrl !== undefined) {
          const url = new URL(broker.ws.publicUrl);
          return { endpoint: url.hostname, port: Number(url.port) || (url.protocol === 'wss:' ? 443 : 80), url: broker.ws.publicUrl };
        }
        const port = addressPort(this.listeners.websocketServer ?? this.httpServer()) ?? this.config.port;
        return { endpoint: publicHost, port, url: `ws://${urlHost(publicHost)}:${port}${MQTT_WS_PATH}` };
      }
      case 'OPENSSL': {
        const port = this.listeners.tlsPort ?? broker.tls.port;
        return { endpoint: publicHost, port, url: `mqtts://${urlHost(publicHost)}:${port}` };
      }
    }
  }

  /** Nothing to do: subscriptions are checked against the live channel catalog. */
  async channelsChanged(_channels: ChannelDefinition[]): Promise<void> {}

  /** Live sessions of this process; `lastSeenAt` of a disconnected client is the store's. */
  connectionState(clientId: string): ConnectionState {
    return this.sessions.isConnected(clientId) ? { connected: true, lastSeenAt: new Date().toISOString() } : { connected: false };
  }

  /** In a cluster: who is connected on any instance (undefined with Redis unreachable, or on its own: the store and connectionState know). */
  override async clientsConnected(clientIds: string[]): Promise<Set<string> | undefined> {
    return this.cluster?.presence.connected(clientIds);
  }

  /** In a cluster: whether this instance is in touch with the others, and what waits for Redis (readiness says so; it never fails on it). */
  override clusterStatus(): ClusterStatus | undefined {
    const cluster = this.cluster;
    return cluster === undefined ? undefined : { instanceId: cluster.instanceId, connected: cluster.connected, waitingMessages: cluster.waiting };
  }

  async checkHealth(): Promise<void> {
    if (this.aedes === undefined || this.aedes.closed || this.stopping) {
      throw new BrokerUnavailableError('embedded broker is not running');
    }
    const problem = this.listeners.problem();
    if (problem !== undefined) {
      throw new BrokerUnavailableError(problem);
    }
  }

  // ---- for the events transport --------------------------------------------------------------

  /**
   * How the service's own MQTT client connects: loopback only, with a per-process secret.
   * Its sessions may publish and subscribe only under `$webcommunicator/internal/`
   * (INTERNAL_TOPIC_PREFIX); their client ids get INTERNAL_CLIENT_ID_PREFIX prepended.
   */
  internalConnection(): InternalConnection {
    const port = this.listeners.internalPort;
    if (port === undefined) {
      throw new BrokerUnavailableError('embedded broker is not running');
    }
    return { url: `mqtt://127.0.0.1:${port}`, username: INTERNAL_USERNAME, password: this.internalSecret };
  }

  override internalTopicRoot(): string {
    return INTERNAL_TOPIC_PREFIX;
  }

  internalMqttEndpoint(): InternalMqttEndpoint {
    return { ...this.internalConnection(), topicRoot: INTERNAL_TOPIC_PREFIX };
  }
}

/** IPv6 literals need brackets in a URL. */
function urlHost(host: string): string {
  return host.includes(':') && !host.startsWith('[') ? `[${host}]` : host;
}
