import { Logger } from '@nestjs/common';

/** One serialized event waiting to go out. */
export interface QueuedEvent {
  readonly id: string;
  readonly type: string;
  /** The event as JSON text. */
  readonly body: string;
  /** Confirmed by the transport. */
  done?: boolean;
}

export type OutboundLogLevel = 'log' | 'warn' | 'error';
/** Where the outbound machinery logs: Nest's logger on the service's thread; a message to it from a worker thread. */
export type OutboundLog = (level: OutboundLogLevel, message: string) => void;

/** What OutboundEvents feeds: an OutboundQueue on this thread, or the one on the RabbitMQ publisher thread. */
export interface OutboundBuffer {
  /** Events not yet confirmed by the transport. */
  readonly size: number;
  push(event: QueuedEvent): void;
  /** Resolves once every buffered event is confirmed, or after `timeoutMs`; returns how many are left. */
  drain(timeoutMs: number): Promise<number>;
  /** Stops retrying (shutdown); what is left stays unsent. */
  stop(): void;
}

/** Where the queue sends; see OutboundQueue for the rules a sink follows. */
export interface OutboundSink {
  /** Whether a send may start now (connected, channel open). */
  readonly ready: boolean;
  /**
   * Sends one event; calls `done()` once the transport confirmed it, `done(error)` when it was (maybe) lost.
   * A callback, not a promise: this runs once per event on the thread that answers clients.
   */
  send(event: QueuedEvent, done: (error?: Error) => void): void;
}

export interface OutboundQueueOptions {
  capacity: number;
  /** Sends in flight at once (pipelined confirms). */
  window: number;
  /** After a failed send, how long before the queue tries again (unless `wake()` comes first). */
  retryMs: number;
  onSent(count: number): void;
  onDropped(): void;
  onSize(size: number): void;
  /** Default: Nest's logger (context OutboundEvents). */
  log?: OutboundLog;
}

/**
 * A bounded, ordered buffer in front of an outbound transport. `push` never blocks and never
 * throws: a full buffer drops the new event (counted, logged once per episode).
 *
 * Order and delivery: events are sent in push order, up to `window` at once, and leave the buffer
 * only once the transport confirmed them. When a send fails (the connection dropped, the broker
 * refused), every unconfirmed event is sent again from the oldest, in order, once the sink is
 * ready again: at least once, in order, with duplicates possible after a failure.
 */
export class OutboundQueue implements OutboundBuffer {
  private readonly log: OutboundLog;
  private items: QueuedEvent[] = [];
  /** Index of the oldest unconfirmed event. */
  private head = 0;
  /** Index of the next event to send. */
  private next = 0;
  private inFlight = 0;
  /** Bumped on every failure: confirmations of an older epoch are ignored. */
  private epoch = 0;
  private retryTimer?: NodeJS.Timeout;
  private overflowing = false;
  private stopped = false;
  private droppedInEpisode = 0;
  private emptyWaiters: Array<() => void> = [];

  constructor(
    private readonly sink: OutboundSink,
    private readonly options: OutboundQueueOptions,
  ) {
    const logger = new Logger('OutboundEvents');
    this.log = options.log ?? ((level, message) => logger[level](message));
  }

  get size(): number {
    return this.items.length - this.head;
  }

  push(event: QueuedEvent): void {
    if (this.stopped) {
      return;
    }
    if (this.size >= this.options.capacity) {
      this.options.onDropped();
      this.droppedInEpisode += 1;
      if (!this.overflowing) {
        this.overflowing = true;
        this.log('warn', `outbound events buffer full (${this.options.capacity}, EVENTS_OUT_BUFFER): dropping new events until the transport catches up`);
      }
      return;
    }
    this.items.push(event);
    this.options.onSize(this.size);
    this.pump();
  }

  /** The sink can send (again): a (re)connection. */
  wake(): void {
    clearTimeout(this.retryTimer);
    this.retryTimer = undefined;
    this.pump();
  }

  /** Resolves once every buffered event is confirmed, or after `timeoutMs`; returns how many are left. */
  async drain(timeoutMs: number): Promise<number> {
    if (this.size > 0 && this.sink.ready) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, timeoutMs);
        timer.unref();
        this.emptyWaiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
    return this.size;
  }

  /** Stops retrying (shutdown); what is left stays unsent. */
  stop(): void {
    this.stopped = true;
    clearTimeout(this.retryTimer);
    this.retryTimer = undefined;
    this.epoch += 1;
  }

  private pump(): void {
    if (this.retryTimer !== undefined || this.stopped) {
      return;
    }
    while (this.inFlight < this.options.window && this.next < this.items.length && this.sink.ready) {
      const event = this.items[this.next++];
      if (event.done === true) {
        continue;
      }
      this.inFlight += 1;
      const epoch = this.epoch;
      this.sink.send(event, (error) => (error === undefined ? this.confirmed(event, epoch) : this.failed(epoch, error)));
    }
  }

  private confirmed(event: QueuedEvent, epoch: number): void {
    if (epoch !== this.epoch) {
      return;
    }
    event.done = true;
    this.inFlight -= 1;
    let sent = 0;
    while (this.head < this.items.length && this.items[this.head].done === true) {
      this.head += 1;
      sent += 1;
    }
    if (sent > 0) {
      this.options.onSent(sent);
      this.compact();
      this.options.onSize(this.size);
      this.endOverflowEpisode();
    }
    this.pump();
  }

  private failed(epoch: number, error: unknown): void {
    if (epoch !== this.epoch) {
      return;
    }
    this.epoch += 1;
    this.inFlight = 0;
    this.next = this.head;
    this.log('warn', `outbound event not confirmed (${error instanceof Error ? error.message : String(error)}); ${this.size} event(s) will be sent again in order`);
    clearTimeout(this.retryTimer);
    this.retryTimer = setTimeout(() => {
      this.retryTimer = undefined;
      this.pump();
    }, this.options.retryMs);
    this.retryTimer.unref();
  }

  /** Drops confirmed events from the front of the array now and then (amortized O(1)). */
  private compact(): void {
    if (this.head === this.items.length) {
      this.items = [];
      this.next = 0;
      this.head = 0;
      for (const resolve of this.emptyWaiters.splice(0)) {
        resolve();
      }
    } else if (this.head > 1024 && this.head * 2 > this.items.length) {
      this.items = this.items.slice(this.head);
      this.next -= this.head;
      this.head = 0;
    }
  }

  private endOverflowEpisode(): void {
    if (this.overflowing && this.size <= this.options.capacity / 2) {
      this.log('warn', `outbound events buffer has room again; ${this.droppedInEpisode} event(s) were dropped`);
      this.overflowing = false;
      this.droppedInEpisode = 0;
    }
  }
}
