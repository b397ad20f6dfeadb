import { Logger } from '@nestjs/common';
import type { Aedes } from 'aedes';
import { ClusterBus } from '../../cluster/cluster-bus';
import { ClusterInstances } from '../../cluster/cluster-instances';
import { ClusterPresence } from '../../cluster/cluster-presence';
import type { RedisLink } from '../../cluster/redis-link';
import type { MetricsService } from '../../metrics/metrics.service';
import { INTERNAL_TOPIC_PREFIX } from './broker-acl';
import { ClusterEmitter, type MqPacket } from './aedes-internals';
import { INTERNAL_CLIENT_ID_PREFIX } from './mqtt-hooks';

/** Sessions to close on every instance (a ban, a certificate revocation, a portal demotion). */
export type CloseCommand =
  | { op: 'ban'; clientId: string }
  | { op: 'certificate'; clientId: string; serial: string }
  | { op: 'portal'; clientId: string };

const HEARTBEAT_MS = 1000;
/** An instance silent this long is gone: its presence entries expire, requests stop waiting for it. */
const INSTANCE_TTL_MS = 5000;
/** Messages (and payload bytes) held for Redis while it is unreachable. */
const OUTBOX_MAX = 100_000;
const OUTBOX_MAX_BYTES = 64 * 1024 * 1024;
const NEW_CLIENTS = /^\$SYS\/([^/]+)\/new\/clients$/;

/** What this class reads of an Aedes 1.x broker beyond its typings: its emitter and its persistence. */
interface AedesParts {
  id: string;
  on(event: 'subscribe' | 'unsubscribe', listener: (subscriptions: Array<{ topic: string; qos: number } | string>, client: { id: string; clean: boolean }) => void): void;
  on(event: 'client', listener: (client: { id: string; clean: boolean }) => void): void;
  mq: { on(topic: string, listener: (packet: MqPacket, done: () => void) => void): void };
  persistence?: {
    subscriptionsByTopic(topic: string): Promise<unknown[]>;
    outgoingEnqueueCombi(subscriptions: unknown[], packet: unknown): Promise<void>;
  };
}

export interface EmbeddedClusterOptions {
  link: RedisLink;
  metrics: MetricsService;
  confirmTimeoutMs: number;
  /** Closes this instance's sessions a command names; resolves with how many once closed. */
  closeLocal: (command: CloseCommand) => Promise<number>;
  /** A client connected on another instance: its sessions here are taken over (newest wins). */
  takenOver: (clientId: string) => void;
}

/**
 * The embedded broker as one instance of a cluster over Redis (REDIS_URL, API.md section 9):
 * - messages: Aedes' emitter is ClusterEmitter (mqemitter-redis), so a message published on
 *   any instance reaches the subscribers of every instance once;
 * - closes: a ban, revocation or demotion runs here and on every other instance through the
 *   ClusterBus (request / acknowledge); one not confirmed within CLUSTER_CONFIRM_TIMEOUT_MS is
 *   named in a warning and counted (`webcommunicator_cluster_unconfirmed_total`);
 * - takeovers: Aedes itself announces each new session on `$SYS/<broker id>/new/clients` and
 *   closes its own session of the same client id when another instance announces one (the
 *   newest connection wins wherever it is); this class only records the reason;
 * - presence: ClusterPresence, cluster-wide;
 * - persistent sessions stay with the instance that holds them: a message published elsewhere
 *   is queued here for them too, but a client that reconnects to another instance starts a new
 *   session there (its session here is then discarded). See docs/deployment.md.
 */
export class EmbeddedCluster {
  readonly emitter: ClusterEmitter;
  readonly presence: ClusterPresence;
  private readonly logger = new Logger('Cluster');
  private readonly instances: ClusterInstances;
  private readonly bus: ClusterBus;
  private aedes?: AedesParts;
  /** Topics persistent sessions held here subscribe to (QoS 1), by client: kept subscribed in Redis while they are away. */
  private readonly kept = new Map<string, Set<string>>();
  /** How many sessions keep each topic. */
  private readonly keptTopics = new Map<string, number>();

