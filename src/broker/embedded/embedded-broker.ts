import { randomBytes, randomUUID, timingSafeEqual } from 'node:crypto';
import type { EventEmitter } from 'node:events';
import type { IncomingMessage, Server as HttpServer } from 'node:http';
import { createServer as createNetServer, type Server as NetServer, type Socket } from 'node:net';
import { join } from 'node:path';
import type { Duplex } from 'node:stream';
import { createServer as createTlsServer, type TLSSocket } from 'node:tls';
import { type BeforeApplicationShutdown, Logger, type OnApplicationBootstrap, type OnApplicationShutdown } from '@nestjs/common';
import type { HttpAdapterHost } from '@nestjs/core';
import { Aedes, type AuthenticateError, type Client, type ConnectPacket, type PublishPacket, type Subscription } from 'aedes';
import { type WebSocket, WebSocketServer } from 'ws';
import type { ChannelCatalog } from '../../channels/catalog/channel-catalog';
import { isClientId } from '../../common/ids';
import { loadOrCreateSecret } from '../../common/secrets';
import { Topics } from '../../common/topics';
import type { AppConfig } from '../../config/app-config';
import type { MetricsService } from '../../metrics/metrics.service';
import type { ChannelDefinition } from '../../store/channel.repository';
import type { ClientRecord, ClientRepository, ConnectionType } from '../../store/client.repository';
import {
  Broker,
  type BrokerEndpoint,
  BrokerUnavailableError,
  type ConnectionState,
  type IssuedCredentials,
  type PublishOptions,
  type ShadowRequestHandler,
} from '../broker';
import { ownShadowRequest } from '../../common/shadow-topics';
import { BrokerAcl, type MqttTransport, type Principal } from './broker-acl';
import { CertificateAuthority } from './certificate-authority';
import { ConnectionTokens } from './connection-tokens';
import { installDirectDelivery } from './direct-delivery';
import { capBufferedWrites, limitInboundPacketBytes, mqttStreamFromWebSocket, slimAedesClient, streamOutlet, websocketOutlet } from './transport-guards';

export { INTERNAL_TOPIC_PREFIX } from './broker-acl';

/** Path of MQTT over WebSocket on the HTTP port. */
export const MQTT_WS_PATH = '/mqtt';
/** MQTT user name of the service's own internal client. */
export const INTERNAL_USERNAME = 'webcommunicator-internal';
/**
 * Prefixed to the client id of every internal-listener connection. `$` is not
 * allowed in client ids, so no registered client can take over (and so
 * disconnect) an internal session by connecting with the same id.
 */
export const INTERNAL_CLIENT_ID_PREFIX = '$internal:';

/** What the service's internal MQTT client (the `mqtt` events transport) connects with. */
export interface InternalConnection {
  /** `mqtt://127.0.0.1:<port>`: loopback only. */
  url: string;
  username: string;
  /** Random per process; never logged. */
  password: string;
}

/** CONNACK return codes (MQTT 3.1.1 table 3.1). */
const IDENTIFIER_REJECTED = 2;
const SERVER_UNAVAILABLE = 3;
const BAD_USERNAME_OR_PASSWORD = 4;
const NOT_AUTHORIZED = 5;

/** Room for the topic and headers around the largest payload we accept. */
const PACKET_OVERHEAD_BYTES = 65_536 + 16;

type ListenerKind = MqttTransport | 'internal';

/**
 * One accepted network connection, whatever its MQTT state. A plain object, and no promise
 * until somebody waits for the close (a revoke, the shutdown): connections are many.
 */
class Connection {
  client?: Client;
  /** Set once the client authenticated (internal sessions aren't tracked). */
  session?: Session;
  isClosed = false;
  private closeWaiters?: Array<() => void>;

  constructor(
    readonly transport: ListenerKind,
    readonly stream: Duplex,
    /** CN of the verified client certificate (TLS only). */
    readonly peerCommonName?: string,
  ) {}

  /** Settles once the underlying socket is closed. */
  whenClosed(): Promise<void> {
    if (this.isClosed) {
      return Promise.resolve();
    }
    return new Promise((resolve) => (this.closeWaiters ??= []).push(resolve));
  }

