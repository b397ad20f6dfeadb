import { Injectable, Logger } from '@nestjs/common';
import { plainToInstance } from 'class-transformer';
import { validateSync } from 'class-validator';
import { Broker } from '../broker/broker';
import { isChannelName } from '../domain/ids';
import { flattenValidationErrors } from '../common/problem/validation';
import { Topics } from '../domain/topics';
import { ChannelRepository } from '../store/channel.repository';
import { ClientRepository } from '../store/client.repository';
import { ChannelCatalog } from '../store/channel-catalog';
import { DEFAULT_MAX_MESSAGE_BYTES, PutChannelRequestDto, type SubscriptionResponseDto } from './channel.dto';
import type { ChannelDefinition } from '../domain/channel';
import { ChannelInUseError, ChannelNotFoundError, ClientBannedError, type FieldError, ValidationFailedError } from '../domain/errors';

@Injectable()
export class ChannelsService {
  private readonly logger = new Logger(ChannelsService.name);

  constructor(
    private readonly channels: ChannelRepository,
    private readonly catalog: ChannelCatalog,
    private readonly broker: Broker,
    private readonly clients: ClientRepository,
    private readonly topics: Topics,
  ) {}

  async list(): Promise<ChannelDefinition[]> {
    return this.catalog.refresh();
  }

  /** Creates or replaces a channel; returns whether it was created. */
  async put(name: string, request: PutChannelRequestDto): Promise<{ channel: ChannelDefinition; created: boolean }> {
    const existing = await this.catalog.refresh();
    const channel = await this.validateDefinition(name, request, existing);
    // The broker's rules first: AWS IoT refuses a table whose policies would outgrow its size limit (422),
    // and then nothing is saved. (The embedded broker reads the catalog live: nothing to do there.)
    await this.broker.channelsChanged([...existing.filter((c) => c.name !== name), channel]);
    const created = await this.channels.put(channel);
    await this.catalog.refresh();
    this.logger.log({ audit: 'channel.put', channel: name, created }, 'channel saved');
    return { channel, created };
  }

  async delete(name: string): Promise<void> {
    this.assertName(name);
    const all = await this.catalog.refresh();
    const dependants = all.filter((c) => c.communicationChannel === name).map((c) => c.name);
    if (dependants.length > 0) {
      throw new ChannelInUseError(name, dependants);
    }
    if (!(await this.channels.delete(name))) {
      throw new ChannelNotFoundError(name);
    }
    // The broker's rules, then the catalog (as for put): the catalog's change listeners then find the rules written.
    await this.broker.channelsChanged(all.filter((c) => c.name !== name));
    await this.catalog.refresh();
    this.logger.log({ audit: 'channel.delete', channel: name }, 'channel deleted');
  }

  /** The caller's topics: broadcast topics, and its own private topics. */
  async subscriptions(clientId: string): Promise<SubscriptionResponseDto[]> {
    const record = await this.clients.get(clientId);
    if (record?.status === 'BANNED') {
      throw new ClientBannedError(clientId);
    }
    const channels = await this.catalog.all();
    return channels
      .sort((a, b) => a.name.localeCompare(b.name))
      .flatMap((channel) => {
        const delivery = this.catalog.deliveryChannel(channel);
        return channel.types.map((type) => ({
          channel: channel.name,
          type,
          topic: type === 'BROADCAST' ? this.topics.broadcast(delivery) : this.topics.private(delivery, clientId),
        }));
      });
  }

  /**
   * Checks a definition (shape and the rules that span channels) and returns it
   * with defaults applied. Used by the admin API and the channels file alike.
   */
  async validateDefinition(name: string, raw: unknown, existing: ChannelDefinition[]): Promise<ChannelDefinition> {
    this.assertName(name);
    const dto = raw instanceof PutChannelRequestDto ? raw : plainToInstance(PutChannelRequestDto, raw);
    const shapeErrors = validateSync(dto, { whitelist: true, forbidNonWhitelisted: true });
    if (shapeErrors.length > 0) {
      throw new ValidationFailedError(`Channel ${name} is invalid.`, flattenValidationErrors(shapeErrors));
    }
    const errors: FieldError[] = [];
    if (dto.name !== undefined && dto.name !== name) {
      errors.push({ field: '/name', message: `must equal the channel name in the path (${name})` });
    }
    if (dto.communicationChannel !== undefined) {
      const target = existing.find((c) => c.name === dto.communicationChannel);
      if (dto.communicationChannel === name) {
        errors.push({ field: '/communicationChannel', message: 'must name another channel' });
      } else if (target === undefined) {
        errors.push({ field: '/communicationChannel', message: `channel ${dto.communicationChannel} does not exist` });
      } else if (target.communicationChannel !== undefined) {
        errors.push({ field: '/communicationChannel', message: `channel ${target.name} itself rides on ${target.communicationChannel}; chains are not allowed` });
      } else if (!dto.types.every((t) => target.types.includes(t))) {
        errors.push({ field: '/types', message: `must be a subset of ${target.name}'s types (${target.types.join(', ')}), whose topics carry this channel` });
      }
      if (existing.some((c) => c.communicationChannel === name)) {
        errors.push({ field: '/communicationChannel', message: `other channels ride on ${name}; it can't ride on another channel` });
      }
    }
    const dependants = existing.filter((c) => c.communicationChannel === name);
    for (const dependant of dependants) {
      if (!dependant.types.every((t) => dto.types.includes(t))) {
        errors.push({ field: '/types', message: `channel ${dependant.name} rides on ${name} and needs ${dependant.types.join(', ')}` });
      }
    }
    if (errors.length > 0) {
      throw new ValidationFailedError(`Channel ${name} is invalid.`, errors);
    }
    return {
      name,
      types: [...dto.types],
      communicationChannel: dto.communicationChannel,
      clientSend: dto.clientSend ?? false,
      maxMessageBytes: dto.maxMessageBytes ?? DEFAULT_MAX_MESSAGE_BYTES,
      messageSchema: dto.messageSchema,
      rateLimit: dto.rateLimit === undefined ? undefined : { messages: dto.rateLimit.messages, perSeconds: dto.rateLimit.perSeconds },
      history: dto.history === undefined || dto.history === null ? undefined : { size: dto.history.size, ttlSeconds: dto.history.ttlSeconds },
    };
  }

  private assertName(name: string): void {
    if (!isChannelName(name)) {
      throw new ValidationFailedError('Channel names match ^[A-Za-z0-9_-]{1,64}$.', [
        { field: '/channel', message: 'must match ^[A-Za-z0-9_-]{1,64}$' },
      ]);
    }
  }
}
