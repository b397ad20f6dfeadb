import type { Writable } from 'node:stream';

/** What this reaches inside amqplib (2.x): a channel's connection, its frame multiplexer and the socket under it. */
interface AmqplibMux {
  out?: Writable;
  _readIncoming?: () => void;
}

const BATCHED = Symbol('webcommunicator.batchedFrameWrites');

/**
 * Makes the frames amqplib sends in one pass of its multiplexer go out in one socket write.
 *
 * amqplib queues each publish on its channel's buffer and, once per turn of the event loop, its `Mux`
 * copies every queued frame to the socket with its own `write`: a system call per message, and a TCP
 * segment per message for RabbitMQ to read. Corking the socket for that pass makes it one `writev` per
 * pass, whatever the number of messages: the same bytes, in the same order, fewer calls on both sides.
 *
 * Best effort: with an amqplib whose internals differ, nothing is changed and this returns false.
 */
export function batchFrameWrites(channel: unknown): boolean {
  const mux = (channel as { connection?: { muxer?: AmqplibMux & { [BATCHED]?: true } } }).connection?.muxer;
  const out = mux?.out;
  const read = mux?._readIncoming;
  if (mux === undefined || typeof read !== 'function' || typeof out?.cork !== 'function' || typeof out.uncork !== 'function') {
    return false;
  }
  if (mux[BATCHED] === true) {
    return true;
  }
  mux[BATCHED] = true;
  mux._readIncoming = function readCorked(this: AmqplibMux): void {
    out.cork();
    try {
      read.call(this);
    } finally {
      out.uncork();
    }
  };
  return true;
}