  markClosed(): void {
    this.isClosed = true;
    const waiters = this.closeWaiters ?? [];
    this.closeWaiters = undefined;
    for (const resolve of waiters) {
      resolve();
    }
  }
}

/** An authenticated client session (internal sessions aren't tracked). */
interface Session {
  principal: Extract<Principal, { kind: 'client' }>;
  connection: Connection;
}

/** A CONNECT between its store lookup and its CONNACK; a revoke in that window refuses it. */
interface PendingAuthentication {
  revoked: boolean;
}

/**
 * The embedded broker: Aedes in the service's process.
 *
 * Listeners:
 * - MQTT over WebSocket at `/mqtt` on the HTTP server's port (password = connection token);
 * - MQTT over TLS on MQTT_TLS_PORT with client certificates from our own CA (CN = client id);
 * - a loopback-only TCP listener for the service's own internal client (`internalConnection()`),
 *   confined to `$webcommunicator/internal/#`.
 *
 * Developer notes (why it is built this way):
 * - Authorization reads the store and the channel catalog live (status at CONNECT and at
 *   every SUBSCRIBE, channels through ChannelCatalog), so a ban, an un-ban or a channel edit
 *   needs no broker-side state: `grant` and `channelsChanged` have nothing to do.
 * - Sessions are always clean (forced in preConnect). Aedes' in-memory persistence keeps
 *   QoS 1 messages for offline persistent sessions without limit, so a device that goes
 *   away for good would grow memory forever; clients resubscribe on reconnect instead
 *   (mqtt.js does so by itself).
 * - Duplicate client id: the newest connection wins. Aedes closes the older session when a
 *   second CONNECT with the same id is accepted ([MQTT-3.1.4-2]); our session map holds both
 *   until the old socket has closed.
 * - Denied PUBLISH (clients and devices are receive-only): MQTT 3.1.1 has no negative
 *   PUBACK, and Aedes answers an authorizePublish error by closing the connection (no
 *   error reaches the client, MQTT-3.3.5-2). That is also what AWS IoT does, so clients
 *   behave the same on both drivers. A denied SUBSCRIBE only yields SUBACK 0x80.
 * - Retained messages are dropped from portal publishes: messages are events with a
 *   timestamp, and replaying the last one to every new subscriber would deliver stale
 *   events; it also keeps the retained store from growing with private topics.
 * - Delivery cost: no hook runs per delivered message (authorizeForward stays Aedes'
 *   default), WebSocket frames are coalesced per packet, nothing is compressed, and a
 *   subscriber that stops reading is dropped at MQTT_MAX_CLIENT_BUFFER_BYTES instead of
 *   stalling the fan-out (see transport-guards.ts).
 */
export class EmbeddedBroker extends Broker implements OnApplicationBootstrap, BeforeApplicationShutdown, OnApplicationShutdown {
  readonly kind = 'embedded' as const;
  readonly issuesCredentialsLocally = true;

  private readonly logger = new Logger(EmbeddedBroker.name);
  private readonly topics: Topics;
  private readonly acl: BrokerAcl;
  private readonly maxInboundPacketBytes: number;
  private readonly internalSecret = randomBytes(32).toString('base64url');

  private aedes?: Aedes;
  private ca?: CertificateAuthority;
  private tokens?: ConnectionTokens;
  private tlsServer?: NetServer;
  private internalServer?: NetServer;
  private wss?: WebSocketServer;
  private upgradeServer?: HttpServer;
  private starting?: Promise<void>;
  private stopping = false;

  private readonly connections = new Map<Duplex, Connection>();
  private readonly principals = new WeakMap<Client, Principal>();
  private readonly sessions = new Map<string, Set<Session>>();
  private readonly pendingAuthentications = new Map<string, Set<PendingAuthentication>>();
  private readonly statusLookups = new Map<string, Promise<ClientRecord | undefined>>();
  private shadowRequests?: ShadowRequestHandler;

