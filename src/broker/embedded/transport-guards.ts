import { Duplex, type Writable } from 'node:stream';
import type { Client } from 'aedes';
import { BufferList } from 'bl';
import type { WebSocket } from 'ws';
import type { DirectOutlet, EncodedPublish } from './direct-delivery';

/**
 * Bridges a server-side WebSocket to the byte stream Aedes expects, sending one
 * WebSocket frame per corked batch of writes.
 *
 * What `ws`' own `createWebSocketStream` does (same events, same end and
 * destroy handling), as a class: its listeners on the WebSocket are shared
 * module functions instead of eight closures per connection, which counts at
 * tens of thousands of connections (docs/benchmarks.md). And it has a
 * `_writev`: mqtt-packet writes a PUBLISH as several small chunks (header,
 * length, topic, payload) inside cork()/uncork(), which would otherwise become
 * one frame and one socket write each. A frame may carry any part of an MQTT
 * packet stream (MQTT 3.1.1 section 6), so every client accepts this. (QoS 0
 * fan-out does not come this way at all: see direct-delivery.ts and
 * websocketOutlet.)
 */
export function mqttStreamFromWebSocket(ws: WebSocket): Duplex {
  return new WebSocketMqttStream(ws);
}

const STREAM = Symbol('webcommunicator.mqttStream');

/** Where the shared listeners below (called with the WebSocket as `this`) find its stream. */
function streamOf(ws: WebSocket): WebSocketMqttStream {
  return (ws as unknown as Record<typeof STREAM, WebSocketMqttStream>)[STREAM];
}

class WebSocketMqttStream extends Duplex {
  /** False once the WebSocket reported an error: it closes itself then (sending a close frame). */
  terminateOnDestroy = true;

  constructor(readonly ws: WebSocket) {
    super({ autoDestroy: false, emitClose: false, objectMode: false, writableObjectMode: false });
    (ws as unknown as Record<typeof STREAM, WebSocketMqttStream>)[STREAM] = this;
    ws.on('message', onWebSocketMessage);
    ws.once('error', onWebSocketError);
    ws.once('close', onWebSocketClose);
    this.on('end', onStreamEnd);
    this.on('error', onStreamError);
  }

  override _read(): void {
    if (this.ws.isPaused) {
      this.ws.resume();
    }
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    this.ws.send(chunk, callback);
  }

  override _writev(chunks: Array<{ chunk: Buffer }>, callback: (error?: Error | null) => void): void {
    this.ws.send(chunks.length === 1 ? chunks[0].chunk : Buffer.concat(chunks.map((c) => c.chunk)), callback);
  }

  override _final(callback: (error?: Error | null) => void): void {
    const socket = (this.ws as unknown as { _socket: Writable | null })._socket;
    if (socket === null) {
      return; // never opened: the WebSocket's 'error' follows
    }
    if (socket.writableFinished) {
      callback();
      if (this.readableEnded) {
        this.destroy();
      }
      return;
    }
    // Not destroyed here: 'end' follows this 'finish', once the WebSocket's 'close' pushed EOF.
    socket.once('finish', () => callback());
    this.ws.close();
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    const ws = this.ws;
    if (ws.readyState === ws.CLOSED) {
      callback(error);
      process.nextTick(emitStreamClose, this);
      return;
    }
    let called = false;
    ws.once('error', (wsError: Error) => {
      called = true;
      callback(wsError);
    });
    ws.once('close', () => {
      if (!called) {
        callback(error);
      }
      process.nextTick(emitStreamClose, this);
    });
    if (this.terminateOnDestroy) {
      ws.terminate();
    }
  }
}

function onWebSocketMessage(this: WebSocket, data: Buffer): void {
  if (!streamOf(this).push(data)) {
    this.pause();
  }
}

function onWebSocketError(this: WebSocket, error: Error): void {
  const stream = streamOf(this);
  if (!stream.destroyed) {
    // The WebSocket closes itself after an error (with a close frame); terminating it now would cut that frame.
    stream.terminateOnDestroy = false;
    stream.destroy(error);
  }
}

function onWebSocketClose(this: WebSocket): void {
  const stream = streamOf(this);
  if (!stream.destroyed) {
    stream.push(null);
  }
}

function onStreamEnd(this: WebSocketMqttStream): void {
  if (!this.destroyed && this.writableFinished) {
    this.destroy();
  }
}

function onStreamError(this: WebSocketMqttStream, error: Error): void {
  this.removeListener('error', onStreamError);
  this.destroy();
  if (this.listenerCount('error') === 0) {
    this.emit('error', error); // don't swallow it
  }
}

function emitStreamClose(stream: Duplex): void {
  stream.emit('close');
}

/** Private parts of `ws` the direct path relies on; checked at each use. */
interface WebSocketInternals {
  _socket?: Writable & { destroyed?: boolean };
  _sender?: { _state?: number; _queue?: unknown[]; _firstFragment?: boolean };
  _extensions?: Record<string, unknown>;
}

