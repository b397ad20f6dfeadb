import type { EventEmitter } from 'node:events';
import type { IncomingMessage, Server as HttpServer } from 'node:http';
import { createServer as createNetServer, type Server as NetServer, type Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { createServer as createTlsServer, type TLSSocket } from 'node:tls';
import { Logger } from '@nestjs/common';
import type { Aedes } from 'aedes';
import { type WebSocket, WebSocketServer } from 'ws';
import type { AppConfig } from '../../config/app-config';
import { type ConnectionLimits, handleConnection, mqttStreamFromWebSocket } from './aedes-internals';
import type { CertificateAuthority } from './certificate-authority';
import type { PeerCertificate, SessionRegistry, SessionTransport } from './session-registry';

/** Path of MQTT over WebSocket on the HTTP port. */
export const MQTT_WS_PATH = '/mqtt';

/**
 * Where MQTT connections come in:
 * - MQTT over WebSocket at `/mqtt` on the HTTP server's port (an 'upgrade' listener);
 * - MQTT over TLS on MQTT_TLS_PORT, client certificates from our own CA required;
 * - a loopback-only TCP listener for the service's own internal client (EVENTS_TRANSPORT=mqtt
 *   without EVENTS_URL only).
 * Each accepted connection is registered with the SessionRegistry and handed to Aedes
 * with the patches of aedes-internals/ applied.
 */
export class MqttListeners {
  private readonly logger = new Logger('EmbeddedBroker');
  private aedes?: Aedes;
  private accepting = false;
  private tlsServer?: NetServer;
  private internalServer?: NetServer;
  private wss?: WebSocketServer;
  private upgradeServer?: HttpServer;

  constructor(
    private readonly config: AppConfig,
    private readonly registry: SessionRegistry,
    private readonly limits: ConnectionLimits,
  ) {}

  /** Opens the TLS and internal listeners and, given an HTTP server, the WebSocket path. */
  async open(aedes: Aedes, ca: CertificateAuthority, httpServer: HttpServer | undefined): Promise<void> {
    this.aedes = aedes;
    this.accepting = true;
    this.tlsServer = await this.listenTls(ca);
    // Only the events transport on this broker uses it: no listener nobody needs (EVENTS_TRANSPORT=rmq/none, or an EVENTS_URL).
    if (this.config.events.transport === 'mqtt' && this.config.events.url === undefined) {
      this.internalServer = await this.listenInternal();
    }
    if (httpServer === undefined) {
      this.logger.warn('no HTTP server: MQTT over WebSocket is disabled');
    } else {
      this.attachWebSocket(httpServer);
    }
  }

  /** Stops taking WebSocket upgrades: upgraded sockets would keep the HTTP server's close() waiting. */
  detachWebSocket(): void {
    this.accepting = false;
    this.upgradeServer?.off('upgrade', this.onUpgrade);
    this.wss?.close();
    this.wss = undefined;
  }

  /** Stops accepting; resolves once the TLS and internal servers are closed (after their connections). */
  close(): Promise<void> {
    this.detachWebSocket();
    const servers = [this.tlsServer, this.internalServer].filter((s): s is NetServer => s !== undefined);
    this.tlsServer = undefined;
    this.internalServer = undefined;
    return Promise.all(servers.map((server) => new Promise<void>((resolve) => server.close(() => resolve())))).then(() => undefined);
  }

  /** The HTTP server carrying MQTT over WebSocket, once attached. */
  get websocketServer(): HttpServer | undefined {
    return this.upgradeServer;
  }

  get tlsPort(): number | undefined {
    return addressPort(this.tlsServer);
  }

  get internalPort(): number | undefined {
    return addressPort(this.internalServer);
  }

  /** What is down, if anything. */
  problem(): string | undefined {
    if (this.tlsServer?.listening !== true) {
      return 'embedded broker TLS listener is down';
    }
    if (this.internalServer !== undefined && !this.internalServer.listening) {
      return 'embedded broker internal listener is down';
    }
    return undefined;
  }

  private attachWebSocket(server: HttpServer): void {
    this.wss = new WebSocketServer({
      noServer: true,
      clientTracking: false,
      perMessageDeflate: false,
      maxPayload: this.limits.maxInboundPacketBytes,
    });
    server.on('upgrade', this.onUpgrade);
    this.upgradeServer = server;
  }

  private readonly onUpgrade = (req: IncomingMessage, socket: Duplex, head: Buffer): void => {
    if ((req.url ?? '').split('?')[0] !== MQTT_WS_PATH) {
      // Another feature may serve its own WebSocket path; if nobody does, answer rather than leave the socket hanging.
      if (this.upgradeServer?.listenerCount('upgrade') === 1) {
        rejectUpgrade(socket, 404, 'Not Found');
      }
      return;
    }
    const wss = this.wss;
    if (wss === undefined || !this.accepting) {
      rejectUpgrade(socket, 503, 'Service Unavailable');
      return;
    }
    wss.handleUpgrade(req, socket, head, (ws: WebSocket) => {
      this.accept('websocket', mqttStreamFromWebSocket(ws), ws, ws);
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
        socket.setNoDelay(true);
        const certificate = socket.getPeerCertificate();
        const cn = certificate.subject?.CN;
        const peer: PeerCertificate = { commonName: typeof cn === 'string' ? cn : undefined, serialNumber: certificate.serialNumber };
        this.accept('tls', socket, socket, undefined, peer);
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
      socket.setNoDelay(true);
      this.accept('internal', socket, socket);
    });
    return listen(server, 0, '127.0.0.1', 'internal MQTT listener');
  }

  private accept(
    transport: SessionTransport,
    stream: Duplex,
    /** Emits 'close' once the underlying socket is closed. */
    socket: EventEmitter,
    ws?: WebSocket,
    peer?: PeerCertificate,
  ): void {
    const aedes = this.aedes;
    if (aedes === undefined || !this.accepting) {
      stream.destroy();
      return;
    }
    const connection = this.registry.accept(transport, stream, socket, peer);
    const client = handleConnection(aedes, stream, ws, this.limits, (why) => {
      this.logger.warn(`dropping MQTT client ${client.id ?? '(not connected)'}: ${why}`);
      connection.closing('error');
      stream.destroy();
    });
    this.registry.attach(connection, client);
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

export function addressPort(server: NetServer | HttpServer | undefined): number | undefined {
  const address = server?.address();
  return address !== null && typeof address === 'object' ? address.port : undefined;
}