  constructor(
    private readonly config: AppConfig,
    private readonly clients: ClientRepository,
    private readonly catalog: ChannelCatalog,
    private readonly metrics: MetricsService,
    private readonly httpAdapterHost: HttpAdapterHost,
  ) {
    super();
    this.topics = new Topics(config.broker.topicPrefix);
    this.acl = new BrokerAcl(this.topics, catalog);
    this.maxInboundPacketBytes = config.broker.maxPayloadBytes + PACKET_OVERHEAD_BYTES;
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
    this.detachWebSocket();
    await this.destroyConnections((c) => c.transport === 'websocket');
  }

  async onApplicationShutdown(): Promise<void> {
    await this.starting?.catch(() => undefined);
    await this.stop();
  }

  private async start(): Promise<void> {
    const { broker, dataDir, publicHost } = this.config;
    this.tokens = new ConnectionTokens(loadOrCreateSecret(join(dataDir, 'broker-token.secret')), broker.connectionTokenTtlSeconds);
    this.ca = await CertificateAuthority.open({
      dataDir,
      caCertFile: broker.tls.caCertFile,
      caKeyFile: broker.tls.caKeyFile,
      serverHosts: [publicHost, 'localhost', '127.0.0.1', '::1'],
    });
    const aedes = await Aedes.createBroker({
      connectTimeout: 10_000,
      // Only a safety net: capBufferedWrites never lets a write ask Aedes to wait.
      drainTimeout: 10_000,
      maxClientsIdLength: 128,
      // Channel topics have at most 7 levels; refuse deep junk before it reaches the router.
      maxTopicLevels: 16,
      preConnect: this.preConnect,
      authenticate: this.authenticate,
      authorizePublish: this.authorizePublish,
      authorizeSubscribe: this.authorizeSubscribe,
    });
    this.aedes = aedes;
    aedes.on('clientError', (client, error) => this.logger.debug(`MQTT client ${client.id ?? '?'} dropped: ${error.message}`));
    aedes.on('connectionError', (_client, error) => this.logger.debug(`MQTT connection refused: ${error.message}`));
    // Aedes emits 'error' for persistence failures; unhandled, that would kill the process.
    (aedes as EventEmitter).on('error', (error: unknown) => this.logger.error(`MQTT broker error: ${errorMessage(error)}`));
    try {
      this.tlsServer = await this.listenTls(this.ca);
      this.internalServer = await this.listenInternal();
      this.attachWebSocket();
    } catch (error) {
      await this.stop();
      throw error;
    }
    this.logger.log(
      `embedded MQTT broker: WebSocket ${this.upgradeServer ? MQTT_WS_PATH : '(no HTTP server)'}, TLS on port ${addressPort(this.tlsServer)}`,
    );
  }

  private async stop(): Promise<void> {
    this.stopping = true;
    this.detachWebSocket();
    const servers = [this.tlsServer, this.internalServer].filter((s): s is NetServer => s !== undefined);
    this.tlsServer = undefined;
    this.internalServer = undefined;
    const serversClosed = servers.map((server) => new Promise<void>((resolve) => server.close(() => resolve())));
    const aedes = this.aedes;
    if (aedes !== undefined) {
      await new Promise<void>((resolve) => aedes.close(() => resolve()));
    }
    // Aedes closes the sessions it knows; this also ends connections that never sent CONNECT.
    await this.destroyConnections(() => true);
    await Promise.all(serversClosed);
    await this.ca?.close();
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
        const { token, expiresAt } = tokens.issue(client.clientId);
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
   * read and their CONNACK are refused here.
   */
  async revoke(client: ClientRecord): Promise<void> {
    for (const pending of this.pendingAuthentications.get(client.clientId) ?? []) {
      pending.revoked = true;
    }
    const sessions = [...(this.sessions.get(client.clientId) ?? [])];
    for (const session of sessions) {
      this.metrics.forcedDisconnects.inc();
      // Forget the principal first, so not even a portal client's will message gets out.
      if (session.connection.client !== undefined) {
        this.principals.delete(session.connection.client);
      }
      session.connection.stream.destroy();
    }
    await Promise.all(sessions.map((s) => s.connection.whenClosed()));
    if (sessions.length > 0) {
      this.logger.log(`closed ${sessions.length} MQTT session(s) of ${client.clientId}`);
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
        const port = addressPort(this.upgradeServer ?? this.httpServer()) ?? this.config.port;
        return { endpoint: publicHost, port, url: `ws://${urlHost(publicHost)}:${port}${MQTT_WS_PATH}` };
      }
      case 'OPENSSL': {
        const port = addressPort(this.tlsServer) ?? broker.tls.port;
        return { endpoint: publicHost, port, url: `mqtts://${urlHost(publicHost)}:${port}` };
      }
    }
  }