/**
 * Direct QoS 0 delivery to a WebSocket client: the shared, pre-framed message
 * goes straight to the TCP socket. Only when that is exactly what `ws.send`
 * would do, in order: the socket is open, `ws`' sender is idle (no frame half
 * written, nothing queued), no compression, and the bridge stream holds
 * nothing Aedes wrote earlier. Checks the slow-reader cap itself, since these
 * bytes never pass through the bridge stream.
 */
export function websocketOutlet(ws: WebSocket, stream: Duplex, maxBufferedBytes: number, onOverflow: () => void): DirectOutlet {
  const internals = ws as unknown as WebSocketInternals;
  return {
    ready(): boolean {
      const socket = internals._socket;
      const sender = internals._sender;
      return (
        ws.readyState === ws.OPEN &&
        socket !== undefined &&
        socket.destroyed !== true &&
        typeof socket.write === 'function' &&
        sender !== undefined &&
        sender._state === 0 &&
        sender._queue?.length === 0 &&
        sender._firstFragment === true &&
        internals._extensions?.['permessage-deflate'] === undefined &&
        stream.writableLength === 0 &&
        stream.writableCorked === 0
      );
    },
    write(publish: EncodedPublish): void {
      const socket = internals._socket!;
      corkUntilNextTurn(socket);
      socket.write(publish.websocketFrame());
      if (socket.writableLength > maxBufferedBytes) {
        onOverflow();
      }
    },
  };
}

/**
 * Direct QoS 0 delivery to a TCP or TLS client: the encoded message is written
 * to the same stream Aedes writes to (so order holds by itself, and the
 * slow-reader cap installed on it by capBufferedWrites applies).
 */
export function streamOutlet(stream: Duplex): DirectOutlet {
  return {
    ready: () => !stream.destroyed && stream.writable,
    write(publish: EncodedPublish): void {
      corkUntilNextTurn(stream);
      stream.write(publish.bytes);
    },
  };
}

interface CorkableSocket {
  cork(): void;
  uncork(): void;
  writableCorked: number;
}

/** Sockets written to in this event-loop turn, and those of them now corked until the next turn. */
const writtenThisTurn = new Set<CorkableSocket>();
const corkedSockets: CorkableSocket[] = [];
let flushScheduled = false;

/**
 * During a burst, one socket gets many messages in the same event-loop turn
 * (Aedes runs up to 100 messages' fan-outs at once), each its own write
 * syscall otherwise: that was the largest single item in the fan-out profile.
 * A socket's first write in a turn goes out at once (a lone message keeps its
 * latency); from its second write on, the socket is corked and the rest leave
 * in one writev at the start of the next turn.
 */
function corkUntilNextTurn(socket: CorkableSocket): void {
  if (!flushScheduled) {
    flushScheduled = true;
    setImmediate(uncorkAll);
  }
  const size = writtenThisTurn.size;
  writtenThisTurn.add(socket);
  if (writtenThisTurn.size !== size) {
    return; // first write this turn
  }
  if (socket.writableCorked === 0) {
    socket.cork();
    corkedSockets.push(socket);
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

/**
 * A record with no inherited keys, like `Object.create(null)`, but in V8's fast
 * (non-dictionary) mode: `Object.create(null)` objects start as hash tables of
 * several hundred bytes each, and Aedes makes two per client.
 */
function KeyedRecord(this: object): void {}
KeyedRecord.prototype = Object.create(null) as object;

/**
 * Trims what Aedes 1.x and mqtt-packet allocate per connection but this broker
 * never uses, which matters at tens of thousands of connections
 * (docs/benchmarks.md has the heap snapshot):
 * - mqtt-packet keeps unparsed bytes in a `bl` BufferListStream, a full Duplex
 *   stream (two stream states, an event emitter) used only as a byte list; the
 *   plain BufferList of the same package has every method the parser calls;
 * - `subscriptions` and `duplicates` are `Object.create(null)` hash tables;
 *   fast-mode records with no prototype keys behave the same for Aedes' reads
 *   and writes (an inherited name such as `constructor` still reads as absent).
 * Must run right after `aedes.handle()`, before the first byte is parsed; each
 * step is skipped if the internals don't look as expected.
 */
export function slimAedesClient(client: Client): void {
  const internals = client as unknown as {
    _parser?: { _list?: { length?: number; append?: unknown } };
    subscriptions?: object;
    duplicates?: object;
  };
  const list = internals._parser?._list;
  if (list !== undefined && list.length === 0 && typeof list.append === 'function') {
    internals._parser!._list = new BufferList();
  }
  for (const key of ['subscriptions', 'duplicates'] as const) {
    const record = internals[key];
    if (record !== undefined && Object.getPrototypeOf(record) === null && Object.keys(record).length === 0) {
      internals[key] = new (KeyedRecord as unknown as new () => object)();
    }
  }
}
