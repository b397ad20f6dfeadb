import type { Duplex, Writable } from 'node:stream';
import type { WebSocket } from 'ws';
import type { DirectOutlet, EncodedPublish } from './direct-delivery';

/** Private parts of `ws` the direct path relies on; self-check.ts verifies them at start, ready() at each use. */
export interface WebSocketInternals {
  _socket?: Writable & { destroyed?: boolean };
  _sender?: { _state?: number; _queue?: unknown[]; _firstFragment?: boolean };
  _extensions?: Record<string, unknown>;
}

/**
 * Replaces: `ws.send` (one frame built and one socket write per subscriber
 * and message) for QoS 0 fan-out.
 *
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
 * Replaces: one write syscall per message per socket.
 *
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
