import { randomUUID } from 'node:crypto';
import { Injectable, Logger } from '@nestjs/common';
import { Broker } from '../broker/broker';
import { ChannelCatalog } from '../store/channel-catalog';
import { HistoryService } from '../history/history.service';
import { MessageSchemas, type SchemaProblem, UnusableSchemaError } from '../channels/message-schemas';
import { isChannelName, isClientId } from '../domain/ids';
import { Topics } from '../domain/topics';
import { AppConfig } from '../config/app-config';
import { type MessageSource, MetricsService } from '../metrics/metrics.service';
import { ClientRepository } from '../store/client.repository';
import { OutboundEvents } from '../events/out/outbound-events';
import { RateLimits } from './rate-limiter';
import type { ChannelDefinition } from '../domain/channel';
import {
  ChannelNotFoundError,
  ClientBannedError,
  ClientSendDisabledError,
  DomainError,
  MessageSchemaMismatchError,
  MessageTooLargeError,
  PayloadTooLargeError,
  RateLimitedError,
  RecipientBannedError,
  UserNotFoundError,
  WrongChannelTypeError,
} from '../domain/errors';

export interface PublishRequest {
  source: MessageSource;
  /** The sender's client id (set in the envelope's `From` for client sends). */
  senderId: string;
  channel: string;
  message: string;
  /** Direct message target; absent for broadcasts. */
  targetClientId?: string;
  /** Caller-chosen message id (queue events); a new UUID otherwise. */
  id?: string;
}

export interface PublishResult {
  messageId: string;
  channel: string;
  topic: string;
}

/** The envelope clients receive; compatible with the original's `{Channel, Message}`. */
export interface Envelope {
  Channel: string;
  Message: string;
  Id: string;
  Time: string;
  From?: string;
  /** Per stream, on channels that keep history (API.md section 4). */
  Seq?: number;
}

/** An envelope serialized: its JSON text, and that text's UTF-8 bytes (what the broker publishes). */
interface Encoded {
  json: string;
  payload: Buffer;
}

/**
 * The one publishing pipeline, shared by HTTP broadcasts, direct messages,
 * client sends and queue events: resolve → authorize → size → rate limit →
 * schema → envelope → broker publish. Every refusal is a DomainError with a
 * stable code; nothing accepted is dropped silently.
 */
@Injectable()
export class PublishingService {
  private readonly logger = new Logger(PublishingService.name);

  constructor(
    private readonly config: AppConfig,
    private readonly catalog: ChannelCatalog,
    private readonly schemas: MessageSchemas,
    private readonly clients: ClientRepository,
    private readonly broker: Broker,
    private readonly topics: Topics,
    private readonly metrics: MetricsService,
    private readonly events: OutboundEvents,
    private readonly history: HistoryService,
    private readonly limits: RateLimits,
  ) {}

  async publish(request: PublishRequest): Promise<PublishResult> {
    try {
      return await this.run(request);
    } catch (error) {
      const reason = error instanceof DomainError ? error.code : error instanceof Error ? error.name : 'UNKNOWN';
      this.metrics.messagesRejected.inc({ reason, source: request.source });
      throw error;
    }
  }

