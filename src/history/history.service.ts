import { Injectable, Logger } from '@nestjs/common';
import { ChannelCatalog } from '../store/channel-catalog';
import { HistoryRepository } from '../store/history.repository';
import type { ChannelDefinition, HistorySettings } from '../domain/channel';
import { errorMessage, StoreUnavailableError } from '../domain/errors';

/** A reservation older than this belongs to a writer that died (or hung) mid-publish: the next writer may take its Seq. */
export const RESERVATION_LEASE_MS = 15_000;
/** How long a writer waits for another instance's publish on the same stream before answering 503. */
const RESERVE_TIMEOUT_MS = RESERVATION_LEASE_MS + 5_000;
/** How often (per stream) the expired entries are swept; the size bound is kept every PRUNE_EVERY Seqs. */
const TTL_SWEEP_INTERVAL_MS = 5_000;
/**
 * Retention by size prunes once per this many Seqs of a stream, not on every publish: readers never see more
 * than the last `size` anyway (the read window), so the extra entries only wait a little longer on disk.
 */
const PRUNE_EVERY = 64;
/** Commit retries before the Seq is left owed (see `append`). */
const COMMIT_ATTEMPTS = 3;

export interface ChannelHistory {
  /** The channel whose topics (streams) and settings apply: the channel itself or its communicationChannel. */
  delivery: ChannelDefinition;
  settings: HistorySettings;
}

/** How many queued publishes of one stream share a commit at most. */
const MAX_BATCH = 256;

interface QueuedAppend {
  settings: HistorySettings;
  build: (seq: number) => string;
  send: (payload: string) => Promise<void>;
  resolve: (seq: number) => void;
  reject: (reason: unknown) => void;
}

/**
 * The gapless sequence and the history of each stream (API.md section 4).
 *
 * Order of one publish on a history channel, in its stream's queue in this process:
 *  1. reserve the next `Seq`: the entry (payload with its `Seq`) is written above the head, invisible to readers;
 *     writers on other instances meet here, at the store's conditional insert, and wait for the holder;
 *  2. publish to the broker; if the broker refuses, the reservation is deleted and the call fails
 *     (503): no `Seq` was used, nothing is in history, the next publish gets the same `Seq`;
 *  3. commit (move the head): the message is in history, the call answers 2xx.
 * The publishes queued on a stream while its previous batch ran go as one batch: reserved and published one
 * after the other (steps 1–2, in `Seq` order), then committed together (step 3, one store write for the batch).
 * So every `Seq` up to the head was delivered and is (until retention drops it) in history, and
 * subscribers receive a stream's messages in `Seq` order. A reservation left by a crash (kill -9 between
 * 1 and 3) never became visible; its Seq is taken over after RESERVATION_LEASE_MS.
 */
@Injectable()
export class HistoryService {
  private readonly logger = new Logger(HistoryService.name);
  /** The publishes waiting on each stream that has a batch running in this process. */
  private readonly queues = new Map<string, QueuedAppend[]>();
  /** Seqs delivered whose commit failed (the store went away between 2 and 3): committed before the next reservation. */
  private readonly owed = new Map<string, number>();
  private readonly sweptAt = new Map<string, number>();

  constructor(
    private readonly repository: HistoryRepository,
    private readonly catalog: ChannelCatalog,
  ) {}

  /** The history that applies to a channel's messages, or undefined when it keeps none. */
  async of(channel: ChannelDefinition): Promise<ChannelHistory | undefined> {
    const delivery = channel.communicationChannel === undefined ? channel : await this.catalog.get(channel.communicationChannel);
    return delivery?.history === undefined ? undefined : { delivery, settings: delivery.history };
  }

  /**
   * Publishes the next message of `stream`: `build(seq)` makes the payload (JSON text) carrying `seq`,
   * `send` hands it to the broker. Resolves with the Seq once the message is delivered and in history.
   */
  append(stream: string, settings: HistorySettings, build: (seq: number) => string, send: (payload: string) => Promise<void>): Promise<number> {
    return new Promise<number>((resolve, reject) => {
      const call = { settings, build, send, resolve, reject };
      const queued = this.queues.get(stream);
      if (queued !== undefined) {
        queued.push(call);
        return;
      }
      const queue = [call];
      this.queues.set(stream, queue);
      void this.drain(stream, queue);
    });
  }

  /** Runs a stream's queue, a batch at a time, until it is empty. */
  private async drain(stream: string, queue: QueuedAppend[]): Promise<void> {
    while (queue.length > 0) {
      await this.publishBatch(stream, queue.splice(0, MAX_BATCH));
    }
    this.queues.delete(stream);
  }

