/** What a channel is, as every layer sees it (the store keeps the table, the broker derives its rules from it). */

export type ChannelType = 'BROADCAST' | 'PRIVATE';
export const CHANNEL_TYPES: readonly ChannelType[] = ['BROADCAST', 'PRIVATE'];

export interface RateLimit {
  messages: number;
  perSeconds: number;
}

/** Per-stream history (API.md section 4): at most `size` messages per stream, each for at most `ttlSeconds`. */
export interface HistorySettings {
  size: number;
  ttlSeconds: number;
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
  /** Absent: the channel keeps no history and its messages carry no `Seq`. */
  history?: HistorySettings;
}

