/**
 * A small game-client helper for Web Communicator: registers (POST /v1/registrations),
 * connects over MQTT/WebSocket with mqtt.js, subscribes to the topics the service lists
 * (GET /v1/channels), dispatches messages by channel, and keeps the connection up:
 * reconnects with exponential backoff, and registers again (a fresh connection token)
 * when its token has expired or the broker refuses the connection. On channels that keep
 * history it recovers after a reconnect: it remembers the last `Seq` per topic, fetches what
 * it missed (GET /v1/channels/{channel}/messages?after=lastSeq) and delivers that, in order,
 * before the messages that arrived live meanwhile, dropping duplicates by `Id`.
 *
 *   const client = new GameClient({ baseUrl: 'http://localhost:3000', token: playerJwt });
 *   client.on('CloudGemWebCommunicator', (m) => console.log(m.message));
 *   await client.start();
 *
 * Only needs `mqtt` and Node's fetch (Node 20+); copy it into your game's tooling as is.
 */
import { EventEmitter } from 'node:events';
import mqtt, { type MqttClient } from 'mqtt';

/** What POST /v1/registrations returns (WEBSOCKET). */
export interface Registration {
  clientId: string;
  connectionType: 'WEBSOCKET' | 'OPENSSL';
  status: 'REGISTERED';
  endpoint: string;
  port: number;
  url: string;
  connectionToken?: string;
  connectionTokenExpiresAt?: string;
}

export interface Subscription {
  channel: string;
  type: 'BROADCAST' | 'PRIVATE';
  topic: string;
}

/** A delivered message: the envelope `{Channel, Message, Id, Time, From?}` plus where it came from. */
export interface ChannelMessage {
  channel: string;
  message: string;
  id: string;
  time: string;
  from?: string;
  topic: string;
  /** Sent to this client only (its private topic). */
  direct: boolean;
  /** Per topic, on channels that keep history. */
  seq?: number;
  /** Delivered from history after a reconnect (it was published while this client was away). */
  recovered?: boolean;
}

export type MessageHandler = (message: ChannelMessage) => void;

type JsonObject = Record<string, unknown>;

/** The client's state document (GET /v1/state): AWS IoT classic shadow semantics. */
export interface ClientState {
  clientId: string;
  state: { desired: JsonObject; reported: JsonObject; delta?: JsonObject };
  version: number;
  updatedAt?: string;
}

/**
 * Applies a state delta (the `desired` values the client hasn't reported yet) and
 * returns what the client now reports; returning nothing reports the delta as applied.
 */
export type StateDeltaHandler = (delta: JsonObject, version: number) => JsonObject | void | Promise<JsonObject | void>;

export interface GameClientOptions {
  /** The service, e.g. `http://localhost:3000`. */
  baseUrl: string;
  /** The player's bearer token, or a function returning a fresh one (called for each HTTP request). */
  token: string | (() => string | Promise<string>);
  /** Reconnect delays: `initialMs` doubling up to `maxMs` (default 1 s to 30 s), with ±20 % jitter. */
  backoff?: { initialMs?: number; maxMs?: number };
  /** Credentials kept from an earlier run; used until the broker refuses them. */
  registration?: Registration;
  /** MQTT keepalive, seconds (default 30). */
  keepaliveSeconds?: number;
}

/** A problem+json answer from the service. */
export class ServiceError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    detail: string,
  ) {
    super(`${code}: ${detail}`);
    this.name = 'ServiceError';
  }
}

/** The broker refused the CONNECT (MQTT 3.1.1 return code: 4 bad credentials, 5 not authorized). */
export class ConnectionRefusedError extends Error {
  constructor(
    readonly returnCode: number,
    message: string,
  ) {
    super(message);
    this.name = 'ConnectionRefusedError';
  }
}

export interface GameClientEvents {
  /** Registered, with new credentials. */
  registered: [Registration];
  /** Connected and subscribed. */
  connected: [{ clientId: string; topics: string[] }];
  /** The live connection closed (network, server restart, ban...). */
  disconnected: [];
  /** The broker refused the CONNECT; the next attempt registers again. */
  refused: [ConnectionRefusedError];
  /** Registration answered 403 CLIENT_BANNED; the client keeps retrying at the backoff's pace. */
  banned: [ServiceError];
  /** Next attempt in `delayMs`, after `error`. */
  retrying: [{ delayMs: number; attempt: number; error: Error }];
  /** After a reconnect: `count` missed messages of `topic` delivered from history; `complete` false when some were already dropped. */
  recovered: [{ topic: string; count: number; complete: boolean }];
}

/** Refresh a connection token this long before it expires (clock skew, slow CONNECTs). */
const EXPIRY_MARGIN_MS = 10_000;
const REFUSED_CODES = new Set([4, 5]);
/** Ids remembered to drop a message delivered twice (live and from history). */
const SEEN_IDS = 1000;
const HISTORY_PAGE = 1000;

