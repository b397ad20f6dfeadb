import { Logger } from '@nestjs/common';
import { errorMessage } from '../domain/errors';
import type { ClusterInstances } from './cluster-instances';
import type { RedisLink } from './redis-link';

/**
 * Who is connected where, cluster-wide: each instance keeps a Redis hash of its own clients
 * (`presence:<instance id>`, client id → live sessions), whose TTL every heartbeat renews, so
 * the entries of an instance killed without a word expire with it. After a Redis outage (or a
 * restart that lost everything) the whole hash is written again from what this instance knows.
 * Reading asks every instance alive for the ids, in one round trip.
 */
export class ClusterPresence {
  private readonly logger = new Logger('Cluster');
  /** This instance's clients and their live sessions. */
  private readonly local = new Map<string, number>();
  /** The hash must be written again in full (Redis was unreachable when a change happened, or lost it). */
  private dirty = true;

  constructor(
    private readonly link: RedisLink,
    private readonly instances: ClusterInstances,
    private readonly ttlMs: number,
  ) {}

  private get key(): string {
    return `presence:${this.link.instanceId}`;
  }

  opened(clientId: string): void {
    const count = (this.local.get(clientId) ?? 0) + 1;
    this.local.set(clientId, count);
    this.write(clientId, count);
  }

  closed(clientId: string): void {
    const count = (this.local.get(clientId) ?? 0) - 1;
    if (count > 0) {
      this.local.set(clientId, count);
    } else {
      this.local.delete(clientId);
    }
    this.write(clientId, count);
  }

  /** Renews the hash's TTL (called on every heartbeat), writing it in full when needed. */
  async refresh(): Promise<void> {
    const client = this.link.client;
    if (this.dirty) {
      this.dirty = false;
      const multi = client.multi().del(this.key);
      if (this.local.size > 0) {
        multi.hset(this.key, Object.fromEntries(this.local));
      }
      try {
        await multi.pexpire(this.key, this.ttlMs).exec();
      } catch (error) {
        this.dirty = true;
        throw error;
      }
      return;
    }
    await client.pexpire(this.key, this.ttlMs);
  }

  /** Marks the hash for a full write at the next heartbeat (Redis came back: it may have lost it). */
  resync(): void {
    this.dirty = true;
  }

  /**
   * Which of `clientIds` have a live session on any instance alive, or undefined when Redis does
   * not answer (the caller falls back on what it knows).
   */
  async connected(clientIds: string[]): Promise<Set<string> | undefined> {
    const result = new Set(clientIds.filter((id) => this.local.has(id)));
    if (clientIds.length === 0) {
      return result;
    }
    try {
      const others = await this.instances.others();
      if (others.length > 0) {
        const pipeline = this.link.client.pipeline();
        for (const instance of others) {
          pipeline.hmget(`presence:${instance}`, ...clientIds);
        }
        for (const [error, counts] of (await pipeline.exec()) ?? []) {
          if (error !== null) {
            throw error;
          }
          (counts as Array<string | null>).forEach((count, i) => {
            if (count !== null && Number(count) > 0) {
              result.add(clientIds[i]);
            }
          });
        }
      }
      return result;
    } catch (error) {
      this.logger.debug(`cluster presence unavailable: ${errorMessage(error)}`);
      return undefined;
    }
  }

  /** Whether the client has a live session on this instance. */
  isLocal(clientId: string): boolean {
    return this.local.has(clientId);
  }

  /** Removes this instance's hash (it is stopping). */
  async stop(): Promise<void> {
    if (this.link.up) {
      await this.link.client.del(this.key).catch(() => undefined);
    }
  }

  private write(clientId: string, count: number): void {
    if (this.dirty || !this.link.up) {
      this.dirty = true;
      return;
    }
    const done = count > 0 ? this.link.client.hset(this.key, clientId, count) : this.link.client.hdel(this.key, clientId);
    done.catch(() => (this.dirty = true));
  }
}
