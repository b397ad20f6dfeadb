/**
 * Every patch this service makes on Aedes, `ws` or mqtt-packet internals lives
 * in this folder, one file per patch, each saying what upstream behaviour it
 * replaces and why. The versions are pinned exactly in package.json, and
 * `checkInternals` (self-check.ts) refuses the broker's start when an internal
 * a patch needs has changed shape.
 */
import type { Duplex } from 'node:stream';
import type { Aedes, Client } from 'aedes';
import type { WebSocket } from 'ws';
import { installDirectDelivery } from './direct-delivery';
import { limitInboundPacketBytes } from './inbound-limit';
import { streamOutlet, websocketOutlet } from './outlets';
import { slimAedesClient } from './slim-client';
import { capBufferedWrites } from './write-cap';

export { BrokerInternalsError, checkInternals } from './self-check';
export { ClusterEmitter, type MqPacket } from './cluster-emitter';
export { mqttStreamFromWebSocket } from './websocket-stream';

export interface ConnectionLimits {
  /** Bytes a client may leave unread before it is dropped (MQTT_MAX_CLIENT_BUFFER_BYTES). */
  maxBufferedBytes: number;
  /** Bytes one inbound MQTT packet may take. */
  maxInboundPacketBytes: number;
}

/**
 * Hands a new connection to Aedes with every per-connection patch applied, in
 * the order they need: the write cap before Aedes writes, the trimming before
 * the first byte is parsed. `onDrop` runs when a limit is passed; the caller
 * destroys the stream.
 */
export function handleConnection(aedes: Aedes, stream: Duplex, ws: WebSocket | undefined, limits: ConnectionLimits, onDrop: (why: string) => void): Client {
  const overflow = (): void => onDrop('it stopped reading');
  capBufferedWrites(stream, limits.maxBufferedBytes, overflow);
  // No upgrade request is handed over: no hook reads it, and each session would keep it alive.
  const client = aedes.handle(stream);
  slimAedesClient(client);
  installDirectDelivery(client, ws === undefined ? streamOutlet(stream) : websocketOutlet(ws, stream, limits.maxBufferedBytes, overflow));
  limitInboundPacketBytes(client, limits.maxInboundPacketBytes, () => onDrop(`packet over ${limits.maxInboundPacketBytes} bytes`));
  return client;
}