/** The envelope as received: `{Channel, Message, Id, Time, From?, Seq?}`. */
interface Envelope {
  Channel?: unknown;
  Message?: unknown;
  Id?: unknown;
  Time?: unknown;
  From?: unknown;
  Seq?: unknown;
}

/** AWS IoT's classic shadow topics, used unchanged by the service's embedded broker. */
function shadowTopic(clientId: string, suffix: 'update' | 'update/delta'): string {
  return `$aws/things/${clientId}/shadow/${suffix}`;
}

export class GameClient {
  /** Lifecycle events (see GameClientEvents). Messages go to `on(channel, handler)`. */
  readonly events = new EventEmitter<GameClientEvents>();

  private readonly handlers = new Map<string, Set<MessageHandler>>();
  private readonly baseUrl: string;
  private readonly initialBackoffMs: number;
  private readonly maxBackoffMs: number;
  private registration?: Registration;
  private mqttClient?: MqttClient;
  private timer?: NodeJS.Timeout;
  private attempt = 0;
  private running = false;
  private firstConnect?: { resolve: () => void; promise: Promise<void> };
  private stateHandler?: StateDeltaHandler;
  /** The last Seq delivered per topic (kept across reconnects and stop/start). */
  private readonly lastSeq = new Map<string, number>();
  private readonly seenIds = new Set<string>();
  /** Topics being recovered: live messages wait here until the missed ones were delivered. */
  private readonly held = new Map<string, ChannelMessage[]>();

  constructor(private readonly options: GameClientOptions) {
    this.baseUrl = options.baseUrl.replace(/\/+$/, '');
    this.initialBackoffMs = options.backoff?.initialMs ?? 1000;
    this.maxBackoffMs = options.backoff?.maxMs ?? 30_000;
    this.registration = options.registration;
  }

  /** Calls `handler` for each message of `channel` (`'*'`: every channel). Returns an unsubscribe function. */
  on(channel: string, handler: MessageHandler): () => void {
    let set = this.handlers.get(channel);
    if (set === undefined) {
      set = new Set();
      this.handlers.set(channel, set);
    }
    set.add(handler);
    return () => set.delete(handler);
  }

  /**
   * Keeps the client's state document in sync the AWS IoT device way: `handler` gets
   * each delta published on `$aws/things/{clientId}/shadow/update/delta` (and the one
   * pending at every connect), and what it returns is reported back on `.../update`.
   * Call before start().
   */
  onStateDelta(handler: StateDeltaHandler): void {
    this.stateHandler = handler;
  }

  /** The client's state document. */
  async getState(): Promise<ClientState> {
    return this.request('GET', '/v1/state');
  }

  get clientId(): string | undefined {
    return this.registration?.clientId;
  }

  get connected(): boolean {
    return this.mqttClient?.connected === true;
  }

  /** The current MQTT connection, if any. */
  get connection(): MqttClient | undefined {
    return this.mqttClient;
  }

  /** Starts connecting; resolves once connected and subscribed the first time. Keeps reconnecting until stop(). */
  start(): Promise<void> {
    if (!this.running) {
      this.running = true;
      let resolve!: () => void;
      const promise = new Promise<void>((r) => (resolve = r));
      this.firstConnect = { resolve, promise };
      void this.connect();
    }
    return this.firstConnect!.promise;
  }

  async stop(): Promise<void> {
    this.running = false;
    clearTimeout(this.timer);
    const client = this.mqttClient;
    this.mqttClient = undefined;
    await client?.endAsync(true);
  }

  /** Sends a message to a channel open to client sends (POST /v1/channels/{channel}/messages). */
  async send(channel: string, message: string): Promise<{ messageId: string; channel: string; topic: string }> {
    return this.request('POST', `/v1/channels/${encodeURIComponent(channel)}/messages`, { message });
  }

  /** Registers (again) for fresh broker credentials. */
  async register(): Promise<Registration> {
    const registration = await this.request<Registration>('POST', '/v1/registrations', { connectionType: 'WEBSOCKET' });
    this.registration = registration;
    this.events.emit('registered', registration);
    return registration;
  }

  async listSubscriptions(): Promise<Subscription[]> {
    return (await this.request<{ subscriptions: Subscription[] }>('GET', '/v1/channels')).subscriptions;
  }

  // ---- connection loop -------------------------------------------------------------------------

