import type { ChannelDefinition } from '../domain/channel';
import type { ClientRecord, ConnectionType } from '../domain/client';
import type { ShadowRequestKind } from '../common/shadow-topics';
import type { StateRepository } from '../store/state.repository';

export interface BrokerEndpoint {
  /** Host name clients connect to. */
  endpoint: string;
  port: number;
  /** What an MQTT client connects to: `wss://host:port/mqtt` or `mqtts://host:8883`. */
  url: string;
}

/** Credentials handed to a client at registration. Secrets here are returned once and never stored or logged. */
export interface IssuedCredentials {
  connectionToken?: string;
  connectionTokenExpiresAt?: string;
  certificatePem?: string;
  privateKeyPem?: string;
  caCertificatePem?: string;
  certificateId?: string;
  certificateArn?: string;
}

export interface PublishOptions {
  qos?: 0 | 1;
}

/** How the service's own components (the `mqtt` events transport) reach the broker over MQTT. */
export interface InternalMqttEndpoint {
  /** e.g. `mqtt://127.0.0.1:<port>`: loopback only. */
  url: string;
  username: string;
  /** Random per process; never logged. */
  password: string;
  /** The topic level the endpoint is confined to (no registered client can read or write under it). */
  topicRoot: string;
}

export interface ConnectionState {
  connected: boolean;
  lastSeenAt?: string;
}

/** An instance of an embedded cluster (REDIS_URL) as readiness reports it. */
export interface ClusterStatus {
  instanceId: string;
  /** In touch with Redis and hearing the other instances; false: serving only its own clients. */
  connected: boolean;
  /** Messages accepted here waiting for Redis to reach the other instances. */
  waitingMessages: number;
}

/** A client's request on its own shadow topic `$aws/things/{clientId}/shadow/{kind}` (embedded broker). */
export interface ShadowRequest {
  clientId: string;
  kind: ShadowRequestKind;
  payload: Buffer;
}

/** How a client reached the broker (the `transport` of `client.connected`, API.md section 7). */
export type ClientTransport = 'websocket' | 'tls' | 'aws-iot';

/**
 * Why a client's session ended (API.md section 7): it disconnected or hung up, its keep-alive ran
 * out, the service banned it (or revoked the credential it used), a newer connection with the same
 * client id replaced it, or anything else went wrong (a protocol error, a limit, the broker stopping).
 */
export type DisconnectReason = 'client' | 'timeout' | 'ban' | 'takeover' | 'error';

/** A client's session opened or closed, as the broker saw it. */
export type ClientLifecycleEvent =
  | { kind: 'connected'; clientId: string; transport: ClientTransport; time: string; eventId?: string }
  | {
      kind: 'disconnected';
      /** The same for the same occurrence however often it is heard (AWS: every instance hears each lifecycle message). */
      eventId?: string;
      clientId: string;
      reason: DisconnectReason;
      time: string;
      /** Whether the client still has another live session (a takeover's newer one). */
      stillConnected: boolean;
    };

/** Hears every client session opening and closing; runs on the connection's path: cheap, never throws. */
export type ClientLifecycleListener = (event: ClientLifecycleEvent) => void;

/** Answers shadow requests (the state module); never throws, answers on the shadow's response topics. */
export type ShadowRequestHandler = (request: ShadowRequest) => void;

/** Where a revocation closed sessions: instances of an embedded cluster that did not confirm within the bound. */
export interface SessionsClosed {
  unconfirmed: string[];
}

/**
 * Port: the MQTT broker. Drivers: `embedded` (Aedes in-process) and `aws-iot`
 * (AWS IoT Core). Feature modules depend on this class only.
 */
export abstract class Broker {
  abstract readonly kind: 'embedded' | 'aws-iot';

  /**
   * True when `issueCredentials` is pure computation that leaves nothing behind in the broker
   * (the embedded broker's own CA and token key): credentials may then be made before the
   * registration is stored, and thrown away if the store refuses it (a banned client), which
   * saves a second store write. False where issuing creates broker resources (AWS IoT).
   */
  abstract readonly issuesCredentialsLocally: boolean;

  /** Publishes a payload to a concrete topic. Resolves once the broker accepted it. */
  abstract publish(topic: string, payload: Buffer, options?: PublishOptions): Promise<void>;

  /**
   * Gives a registered (or re-registered) client its broker rights and returns
   * its credentials: a connection token for WEBSOCKET, a certificate for OPENSSL.
   */
  abstract issueCredentials(client: ClientRecord, connectionType: ConnectionType): Promise<IssuedCredentials>;