  constructor(private readonly options: EmbeddedClusterOptions) {
    const { link, metrics } = options;
    this.instances = new ClusterInstances(link, metrics, {
      heartbeatMs: HEARTBEAT_MS,
      ttlMs: INSTANCE_TTL_MS,
      ready: () => this.bus.ready && this.emitter.hearing,
      onHeartbeat: () => this.presence.refresh(),
    });
    this.bus = new ClusterBus(link, this.instances);
    this.presence = new ClusterPresence(link, this.instances, INSTANCE_TTL_MS);
    this.emitter = new ClusterEmitter({
      link,
      metrics,
      brokerId: link.instanceId,
      outboxMax: OUTBOX_MAX,
      outboxMaxBytes: OUTBOX_MAX_BYTES,
      localOnly: (packet) => isLocalOnly(packet),
      beforeRemoteDelivery: (packet) => this.queueForOfflineSessions(packet),
      afterOutage: () => this.othersHearing(),
    });
    this.bus.handle('close-sessions', async (body) => {
      await options.closeLocal(body as CloseCommand);
    });
    link.onStatus((up) => {
      if (!up) {
        this.instances.markOutage();
      } else {
        // Redis may have restarted empty: write this instance's presence again.
        this.presence.resync();
        void this.instances.beat();
      }
    });
  }

  get instanceId(): string {
    return this.options.link.instanceId;
  }

  /** Whether this instance is in touch with the cluster now (for readiness). */
  get connected(): boolean {
    return this.options.link.up && this.bus.ready && this.emitter.hearing;
  }

  /** Messages accepted here that wait for Redis to reach the other instances. */
  get waiting(): number {
    return this.emitter.waiting;
  }