  private async connect(): Promise<void> {
    if (!this.running) {
      return;
    }
    let client: MqttClient | undefined;
    try {
      const registration = this.usable(this.registration) ? this.registration! : await this.register();
      if (!this.running) {
        return;
      }
      const connection = await this.open(registration);
      client = connection;
      if (!this.running) {
        await connection.endAsync(true);
        return;
      }
      connection.once('close', () => this.lost(connection));
      // Asked on every connect: channels may have changed while we were away.
      const subscriptions = await this.listSubscriptions();
      // Every topic the service lists for this client (channels riding on another share its topic).
      const topics = [...new Set(subscriptions.map((s) => s.topic))];
      if (this.stateHandler !== undefined) {
        topics.push(shadowTopic(registration.clientId, 'update/delta'));
      }
      // Hold live messages of topics we have a Seq for until what was missed is delivered.
      const recover = subscriptions.filter((s, i) => this.lastSeq.has(s.topic) && subscriptions.findIndex((o) => o.topic === s.topic) === i);
      for (const s of recover) {
        this.held.set(s.topic, []);
      }
      if (topics.length > 0) {
        await connection.subscribeAsync(topics, { qos: 0 });
      }
      for (const s of recover) {
        await this.recover(s, registration.clientId);
      }
      if (this.stateHandler !== undefined) {
        // Whatever changed while we were away.
        const { state, version } = await this.getState();
        if (state.delta !== undefined) {
          await this.applyDelta(state.delta, version, connection, registration.clientId);
        }
      }
      this.attempt = 0;
      this.events.emit('connected', { clientId: registration.clientId, topics });
      this.firstConnect?.resolve();
    } catch (error) {
      this.held.clear();
      if (client !== undefined && this.mqttClient === client) {
        this.mqttClient = undefined;
        client.end(true);
      }
      this.failed(error instanceof Error ? error : new Error(String(error)));
    }
  }

  /** A token that is there and not about to expire (by this machine's clock; the broker has the last word). */
  private usable(registration: Registration | undefined): boolean {
    if (registration?.connectionToken === undefined) {
      return false;
    }
    const expiresAt = Date.parse(registration.connectionTokenExpiresAt ?? '');
    return Number.isNaN(expiresAt) || expiresAt - Date.now() > EXPIRY_MARGIN_MS;
  }

  /** One MQTT connection attempt; rejects with ConnectionRefusedError on a refused CONNACK. */
  private open(registration: Registration): Promise<MqttClient> {
    const client = mqtt.connect(registration.url, {
      clientId: registration.clientId,
      username: registration.clientId,
      password: registration.connectionToken,
      protocolVersion: 4,
      clean: true,
      keepalive: this.options.keepaliveSeconds ?? 30,
      connectTimeout: 10_000,
      // Reconnects are ours: each may need a new registration first.
      reconnectPeriod: 0,
    });
    this.mqttClient = client;
    client.on('message', (topic, payload) => this.dispatch(topic, payload, registration.clientId));
    return new Promise((resolve, reject) => {
      const fail = (error: Error): void => {
        client.removeListener('connect', ok);
        client.end(true);
        if (this.mqttClient === client) {
          this.mqttClient = undefined;
        }
        const code = (error as Error & { code?: unknown }).code;
        reject(typeof code === 'number' && REFUSED_CODES.has(code) ? new ConnectionRefusedError(code, error.message) : error);
      };
      const ok = (): void => {
        client.removeListener('error', fail);
        client.removeListener('close', closed);
        // Later errors surface as 'close', which triggers a reconnect.
        client.on('error', () => undefined);
        resolve(client);
      };
      const closed = (): void => fail(new Error('connection closed before CONNACK'));
      client.once('connect', ok);
      client.once('error', fail);
      client.once('close', closed);
    });
  }

  private lost(client: MqttClient): void {
    if (this.mqttClient !== client) {
      return;
    }
    this.mqttClient = undefined;
    client.end(true);
    this.events.emit('disconnected');
    if (this.running) {
      // First retry after a working session is quick; a ban or an outage then backs off.
      this.schedule(new Error('connection lost'), 0);
    }
  }

  private failed(error: Error): void {
    if (error instanceof ConnectionRefusedError) {
      // Expired, revoked or foreign credentials: register again on the next attempt.
      this.registration = undefined;
      this.events.emit('refused', error);
    } else if (error instanceof ServiceError && error.code === 'CLIENT_BANNED') {
      this.events.emit('banned', error);
    }
    if (this.running) {
      this.schedule(error, this.backoff());
    }
  }

  private backoff(): number {
    const base = Math.min(this.maxBackoffMs, this.initialBackoffMs * 2 ** this.attempt);
    this.attempt += 1;
    return Math.round(base * (0.8 + Math.random() * 0.4));
  }

  private schedule(error: Error, delayMs: number): void {
    clearTimeout(this.timer);
    this.events.emit('retrying', { delayMs, attempt: this.attempt, error });
    this.timer = setTimeout(() => void this.connect(), delayMs);
  }

  private async applyDelta(delta: JsonObject, version: number, connection: MqttClient, clientId: string): Promise<void> {
    const reported = (await this.stateHandler?.(delta, version)) ?? delta;
    await connection.publishAsync(shadowTopic(clientId, 'update'), JSON.stringify({ state: { reported } }), { qos: 1 });
  }