  /** Restores a client's rights after an un-ban. */
  abstract grant(client: ClientRecord): Promise<void>;

  /**
   * Removes a client's rights and closes its live sessions; resolves only once they are closed (in an
   * embedded cluster: once every instance confirmed, or at the bound, naming those that did not).
   */
  abstract revoke(client: ClientRecord): Promise<SessionsClosed | void>;

  /**
   * Makes one certificate unusable (the caller has taken it off the client's record) and
   * closes live sessions that used it; resolves once they are closed. Other certificates keep working.
   */
  abstract revokeCertificate(client: ClientRecord, certificate: { id: string; arn?: string }): Promise<SessionsClosed | void>;

  /** The client is no longer a portal client: its live portal sessions lose their rights (are closed). */
  abstract revokePortalRights(client: ClientRecord): Promise<SessionsClosed | void>;

  /** Where clients of this connection type connect. */
  abstract endpoint(connectionType: ConnectionType): Promise<BrokerEndpoint>;

  /** Called after the channel table changed (e.g. to regenerate IoT policies). */
  abstract channelsChanged(channels: ChannelDefinition[]): Promise<void>;

  /** Live connection state, where the driver knows it. */
  abstract connectionState(clientId: string): ConnectionState | undefined;

  /**
   * Which of these clients are connected anywhere, where the driver knows it across instances
   * (an embedded cluster); undefined: ask the store (and `connectionState`).
   */
  async clientsConnected(_clientIds: string[]): Promise<Set<string> | undefined> {
    return undefined;
  }

  /** This instance's place in an embedded cluster; undefined when it is not in one. */
  clusterStatus(): ClusterStatus | undefined {
    return undefined;
  }

  /**
   * True when every session of this broker lives in this process (the embedded broker on its
   * own): at start nobody is connected, so presence left over from a crash can be cleared.
   */
  readonly sessionsAreLocal: boolean = false;

  /**
   * Calls `listener` for every client session that opens or closes from now on (not the
   * service's own internal sessions). Returns the unsubscribe. A driver that learns of sessions
   * elsewhere (AWS IoT lifecycle events) calls it from there.
   */
  onClientLifecycle(listener: ClientLifecycleListener): () => void {
    this.lifecycleListeners.push(listener);
    return () => {
      const at = this.lifecycleListeners.indexOf(listener);
      if (at >= 0) {
        this.lifecycleListeners.splice(at, 1);
      }
    };
  }

  private readonly lifecycleListeners: ClientLifecycleListener[] = [];

  /** For drivers: tells every lifecycle listener. A listener's throw is swallowed (returned for logging). */
  protected clientLifecycle(event: ClientLifecycleEvent): unknown[] {
    // A listener added or removed while notifying waits for the next event.
    const errors: unknown[] = [];
    for (const listener of [...this.lifecycleListeners]) {
      try {
        listener(event);
      } catch (error) {
        errors.push(error);
      }
    }
    return errors;
  }

  /** Throws when the broker can't serve. Used by readiness. */
  abstract checkHealth(): Promise<void>;

  /**
   * The broker's own MQTT endpoint for the service's internal clients, or undefined when the
   * driver has none (AWS IoT: the events transport then needs EVENTS_URL).
   */
  abstract internalMqttEndpoint(): InternalMqttEndpoint | undefined;

  /**
   * The topic level of the broker's internal namespace (only the service's internal sessions may
   * read or write under it), known before the broker starts; undefined when the driver has none.
   */
  internalTopicRoot(): string | undefined {
    return undefined;
  }

  /**
   * Throws a ValidationFailedError when this broker can't serve a client with this id over this
   * connection type. Registration calls it before anything is stored, so a registration the
   * broker would refuse leaves nothing behind. By default, any id the API accepts will do.
   */
  checkClientId(_clientId: string, _connectionType: ConnectionType): void {}

  /**
   * State documents the broker keeps itself (AWS IoT Device Shadows), which also
   * publishes the shadow topics on every change. Undefined: documents live in the
   * store and the state module publishes the shadow topics through `publish`.
   */
  shadowDocuments(): StateRepository | undefined {
    return undefined;
  }

  /**
   * Where clients' requests on their own shadow topics go (the embedded broker
   * accepts them from the clients themselves). AWS IoT answers them itself.
   */
  handleShadowRequests(_handler: ShadowRequestHandler): void {}
}
