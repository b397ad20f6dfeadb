import { randomBytes } from 'node:crypto';
import { Logger } from '@nestjs/common';
import type { Redis } from 'ioredis';
import MQEmitterRedis from 'mqemitter-redis';
import msgpack from 'msgpack-lite';
import type { MetricsService } from '../../../metrics/metrics.service';
import type { RedisLink } from '../../../cluster/redis-link';
import { BrokerInternalsError } from './self-check';

/** A message as Aedes hands it to its emitter (an aedes-packet Packet). */
export interface MqPacket {
  cmd?: string;
  topic: string;
  payload?: Buffer | string;
  qos?: number;
  retain?: boolean;
  dup?: boolean;
  brokerId?: string;
  brokerCounter?: number;
  clientId?: string;
  properties?: unknown;
  messageExpiry?: number;
  [field: string]: unknown;
}

/** A message on its way to the other instances, with the id their duplicate check goes by. */
interface Outgoing {
  id: string;
  packet: MqPacket;
}

export type MqListener = (packet: MqPacket, done: () => void) => void;
type Callback = (error?: Error | null) => void;

/** The parts of mqemitter-redis' MQEmitterRedis this class works with (mqemitter-redis 7.2, pinned). */
interface RedisEmitter {
  on(topic: string, listener: MqListener, done?: () => void): void;
  removeListener(topic: string, listener: MqListener, done?: () => void): void;
  /** mqemitter's own local emit (what mqemitter-redis calls for every message it receives). */
  _emit(packet: MqPacket, callback?: Callback): void;
  /** The Redis channel (or pattern) of a topic filter. */
  _subTopic(topic: string): string;
  _close(callback: () => void): void;
  /** mqemitter-redis re-emits its connections' errors here: unheard, an 'error' would end the process. */
  state: { on(event: 'error', listener: (error: unknown) => void): void };
}

export interface ClusterEmitterOptions {
  link: RedisLink;
  /** This instance's Aedes id (Aedes is created with it): what its own messages carry as `brokerId`. */
  brokerId: string;
  metrics: MetricsService;
  /** Messages, and payload bytes, held for Redis while it is unreachable; past either, publishes are refused (503). */
  outboxMax: number;
  outboxMaxBytes: number;
  /** Topics that stay on this instance (the service's internal namespace, its internal sessions' takeovers). */
  localOnly: (packet: MqPacket) => boolean;
  /** Runs before a message from another instance is delivered here (queueing it for offline persistent sessions). */
  beforeRemoteDelivery?: (packet: MqPacket) => Promise<void>;
  /** After an outage, resolves once the other instances can hear again (bounded): only then is the outbox sent. */
  afterOutage: () => Promise<void>;
}

/**
 * Replaces: mqemitter-redis' `emit` (publish to Redis, deliver when it comes back), its per-message
 * `_emit` on arrival (to skip this instance's own messages) and `_subTopic` (to prefix channels);
 * checked at construction (checkRedisEmitter), version pinned.
 *
 * Aedes' message emitter for an embedded cluster: mqemitter-redis (the Aedes project's own
 * Redis emitter, which Aedes clusters are built on), changed in three ways:
 *
 * - Local first. mqemitter-redis delivers even a local message only when it comes back from
 *   Redis: with Redis down, an instance would stop serving its own clients. Here a message is
 *   delivered to this instance's subscribers at once and sent to Redis for the others; its
 *   copy coming back from Redis is recognised by its `brokerId` (this instance's Aedes id) and
 *   skipped. Every other message is delivered exactly once per instance: mqemitter-redis drops
 *   the second copy Redis sends when a topic matches both a channel and a pattern subscription.
 * - An outbox. While Redis is unreachable, messages for the other instances wait, in order, in
 *   a bounded outbox (100,000 messages, 64 MiB; past it, publishing is refused: nothing accepted is
 *   dropped), and go out once Redis is back and the other instances have resubscribed
 *   (`afterOutage`): pub/sub keeps nothing for a subscriber that is not there yet.
 * - One prefix for the Redis channels (REDIS_KEY_PREFIX + `mq:`), so deployments and test
 *   runs sharing a Redis never hear each other; topics stay unprefixed inside Aedes.
 *
 * A SUBSCRIBE is acknowledged once Redis has the subscription (a message published anywhere
 * after the SUBACK reaches the client), or at once while Redis is unreachable (the
 * subscription is sent when it is back).
 */
