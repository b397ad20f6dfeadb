import { Logger } from '@nestjs/common';
import type { Aedes, AuthorizeForwardHandler, Client, Subscription } from 'aedes';
import { errorMessage } from '../../domain/errors';
import type { MetricsService } from '../../metrics/metrics.service';
import { SessionPersistence } from './aedes-internals/session-persistence';
import { INTERNAL_CLIENT_ID_PREFIX } from './mqtt-hooks';

/** Why the service dropped a persistent session. */
export type DiscardReason = 'expired' | 'ban' | 'demotion' | 'moved';

export interface PersistentSessionsOptions {
  /** MQTT_SESSION_QUEUE_MAX */
  queueMax: number;
  /** MQTT_SESSION_EXPIRY_SECONDS; 0 turns persistent sessions off. */
  expirySeconds: number;
  metrics: MetricsService;
  /** A session was dropped (any reason): an embedded cluster stops keeping its topics subscribed in Redis. */
  onDiscarded?: (clientId: string) => void;
}

/** The SUBACK code of a refused subscription, which Aedes leaves in the 'subscribe' event's `qos`. */
const REFUSED = 128;

/**
 * Persistent sessions (clean session off) on the embedded broker, as on AWS IoT Core
 * (API.md section 4): Aedes keeps the session's subscriptions and queues the QoS 1
 * messages published to them while the client is away, and sends them when it
 * reconnects with clean session off. This class bounds and ends those sessions:
 * - the queue: at most MQTT_SESSION_QUEUE_MAX messages per client, oldest dropped
 *   first (`webcommunicator_mqtt_session_queue_dropped_total`); see
 *   aedes-internals/session-persistence.ts;
 * - expiry: a session whose client stays away MQTT_SESSION_EXPIRY_SECONDS is dropped;
 * - `discard`: a ban or a portal demotion drops it at once;
 * - rights: a session only ever receives what the client may subscribe to now.
 *   Subscriptions are authorized again when a session is resumed; the ones refused
 *   are forgotten (also those Aedes stored along with an allowed topic of the same
 *   SUBSCRIBE), and `authorizeForward` lets a message reach a persistent session
 *   only through a subscription it holds now, so nothing queued under rights the
 *   client lost (a portal token's `#`, a channel closed to it) is replayed.
 *
 * Everything is in memory: a restart ends every session (history, API.md section 4,
 * is what survives a restart).
 */
export class PersistentSessions {
  readonly persistence: SessionPersistence;
  private readonly logger = new Logger('EmbeddedBroker');
  private readonly expiries = new Map<string, NodeJS.Timeout>();
  private aedes?: Aedes;

  constructor(private readonly options: PersistentSessionsOptions) {
    this.persistence = new SessionPersistence({
      maxQueued: options.queueMax,
      onDropped: () => options.metrics.sessionQueueDropped.inc(),
    });
  }

  /** Whether clients may keep a session (MQTT_SESSION_EXPIRY_SECONDS above 0). */
  get enabled(): boolean {
    return this.options.expirySeconds > 0;
  }

  attach(aedes: Aedes): void {
    this.aedes = aedes;
    aedes.on('client', (client) => this.cancelExpiry(client.id));
    aedes.on('clientDisconnect', (client) => {
      if (!client.clean && !client.id.startsWith(INTERNAL_CLIENT_ID_PREFIX)) {
        this.scheduleExpiry(client.id);
      }
    });
    aedes.on('subscribe', (subscriptions, client) => {
      const refused = subscriptions.filter((s) => s.qos === (REFUSED as Subscription['qos'])).map((s) => s.topic);
      if (refused.length > 0) {
        this.forget(client, refused);
      }
    });
  }

  /** Aedes' authorizeForward: clean sessions get everything routed to them; see the class comment for the rest. */
  readonly authorizeForward: AuthorizeForwardHandler = (client, packet) => {
    if (client.clean) {
      return packet;
    }
    const subscriptions = (client as unknown as { subscriptions: Record<string, unknown> }).subscriptions;
    if (subscriptions[packet.topic] !== undefined) {
      return packet;
    }
    for (const filter in subscriptions) {
      if (topicMatches(filter, packet.topic)) {
        return packet;
      }
    }
    return null;
  };

  /** A subscription refused to a persistent session (at SUBSCRIBE or when the session resumes) leaves the session. */
  forget(client: Client, topics: string[]): void {
    if (client.clean) {
      return;
    }
    this.persistence.removeSubscriptions(client, topics).catch((error: unknown) => {
      this.logger.warn(`could not forget refused subscriptions of ${client.id}: ${errorMessage(error)}`);
    });
  }

  /** Drops the client's persistent session, if it has one; its live sessions must be closed already. */
  async discard(clientId: string, reason: DiscardReason): Promise<void> {
    this.cancelExpiry(clientId);
    const had = (await this.persistence.subscriptionsByClient({ id: clientId } as Client)).length > 0 || this.persistence.queuedFor(clientId) > 0;
    await this.persistence.discard(clientId);
    this.options.onDiscarded?.(clientId);
    if (had) {
      this.options.metrics.sessionsDiscarded.inc({ reason });
      this.logger.log(`persistent MQTT session of ${clientId} discarded (${reason})`);
    }
  }

  /** Stops the expiry timers (the broker is stopping; the sessions end with the process). */
  close(): void {
    for (const timer of this.expiries.values()) {
      clearTimeout(timer);
    }
    this.expiries.clear();
  }

  private scheduleExpiry(clientId: string): void {
    this.cancelExpiry(clientId);
    const timer = setTimeout(() => {
      this.expiries.delete(clientId);
      // Back in the meantime (the 'client' event cancels this timer; this is the safety net).
      if ((this.aedes as unknown as { clients?: Record<string, unknown> } | undefined)?.clients?.[clientId] !== undefined) {
        return;
      }
      this.discard(clientId, 'expired').catch((error: unknown) => {
        this.logger.warn(`could not expire the persistent MQTT session of ${clientId}: ${errorMessage(error)}`);
      });
    }, this.options.expirySeconds * 1000);
    timer.unref();
    this.expiries.set(clientId, timer);
  }

  private cancelExpiry(clientId: string): void {
    const timer = this.expiries.get(clientId);
    if (timer !== undefined) {
      clearTimeout(timer);
      this.expiries.delete(clientId);
    }
  }
}

/** MQTT topic filter matching (`+` one level, a trailing `#` any number); `$` topics never match a leading wildcard. */
export function topicMatches(filter: string, topic: string): boolean {
  if (topic.startsWith('$') && (filter.startsWith('+') || filter.startsWith('#'))) {
    return false;
  }
  const filterLevels = filter.split('/');
  const topicLevels = topic.split('/');
  for (let i = 0; i < filterLevels.length; i += 1) {
    const level = filterLevels[i];
    if (level === '#') {
      return i === filterLevels.length - 1;
    }
    if (i >= topicLevels.length || (level !== '+' && level !== topicLevels[i])) {
      return false;
    }
  }
  return filterLevels.length === topicLevels.length;
}
