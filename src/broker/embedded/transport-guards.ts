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
    if (chunks.length > 1 && sendSharedFrame(ws, chunks, callback)) {
      return;
    }
    const data = chunks.length === 1 ? (chunks[0].chunk as Buffer) : Buffer.concat(chunks.map((c) => c.chunk as Buffer));
    // The encoding is ignored for Buffers; Writable itself passes 'buffer' here.
    stream._write(data, 'buffer' as BufferEncoding, callback);
  };
  return stream;
}

/**
 * Complete WebSocket frames (header + MQTT bytes) built for a fan-out message,
 * keyed by the last chunk of the batch: the PUBLISH payload Buffer, which Aedes
 * hands unchanged to every subscriber's packet. Weak, so an entry lives only
 * as long as the message does.
 */
const sharedFrames = new WeakMap<Buffer, Buffer>();

/** Private parts of `ws` the shared-frame path relies on; checked at each use. */
interface WebSocketInternals {
  _socket?: { write(data: Buffer, cb: (error?: Error | null) => void): boolean; destroyed?: boolean; cork?(): void; uncork?(): void };
  _sender?: { _state?: number; _queue?: unknown[]; _firstFragment?: boolean };
  _extensions?: Record<string, unknown>;
}

/** mqtt-packet writes a QoS 0 PUBLISH header byte first: type 3, QoS bits 0 (dup/retain may vary). */
function isQos0PublishHeader(chunk: Buffer): boolean {
  return chunk.length > 0 && (chunk[0] & 0xf6) === 0x30;
}

/**
 * Why: in a fan-out burst every subscriber gets the same QoS 0 PUBLISH bytes,
 * yet `ws.send` would copy them into a fresh frame per subscriber (the concat
 * above, then the frame header, then two socket writes). Here the first
 * subscriber's batch builds the whole frame once and every later subscriber's
 * socket gets that same Buffer in one write.
 *
 * Reuse is decided by content, not by trust: a cached frame is only sent if
 * every byte of this batch equals the bytes it carries (a few header bytes
 * plus one memcmp of the payload), so per-client differences (retain flag,
 * dup, a second packet in the batch) simply rebuild the entry. Only taken
 * when `ws.send` would itself write an unmasked, uncompressed frame straight
 * to the socket; otherwise returns false and the caller uses `ws.send`.
 */
function sendSharedFrame(ws: WebSocket, chunks: Array<{ chunk: unknown }>, callback: (error?: Error | null) => void): boolean {
  const first = chunks[0].chunk;
  const last = chunks[chunks.length - 1].chunk;
  if (!Buffer.isBuffer(first) || !Buffer.isBuffer(last) || !isQos0PublishHeader(first)) {
    return false;
  }
  const internals = ws as unknown as WebSocketInternals;
  const socket = internals._socket;
  const sender = internals._sender;
  if (
    ws.readyState !== ws.OPEN ||
    socket === undefined ||
    socket.destroyed === true ||
    typeof socket.write !== 'function' ||
    sender === undefined ||
    sender._state !== 0 ||
    sender._queue?.length !== 0 ||
    sender._firstFragment !== true ||
    internals._extensions?.['permessage-deflate'] !== undefined
  ) {
    return false;
  }
  let length = 0;
  for (const { chunk } of chunks) {
    if (!Buffer.isBuffer(chunk)) {
      return false;
    }
    length += chunk.length;
  }
  let frame = sharedFrames.get(last);
  if (frame === undefined || !frameCarries(frame, chunks, length)) {
    frame = buildFrame(chunks, length);
    sharedFrames.set(last, frame);
  }
  corkUntilNextTurn(socket);
  socket.write(frame, callback);
  return true;
}

interface CorkableSocket {
  cork(): void;
  uncork(): void;
}

/** Sockets written to in this event-loop turn, and those of them now corked until the next turn. */
const writtenThisTurn = new Set<CorkableSocket>();
const corkedSockets: CorkableSocket[] = [];
let flushScheduled = false;

/**
 * Aedes delivers a QoS 0 message to each subscriber in its own setImmediate
 * and up to `concurrency` messages at once, so during a burst one socket gets
 * many frames in the same event-loop turn, each its own write syscall (the
 * largest single item in the fan-out profile). A socket's first frame in a
 * turn is written at once (a lone message keeps its latency); from its second
 * frame on, the socket is corked and the rest leave in one writev at the start
 * of the next turn.
 */
function corkUntilNextTurn(socket: Partial<CorkableSocket>): void {
  if (typeof socket.cork !== 'function' || typeof socket.uncork !== 'function') {
    return;
  }
  const corkable = socket as CorkableSocket;
  if (!flushScheduled) {
    flushScheduled = true;
    setImmediate(uncorkAll);
  }
  const size = writtenThisTurn.size;
  writtenThisTurn.add(corkable);
  if (writtenThisTurn.size !== size) {
    return; // first frame this turn
  }
  if ((corkable as { writableCorked?: number }).writableCorked === 0) {
    corkable.cork();
    corkedSockets.push(corkable);
  }
}

function uncorkAll(): void {
  flushScheduled = false;
  writtenThisTurn.clear();
  const sockets = corkedSockets.splice(0);
  for (const socket of sockets) {
    socket.uncork();
  }
}

/** RFC 6455 header length for an unmasked frame carrying `length` bytes. */
function frameHeaderLength(length: number): number {
  return length > 0xffff ? 10 : length > 125 ? 4 : 2;
}

function frameCarries(frame: Buffer, chunks: Array<{ chunk: unknown }>, length: number): boolean {
  let offset = frameHeaderLength(length);
  if (frame.length !== offset + length) {
    return false;
  }
  for (const { chunk } of chunks) {
    const bytes = chunk as Buffer;
    if (frame.compare(bytes, 0, bytes.length, offset, offset + bytes.length) !== 0) {
      return false;
    }
    offset += bytes.length;
  }
  return true;
}

/** One final, unmasked binary frame (FIN + opcode 2), as `ws` builds it for a server. */
function buildFrame(chunks: Array<{ chunk: unknown }>, length: number): Buffer {
  const headerLength = frameHeaderLength(length);
  const frame = Buffer.allocUnsafe(headerLength + length);
  frame[0] = 0x82;
  if (headerLength === 2) {
    frame[1] = length;
  } else if (headerLength === 4) {
    frame[1] = 126;
    frame.writeUInt16BE(length, 2);
  } else {
    frame[1] = 127;
    frame.writeUInt32BE(Math.floor(length / 0x100000000), 2);
    frame.writeUInt32BE(length >>> 0, 6);
  }
  let offset = headerLength;
  for (const { chunk } of chunks) {
    offset += (chunk as Buffer).copy(frame, offset);
  }
  return frame;
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