export class ClusterEmitter {
  private readonly logger = new Logger('Cluster');
  private readonly inner: RedisEmitter;
  private readonly localEmit: (packet: MqPacket, callback?: Callback) => void;
  private readonly pub: Redis;
  private readonly sub: Redis;
  private readonly channelPrefix: string;
  private readonly outbox: Outgoing[] = [];
  private outboxBytes = 0;
  private readonly brokerId: string;
  private sequence = 0;
  /** Unique per process: an instance restarted under the same INSTANCE_ID must not reuse ids the others still remember. */
  private readonly idPrefix = `${randomBytes(6).toString('hex')}:`;
  private flushing = false;
  /** Redis was lost since the outbox was last sent: wait for the others before sending it. */
  private outage = false;
  private subscribed = false;
  private closed = false;
  private readonly flushTimer: NodeJS.Timeout;

  constructor(private readonly options: ClusterEmitterOptions) {
    const { link } = options;
    this.brokerId = options.brokerId;
    this.channelPrefix = link.channel('mq:');
    this.pub = link.connect('mq-pub', { enableOfflineQueue: false, enableAutoPipelining: true });
    // A SUBSCRIBE caught by a lost connection is sent again (ioredis only resubscribes what Redis confirmed).
    this.sub = link.connect('mq-sub', { maxRetriesPerRequest: null, autoResendUnfulfilledCommands: true });
    // concurrency and matchEmptyLevels as Aedes sets them on its default emitter.
    this.inner = MQEmitterRedis({ pubConn: this.pub, subConn: this.sub, concurrency: 100, matchEmptyLevels: true }) as unknown as RedisEmitter;
    const inner = this.inner;
    checkRedisEmitter(inner);
    // RedisLink logs each connection's errors (once per outage); Redis being away is not fatal here.
    inner.state.on('error', () => undefined);
    const subTopic = inner._subTopic.bind(inner);
    inner._subTopic = (topic) => `${this.channelPrefix}${subTopic(topic)}`;
    this.localEmit = inner._emit.bind(inner);
    inner._emit = (packet, callback) => this.arrived(packet, callback);

    this.pub.on('close', () => (this.outage = this.outage || !this.closed));
    this.pub.on('ready', () => void this.flush());
    this.sub.on('close', () => (this.subscribed = false));
    this.sub.on('ready', () => {
      // ioredis emits 'ready' just before it sends the resubscriptions (and the queued SUBSCRIBEs), in the same
      // turn: a PING sent in the next turn is answered behind them, so once it is, they are in place.
      setImmediate(() => {
        this.sub
          .ping()
          .then(() => (this.subscribed = this.sub.status === 'ready'))
          .catch(() => undefined);
      });
    });
    this.flushTimer = setInterval(() => void this.flush(), 1000);
    this.flushTimer.unref();
  }

  /** Whether this instance's subscriptions are in place in Redis (it hears the others). */
  get hearing(): boolean {
    return this.subscribed && this.sub.status === 'ready';
  }

  /** Messages waiting for Redis. */
  get waiting(): number {
    return this.outbox.length;
  }

  // ---- the mqemitter interface Aedes uses ------------------------------------------------------

  on(topic: string, listener: MqListener, done?: () => void): this {
    if (this.sub.status === 'ready' || done === undefined) {
      this.inner.on(topic, listener, done);
    } else {
      this.inner.on(topic, listener);
      setImmediate(done);
    }
    return this;
  }

  removeListener(topic: string, listener: MqListener, done?: () => void): this {
    this.inner.removeListener(topic, listener, done);
    return this;
  }

  emit(packet: MqPacket, done?: Callback): this {
    const callback = done ?? (() => undefined);
    if (this.closed) {
      callback(new Error('the cluster emitter is closed'));
      return this;
    }
    if (!this.options.localOnly(packet)) {
      this.sequence += 1;
      // One id per message, however often it is sent: a resend after a lost connection is a duplicate the others drop.
      const shared: Outgoing = { id: `${this.idPrefix}${this.sequence}`, packet: wireCopy(packet) };
      if (this.outbox.length > 0 || this.flushing || this.outage || this.pub.status !== 'ready') {
        if (packet.topic.startsWith('$SYS/')) {
          // Aedes' announcements are news only now: a session announced during an outage and replayed later
          // could close a newer session of the same client on another instance. With Redis up and only the
          // outbox still going out, one goes at once, ahead of it: a new session's announcement held back
          // would leave the older session of its client open on another instance (a lost takeover).
          if (!this.outage && this.pub.status === 'ready') {
            this.send(shared).catch(() => undefined);
          }
          this.localEmit(packet, callback);
          return this;
        }
        if (this.outbox.length >= this.options.outboxMax || this.outboxBytes >= this.options.outboxMaxBytes) {
          callback(new Error(`Redis is unreachable and ${this.outbox.length} messages already wait for it`));
          return this;
        }
        this.hold(shared);
      } else {
        this.send(shared).catch(() => this.hold(shared));
      }
    }
    this.localEmit(packet, callback);
    return this;
  }

