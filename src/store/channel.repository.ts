import type { ChannelDefinition } from '../domain/channel';

/** Port: the channel table. */
export abstract class ChannelRepository {
  abstract list(): Promise<ChannelDefinition[]>;
  abstract get(name: string): Promise<ChannelDefinition | undefined>;
  /** Returns true when the channel was created, false when it replaced one. */
  abstract put(channel: ChannelDefinition): Promise<boolean>;
  /** Returns false when there was nothing to delete. */
  abstract delete(name: string): Promise<boolean>;
}
