import type { Client } from 'aedes';

/** The part of mqtt-packet's Parser (Aedes' `client._parser`) this patch wraps; self-check.ts verifies it. */
export interface PacketParser {
  /** Appends the bytes, emits every complete packet, returns how many bytes are left unparsed. */
  parse(buffer: Buffer): number;
}

/**
 * Replaces: mqtt-packet buffering an incomplete packet without limit (Aedes
 * feeds every received chunk to `client._parser.parse`).
 *
 * Why: MQTT allows packets of 256 MB and mqtt-packet keeps a packet's bytes
 * until it is complete, so without this an unauthenticated peer could announce
 * a huge CONNECT and stream into our memory until the connect timeout. The
 * WebSocket frame limit covers only WebSocket, and only per frame.
 *
 * Wraps `client._parser.parse` (whose result is the bytes still unparsed) and
 * calls `onOverflow` once a client's pending packet passes `maxBytes`.
 */
export function limitInboundPacketBytes(client: Client, maxBytes: number, onOverflow: () => void): void {
  const parser = (client as unknown as { _parser: PacketParser })._parser;
  const parse = parser.parse.bind(parser);
  parser.parse = (buffer: Buffer): number => {
    const pending = parse(buffer);
    if (pending > maxBytes) {
      onOverflow();
    }
    return pending;
  };
}
