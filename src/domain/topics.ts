import { isChannelName, isClientId } from './ids';

export type ParsedTopic =
  | { kind: 'broadcast'; channel: string }
  | { kind: 'private'; channel: string; clientId: string };

/**
 * The one place where topics are built and parsed. Names are validated before
 * they become part of a topic, so no input can yield a wildcard, an extra level
 * or another client's topic.
 */
export class Topics {
  private readonly levels: number;

  constructor(readonly prefix: string) {
    this.levels = prefix.split('/').length;
  }

  broadcast(channel: string): string {
    assertChannel(channel);
    return `${this.prefix}/${channel}`;
  }

  private(channel: string, clientId: string): string {
    assertChannel(channel);
    if (!isClientId(clientId)) {
      throw new TypeError('invalid client id');
    }
    return `${this.prefix}/${channel}/client/${clientId}`;
  }

  /** Everything under the prefix: what portal clients may subscribe to. */
  get all(): string {
    return `${this.prefix}/#`;
  }

  /** Parses a concrete topic (no wildcards) under the prefix; undefined for anything else. */
  parse(topic: string): ParsedTopic | undefined {
    if (!topic.startsWith(`${this.prefix}/`)) {
      return undefined;
    }
    const rest = topic.split('/').slice(this.levels);
    if (rest.length === 1 && isChannelName(rest[0])) {
      return { kind: 'broadcast', channel: rest[0] };
    }
    if (rest.length === 3 && rest[1] === 'client' && isChannelName(rest[0]) && isClientId(rest[2])) {
      return { kind: 'private', channel: rest[0], clientId: rest[2] };
    }
    return undefined;
  }
}

function assertChannel(channel: string): void {
  if (!isChannelName(channel)) {
    throw new TypeError('invalid channel name');
  }
}