  /** Nothing to do: subscriptions are checked against the live channel catalog. */
  async channelsChanged(_channels: ChannelDefinition[]): Promise<void> {}

  /** Live sessions of this process; `lastSeenAt` of a disconnected client is the store's. */
  connectionState(clientId: string): ConnectionState {
    return this.sessions.has(clientId) ? { connected: true, lastSeenAt: new Date().toISOString() } : { connected: false };
  }

  async checkHealth(): Promise<void> {
    if (this.aedes === undefined || this.aedes.closed || this.stopping) {
      throw new BrokerUnavailableError('embedded broker is not running');
    }
    if (this.tlsServer?.listening !== true) {
      throw new BrokerUnavailableError('embedded broker TLS listener is down');
    }
    if (this.internalServer?.listening !== true) {
      throw new BrokerUnavailableError('embedded broker internal listener is down');
    }
  }

  // ---- for the events transport --------------------------------------------------------------

  /**
   * How the service's own MQTT client connects: loopback only, with a per-process secret.
   * Its sessions may publish and subscribe only under `$webcommunicator/internal/`
   * (INTERNAL_TOPIC_PREFIX); their client ids get INTERNAL_CLIENT_ID_PREFIX prepended.
   */
  internalConnection(): InternalConnection {
    const port = addressPort(this.internalServer);
    if (port === undefined) {
      throw new BrokerUnavailableError('embedded broker is not running');
    }
    return { url: `mqtt://127.0.0.1:${port}`, username: INTERNAL_USERNAME, password: this.internalSecret };
  }

  // ---- listeners -----------------------------------------------------------------------------

  private httpServer(): HttpServer | undefined {
    // Undefined when Nest runs without an HTTP adapter (a plain application context).
    const server = this.httpAdapterHost?.httpAdapter?.getHttpServer() as HttpServer | undefined;
    return typeof server?.on === 'function' ? server : undefined;
  }

  private attachWebSocket(): void {
    const server = this.httpServer();
    if (server === undefined) {
      this.logger.warn('no HTTP server: MQTT over WebSocket is disabled');
      return;
    }
    this.wss = new WebSocketServer({
      noServer: true,
      clientTracking: false,
      perMessageDeflate: false,
      maxPayload: this.maxInboundPacketBytes,
    });
    server.on('upgrade', this.onUpgrade);
    this.upgradeServer = server;
  }

  private detachWebSocket(): void {
    this.upgradeServer?.off('upgrade', this.onUpgrade);
    this.wss?.close();
    this.wss = undefined;
  }

  private readonly onUpgrade = (req: IncomingMessage, socket: Duplex, head: Buffer): void => {
    if ((req.url ?? '').split('?')[0] !== MQTT_WS_PATH) {
      // Another feature may serve its own WebSocket path; if nobody does, answer rather than leave the socket hanging.
      if (this.upgradeServer?.listenerCount('upgrade') === 1) {
        rejectUpgrade(socket, 404, 'Not Found');
      }
      return;
    }
    const { wss, aedes } = this;
    if (wss === undefined || aedes === undefined || this.stopping) {
      rejectUpgrade(socket, 503, 'Service Unavailable');
      return;
    }
    wss.handleUpgrade(req, socket, head, (ws: WebSocket) => {
      this.accept(aedes, mqttStreamFromWebSocket(ws), 'websocket', ws, { ws });
    });
  };

