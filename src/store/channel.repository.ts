import type { ChannelDefinition } from '../domain/channel';

/** Port: the channel table. */
export abstract class ChannelRepository {
  abstract list(): Promise<ChannelDefinition[]>;
  abstract get(name: string): Promise<ChannelDefinition | undefined>;
  /** Returns true when the channel was created, false when it replaced one. */
  abstract put(channel: ChannelDefinition): Promise<boolean>;
  /** Returns false when there was nothing to delete. */
  abstract delete(name: string): Promise<boolean>;

  /**
   * A marker that moves with every put and delete (made after the write), for engines where reading
   * it is cheaper than `list` (DynamoDB: one item instead of a Scan); the channel catalog re-lists only
   * when it moved. Undefined: no marker, the catalog re-lists on every check.
   */
  revision(): Promise<string | undefined> {
    return Promise.resolve(undefined);
  }
}
