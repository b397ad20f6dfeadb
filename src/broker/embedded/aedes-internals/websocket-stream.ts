import { Duplex, type Writable } from 'node:stream';
import type { WebSocket } from 'ws';

/**
 * Replaces: `ws`' `createWebSocketStream` as the byte stream Aedes reads and
 * writes for a WebSocket client. Reads `ws`' private `_socket` when ending.
 *
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
 * outlets.ts.)
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
