import type { EventEmitter } from 'node:events';
import type { Duplex } from 'node:stream';
import { Logger } from '@nestjs/common';
import type { Client } from 'aedes';
import { errorMessage } from '../../domain/errors';
import type { MetricsService } from '../../metrics/metrics.service';
import type { ClientRepository } from '../../store/client.repository';
import type { ConnectionTokenClaims } from './connection-tokens';

export type SessionTransport = 'websocket' | 'tls' | 'internal';

/**
 * Why a session ended. The first cause noted wins, except a ban, which always
 * does; with no cause noted when the socket closes, the client went away.
 * - `client`: the client disconnected or hung up;
 * - `timeout`: its keep-alive ran out;
 * - `ban`: the service closed it (revoke);
 * - `takeover`: a newer connection with the same client id replaced it;
 * - `error`: a protocol or socket error, a refused PUBLISH, a limit passed;
 * - `shutdown`: the broker is stopping.
 */
export type CloseReason = 'client' | 'timeout' | 'ban' | 'takeover' | 'error' | 'shutdown';

/** What the session authenticated with. */
export type SessionCredential =
  | { kind: 'token'; claims: ConnectionTokenClaims }
  | { kind: 'certificate'; serialNumber: string }
  | { kind: 'internal' };

/** An authenticated MQTT session. */
export interface Session {
  /** For internal sessions, with INTERNAL_CLIENT_ID_PREFIX. */
  readonly clientId: string;
  readonly transport: SessionTransport;
  readonly credential: SessionCredential;
  /** A portal client (see BrokerAcl); false for internal sessions. */
  readonly portal: boolean;
}

/** The TLS peer's verified certificate, as far as authentication needs it. */
export interface PeerCertificate {
  commonName?: string;
  serialNumber?: string;
}

/**
 * One accepted network connection, whatever its MQTT state. A plain object, and no promise
 * until somebody waits for the close (a revoke, the shutdown): connections are many.
 */
export class Connection {
  /** Set once the client authenticated. */
  session?: Session;
  closeReason?: CloseReason;
  isClosed = false;
  private closeWaiters?: Array<() => void>;

  constructor(
    readonly transport: SessionTransport,
    readonly stream: Duplex,
    readonly peer?: PeerCertificate,
  ) {}

  /** Settles once the underlying socket is closed. */
  whenClosed(): Promise<void> {
    if (this.isClosed) {
      return Promise.resolve();
    }
    return new Promise((resolve) => (this.closeWaiters ??= []).push(resolve));
  }

