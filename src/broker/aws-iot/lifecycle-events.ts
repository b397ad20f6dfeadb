import { createHash, createHmac, type Hash, type Hmac } from 'node:crypto';
import { Logger } from '@nestjs/common';
import { defaultProvider } from '@aws-sdk/credential-provider-node';
import { SignatureV4 } from '@smithy/signature-v4';
import type { AwsCredentialIdentity, AwsCredentialIdentityProvider, Checksum, SourceData } from '@smithy/types';
import { connect, type MqttClient } from 'mqtt';
import { errorMessage } from '../../domain/errors';
import { isClientId } from '../../domain/ids';
import type { ClientLifecycleEvent, DisconnectReason } from '../broker';

/** IoT Core's lifecycle topics (https://docs.aws.amazon.com/iot/latest/developerguide/life-cycle-events.html). */
export const LIFECYCLE_TOPICS = ['$aws/events/presence/connected/+', '$aws/events/presence/disconnected/+'] as const;

/**
 * A connect / disconnect message as IoT Core publishes it (AWS IoT developer guide, "Lifecycle
 * events"): `timestamp` in ms since the epoch, `versionNumber` increasing per client id
 * connection (the way to order events that may arrive out of order or twice).
 */
export interface LifecycleMessage {
  clientId: string;
  timestamp: number;
  eventType: 'connected' | 'disconnected';
  sessionIdentifier?: string;
  principalIdentifier?: string;
  versionNumber: number;
  ipAddress?: string;
  thingName?: string;
  /** Disconnects only. */
  clientInitiatedDisconnect?: boolean;
  /** Disconnects only: AUTH_ERROR, CLIENT_INITIATED_DISCONNECT, CONNECTION_LOST, DUPLICATE_CLIENTID, MQTT_KEEP_ALIVE_TIMEOUT, ... */
  disconnectReason?: string;
}

/** IoT's disconnect reasons in the contract's words (API.md section 7). */
export function disconnectReasonOf(awsReason: string | undefined): DisconnectReason {
  switch (awsReason) {
    case 'CLIENT_INITIATED_DISCONNECT':
    case 'CONNECTION_LOST':
      return 'client';
    case 'MQTT_KEEP_ALIVE_TIMEOUT':
      return 'timeout';
    case 'DUPLICATE_CLIENTID':
      return 'takeover';
    // The service's own ban closes sessions with DeleteConnection.
    case 'API_INITIATED_DISCONNECT':
      return 'ban';
    case undefined:
    default:
      return 'error';
  }
}

/** Parses one lifecycle message; undefined for anything that isn't one (logged by the caller). */
export function parseLifecycleMessage(topic: string, payload: Buffer): LifecycleMessage | undefined {
  const match = /^\$aws\/events\/presence\/(connected|disconnected)\/([^/]+)$/.exec(topic);
  if (match === null) {
    return undefined;
  }
  let body: unknown;
  try {
    body = JSON.parse(payload.toString('utf8'));
  } catch {
    return undefined;
  }
  if (body === null || typeof body !== 'object') {
    return undefined;
  }
  const message = body as Partial<LifecycleMessage>;
  if (message.clientId !== match[2] || message.eventType !== match[1] || typeof message.timestamp !== 'number' || typeof message.versionNumber !== 'number') {
    return undefined;
  }
  return message as LifecycleMessage;
}

/**
 * Turns lifecycle messages into the broker port's lifecycle events, in order per client:
 * IoT may deliver them late, out of order or twice, so the newest `versionNumber` seen per
 * client decides whether a disconnect leaves the client connected (an older session's
 * disconnect after a newer connect: a takeover). Repeats map to the same event id, so every
 * instance (each hears every message) emits the same id and consumers drop the repeats.
 */
export class LifecycleTracker {
  /** Newest connection version per client, and whether it is connected. */
  private readonly latest = new Map<string, { version: number; connected: boolean }>();

  toEvent(message: LifecycleMessage): ClientLifecycleEvent | undefined {
    if (!isClientId(message.clientId)) {
      return undefined;
    }
    const time = new Date(message.timestamp).toISOString();
    const eventId = lifecycleEventId(message);
    const known = this.latest.get(message.clientId);
    if (message.eventType === 'connected') {
      if (known === undefined || message.versionNumber >= known.version) {
        this.latest.set(message.clientId, { version: message.versionNumber, connected: true });
      }
      return { kind: 'connected', clientId: message.clientId, transport: 'aws-iot', time, eventId };
    }
    const newer = known !== undefined && known.version > message.versionNumber && known.connected;
    if (!newer) {
      this.latest.set(message.clientId, { version: message.versionNumber, connected: false });
    }
    return {
      kind: 'disconnected',
      clientId: message.clientId,
      reason: disconnectReasonOf(message.disconnectReason),
      time,
      stillConnected: newer,
      eventId,
    };
  }
}

