import { readFile } from 'node:fs/promises';
import { Injectable, Logger, type OnModuleInit } from '@nestjs/common';
import { AppConfig } from '../config/app-config';
import { ChannelRepository } from '../store/channel.repository';
import { ChannelCatalog } from '../store/channel-catalog';
import { ChannelsService } from './channels.service';
import type { ChannelDefinition } from '../domain/channel';
import { DomainError } from '../domain/errors';

/**
 * Seeds the channel table from CHANNELS_FILE at start. Channels that already
 * exist are left alone: runtime edits made through the admin API survive restarts.
 */
@Injectable()
export class ChannelSeeder implements OnModuleInit {
  private readonly logger = new Logger(ChannelSeeder.name);

  constructor(
    private readonly config: AppConfig,
    private readonly channels: ChannelRepository,
    private readonly service: ChannelsService,
    private readonly catalog: ChannelCatalog,
  ) {}

  async onModuleInit(): Promise<void> {
    const entries = await this.read();
    const existing = await this.channels.list();
    // Parents before the channels that ride on them.
    const ordered = [...entries].sort((a, b) => Number(a.communicationChannel !== undefined) - Number(b.communicationChannel !== undefined));
    let created = 0;
    for (const raw of ordered) {
      const name = typeof raw.name === 'string' ? raw.name : '';
      if (existing.some((c) => c.name === name)) {
        continue;
      }
      let channel: ChannelDefinition;
      try {
        channel = await this.service.validateDefinition(name, raw, existing);
      } catch (error) {
        const detail = error instanceof DomainError ? `${error.message} ${JSON.stringify(error.errors ?? [])}` : String(error);
        throw new Error(`CHANNELS_FILE ${this.config.channelsFile}: ${detail}`);
      }
      await this.channels.put(channel);
      existing.push(channel);
      created += 1;
    }
    await this.catalog.refresh();
    this.logger.log({ file: this.config.channelsFile, created, total: existing.length }, 'channels ready');
  }

  private async read(): Promise<Array<Record<string, unknown>>> {
    let text: string;
    try {
      text = await readFile(this.config.channelsFile, 'utf8');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') {
        this.logger.warn({ file: this.config.channelsFile }, 'channels file not found; no channels seeded');
        return [];
      }
      throw error;
    }
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch (error) {
      throw new Error(`CHANNELS_FILE ${this.config.channelsFile} is not valid JSON: ${(error as Error).message}`);
    }
    const list = (parsed as { channels?: unknown })?.channels;
    if (!Array.isArray(list) || !list.every((c) => typeof c === 'object' && c !== null && !Array.isArray(c))) {
      throw new Error(`CHANNELS_FILE ${this.config.channelsFile} must be {"channels": [Channel, ...]}`);
    }
    return list as Array<Record<string, unknown>>;
  }
}