  /** Records why the connection is about to close (see CloseReason for which cause wins). */
  closing(reason: CloseReason): void {
    if (this.closeReason === undefined || reason === 'ban') {
      this.closeReason = reason;
    }
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

/** A CONNECT between its store lookup and its CONNACK; a revoke in that window refuses it. */
export interface PendingAuthentication {
  readonly clientId: string;
  refused: boolean;
}

export type SessionOpened = (session: Session) => void;
export type SessionClosed = (session: Session, reason: CloseReason) => void;

/**
 * Who is connected where: every accepted connection of this process (so the
 * shutdown can end them), the authenticated sessions by client id, CONNECTs
 * waiting for their store read (so a ban can refuse them), and `lastSeenAt`.
 *
 * Sessions are closed by client id, by a predicate on the session (a
 * certificate serial, portal sessions only, ...) or all at once; each close
 * records why, and `onOpened` / `onClosed` listeners hear of every session
 * (internal ones included: filter on `transport`). Listeners run synchronously
 * on the connection's path: keep them cheap, and don't throw (a throw is
 * logged and ignored).
 */
export class SessionRegistry {
  private readonly logger = new Logger('EmbeddedBroker');
  private readonly connections = new Set<Connection>();
  private readonly byClient = new WeakMap<Client, Connection>();
  private readonly sessions = new Map<string, Set<Connection>>();
  private readonly pending = new Map<string, Set<PendingAuthentication>>();
  private readonly openedListeners: SessionOpened[] = [];
  private readonly closedListeners: SessionClosed[] = [];
  private stopping = false;

  constructor(
    private readonly clients: ClientRepository,
    private readonly metrics: MetricsService,
  ) {}

  /** Calls `listener` for every session authenticated from now on. Returns the unsubscribe. */
  onOpened(listener: SessionOpened): () => void {
    return addListener(this.openedListeners, listener);
  }

  /** Calls `listener` for every authenticated session that ends from now on, with the reason. Returns the unsubscribe. */
  onClosed(listener: SessionClosed): () => void {
    return addListener(this.closedListeners, listener);
  }

  // ---- connections ---------------------------------------------------------------------------

  /** Tracks a new network connection; `socket` emits 'close' once the underlying socket is closed. */
  accept(transport: SessionTransport, stream: Duplex, socket: EventEmitter, peer?: PeerCertificate): Connection {
    const connection = new Connection(transport, stream, peer);
    this.connections.add(connection);
    socket.once('close', () => this.connectionClosed(connection));
    return connection;
  }

  /** Links the Aedes client that serves a connection, for the MQTT hooks. */
  attach(connection: Connection, client: Client): void {
    this.byClient.set(client, connection);
  }

  /** Accepted network connections still open, authenticated or not. */
  get connectionCount(): number {
    return this.connections.size;
  }

  connectionOf(client: Client): Connection | undefined {
    return this.byClient.get(client);
  }

  /** The session an Aedes client acts as; none before authentication or once banned (not even a will message gets out). */
  sessionOf(client: Client): Session | undefined {
    const connection = this.byClient.get(client);
    return connection?.closeReason === 'ban' ? undefined : connection?.session;
  }

  // ---- sessions ------------------------------------------------------------------------------

  beginAuthentication(clientId: string): PendingAuthentication {
    const pending: PendingAuthentication = { clientId, refused: false };
    const set = this.pending.get(clientId);
    if (set === undefined) {
      this.pending.set(clientId, new Set([pending]));
    } else {
      set.add(pending);
    }
    return pending;
  }

  endAuthentication(pending: PendingAuthentication): void {
    const set = this.pending.get(pending.clientId);
    set?.delete(pending);
    if (set?.size === 0) {
      this.pending.delete(pending.clientId);
    }
  }

  /** The connection authenticated as `session`. */
  open(connection: Connection, session: Session): void {
    connection.session = session;
    let same = this.sessions.get(session.clientId);
    if (same === undefined) {
      same = new Set();
      this.sessions.set(session.clientId, same);
    } else {
      // Aedes closes the older session once this CONNECT is accepted ([MQTT-3.1.4-2]); the map holds both until then.
      for (const older of same) {
        older.closing('takeover');
      }
    }
    same.add(connection);
    if (session.transport !== 'internal') {
      this.metrics.connectedClients.inc({ transport: session.transport });
      this.touch(session.clientId);
    }
    for (const listener of this.openedListeners) {
      this.notify(() => listener(session));
    }
  }

  isConnected(clientId: string): boolean {
    return this.sessions.has(clientId);
  }

  /** The live sessions of one client (a newer one may be replacing an older one), or of everyone. */
  list(clientId?: string): Session[] {
    const connections = clientId === undefined ? [...this.sessions.values()].flatMap((set) => [...set]) : [...(this.sessions.get(clientId) ?? [])];
    return connections.map((c) => c.session!);
  }

  /**
   * The client connected on another instance of the cluster: Aedes closes its session here
   * (it hears the other broker's `new/clients` announcement); this records why.
   */
  takenOver(clientId: string): void {
    for (const connection of this.sessions.get(clientId) ?? []) {
      connection.closing('takeover');
    }
  }

  /** Closes every session of the client; resolves with how many once their sockets are closed. */
  close(clientId: string, reason: CloseReason): Promise<number> {
    return this.closeConnections([...(this.sessions.get(clientId) ?? [])], reason);
  }

  /** Closes every session the predicate picks; resolves with how many once their sockets are closed. */
  closeWhere(predicate: (session: Session) => boolean, reason: CloseReason): Promise<number> {
    const doomed: Connection[] = [];
    for (const connections of this.sessions.values()) {
      for (const connection of connections) {
        if (predicate(connection.session!)) {
          doomed.push(connection);
        }
      }
    }
    return this.closeConnections(doomed, reason);
  }

  /**
   * A ban: refuses the client's CONNECTs caught between their store read and their CONNACK
   * (later ones read the stored ban), then closes its sessions.
   */
  async revoke(clientId: string): Promise<number> {
    for (const pending of this.pending.get(clientId) ?? []) {
      pending.refused = true;
    }
    const closed = await this.close(clientId, 'ban');
    this.metrics.forcedDisconnects.inc(closed);
    return closed;
  }

  /**
   * Ends the connections of the given transports (all when none given), authenticated or
   * not, and stops recording `lastSeenAt`.
   */
  async shutdown(transports?: SessionTransport[]): Promise<void> {
    this.stopping = true;
    const doomed = [...this.connections].filter((c) => transports === undefined || transports.includes(c.transport));
    await this.closeConnections(doomed, 'shutdown');
  }

  private async closeConnections(doomed: Connection[], reason: CloseReason): Promise<number> {
    for (const connection of doomed) {
      connection.closing(reason);
      connection.stream.destroy();
    }
    await Promise.all(doomed.map((c) => c.whenClosed()));
    return doomed.length;
  }

  private connectionClosed(connection: Connection): void {
    this.connections.delete(connection);
    const session = connection.session;
    if (session !== undefined) {
      const same = this.sessions.get(session.clientId);
      same?.delete(connection);
      if (same?.size === 0) {
        this.sessions.delete(session.clientId);
      }
      if (session.transport !== 'internal') {
        this.metrics.connectedClients.dec({ transport: session.transport });
        if (!this.stopping) {
          this.touch(session.clientId);
        }
      }
      const reason = connection.closeReason ?? 'client';
      for (const listener of this.closedListeners) {
        this.notify(() => listener(session, reason));
      }
    }
    connection.markClosed();
  }

  /** lastSeenAt is informational: never let its write delay or fail a connection. */
  private touch(clientId: string): void {
    this.clients.touchLastSeen(clientId, new Date().toISOString()).catch((error: unknown) => {
      this.logger.debug(`could not record lastSeenAt of ${clientId}: ${errorMessage(error)}`);
    });
  }

  private notify(call: () => void): void {
    try {
      call();
    } catch (error) {
      this.logger.error(`session listener failed: ${errorMessage(error)}`);
    }
  }
}

function addListener<T>(list: T[], listener: T): () => void {
  list.push(listener);
  return () => {
    const at = list.indexOf(listener);
    if (at >= 0) {
      list.splice(at, 1);
    }
  };
}
