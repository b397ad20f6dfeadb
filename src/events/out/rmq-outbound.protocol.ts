/**
 * What the service's thread (RmqOutboundThread) and the RabbitMQ publisher thread (rmq-outbound.worker.ts)
 * say to each other. Events cross as one string per batch: a single copy, whatever the number of events.
 */
import type { OutboundLogLevel } from './outbound-queue';
import type { RmqOutboundOptions } from './rmq-outbound.sink';

/** What the publisher thread starts with. */
export interface RmqPublisherData extends RmqOutboundOptions {
  /** EVENTS_OUT_BUFFER. */
  capacity: number;
  /** Sends in flight at once. */
  window: number;
  retryMs: number;
}

/** Service → publisher. */
export type ToPublisher =
  /**
   * Buffer these events, in this order: `lines` is `type\nid\nbody\n` for each. No part holds a line
   * break: types are OUTBOUND_EVENT_TYPES, ids are UUIDs, and JSON text (JSON.stringify) escapes every
   * line break inside its strings.
   */
  | { kind: 'push'; lines: string }
  /** Answer `drained` once the buffer is empty, or after `timeoutMs`. */
  | { kind: 'drain'; timeoutMs: number }
  /** Stop retrying, close the connection, answer `closed`. */
  | { kind: 'close' };

/** Publisher → service. */
export type FromPublisher =
  /**
   * Since the last stats: events confirmed (`sent`) and dropped by a full buffer; now: the buffer's size and
   * how many events the thread has taken in since it started (`taken`: the rest are still on their way).
   */
  | { kind: 'stats'; sent: number; dropped: number; size: number; taken: number }
  | { kind: 'log'; level: OutboundLogLevel; message: string }
  | { kind: 'drained'; left: number }
  | { kind: 'closed' };

/** One event as a `push` carries it (its `lines` are these, one event after another). */
export function eventLine(event: { type: string; id: string; body: string }): string {
  return `${event.type}\n${event.id}\n${event.body}\n`;
}

/** `lines` of a `push`, one event after another. */
export function* eventLines(lines: string): Generator<{ type: string; id: string; body: string }> {
  let at = 0;
  while (at < lines.length) {
    const typeEnd = lines.indexOf('\n', at);
    const idEnd = lines.indexOf('\n', typeEnd + 1);
    const bodyEnd = lines.indexOf('\n', idEnd + 1);
    if (typeEnd < 0 || idEnd < 0 || bodyEnd < 0) {
      return;
    }
    yield { type: lines.slice(at, typeEnd), id: lines.slice(typeEnd + 1, idEnd), body: lines.slice(idEnd + 1, bodyEnd) };
    at = bodyEnd + 1;
  }
}
