import { Logger } from '@nestjs/common';
import { errorMessage } from '../domain/errors';
import type { MetricsService } from '../metrics/metrics.service';
import type { RedisLink } from './redis-link';

/** Redis hash of the instances alive: field instance id, value the time (ms) its entry runs out. */
const INSTANCES_KEY = 'instances';

export interface ClusterInstancesOptions {
  heartbeatMs: number;
  /** An instance not heard of for this long is gone (a kill -9, a lost network). */
  ttlMs: number;
  /** Whether this instance can hear the cluster now (its subscriptions are in place); it announces itself only then. */
  ready: () => boolean;
  /** Runs after every heartbeat written, to refresh what else this instance keeps alive in Redis. */
  onHeartbeat?: () => Promise<void>;
}

/**
 * Who is in the cluster: each instance writes its own entry (with an end time) every
 * heartbeat once it can hear the others, and removes it when it stops; an entry past its end
 * time belongs to an instance that died without a word and is ignored (and pruned).
 * Clocks of the instances are assumed to agree within a second (NTP); the TTL is several beats.
 */
export class ClusterInstances {
  private readonly logger = new Logger('Cluster');
  private timer?: NodeJS.Timeout;
  /** The other instances alive when Redis last answered. */
  private known = new Set<string>();
  /** The other instances alive when Redis was lost (taken by `sinceOutage`). */
  private beforeOutage?: string[];
  private beating?: Promise<void>;

  constructor(
    private readonly link: RedisLink,
    private readonly metrics: MetricsService,
    private readonly options: ClusterInstancesOptions,
  ) {}

  get self(): string {
    return this.link.instanceId;
  }

  /** The other instances as last seen (for when Redis does not answer). */
  get lastKnown(): string[] {
    return [...this.known];
  }

  /** Redis was lost: remembers who was alive, for `sinceOutage` once it is back. */
  markOutage(): void {
    this.beforeOutage ??= [...this.known];
  }

  /** The other instances alive when Redis was last lost (or now, when it was not), forgetting the outage. */
  sinceOutage(): string[] {
    const before = this.beforeOutage ?? [...this.known];
    this.beforeOutage = undefined;
    return before;
  }

  start(): void {
    this.timer ??= setInterval(() => void this.beat(), this.options.heartbeatMs);
    this.timer.unref();
    void this.beat();
  }

  /** Writes this instance's entry now (when it can hear the cluster). */
  beat(): Promise<void> {
    this.beating ??= this.writeBeat().finally(() => (this.beating = undefined));
    return this.beating;
  }

  private async writeBeat(): Promise<void> {
    if (!this.options.ready() || !this.link.up) {
      return;
    }
    try {
      await this.link.client.hset(INSTANCES_KEY, this.self, String(Date.now() + this.options.ttlMs));
      // Keeps `lastKnown` fresh: after an outage, those are the instances waited for.
      await this.others();
      await this.options.onHeartbeat?.();
    } catch (error) {
      this.logger.debug(`heartbeat not written: ${errorMessage(error)}`);
    }
  }

  /** The other instances alive now; throws when Redis does not answer. */
  async others(): Promise<string[]> {
    const entries = await this.link.client.hgetall(INSTANCES_KEY);
    const now = Date.now();
    const alive: string[] = [];
    const dead: string[] = [];
    for (const [id, until] of Object.entries(entries)) {
      (Number(until) > now ? alive : dead).push(id);
    }
    if (dead.length > 0) {
      this.link.client.hdel(INSTANCES_KEY, ...dead).catch(() => undefined);
    }
    const others = alive.filter((id) => id !== this.self);
    this.known = new Set(others);
    this.metrics.clusterInstances.set(others.length + 1);
    return others;
  }

  /**
   * Resolves once every instance in `ids` has announced itself again (after a Redis outage, an
   * instance announces itself only once its subscriptions are back), or after `maxMs`: those not
   * back by then are taken for gone.
   */
  async waitFor(ids: string[], maxMs: number): Promise<string[]> {
    const deadline = Date.now() + maxMs;
    let missing = ids;
    while (missing.length > 0 && Date.now() < deadline) {
      try {
        const alive = new Set(await this.others());
        missing = ids.filter((id) => !alive.has(id));
      } catch {
        // Redis went away again: keep waiting within the bound.
      }
      if (missing.length > 0) {
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
    }
    return missing;
  }

  /** Stops the heartbeat and removes this instance's entry. */
  async stop(): Promise<void> {
    clearInterval(this.timer);
    this.timer = undefined;
    if (this.link.up) {
      await this.link.client.hdel(INSTANCES_KEY, this.self).catch(() => undefined);
    }
  }
}
