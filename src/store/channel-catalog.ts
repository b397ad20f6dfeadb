import { Injectable } from '@nestjs/common';
import { ChannelRepository } from './channel.repository';
import type { ChannelDefinition } from '../domain/channel';

/** How long another instance's channel edits may take to show here (AWS mode runs several instances). */
const REFRESH_AFTER_MS = 5_000;

/**
 * The channel table, cached in memory for the hot paths (publishing, broker
 * ACL checks). Edits made through this instance apply at once (`refresh`);
 * edits from other instances within REFRESH_AFTER_MS.
 */
@Injectable()
export class ChannelCatalog {
  private byName = new Map<string, ChannelDefinition>();
  private loadedAt = 0;
  private loading?: Promise<void>;

  constructor(private readonly channels: ChannelRepository) {}

  /** Reloads from the store now. */
  async refresh(): Promise<ChannelDefinition[]> {
    const list = await this.channels.list();
    this.byName = new Map(list.map((c) => [c.name, c]));
    this.loadedAt = Date.now();
    return list;
  }

  async get(name: string): Promise<ChannelDefinition | undefined> {
    await this.fresh();
    return this.byName.get(name);
  }

  async all(): Promise<ChannelDefinition[]> {
    await this.fresh();
    return [...this.byName.values()];
  }

  /** Synchronous view of the last load, for callers that can't wait (e.g. broker hooks); may be up to REFRESH_AFTER_MS old. */
  cached(name: string): ChannelDefinition | undefined {
    if (Date.now() - this.loadedAt > REFRESH_AFTER_MS) {
      void this.fresh().catch(() => undefined);
    }
    return this.byName.get(name);
  }

  /** The channel whose topics carry this channel's messages. */
  deliveryChannel(channel: ChannelDefinition): string {
    return channel.communicationChannel ?? channel.name;
  }

  private async fresh(): Promise<void> {
    if (Date.now() - this.loadedAt <= REFRESH_AFTER_MS) {
      return;
    }
    this.loading ??= this.refresh()
      .then(() => undefined)
      .finally(() => {
        this.loading = undefined;
      });
    await this.loading;
  }
}
