import { Injectable, Logger, type OnApplicationBootstrap, type OnModuleDestroy } from '@nestjs/common';
import { ChannelRepository } from './channel.repository';
import type { ChannelDefinition } from '../domain/channel';

/**
 * The bound on how long a channel edit made through another instance takes to show here: a
 * catalog read (`get`, `all`) never answers from a view older than this (AWS mode runs N instances
 * on one store; API.md section 9).
 */
export const CATALOG_REFRESH_MS = 5_000;
/**
 * With a store that has a revision marker (DynamoDB), the whole table is re-read this often even
 * when the marker did not move: covers a writer that died between its write and its marker bump.
 */
export const CATALOG_FULL_RELOAD_MS = 60_000;

export type CatalogListener = (channels: ChannelDefinition[]) => void | Promise<void>;

/**
 * The channel table, cached in memory for the hot paths (publishing, broker ACL checks).
 * Edits made through this instance apply at once (`refresh`). Edits made through another
 * instance apply within CATALOG_REFRESH_MS: a read that finds the view older than that waits for
 * a check, and a background timer checks every 0.8 × CATALOG_REFRESH_MS so the hot path rarely waits.
 * A check is cheap with DynamoDB: one GetItem of the table's revision marker, and a Scan only when
 * it moved. Listeners hear every change that came from elsewhere (not the first load).
 */
@Injectable()
export class ChannelCatalog implements OnApplicationBootstrap, OnModuleDestroy {
  private readonly logger = new Logger(ChannelCatalog.name);
  private byName = new Map<string, ChannelDefinition>();
  /** When the check that produced the current view started (0: never loaded). */
  private checkedAt = 0;
  private listedAt = 0;
  private revision?: string;
  private snapshot?: string;
  private loading?: Promise<void>;
  private timer?: NodeJS.Timeout;
  private readonly listeners: CatalogListener[] = [];

  constructor(private readonly channels: ChannelRepository) {}

  onApplicationBootstrap(): void {
    // A little ahead of the bound, so that a read almost never finds the view too old and waits.
    this.timer = setInterval(() => {
      this.check().catch((error: unknown) => this.logger.warn(`channel table check failed: ${error instanceof Error ? error.message : String(error)}`));
    }, CATALOG_REFRESH_MS * 0.8);
    this.timer.unref();
  }

  onModuleDestroy(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }

  /** Calls `listener` with the new table whenever a check finds it changed; returns the unsubscribe. */
  onChange(listener: CatalogListener): () => void {
    this.listeners.push(listener);
    return () => {
      const at = this.listeners.indexOf(listener);
      if (at >= 0) {
        this.listeners.splice(at, 1);
      }
    };
  }

  /** Reloads the whole table from the store now. */
  async refresh(): Promise<ChannelDefinition[]> {
    const startedAt = Date.now();
    // The marker first: an edit landing between the two reads moves it again, and the next check re-lists.
    const revision = await this.channels.revision();
    const list = await this.channels.list();
    this.apply(list, revision, startedAt);
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

  /** Synchronous view of the last load, for callers that can't wait (e.g. broker hooks); may be up to CATALOG_REFRESH_MS old. */
  cached(name: string): ChannelDefinition | undefined {
    if (Date.now() - this.checkedAt > CATALOG_REFRESH_MS) {
      void this.fresh().catch(() => undefined);
    }
    return this.byName.get(name);
  }

  /** The channel whose topics carry this channel's messages. */
  deliveryChannel(channel: ChannelDefinition): string {
    return channel.communicationChannel ?? channel.name;
  }

  private async fresh(): Promise<void> {
    if (Date.now() - this.checkedAt <= CATALOG_REFRESH_MS) {
      return;
    }
    await this.check();
  }

  /** One check at a time: concurrent callers share it. */
  private check(): Promise<void> {
    this.loading ??= this.checkNow().finally(() => {
      this.loading = undefined;
    });
    return this.loading;
  }

  private async checkNow(): Promise<void> {
    const startedAt = Date.now();
    const revision = await this.channels.revision();
    const unchanged = revision !== undefined && revision === this.revision && startedAt - this.listedAt < CATALOG_FULL_RELOAD_MS;
    if (unchanged) {
      this.checkedAt = Math.max(this.checkedAt, startedAt);
      return;
    }
    this.apply(await this.channels.list(), revision, startedAt);
  }

  private apply(list: ChannelDefinition[], revision: string | undefined, startedAt: number): void {
    if (startedAt < this.checkedAt) {
      // A slower, older read finished after a newer one: keep the newer view.
      return;
    }
    this.byName = new Map(list.map((c) => [c.name, c]));
    this.checkedAt = startedAt;
    this.listedAt = startedAt;
    this.revision = revision;
    const snapshot = JSON.stringify(list);
    const changed = this.snapshot !== undefined && this.snapshot !== snapshot;
    this.snapshot = snapshot;
    if (changed) {
      for (const listener of [...this.listeners]) {
        Promise.resolve()
          .then(() => listener(list))
          .catch((error: unknown) => this.logger.error(`channel change listener failed: ${error instanceof Error ? error.message : String(error)}`));
      }
    }
  }
}