  private listenTls(ca: CertificateAuthority): Promise<NetServer> {
    const server = createTlsServer(
      {
        key: ca.server.privateKeyPem,
        cert: ca.server.certificatePem,
        ca: [ca.caCertificatePem],
        requestCert: true,
        rejectUnauthorized: true,
        minVersion: 'TLSv1.2',
        handshakeTimeout: 10_000,
      },
      (socket: TLSSocket) => {
        const aedes = this.aedes;
        if (aedes === undefined || this.stopping) {
          socket.destroy();
          return;
        }
        socket.setNoDelay(true);
        const cn = socket.getPeerCertificate().subject?.CN;
        this.accept(aedes, socket, 'tls', socket, { peerCommonName: typeof cn === 'string' ? cn : undefined });
      },
    );
    // Node only reports a failed or timed-out handshake (handshakeTimeout included) here and leaves the
    // socket open: without the destroy, a peer that never finishes its handshake holds a socket forever.
    server.on('tlsClientError', (error, socket) => {
      this.logger.debug(`MQTT TLS handshake failed: ${error.message}`);
      socket.destroy();
    });
    return listen(server, this.config.broker.tls.port, this.config.broker.tls.host, 'MQTT_TLS_PORT');
  }

  private listenInternal(): Promise<NetServer> {
    const server = createNetServer((socket: Socket) => {
      const aedes = this.aedes;
      if (aedes === undefined || this.stopping) {
        socket.destroy();
        return;
      }
      socket.setNoDelay(true);
      this.accept(aedes, socket, 'internal', socket);
    });
    return listen(server, 0, '127.0.0.1', 'internal MQTT listener');
  }

  private accept(
    aedes: Aedes,
    stream: Duplex,
    transport: ListenerKind,
    /** Emits 'close' once the underlying socket is closed. */
    socket: EventEmitter,
    { ws, peerCommonName }: { ws?: WebSocket; peerCommonName?: string } = {},
  ): void {
    const connection = new Connection(transport, stream, peerCommonName);
    this.connections.set(stream, connection);
    socket.once('close', () => this.connectionClosed(connection));
    const maxBufferedBytes = this.config.broker.maxClientBufferBytes;
    const overflow = (): void => {
      this.logger.warn(`dropping MQTT client ${connection.client?.id ?? '(not connected)'}: it stopped reading`);
      stream.destroy();
    };
    capBufferedWrites(stream, maxBufferedBytes, overflow);
    // No upgrade request is handed over: no hook reads it, and each session would keep it alive.
    const client = aedes.handle(stream);
    slimAedesClient(client);
    connection.client = client;
    installDirectDelivery(client, ws === undefined ? streamOutlet(stream) : websocketOutlet(ws, stream, maxBufferedBytes, overflow));
    limitInboundPacketBytes(client, this.maxInboundPacketBytes, () => {
      this.logger.warn(`dropping MQTT client ${client.id ?? '(not connected)'}: packet over ${this.maxInboundPacketBytes} bytes`);
      stream.destroy();
    });
  }

  private async destroyConnections(which: (c: Connection) => boolean): Promise<void> {
    const doomed = [...this.connections.values()].filter(which);
    for (const connection of doomed) {
      connection.stream.destroy();
    }
    await Promise.all(doomed.map((c) => c.whenClosed()));
  }

  // ---- Aedes hooks -----------------------------------------------------------------------------

  private readonly preConnect = (client: Client, packet: ConnectPacket, done: (error: Error | null, ok: boolean) => void): void => {
    const connection = this.connections.get(client.conn);
    if (connection === undefined) {
      done(new Error('connection from an unknown listener'), false);
      return;
    }
    packet.clean = true;
    if (connection.transport === 'internal') {
      packet.clientId = `${INTERNAL_CLIENT_ID_PREFIX}${packet.clientId || randomUUID()}`;
    }
    done(null, true);
  };

