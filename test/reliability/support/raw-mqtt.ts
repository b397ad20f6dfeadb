import { connect as netConnect, type Socket } from 'node:net';
import { connect as tlsConnect, type TLSSocket } from 'node:tls';
import { WebSocket } from 'ws';

export { mqttPacket } from '../../support/broker/mqtt-packets';

/** A byte pipe to the broker over one transport, recording what came back and when it closed. */
export interface RawConnection {
  readonly received: Buffer[];
  readonly closed: Promise<void>;
  isClosed(): boolean;
  write(data: Buffer): void;
  /** Closes from our side at once. */
  destroy(): void;
}

export interface TlsIdentity {
  caCertificatePem: string;
  certificatePem: string;
  privateKeyPem: string;
}

export async function rawWebSocket(httpUrl: string, path = '/mqtt'): Promise<RawConnection> {
  const ws = new WebSocket(`${httpUrl.replace(/^http/, 'ws')}${path}`, ['mqtt']);
  const received: Buffer[] = [];
  let done = false;
  const closed = new Promise<void>((resolve) => ws.once('close', () => ((done = true), resolve())));
  ws.on('error', () => undefined);
  ws.on('message', (data: Buffer) => received.push(Buffer.from(data)));
  await new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve());
    ws.once('close', () => reject(new Error('WebSocket closed before it opened')));
  });
  return {
    received,
    closed,
    isClosed: () => done,
    write: (data) => {
      if (ws.readyState === WebSocket.OPEN) {
        ws.send(data);
      }
    },
    destroy: () => ws.terminate(),
  };
}

export async function rawTls(port: number, identity?: TlsIdentity): Promise<RawConnection> {
  const socket: TLSSocket = tlsConnect({
    host: '127.0.0.1',
    port,
    servername: 'localhost',
    ca: identity?.caCertificatePem,
    cert: identity?.certificatePem,
    key: identity?.privateKeyPem,
    rejectUnauthorized: identity !== undefined,
  });
  const connection = socketConnection(socket);
  await new Promise<void>((resolve, reject) => {
    socket.once('secureConnect', () => resolve());
    socket.once('close', () => reject(new Error('TLS closed before the handshake finished')));
  });
  return connection;
}

/** Plain TCP: for bytes that are not TLS at all, or HTTP written by hand. */
export async function rawTcp(port: number): Promise<RawConnection> {
  const socket = netConnect({ host: '127.0.0.1', port });
  const connection = socketConnection(socket);
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', () => resolve());
    socket.once('error', reject);
  });
  return connection;
}

function socketConnection(socket: Socket): RawConnection {
  const received: Buffer[] = [];
  let done = false;
  const closed = new Promise<void>((resolve) => socket.once('close', () => ((done = true), resolve())));
  socket.on('error', () => undefined);
  socket.on('data', (data: Buffer) => received.push(data));
  return {
    received,
    closed,
    isClosed: () => done,
    write: (data) => {
      if (!socket.destroyed) {
        socket.write(data);
      }
    },
    destroy: () => socket.destroy(),
  };
}

/** Resolves true when the connection closes within `ms`, false otherwise. */
export async function closesWithin(connection: RawConnection, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const result = await Promise.race([
    connection.closed.then(() => true),
    new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(false), ms))),
  ]);
  clearTimeout(timer);
  return result;
}

/** CONNACK return code in the bytes received so far, if any (MQTT 3.1.1 section 3.2). */
export function connackCode(received: Buffer[]): number | undefined {
  const all = Buffer.concat(received);
  return all.length >= 4 && all[0] === 0x20 ? all[3] : undefined;
}
