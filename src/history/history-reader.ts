import { Injectable } from '@nestjs/common';
import type { ApiCaller } from '../common/auth/api-caller';
import { isChannelName } from '../domain/ids';
import { Topics } from '../domain/topics';
import { ChannelCatalog } from '../store/channel-catalog';
import { ClientRepository } from '../store/client.repository';
import { HistoryRepository } from '../store/history.repository';
import type { ChannelMessagesResponseDto } from './history.dto';
import { HistoryService } from './history.service';
import { ChannelNotFoundError, ClientBannedError, ForbiddenError, HistoryDisabledError, WrongChannelTypeError } from '../domain/errors';

export interface HistoryQuery {
  after: number;
  limit: number;
  clientId?: string;
}

/** listChannelMessages: who may read which stream (API.md section 4), and the page. */
@Injectable()
export class HistoryReader {
  constructor(
    private readonly catalog: ChannelCatalog,
    private readonly history: HistoryService,
    private readonly repository: HistoryRepository,
    private readonly clients: ClientRepository,
    private readonly topics: Topics,
  ) {}

  /**
   * The answer as UTF-8 JSON: the stored envelopes are the exact JSON that was published, spliced in
   * without a parse and a re-serialisation each (100 messages a page by default: that is most of a read),
   * and as bytes, so that the HTTP layer neither measures nor encodes the page again.
   */
  async readJson(caller: ApiCaller, name: string, query: HistoryQuery): Promise<Buffer> {
    const { head, joined } = await this.page(caller, name, query);
    const { channel, topic, latestSeq, complete } = head;
    const start = Buffer.from(`{"channel":${JSON.stringify(channel)},"topic":${JSON.stringify(topic)},"messages":[`, 'utf8');
    const end = Buffer.from(`],"latestSeq":${latestSeq},"complete":${complete}}`, 'utf8');
    return Buffer.concat([start, joined, end]);
  }

  private async page(caller: ApiCaller, name: string, query: HistoryQuery): Promise<{ head: Omit<ChannelMessagesResponseDto, 'messages'>; joined: Buffer }> {
    const channel = isChannelName(name) ? await this.catalog.get(name) : undefined;
    if (channel === undefined) {
      throw new ChannelNotFoundError(String(name).slice(0, 64));
    }
    const type = query.clientId === undefined ? 'BROADCAST' : 'PRIVATE';
    if (caller.role === 'client') {
      // What the client may subscribe to: broadcast topics, and its own private topics.
      if (query.clientId !== undefined && query.clientId !== caller.clientId) {
        throw new ForbiddenError("A client may read only its own private stream.");
      }
      if ((await this.clients.get(caller.clientId))?.status === 'BANNED') {
        throw new ClientBannedError(caller.clientId);
      }
    }
    if (!channel.types.includes(type)) {
      throw new WrongChannelTypeError(channel.name, type);
    }
    const history = await this.history.of(channel);
    if (history === undefined) {
      throw new HistoryDisabledError(channel.name);
    }
    const delivery = history.delivery.name;
    const topic = query.clientId === undefined ? this.topics.broadcast(delivery) : this.topics.private(delivery, query.clientId);
    const page = await this.repository.readJson(topic, {
      after: query.after,
      limit: query.limit,
      size: history.settings.size,
      notBefore: Date.now() - history.settings.ttlSeconds * 1000,
    });
    const first = page.firstSeq;
    return {
      head: {
        channel: channel.name,
        topic,
        latestSeq: page.latestSeq,
        // Seqs are gapless: nothing was dropped when the first one kept is the one right after `after`.
        complete: query.after >= page.latestSeq || first === query.after + 1,
      },
      joined: page.joined,
    };
  }
}
