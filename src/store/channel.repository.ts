export type ChannelType = 'BROADCAST' | 'PRIVATE';
export const CHANNEL_TYPES: readonly ChannelType[] = ['BROADCAST', 'PRIVATE'];

export interface RateLimit {
  messages: number;
  perSeconds: number;
}

/** A row of the ChannelData table. */
export interface ChannelDefinition {
  name: string;
  types: ChannelType[];
  communicationChannel?: string;
  clientSend: boolean;
  maxMessageBytes: number;
  messageSchema?: Record<string, unknown>;
  rateLimit?: RateLimit;
}

/** Port: the channel table. */
export abstract class ChannelRepository {
  abstract list(): Promise<ChannelDefinition[]>;
  abstract get(name: string): Promise<ChannelDefinition | undefined>;
  /** Returns true when the channel was created, false when it replaced one. */
  abstract put(channel: ChannelDefinition): Promise<boolean>;
  /** Returns false when there was nothing to delete. */
  abstract delete(name: string): Promise<boolean>;
}