  /** Steps 1–3 for a batch; settles every call of it (never throws). */
  private async publishBatch(stream: string, batch: QueuedAppend[]): Promise<void> {
    const delivered: Array<{ call: QueuedAppend; seq: number }> = [];
    let next: number | undefined;
    try {
      await this.settleOwed(stream);
      for (const [index, call] of batch.entries()) {
        let reserved: { seq: number; at: number; payload: string };
        try {
          reserved = await this.reserve(stream, call.settings, call.build, next);
        } catch (error) {
          if (error instanceof StoreUnavailableError) {
            // The store is away: the rest of the batch would wait for it in turn. They fail now, with no Seq used.
            batch.slice(index).forEach((rest) => rest.reject(error));
            break;
          }
          call.reject(error);
          continue;
        }
        try {
          await call.send(reserved.payload);
        } catch (error) {
          await this.repository.abort(stream, reserved.seq, reserved.at).catch((abortError: unknown) => {
            // The store went away too: the reservation stays invisible and its Seq is taken over after the lease.
            this.logger.warn({ stream, seq: reserved.seq, reason: errorMessage(abortError) }, 'could not delete the reservation of a refused publish');
          });
          call.reject(error);
          // Its Seq is free again (unless the abort failed: then the next reservation finds it taken, and fails).
          next = reserved.seq;
          continue;
        }
        delivered.push({ call, seq: reserved.seq });
        next = reserved.seq + 1;
      }
      if (delivered.length > 0) {
        await this.commit(stream, delivered[delivered.length - 1].seq);
      }
    } catch (error) {
      // The owed commit or this batch's commit failed: every call not settled yet fails with it (a call
      // settled already, refused by the broker, stays as it was: a promise settles once).
      batch.forEach((call) => call.reject(error));
      return;
    }
    if (delivered.length > 0) {
      delivered.forEach(({ call, seq }) => call.resolve(seq));
      this.retain(stream, delivered[0].seq, delivered[delivered.length - 1].seq, delivered[0].call.settings);
    }
  }

  /**
   * Step 1. `next` is the Seq after the batch's last delivered one (this process holds every reservation
   * between the head and it): no store read is needed, and no other writer can hold it.
   */
  private async reserve(
    stream: string,
    settings: HistorySettings,
    build: (seq: number) => string,
    next: number | undefined,
  ): Promise<{ seq: number; at: number; payload: string }> {
    const deadline = Date.now() + RESERVE_TIMEOUT_MS;
    let pause = 2;
    for (;;) {
      const seq = next ?? (await this.repository.head(stream)) + 1;
      const at = Date.now();
      const payload = build(seq);
      if (await this.repository.reserve(stream, { seq, payload, at, expiresAtSeconds: Math.ceil(at / 1000) + settings.ttlSeconds })) {
        return { seq, at, payload };
      }
      // Another instance holds this Seq (publishing now), or a dead writer left it.
      const held = await this.repository.reservation(stream, seq);
      if (held !== undefined && held.at < Date.now() - RESERVATION_LEASE_MS) {
        await this.repository.abort(stream, seq, held.at);
        continue;
      }
      if (next !== undefined) {
        throw new StoreUnavailableError(`stream ${stream}: Seq ${seq}, after this batch's reservations, is held by another writer`);
      }
      if (Date.now() > deadline) {
        throw new StoreUnavailableError(`stream ${stream}: Seq ${seq} stayed reserved by another writer`);
      }
      await new Promise((resolve) => setTimeout(resolve, pause));
      pause = Math.min(pause * 2, 50);
    }
  }

  private async commit(stream: string, seq: number): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      try {
        await this.repository.commit(stream, seq);
        return;
      } catch (error) {
        if (attempt >= COMMIT_ATTEMPTS) {
          // Delivered but not committed: the call fails (503); the Seq is committed before this process's next
          // publish on the stream (it was delivered, so the message belongs in history).
          this.owed.set(stream, seq);
          throw error;
        }
      }
    }
  }

  private async settleOwed(stream: string): Promise<void> {
    const seq = this.owed.get(stream);
    if (seq !== undefined) {
      await this.repository.commit(stream, seq);
      this.owed.delete(stream);
    }
  }

  /**
   * Retention after a commit of `first..last`, off the caller's path: by size each time the head passes a
   * multiple of PRUNE_EVERY, expired entries now and then.
   */
  private retain(stream: string, first: number, last: number, settings: HistorySettings): void {
    const now = Date.now();
    const sweep = now - (this.sweptAt.get(stream) ?? 0) >= TTL_SWEEP_INTERVAL_MS;
    if (sweep) {
      this.sweptAt.set(stream, now);
    }
    const keepFrom = last - settings.size + 1;
    const passedMultiple = Math.floor(last / PRUNE_EVERY) > Math.floor((first - 1) / PRUNE_EVERY);
    if (!sweep && (keepFrom <= 1 || !passedMultiple)) {
      return;
    }
    this.repository.prune(stream, keepFrom, sweep ? now - settings.ttlSeconds * 1000 : undefined).catch((error: unknown) => {
      // Readers never see what retention dropped, pruned or not; the next sweep tries again.
      this.logger.warn({ stream, reason: errorMessage(error) }, 'history pruning failed');
    });
  }
}
