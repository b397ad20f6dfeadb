import type { Duplex, Writable } from 'node:stream';
import type { Client } from 'aedes';
import { createWebSocketStream, type WebSocket } from 'ws';

/**
 * Bridges a WebSocket to the byte stream Aedes expects, sending one WebSocket
 * frame per corked batch of writes.
 *
 * Why: mqtt-packet writes a PUBLISH as several small chunks (header, length,
 * topic, payload) inside cork()/uncork(). `createWebSocketStream` has no
 * `_writev`, so each chunk would become its own frame and its own socket write:
 * four to five per message per subscriber. Coalescing them is the single
 * biggest saving on the fan-out path. A frame may carry any part of an MQTT
 * packet stream (MQTT 3.1.1 section 6), so every client accepts this.
 */
export function mqttStreamFromWebSocket(ws: WebSocket): Duplex {
  const stream = createWebSocketStream(ws);
  stream._writev = (chunks, callback) => {
    const data = chunks.length === 1 ? (chunks[0].chunk as Buffer) : Buffer.concat(chunks.map((c) => c.chunk as Buffer));
    // The encoding is ignored for Buffers; Writable itself passes 'buffer' here.
    stream._write(data, 'buffer' as BufferEncoding, callback);
  };
  return stream;
}

/**
 * Bounds what one connection that stops reading can cost: once more than
 * `maxBytes` wait in its write buffer, `onOverflow` runs (the caller drops it).
 *
 * Why `write` always reports success: Aedes waits for 'drain' whenever a write
 * returns false, and its message emitter only moves on once every subscriber's
 * write completed. One frozen subscriber would then stall delivery to everyone
 * for up to `drainTimeout`, while its buffer keeps growing. Never asking Aedes
 * to wait, and cutting off the reader at a fixed size instead, keeps the
 * fan-out path free of per-client waits and memory bounded by
 * connections × maxBytes.
 */
export function capBufferedWrites(stream: Writable, maxBytes: number, onOverflow: () => void): void {
  const write = stream.write as (...args: unknown[]) => boolean;
  let overflowed = false;
  stream.write = function cappedWrite(this: Writable, ...args: unknown[]): boolean {
    write.apply(this, args);
    if (!overflowed && this.writableLength > maxBytes) {
      overflowed = true;
      onOverflow();
    }
    return true;
  } as Writable['write'];
}

interface ParserLike {
  parse(buffer: Buffer): number;
}

/**
 * Bounds the bytes one client's incomplete MQTT packet may occupy. MQTT allows
 * packets of 256 MB and mqtt-packet buffers a packet until it is complete, so
 * without this an unauthenticated peer could announce a huge CONNECT and
 * stream into our memory until the connect timeout.
 *
 * Uses Aedes' internal parser (`client._parser`, whose `parse` returns the
 * bytes left unparsed); if a future Aedes renames it, the guard turns itself
 * off and only the WebSocket frame limit remains, which the tests would catch.
 */
export function limitInboundPacketBytes(client: Client, maxBytes: number, onOverflow: () => void): boolean {
  const parser = (client as unknown as { _parser?: Partial<ParserLike> })._parser;
  if (typeof parser?.parse !== 'function') {
    return false;
  }
  const parse = parser.parse.bind(parser);
  parser.parse = (buffer: Buffer): number => {
    const pending = parse(buffer);
    if (pending > maxBytes) {
      onOverflow();
    }
    return pending;
  };
  return true;
}
