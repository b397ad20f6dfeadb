import { Injectable } from '@nestjs/common';
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';

export type MessageSource = 'admin' | 'service' | 'client' | 'event';
export type Transport = 'websocket' | 'tls';

/** Every metric the service exports, on its own registry (several apps can live in one test process). */
@Injectable()
export class MetricsService {
  readonly registry = new Registry();

  readonly httpDuration = new Histogram({
    name: 'http_request_duration_seconds',
    help: 'HTTP request duration by route and status',
    labelNames: ['method', 'route', 'status'] as const,
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
    registers: [this.registry],
  });

  readonly messagesPublished = new Counter({
    name: 'webcommunicator_messages_published_total',
    help: 'Messages accepted by the broker, by channel and source',
    labelNames: ['channel', 'source'] as const,
    registers: [this.registry],
  });

  readonly messagesRejected = new Counter({
    name: 'webcommunicator_messages_rejected_total',
    help: 'Messages refused by the publishing pipeline, by reason code and source',
    labelNames: ['reason', 'source'] as const,
    registers: [this.registry],
  });

  readonly connectedClients = new Gauge({
    name: 'webcommunicator_connected_clients',
    help: 'Clients connected to the embedded broker, by transport',
    labelNames: ['transport'] as const,
    registers: [this.registry],
  });

  readonly bans = new Counter({
    name: 'webcommunicator_bans_total',
    help: 'Status changes to BANNED',
    registers: [this.registry],
  });

  readonly forcedDisconnects = new Counter({
    name: 'webcommunicator_forced_disconnects_total',
    help: 'Live sessions closed by the service (bans)',
    registers: [this.registry],
  });

  readonly sessionQueueDropped = new Counter({
    name: 'webcommunicator_mqtt_session_queue_dropped_total',
    help: 'Messages dropped from offline persistent MQTT sessions (oldest first) past MQTT_SESSION_QUEUE_MAX',
    registers: [this.registry],
  });

  readonly sessionsDiscarded = new Counter({
    name: 'webcommunicator_mqtt_sessions_discarded_total',
    help: 'Persistent MQTT sessions discarded by the service, by reason: expired, ban, demotion, moved (the client connected to another instance of the cluster)',
    labelNames: ['reason'] as const,
    registers: [this.registry],
  });

  readonly registrations = new Counter({
    name: 'webcommunicator_registrations_total',
    help: 'Successful registrations by connection type and kind',
    labelNames: ['connection_type', 'portal'] as const,
    registers: [this.registry],
  });

  readonly events = new Counter({
    name: 'webcommunicator_events_total',
    help: 'Queue events by outcome: consumed, relayed, dead_lettered, redelivered, duplicate, retried',
    labelNames: ['outcome'] as const,
    registers: [this.registry],
  });

  readonly outboundEvents = new Counter({
    name: 'webcommunicator_outbound_events_total',
    help: 'Outbound events (API.md section 7) by outcome: sent (confirmed by the transport) or dropped (buffer full)',
    labelNames: ['outcome'] as const,
    registers: [this.registry],
  });

  readonly outboundEventsBuffered = new Gauge({
    name: 'webcommunicator_outbound_events_buffered',
    help: 'Outbound events waiting for the transport (EVENTS_OUT_BUFFER is the most)',
    registers: [this.registry],
  });

  readonly redisUp = new Gauge({
    name: 'webcommunicator_redis_up',
    help: 'Whether this instance reaches Redis (REDIS_URL): 1 yes, 0 no (an embedded cluster instance then serves only its own clients); 1 without REDIS_URL',
    registers: [this.registry],
  });

  readonly clusterInstances = new Gauge({
    name: 'webcommunicator_cluster_instances',
    help: 'Instances of the embedded cluster this instance last saw alive, itself included',
    registers: [this.registry],
  });

  readonly clusterUnconfirmed = new Counter({
    name: 'webcommunicator_cluster_unconfirmed_total',
    help: 'Session closes (ban, certificate revocation, portal demotion) another instance did not confirm within CLUSTER_CONFIRM_TIMEOUT_MS, by operation',
    labelNames: ['operation'] as const,
    registers: [this.registry],
  });

  readonly clusterOutbox = new Gauge({
    name: 'webcommunicator_cluster_outbox_messages',
    help: 'Messages accepted on this instance waiting for Redis to reach the other instances',
    registers: [this.registry],
  });

  constructor() {
    collectDefaultMetrics({ register: this.registry });
  }
}