  private async run(request: PublishRequest): Promise<PublishResult> {
    const channel = await this.resolve(request.channel);
    const direct = request.targetClientId !== undefined;
    this.checkType(channel, direct ? 'PRIVATE' : 'BROADCAST');
    if (request.source === 'client') {
      await this.authorizeClient(request.senderId, channel);
    }
    if (direct) {
      await this.checkRecipient(request.targetClientId!);
    }
    const messageBytes = Buffer.byteLength(request.message, 'utf8');
    if (request.source === 'client' && messageBytes > channel.maxMessageBytes) {
      throw new MessageTooLargeError(`The message is ${messageBytes} bytes; channel ${channel.name} takes at most ${channel.maxMessageBytes}.`);
    }
    // Before the schema check: a send the schema refuses still uses up the sender's rate.
    if (request.source === 'client' && channel.rateLimit !== undefined) {
      const wait = await this.limits.take(`${channel.name}\u0000${request.senderId}`, channel.rateLimit);
      if (wait > 0) {
        throw new RateLimitedError(`Channel ${channel.name} allows ${channel.rateLimit.messages} messages per ${channel.rateLimit.perSeconds} s per client.`, wait);
      }
    }
    this.checkSchema(channel, request.message);
    const envelope: Envelope = {
      Channel: channel.name,
      Message: request.message,
      Id: request.id ?? randomUUID(),
      Time: new Date().toISOString(),
      From: request.source === 'client' ? request.senderId : undefined,
    };
    const history = await this.history.of(channel);
    const delivery = history?.delivery.name ?? this.catalog.deliveryChannel(channel);
    const topic = direct ? this.topics.private(delivery, request.targetClientId!) : this.topics.broadcast(delivery);
    let encoded: Encoded;
    if (history === undefined) {
      encoded = this.encode(envelope);
      await this.broker.publish(topic, encoded.payload);
    } else {
      // Seq assigned, stored, published, committed: see HistoryService (a refused publish uses no Seq).
      let numbered: Encoded | undefined;
      await this.history.append(
        topic,
        history.settings,
        (seq) => {
          numbered = this.encode({ ...envelope, Seq: seq });
          return numbered.json;
        },
        () => this.broker.publish(topic, numbered!.payload),
      );
      encoded = numbered!;
    }
    const bytes = encoded.payload.length;
    this.metrics.messagesPublished.inc({ channel: channel.name, source: request.source });
    if (request.source === 'client') {
      // Backends moderate, store or answer what clients send (API.md section 7).
      // The envelope exactly as published (Seq included), spliced in as the JSON the broker got.
      this.events.emitClientMessage(request.senderId, channel.name, encoded.json);
    }
    this.logger.debug({ messageId: envelope.Id, channel: channel.name, topic, source: request.source, bytes }, 'message published');
    return { messageId: envelope.Id, channel: channel.name, topic };
  }

  private encode(envelope: Envelope): Encoded {
    const json = JSON.stringify(envelope);
    const payload = Buffer.from(json, 'utf8');
    if (payload.length > this.config.broker.maxPayloadBytes) {
      throw new PayloadTooLargeError(`The envelope would be ${payload.length} bytes; the broker takes at most ${this.config.broker.maxPayloadBytes} (MAX_PAYLOAD_BYTES).`);
    }
    return { json, payload };
  }

  private async resolve(name: string): Promise<ChannelDefinition> {
    const channel = isChannelName(name) ? await this.catalog.get(name) : undefined;
    if (channel === undefined) {
      throw new ChannelNotFoundError(String(name).slice(0, 64));
    }
    return channel;
  }

  private checkType(channel: ChannelDefinition, type: 'BROADCAST' | 'PRIVATE'): void {
    if (!channel.types.includes(type)) {
      throw new WrongChannelTypeError(channel.name, type);
    }
  }

  private async authorizeClient(senderId: string, channel: ChannelDefinition): Promise<void> {
    const sender = await this.clients.get(senderId);
    if (sender?.status === 'BANNED') {
      throw new ClientBannedError(senderId);
    }
    if (!channel.clientSend) {
      throw new ClientSendDisabledError(channel.name);
    }
  }

  private async checkRecipient(clientId: string): Promise<void> {
    const recipient = isClientId(clientId) ? await this.clients.get(clientId) : undefined;
    if (recipient === undefined) {
      throw new UserNotFoundError(clientId.slice(0, 128));
    }
    if (recipient.status === 'BANNED') {
      throw new RecipientBannedError(clientId);
    }
  }

  private checkSchema(channel: ChannelDefinition, message: string): void {
    if (channel.messageSchema === undefined) {
      return;
    }
    let parsed: unknown;
    try {
      parsed = JSON.parse(message);
    } catch {
      throw new MessageSchemaMismatchError(`Channel ${channel.name} takes JSON messages; this one is not valid JSON.`);
    }
    let errors: SchemaProblem[];
    try {
      errors = this.schemas.validate(channel, parsed);
    } catch (error) {
      if (error instanceof UnusableSchemaError) {
        this.logger.warn({ channel: channel.name, problem: error.message }, 'channel message schema is unusable; save the channel again with a valid one');
        throw new MessageSchemaMismatchError(`Channel ${channel.name}'s schema can't be used; an admin must fix it.`);
      }
      throw error;
    }
    if (errors.length > 0) {
      throw new MessageSchemaMismatchError(`The message does not match channel ${channel.name}'s schema.`, errors);
    }
  }
}
