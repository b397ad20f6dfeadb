/**
 * The service's outbound events (API.md section 7): what other services hear about clients.
 * Every event is `{id, type, time, clientId, ...fields}`; the routing key (RabbitMQ) or the last
 * topic level (MQTT) is its `type`.
 */
export const OUTBOUND_EVENT_TYPES = [
  'client.connected',
  'client.disconnected',
  'client.message',
  'client.registered',
  'client.banned',
  'client.unbanned',
  'client.state',
] as const;

export type OutboundEventType = (typeof OUTBOUND_EVENT_TYPES)[number];

/** The envelope a client message went out in (API.md section 2). */
export interface OutboundEnvelope {
  Channel: string;
  Message: string;
  Id: string;
  Time: string;
  From?: string;
}

/** The fields each type carries besides `{id, type, time, clientId}`. */
export interface OutboundEventFields {
  'client.connected': { transport: 'websocket' | 'tls' | 'aws-iot' };
  'client.disconnected': { reason: 'client' | 'timeout' | 'ban' | 'takeover' | 'error' };
  'client.message': { channel: string; message: OutboundEnvelope };
  'client.registered': { connectionType: 'WEBSOCKET' | 'OPENSSL'; portalClient: boolean };
  'client.banned': { reason?: string; expiresAt?: string };
  'client.unbanned': { reason?: string };
  'client.state': { version: number; reported: Record<string, unknown> };
}

export type OutboundEvent<T extends OutboundEventType = OutboundEventType> = {
  id: string;
  type: T;
  /** ISO-8601, when the service noticed what happened. */
  time: string;
  clientId: string;
} & OutboundEventFields[T];

/** MQTT transport on the embedded broker: `$webcommunicator/internal/out/{type}` (internal sessions only). */
export const OUTBOUND_TOPIC_LEVEL = 'out';
