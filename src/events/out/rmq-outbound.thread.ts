import { extname, join } from 'node:path';
import { Worker } from 'node:worker_threads';
import { Logger } from '@nestjs/common';
import type { OutboundBuffer, OutboundQueueOptions, QueuedEvent } from './outbound-queue';
import { eventLine, type FromPublisher, type RmqPublisherData, type ToPublisher } from './rmq-outbound.protocol';

/** From TypeScript sources (the tests) the thread compiles its file on load; the built service runs the .js. */
const EXTENSION = extname(__filename);
const WORKER_FILE = join(__dirname, `rmq-outbound.worker${EXTENSION}`);
const WORKER_EXEC_ARGV = EXTENSION === '.ts' ? ['--require', 'ts-node/register/transpile-only'] : undefined;
/**
 * Events go to the thread at most this often, together: a message between threads costs a few µs
 * whatever it carries (one per turn of the event loop cost a client send about 4 µs).
 */
const FLUSH_MS = 2;
/** Beyond a drain's own timeout, how long to wait for the thread's answer. */
const ANSWER_MS = 1_000;

/**
 * Outbound events to RabbitMQ, from a thread of their own (rmq-outbound.worker.ts). The buffer with its
 * bound, order and retries, amqplib's encoding and streams, the socket and the confirms cost about 15 µs of
 * CPU per event, a fifth of a client send; none of it runs on the event loop that answers clients. Here an
 * event only joins the batch that goes to the thread every FLUSH_MS; the thread reports what went out and
 * what was dropped (the metrics and the size here follow its reports).
 *
 * Should the thread die (a bug), what it held is lost (logged with the count) and a new thread starts after
 * the reconnect delay; events emitted meanwhile wait here, up to EVENTS_OUT_BUFFER (beyond: dropped, counted).
 */
export class RmqOutboundThread implements OutboundBuffer {
  readonly drainMs = 5_000;
  private readonly logger = new Logger('OutboundEvents');
  private worker!: Worker;
  private batch = '';
  private batched = 0;
  private flushTimer?: NodeJS.Timeout;
  /** The thread's buffer, as last reported. */
  private held = 0;
  /** Events posted to this thread, and of them those it had taken in at its last report. */
  private posted = 0;
  private taken = 0;
  private stopped = false;
  /** False between a thread's death and its replacement: events wait here (up to the bound) meanwhile. */
  private alive = false;
  private restartTimer?: NodeJS.Timeout;
  private readonly answers: Array<{ kind: 'drained' | 'closed'; resolve: (left: number) => void }> = [];

  constructor(
    private readonly data: RmqPublisherData,
    private readonly metrics: Pick<OutboundQueueOptions, 'onSent' | 'onDropped' | 'onSize'>,
  ) {
    this.start();
  }

  get size(): number {
    return this.held + (this.posted - this.taken) + this.batched;
  }

  push(event: QueuedEvent): void {
    if (this.stopped) {
      return;
    }
    if (!this.alive && this.batched >= this.data.capacity) {
      this.metrics.onDropped();
      return;
    }
    this.batch += eventLine(event);
    this.batched += 1;
    this.flushTimer ??= setTimeout(() => this.flush(), FLUSH_MS);
  }

  async drain(timeoutMs: number): Promise<number> {
    this.flush();
    return this.ask('drained', { kind: 'drain', timeoutMs }, timeoutMs + ANSWER_MS, this.size);
  }

  stop(): void {
    this.flush();
    this.stopped = true;
  }

  /** Closes the connection and ends the thread. */
  async close(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.restartTimer);
    await this.ask('closed', { kind: 'close' }, 3_000, 0);
    await this.worker.terminate();
  }

  private start(): void {
    const worker = new Worker(WORKER_FILE, { workerData: this.data, execArgv: WORKER_EXEC_ARGV });
    // The service's servers keep the process up; this thread alone does not (close() ends it).
    worker.unref();
    this.worker = worker;
    this.alive = true;
    worker.on('message', (message: FromPublisher) => this.received(message));
    worker.on('error', (error) => this.logger.error(`outbound events publisher thread failed: ${error.message}`));
    worker.on('exit', (code) => {
      if (this.stopped || worker !== this.worker) {
        return;
      }
      this.alive = false;
      const lost = this.held + this.posted - this.taken;
      this.logger.error(`outbound events publisher thread exited (${code}); ${lost} event(s) it held are lost; a new one starts in ${this.data.reconnectSeconds} s`);
      this.held = 0;
      this.posted = 0;
      this.taken = 0;
      this.metrics.onSize(this.size);
      this.restartTimer = setTimeout(() => {
        this.start();
        this.flush();
      }, this.data.reconnectSeconds * 1000);
      this.restartTimer.unref();
    });
  }

  private received(message: FromPublisher): void {
    switch (message.kind) {
      case 'stats':
        if (message.sent > 0) {
          this.metrics.onSent(message.sent);
        }
        for (let i = 0; i < message.dropped; i++) {
          this.metrics.onDropped();
        }
        this.held = message.size;
        this.taken = message.taken;
        this.metrics.onSize(this.size);
        return;
      case 'log':
        this.logger[message.level](message.message);
        return;
      case 'drained':
      case 'closed': {
        const index = this.answers.findIndex((answer) => answer.kind === message.kind);
        if (index >= 0) {
          this.answers.splice(index, 1)[0].resolve(message.kind === 'drained' ? message.left : 0);
        }
        return;
      }
    }
  }

  private flush(): void {
    clearTimeout(this.flushTimer);
    this.flushTimer = undefined;
    if (this.batched > 0 && this.alive) {
      const lines = this.batch;
      this.posted += this.batched;
      this.batch = '';
      this.batched = 0;
      this.post({ kind: 'push', lines });
    }
  }

  /** Posts `message` and waits for the thread's `kind` answer, or `timeoutMs` (then `fallback`). */
  private ask(kind: 'drained' | 'closed', message: ToPublisher, timeoutMs: number, fallback: number): Promise<number> {
    if (!this.alive) {
      return Promise.resolve(fallback);
    }
    return new Promise<number>((resolve) => {
      const timer = setTimeout(() => {
        const index = this.answers.indexOf(answer);
        if (index >= 0) {
          this.answers.splice(index, 1);
        }
        resolve(fallback);
      }, timeoutMs);
      const answer = {
        kind,
        resolve: (left: number) => {
          clearTimeout(timer);
          resolve(left);
        },
      };
      this.answers.push(answer);
      this.post(message);
    });
  }

  private post(message: ToPublisher): void {
    this.worker.postMessage(message);
  }
}