  close(callback: () => void): void {
    this.closed = true;
    clearInterval(this.flushTimer);
    if (this.outbox.length > 0) {
      this.logger.warn(`${this.outbox.length} message(s) for the other instances were still waiting for Redis at shutdown`);
    }
    // The connections are RedisLink's to close (quit would wait forever on an unreachable Redis).
    this.inner._close(callback);
  }

  // ---- internals -------------------------------------------------------------------------------

  private hold(message: Outgoing, first = false): void {
    if (first) {
      this.outbox.unshift(message);
    } else {
      this.outbox.push(message);
    }
    this.outboxBytes += message.packet.payload?.length ?? 0;
    this.options.metrics.clusterOutbox.set(this.outbox.length);
  }

  /** mqemitter-redis' own wire format, so its receiving side (decode, duplicate check by id) is unchanged. */
  private send(message: Outgoing): Promise<unknown> {
    return this.pub.publish(`${this.channelPrefix}${message.packet.topic}`, msgpack.encode({ id: message.id, msg: message.packet }));
  }

  /** A message from Redis (ours coming back, or another instance's). */
  private arrived(packet: MqPacket, callback?: Callback): void {
    if (packet.brokerId === this.brokerId) {
      callback?.();
      return;
    }
    // msgpack turns undefined into null; Aedes and the direct path test for undefined.
    for (const field of Object.keys(packet)) {
      if (packet[field] === null) {
        delete packet[field];
      }
    }
    const before = this.options.beforeRemoteDelivery;
    if (before !== undefined && (packet.qos ?? 0) > 0) {
      before(packet).then(
        () => this.localEmit(packet, callback),
        (error: unknown) => {
          this.logger.warn(`could not queue a message from another instance for offline sessions: ${String(error)}`);
          this.localEmit(packet, callback);
        },
      );
      return;
    }
    this.localEmit(packet, callback);
  }

  private async flush(): Promise<void> {
    if (this.flushing || this.closed || this.pub.status !== 'ready' || (this.outbox.length === 0 && !this.outage)) {
      return;
    }
    this.flushing = true;
    try {
      if (this.outage) {
        await this.options.afterOutage();
        this.outage = false;
      }
      while (this.outbox.length > 0 && this.pub.status === 'ready') {
        const batch = this.outbox.splice(0, 500);
        for (const message of batch) {
          this.outboxBytes -= message.packet.payload?.length ?? 0;
        }
        const results = await Promise.allSettled(batch.map((message) => this.send(message)));
        const failed = batch.filter((_, i) => results[i].status === 'rejected');
        if (failed.length > 0) {
          for (const message of failed.reverse()) {
            this.hold(message, true);
          }
          break;
        }
      }
    } finally {
      this.flushing = false;
      this.options.metrics.clusterOutbox.set(this.outbox.length);
    }
  }
}

/** The fields of an Aedes packet another instance needs, without undefined ones (msgpack would make them null). */
function wireCopy(packet: MqPacket): MqPacket {
  const copy: MqPacket = { topic: packet.topic };
  for (const field of ['cmd', 'payload', 'qos', 'retain', 'dup', 'brokerId', 'brokerCounter', 'clientId', 'properties', 'messageExpiry', 'messageId']) {
    if (packet[field] !== undefined && packet[field] !== null) {
      copy[field] = packet[field];
    }
  }
  return copy;
}

/**
 * The start-up check of this patch (like self-check.ts for the others): mqemitter-redis 7.2 (pinned
 * exactly in package.json) must still have the internals this class replaces or calls, or the broker
 * refuses to start (a cluster that silently delivered twice, or not at all, would be worse).
 */
function checkRedisEmitter(inner: RedisEmitter): void {
  const missing = [
    typeof inner._emit === 'function' ? undefined : "mqemitter-redis MQEmitterRedis._emit (mqemitter's local emit, called for each message from Redis)",
    typeof inner._subTopic === 'function' ? undefined : 'mqemitter-redis MQEmitterRedis._subTopic (the Redis channel of a topic filter)',
    typeof inner._close === 'function' ? undefined : "mqemitter-redis MQEmitterRedis._close (mqemitter's close)",
    typeof inner.state?.on === 'function' ? undefined : 'mqemitter-redis MQEmitterRedis.state (the emitter of its connection errors)',
  ].filter((item): item is string => item !== undefined);
  if (missing.length > 0) {
    throw new BrokerInternalsError(missing);
  }
}