  /** Connects to Redis; with Redis unreachable, starts anyway (serving this instance's clients) after a short wait. */
  async start(): Promise<void> {
    await this.bus.start(3000);
    // Announced before the listeners open (when Redis answers): a ban never misses this instance's first clients.
    const deadline = Date.now() + 3000;
    while (!this.emitter.hearing && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    this.instances.start();
    await this.instances.beat();
  }

  /** Aedes is created with `emitter`: hooks what needs its id and its persistence. */
  attach(broker: Aedes): void {
    const aedes = broker as unknown as AedesParts;
    this.aedes = aedes;
    // Aedes unsubscribes a persistent session's topics from its emitter when the client goes away: without
    // a subscription of its own, this instance would stop hearing them from Redis, and queue nothing.
    aedes.on('subscribe', (subscriptions, client) => {
      if (!client.clean && !client.id.startsWith(INTERNAL_CLIENT_ID_PREFIX)) {
        for (const s of subscriptions) {
          if (typeof s === 'object' && s.qos > 0 && s.qos !== 128) {
            this.keep(client.id, s.topic);
          }
        }
      }
    });
    aedes.on('unsubscribe', (topics, client) => {
      for (const topic of topics) {
        this.release(client.id, typeof topic === 'string' ? topic : topic.topic);
      }
    });
    aedes.on('client', (client) => {
      if (client.clean) {
        this.sessionDiscarded(client.id);
      }
    });
    aedes.mq.on('$SYS/+/new/clients', (packet: MqPacket, done: () => void) => {
      const from = NEW_CLIENTS.exec(packet.topic)?.[1];
      if (from !== undefined && from !== aedes.id) {
        this.options.takenOver(String(packet.payload));
      }
      done();
    });
  }

  /**
   * Runs the command on every other instance; resolves once all confirmed or the bound passed, with the
   * instances that did not confirm (empty when all did).
   */
  async closeEverywhere(command: CloseCommand): Promise<string[]> {
    const { confirmTimeoutMs } = this.options;
    const { missing } = await this.bus.request('close-sessions', command, confirmTimeoutMs);
    if (missing.length > 0) {
      this.options.metrics.clusterUnconfirmed.inc({ operation: command.op }, missing.length);
      this.logger.warn(
        `${command.op} of ${command.clientId}: instance(s) ${missing.join(', ')} did not confirm within ${confirmTimeoutMs} ms that they closed its sessions`,
      );
    }
    return missing;
  }

  /** A persistent session ended (expired, banned, moved, demoted, or replaced by a clean one). */
  sessionDiscarded(clientId: string): void {
    for (const topic of this.kept.get(clientId) ?? []) {
      this.release(clientId, topic);
    }
  }

  private keep(clientId: string, topic: string): void {
    let topics = this.kept.get(clientId);
    if (topics === undefined) {
      topics = new Set();
      this.kept.set(clientId, topics);
    }
    if (topics.has(topic)) {
      return;
    }
    topics.add(topic);
    const count = (this.keptTopics.get(topic) ?? 0) + 1;
    this.keptTopics.set(topic, count);
    if (count === 1) {
      this.emitter.on(topic, keepAlive);
    }
  }

  private release(clientId: string, topic: string): void {
    const topics = this.kept.get(clientId);
    if (topics?.delete(topic) !== true) {
      return;
    }
    if (topics.size === 0) {
      this.kept.delete(clientId);
    }
    const count = (this.keptTopics.get(topic) ?? 1) - 1;
    if (count > 0) {
      this.keptTopics.set(topic, count);
    } else {
      this.keptTopics.delete(topic);
      this.emitter.removeListener(topic, keepAlive);
    }
  }

  sessionOpened(clientId: string): void {
    this.presence.opened(clientId);
  }

  sessionClosed(clientId: string): void {
    this.presence.closed(clientId);
  }

  async stop(): Promise<void> {
    await Promise.all([this.instances.stop(), this.presence.stop()]);
  }

  /** After a Redis outage: waits (bounded) until the instances known before it announce themselves again. */
  private async othersHearing(): Promise<void> {
    const before = this.instances.sinceOutage();
    const missing = await this.instances.waitFor(before, INSTANCE_TTL_MS);
    if (missing.length > 0) {
      this.logger.warn(`Redis is back; instance(s) ${missing.join(', ')} did not come back within ${INSTANCE_TTL_MS} ms`);
    }
  }

  /**
   * What Aedes does for a local QoS 1 publish (enqueueOffline), for one from another instance:
   * the persistent sessions held here get it queued, whether their client is online or not.
   */
  private async queueForOfflineSessions(packet: MqPacket): Promise<void> {
    const persistence = this.aedes?.persistence;
    if (persistence === undefined || packet.topic.startsWith('$')) {
      return;
    }
    const subscriptions = await persistence.subscriptionsByTopic(packet.topic);
    if (subscriptions.length > 0) {
      await persistence.outgoingEnqueueCombi(subscriptions, packet);
    }
  }
}

/**
 * What stays on this instance: the service's internal namespace (each instance's own events
 * transport), Aedes' disconnect notices (nobody listens to them) and the session announcements of
 * its internal sessions (their ids are per instance: another instance must not take them over).
 */
function isLocalOnly(packet: MqPacket): boolean {
  const topic = packet.topic;
  if (topic.startsWith(INTERNAL_TOPIC_PREFIX)) {
    return true;
  }
  if (topic.startsWith('$SYS/')) {
    if (topic.endsWith('/disconnect/clients')) {
      return true;
    }
    if (topic.endsWith('/new/clients')) {
      return String(packet.payload ?? '').startsWith(INTERNAL_CLIENT_ID_PREFIX);
    }
  }
  return false;
}

/** The listener that keeps a topic subscribed in Redis for persistent sessions (queueForOfflineSessions does the work). */
function keepAlive(_packet: MqPacket, done: () => void): void {
  done();
}