/** A UUID-shaped id that is the same for the same lifecycle message, wherever it is heard. */
export function lifecycleEventId(message: LifecycleMessage): string {
  const hex = createHash('sha256').update(`${message.clientId}\u0000${message.eventType}\u0000${message.versionNumber}\u0000${message.sessionIdentifier ?? ''}`).digest('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-5${hex.slice(13, 16)}-${((parseInt(hex[16], 16) & 0x3) | 0x8).toString(16)}${hex.slice(17, 20)}-${hex.slice(20, 32)}`;
}

/** SHA-256 (and HMAC-SHA-256 with a secret) for the signer, from node:crypto. */
class Sha256 implements Checksum {
  private hash: Hash | Hmac;

  constructor(private readonly secret?: SourceData) {
    this.hash = this.make();
  }

  update(data: Uint8Array): void {
    this.hash.update(data);
  }

  async digest(): Promise<Uint8Array> {
    return new Uint8Array(this.hash.digest());
  }

  reset(): void {
    this.hash = this.make();
  }

  private make(): Hash | Hmac {
    const secret = this.secret;
    if (secret === undefined) {
      return createHash('sha256');
    }
    return createHmac('sha256', typeof secret === 'string' ? secret : ArrayBuffer.isView(secret) ? Buffer.from(secret.buffer, secret.byteOffset, secret.byteLength) : Buffer.from(secret));
  }
}

/**
 * A SigV4-presigned `wss://<host>/mqtt` URL for AWS IoT Core (service `iotdevicegateway`). The
 * session token of temporary credentials (an ECS task role) goes on after signing, as IoT Core
 * expects it.
 */
export async function presignIotUrl(url: string, region: string, credentials: AwsCredentialIdentity, expiresInSeconds = 3600): Promise<string> {
  const target = new URL(url);
  const signer = new SignatureV4({
    service: 'iotdevicegateway',
    region,
    credentials: { accessKeyId: credentials.accessKeyId, secretAccessKey: credentials.secretAccessKey },
    sha256: Sha256,
  });
  const signed = await signer.presign(
    {
      method: 'GET',
      protocol: target.protocol,
      hostname: target.hostname,
      port: target.port === '' ? undefined : Number(target.port),
      path: target.pathname,
      query: {},
      headers: { host: target.host },
    },
    { expiresIn: expiresInSeconds },
  );
  const query = new URLSearchParams();
  for (const [key, value] of Object.entries(signed.query ?? {})) {
    if (typeof value === 'string') {
      query.set(key, value);
    }
  }
  if (credentials.sessionToken !== undefined) {
    query.set('X-Amz-Security-Token', credentials.sessionToken);
  }
  return `${target.protocol}//${target.host}${target.pathname}?${query.toString()}`;
}

const RECONNECT_MS = 2_000;

export interface LifecycleSubscriberOptions {
  /** `wss://<data endpoint>/mqtt` (or IOT_MQTT_URL), resolved when connecting. */
  url: () => Promise<string>;
  region: string;
  /** The service's own IAM credentials (default chain: ECS task role, environment, profile). */
  credentials?: AwsCredentialIdentityProvider;
  /** MQTT client id; IoT policy allows `webcommunicator-lifecycle-*`. */
  clientId: string;
  onEvent: (event: ClientLifecycleEvent) => void;
}

/**
 * Subscribes to IoT Core's lifecycle events with the service's own IAM credentials (MQTT over
 * WebSocket, SigV4-presigned URL, re-signed on every reconnect) and hands each one, as a broker
 * lifecycle event, to `onEvent`.
 */
export class LifecycleSubscriber {
  private readonly logger = new Logger('AwsIotLifecycle');
  private readonly tracker = new LifecycleTracker();
  private readonly credentials: AwsCredentialIdentityProvider;
  private client?: MqttClient;
  private stopped = false;

  constructor(private readonly options: LifecycleSubscriberOptions) {
    this.credentials = options.credentials ?? defaultProvider();
  }

  get connected(): boolean {
    return this.client?.connected === true;
  }

  /** Connects in the background (retrying every few seconds); never throws. */
  start(): void {
    void this.connect();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.retry);
    await this.client?.endAsync(true).catch(() => undefined);
  }

  /** A new connection with a freshly signed URL each time (a presigned URL expires). */
  private async connect(): Promise<void> {
    if (this.stopped) {
      return;
    }
    try {
      const url = await presignIotUrl(await this.options.url(), this.options.region, await this.credentials());
      if (this.stopped) {
        return;
      }
      const client = connect(url, { clientId: this.options.clientId, protocolVersion: 4, clean: true, keepalive: 30, reconnectPeriod: 0, connectTimeout: 10_000 });
      this.client = client;
      client.on('connect', () => {
        client.subscribe([...LIFECYCLE_TOPICS], { qos: 1 }, (error) => {
          if (error) {
            this.logger.error(`lifecycle subscription refused: ${error.message}`);
          } else {
            this.logger.log('subscribed to AWS IoT lifecycle events');
          }
        });
      });
      client.on('message', (topic, payload) => this.message(topic, payload));
      client.on('error', (error) => this.logger.warn(`lifecycle connection: ${error.message}`));
      client.on('close', () => this.reconnectSoon());
    } catch (error) {
      this.logger.warn(`could not connect to AWS IoT for lifecycle events: ${errorMessage(error)}`);
      this.reconnectSoon();
    }
  }

  private retry?: NodeJS.Timeout;

  private reconnectSoon(): void {
    if (this.stopped || this.retry !== undefined) {
      return;
    }
    this.client?.removeAllListeners('close');
    this.retry = setTimeout(() => {
      this.retry = undefined;
      void this.connect();
    }, RECONNECT_MS);
    this.retry.unref();
  }

  private message(topic: string, payload: Buffer): void {
    const message = parseLifecycleMessage(topic, payload);
    const event = message === undefined ? undefined : this.tracker.toEvent(message);
    if (event === undefined) {
      this.logger.warn(`ignored a message on ${topic} that is not a lifecycle event of a valid client id`);
      return;
    }
    this.options.onEvent(event);
  }
}