  private dispatch(topic: string, payload: Buffer, clientId: string): void {
    if (topic === shadowTopic(clientId, 'update/delta')) {
      const connection = this.mqttClient;
      try {
        const { state, version } = JSON.parse(payload.toString('utf8')) as { state: JsonObject; version: number };
        if (connection !== undefined) {
          this.applyDelta(state, version, connection, clientId).catch(() => undefined);
        }
      } catch {
        // Not a delta document.
      }
      return;
    }
    let envelope: Envelope;
    try {
      envelope = JSON.parse(payload.toString('utf8')) as Envelope;
    } catch {
      return;
    }
    const message = this.toMessage(envelope, topic, clientId);
    if (message === undefined) {
      return;
    }
    const held = this.held.get(topic);
    if (held !== undefined) {
      held.push(message);
      return;
    }
    this.deliver(message);
  }

  private toMessage(envelope: Envelope, topic: string, clientId: string, recovered = false): ChannelMessage | undefined {
    if (typeof envelope.Channel !== 'string' || typeof envelope.Message !== 'string') {
      return undefined;
    }
    return {
      channel: envelope.Channel,
      message: envelope.Message,
      id: typeof envelope.Id === 'string' ? envelope.Id : '',
      time: typeof envelope.Time === 'string' ? envelope.Time : '',
      from: typeof envelope.From === 'string' ? envelope.From : undefined,
      topic,
      direct: topic.endsWith(`/client/${clientId}`),
      seq: typeof envelope.Seq === 'number' ? envelope.Seq : undefined,
      recovered: recovered || undefined,
    };
  }

  /** Hands a message to the handlers once: a repeated Id, or a Seq at or below the last delivered one, is dropped. */
  private deliver(message: ChannelMessage): void {
    if (message.id !== '') {
      if (this.seenIds.has(message.id)) {
        return;
      }
      this.seenIds.add(message.id);
      if (this.seenIds.size > SEEN_IDS) {
        this.seenIds.delete(this.seenIds.values().next().value as string);
      }
    }
    if (message.seq !== undefined) {
      if (message.seq <= (this.lastSeq.get(message.topic) ?? 0)) {
        return;
      }
      this.lastSeq.set(message.topic, message.seq);
    }
    for (const handler of [...(this.handlers.get(message.channel) ?? []), ...(this.handlers.get('*') ?? [])]) {
      try {
        handler(message);
      } catch {
        // A failing handler must not stop delivery to the others.
      }
    }
  }

  /** Delivers what `subscription`'s topic missed since its last Seq, then the live messages held meanwhile. */
  private async recover(subscription: Subscription, clientId: string): Promise<void> {
    const { topic } = subscription;
    let count = 0;
    let complete = true;
    try {
      const query = subscription.type === 'PRIVATE' ? `&clientId=${encodeURIComponent(clientId)}` : '';
      for (;;) {
        const after = this.lastSeq.get(topic) ?? 0;
        const page = await this.request<{ messages: Envelope[]; complete: boolean }>(
          'GET',
          `/v1/channels/${encodeURIComponent(subscription.channel)}/messages?after=${after}&limit=${HISTORY_PAGE}${query}`,
        );
        complete &&= page.complete;
        for (const envelope of page.messages) {
          const message = this.toMessage(envelope, topic, clientId, true);
          if (message !== undefined) {
            this.deliver(message);
            count += 1;
          }
        }
        if (page.messages.length < HISTORY_PAGE) {
          break;
        }
      }
    } catch (error) {
      // The channel stopped keeping history (409), or the service is busy: live delivery goes on; a gap stays a gap.
      if (!(error instanceof ServiceError)) {
        throw error;
      }
      complete = false;
    } finally {
      const held = this.held.get(topic) ?? [];
      this.held.delete(topic);
      for (const message of held) {
        this.deliver(message);
      }
    }
    this.events.emit('recovered', { topic, count, complete });
  }

  // ---- HTTP ------------------------------------------------------------------------------------

  private async request<T>(method: string, path: string, body?: unknown): Promise<T> {
    const token = typeof this.options.token === 'function' ? await this.options.token() : this.options.token;
    const response = await fetch(`${this.baseUrl}${path}`, {
      method,
      headers: { Authorization: `Bearer ${token}`, ...(body === undefined ? {} : { 'Content-Type': 'application/json' }) },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await response.text();
    const data = text ? (JSON.parse(text) as unknown) : undefined;
    if (!response.ok) {
      const problem = (data ?? {}) as { code?: string; detail?: string };
      throw new ServiceError(response.status, problem.code ?? `HTTP_${response.status}`, problem.detail ?? response.statusText);
    }
    return data as T;
  }
}