  private readonly authenticate = (
    client: Client,
    username: string | undefined,
    password: Buffer | undefined,
    done: (error: AuthenticateError | null, ok: boolean | null) => void,
  ): void => {
    const connection = this.connections.get(client.conn);
    const clientId = client.id;
    const refuse = (code: number, reason: string): void => {
      this.logger.debug(`refused MQTT client ${clientId} (${connection?.transport ?? '?'}): ${reason}`);
      const error = new Error(reason) as AuthenticateError;
      error.returnCode = code;
      done(error, false);
    };
    if (connection === undefined) {
      refuse(NOT_AUTHORIZED, 'unknown listener');
      return;
    }
    if (connection.transport === 'internal') {
      if (username !== INTERNAL_USERNAME || !sameSecret(password, this.internalSecret)) {
        refuse(BAD_USERNAME_OR_PASSWORD, 'bad internal credentials');
        return;
      }
      this.principals.set(client, { kind: 'internal', clientId });
      done(null, true);
      return;
    }
    const transport = connection.transport;
    if (!isClientId(clientId)) {
      refuse(IDENTIFIER_REJECTED, 'invalid client id');
      return;
    }
    if (transport === 'websocket' && this.tokens?.verify(password?.toString('utf8'), clientId) !== true) {
      refuse(BAD_USERNAME_OR_PASSWORD, 'invalid connection token');
      return;
    }
    if (transport === 'tls' && connection.peerCommonName !== clientId) {
      refuse(NOT_AUTHORIZED, 'certificate CN does not match the client id');
      return;
    }
    const pending: PendingAuthentication = { revoked: false };
    this.trackPending(clientId, pending, true);
    this.clients.get(clientId).then(
      (record) => {
        this.trackPending(clientId, pending, false);
        if (record === undefined) {
          refuse(NOT_AUTHORIZED, 'not registered');
        } else if (record.status !== 'REGISTERED' || pending.revoked) {
          refuse(NOT_AUTHORIZED, 'banned');
        } else if (!client.closed && !connection.isClosed) {
          this.addSession({ kind: 'client', clientId, portal: record.portalClient, transport }, client, connection);
          done(null, true);
        }
      },
      (error: unknown) => {
        this.trackPending(clientId, pending, false);
        this.logger.warn(`MQTT CONNECT of ${clientId}: client registry unavailable: ${errorMessage(error)}`);
        refuse(SERVER_UNAVAILABLE, 'client registry unavailable');
      },
    );
  };

  private readonly authorizeSubscribe = (
    client: Client,
    subscription: Subscription,
    done: (error: Error | null, subscription?: Subscription | null) => void,
  ): void => {
    const principal = this.principals.get(client);
    if (principal === undefined) {
      done(null, null);
      return;
    }
    this.maySubscribe(principal, subscription.topic).then(
      (allowed) => {
        if (!allowed) {
          this.logger.debug(`refused subscription of ${principal.clientId} to ${subscription.topic}`);
        }
        // A null subscription is Aedes' way to answer SUBACK 0x80 without dropping the client.
        done(null, allowed && !client.closed ? subscription : null);
      },
      (error: unknown) => {
        this.logger.warn(`SUBSCRIBE of ${principal.clientId}: ${errorMessage(error)}`);
        done(null, null);
      },
    );
  };

  private readonly authorizePublish = (client: Client | null, packet: PublishPacket, done: (error?: Error | null) => void): void => {
    const principal = client === null ? undefined : this.principals.get(client);
    // A closed client here is publishing its will message (or a revoked one its last words): no need to shout.
    const deny = (reason = 'not allowed'): void => done(this.publishDenied(principal, packet.topic, reason, client?.closed !== false));
    if (principal === undefined) {
      deny();
      return;
    }
    if (packet.payload.length > this.config.broker.maxPayloadBytes) {
      deny('payload too large');
      return;
    }
    this.acl.mayPublish(principal, packet.topic).then(
      (allowed) => {
        if (!allowed) {
          deny();
          return;
        }
        packet.retain = false;
        if (principal.kind === 'client') {
          const kind = ownShadowRequest(packet.topic, principal.clientId);
          if (kind !== undefined) {
            // Answered on the shadow's response topics, like AWS IoT; the request itself is routed
            // as any message (AWS delivers it to subscribers of the request topic too).
            const handler = this.shadowRequests;
            if (handler === undefined) {
              deny('state documents are not served');
              return;
            }
            handler({ clientId: principal.clientId, kind, payload: typeof packet.payload === 'string' ? Buffer.from(packet.payload) : packet.payload });
          }
        }
        done(null);
      },
      (error: unknown) => deny(errorMessage(error)),
    );
  };

