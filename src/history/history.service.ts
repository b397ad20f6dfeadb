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

/**
 * The gapless sequence and the history of each stream (API.md section 4).
 *
 * Order of one publish on a history channel, inside a per-stream critical section of this process:
 *  1. reserve `head + 1`: the entry (payload with its `Seq`) is written above the head, invisible to readers;
 *     writers on other instances meet here, at the store's conditional insert, and wait for the holder;
 *  2. publish to the broker; if the broker refuses, the reservation is deleted and the call fails
 *     (503): no `Seq` was used, nothing is in history, the next publish gets the same `Seq`;
 *  3. commit (move the head): the message is in history, the call answers 2xx.
 * So every `Seq` up to the head was delivered and is (until retention drops it) in history, and
 * subscribers receive a stream's messages in `Seq` order. A reservation left by a crash (kill -9 between
 * 1 and 3) never became visible; its Seq is taken over after RESERVATION_LEASE_MS.
 */
@Injectable()
export class HistoryService {
  private readonly logger = new Logger(HistoryService.name);
  /** The tail of each stream's queue of writers in this process. */
  private readonly tails = new Map<string, Promise<unknown>>();
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
  async append(stream: string, settings: HistorySettings, build: (seq: number) => string, send: (payload: string) => Promise<void>): Promise<number> {
    const seq = await this.exclusive(stream, async () => {
      await this.settleOwed(stream);
      const reserved = await this.reserve(stream, settings, build);
      try {
        await send(reserved.payload);
      } catch (error) {
        await this.repository.abort(stream, reserved.seq, reserved.at).catch((abortError: unknown) => {
          // The store went away too: the reservation stays invisible and its Seq is taken over after the lease.
          this.logger.warn({ stream, seq: reserved.seq, reason: errorMessage(abortError) }, 'could not delete the reservation of a refused publish');
        });
        throw error;
      }
      await this.commit(stream, reserved.seq);
      return reserved.seq;
    });
    this.retain(stream, seq, settings);
    return seq;
  }

  private async reserve(stream: string, settings: HistorySettings, build: (seq: number) => string): Promise<{ seq: number; at: number; payload: string }> {
    const deadline = Date.now() + RESERVE_TIMEOUT_MS;
    let pause = 2;
    for (;;) {
      const seq = (await this.repository.head(stream)) + 1;
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

  /** Retention after a commit, off the caller's path: the entry that fell out by size now, expired ones now and then. */
  private retain(stream: string, seq: number, settings: HistorySettings): void {
    const now = Date.now();
    const sweep = now - (this.sweptAt.get(stream) ?? 0) >= TTL_SWEEP_INTERVAL_MS;
    if (sweep) {
      this.sweptAt.set(stream, now);
    }
    const keepFrom = seq - settings.size + 1;
    if (!sweep && (keepFrom <= 1 || seq % PRUNE_EVERY !== 0)) {
      return;
    }
    this.repository.prune(stream, keepFrom, sweep ? now - settings.ttlSeconds * 1000 : undefined).catch((error: unknown) => {
      // Readers never see what retention dropped, pruned or not; the next sweep tries again.
      this.logger.warn({ stream, reason: errorMessage(error) }, 'history pruning failed');
    });
  }

  /** Runs `task` after the stream's earlier tasks in this process have finished. */
  private async exclusive<T>(stream: string, task: () => Promise<T>): Promise<T> {
    const previous = this.tails.get(stream);
    const run = previous === undefined ? task() : previous.then(task, task);
    const tail = run.catch(() => undefined);
    this.tails.set(stream, tail);
    try {
      return await run;
    } finally {
      if (this.tails.get(stream) === tail) {
        this.tails.delete(stream);
      }
    }
  }
}