  private publishDenied(principal: Principal | undefined, topic: string, reason: string, quiet: boolean): Error {
    const message = `refused PUBLISH of ${principal?.clientId ?? 'unknown client'} to ${topic} (${reason})`;
    if (quiet) {
      this.logger.debug(message);
    } else {
      this.logger.warn(`${message}; the connection is closed`);
    }
    return new Error(`publish to ${topic} refused: ${reason}`);
  }

  // ---- sessions ----------------------------------------------------------------------------------

  private async maySubscribe(principal: Principal, filter: string): Promise<boolean> {
    if (principal.kind === 'client') {
      const record = await this.currentRecord(principal.clientId);
      if (record?.status !== 'REGISTERED') {
        return false;
      }
    }
    return this.acl.maySubscribe(principal, filter);
  }

  /** One store read shared by the topics of a SUBSCRIBE (Aedes authorizes each topic separately). */
  private currentRecord(clientId: string): Promise<ClientRecord | undefined> {
    let lookup = this.statusLookups.get(clientId);
    if (lookup === undefined) {
      lookup = this.clients.get(clientId).finally(() => this.statusLookups.delete(clientId));
      this.statusLookups.set(clientId, lookup);
    }
    return lookup;
  }

  private addSession(principal: Session['principal'], client: Client, connection: Connection): void {
    this.principals.set(client, principal);
    const session: Session = { principal, connection };
    const sessions = this.sessions.get(principal.clientId) ?? new Set<Session>();
    sessions.add(session);
    this.sessions.set(principal.clientId, sessions);
    this.metrics.connectedClients.inc({ transport: principal.transport });
    this.touch(principal.clientId);
    connection.session = session;
  }

  private connectionClosed(connection: Connection): void {
    this.connections.delete(connection.stream);
    const session = connection.session;
    if (session !== undefined) {
      const { clientId, transport } = session.principal;
      const sessions = this.sessions.get(clientId);
      sessions?.delete(session);
      if (sessions?.size === 0) {
        this.sessions.delete(clientId);
      }
      this.metrics.connectedClients.dec({ transport });
      if (!this.stopping) {
        this.touch(clientId);
      }
    }
    connection.markClosed();
  }

  private trackPending(clientId: string, pending: PendingAuthentication, add: boolean): void {
    const set = this.pendingAuthentications.get(clientId) ?? new Set<PendingAuthentication>();
    if (add) {
      set.add(pending);
      this.pendingAuthentications.set(clientId, set);
      return;
    }
    set.delete(pending);
    if (set.size === 0) {
      this.pendingAuthentications.delete(clientId);
    }
  }

  /** lastSeenAt is informational: never let its write delay or fail a connection. */
  private touch(clientId: string): void {
    this.clients.touchLastSeen(clientId, new Date().toISOString()).catch((error: unknown) => {
      this.logger.debug(`could not record lastSeenAt of ${clientId}: ${errorMessage(error)}`);
    });
  }
}

function listen(server: NetServer, port: number, host: string, what: string): Promise<NetServer> {
  return new Promise((resolve, reject) => {
    const onError = (error: NodeJS.ErrnoException): void => {
      reject(new Error(`${what}: cannot listen on ${host}:${port}: ${error.code ?? error.message}`, { cause: error }));
    };
    server.once('error', onError);
    server.listen(port, host, () => {
      server.off('error', onError);
      server.on('error', () => undefined);
      resolve(server);
    });
  });
}

function rejectUpgrade(socket: Duplex, status: number, reason: string): void {
  socket.once('finish', () => socket.destroy());
  socket.end(`HTTP/1.1 ${status} ${reason}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`);
}

function addressPort(server: NetServer | HttpServer | undefined): number | undefined {
  const address = server?.address();
  return address !== null && typeof address === 'object' ? address.port : undefined;
}

/** IPv6 literals need brackets in a URL. */
function urlHost(host: string): string {
  return host.includes(':') && !host.startsWith('[') ? `[${host}]` : host;
}

function sameSecret(given: Buffer | undefined, secret: string): boolean {
  const expected = Buffer.from(secret, 'utf8');
  return given !== undefined && given.length === expected.length && timingSafeEqual(given, expected);
}

function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
