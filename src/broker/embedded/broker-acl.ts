import type { ChannelCatalog } from '../../store/channel-catalog';
import { mayReadShadowFilter, ownShadowRequest } from '../../common/shadow-topics';
import type { ParsedTopic, Topics } from '../../domain/topics';
import type { Session } from './session-registry';

/**
 * Topics of the service's own internal MQTT client (the `mqtt` events
 * transport). Only internal sessions may publish or subscribe here. It
 * starts with `$`, which no channel topic can (TOPIC_PREFIX is
 * `[A-Za-z0-9_-]` levels), and MQTT never matches a leading `#`/`+` against a
 * `$` topic, so even a portal's wildcard can't reach it.
 */
export const INTERNAL_TOPIC_PREFIX = '$webcommunicator/internal';

/** What the rules read of an authenticated session. */
export type AclSubject = Pick<Session, 'clientId' | 'transport' | 'portal'>;

/**
 * The broker contract's topic rules (API.md section 2), read live from the
 * channel catalog so channel edits apply to the next SUBSCRIBE or PUBLISH.
 * Callers check the client's registration status themselves.
 */
export class BrokerAcl {
  private readonly underPrefix: string;

  constructor(
    private readonly topics: Topics,
    private readonly catalog: ChannelCatalog,
  ) {
    this.underPrefix = `${topics.prefix}/`;
  }

  static isInternalTopic(topic: string): boolean {
    return topic.startsWith(`${INTERNAL_TOPIC_PREFIX}/`) && topic.length > INTERNAL_TOPIC_PREFIX.length + 1;
  }

  /**
   * Portal clients: any filter under the prefix, wildcards included (their live
   * view). Everyone else: exactly a broadcast topic, or their own private topic,
   * of a channel that has that topic.
   */
  async maySubscribe(subject: AclSubject, filter: string): Promise<boolean> {
    if (subject.transport === 'internal') {
      return BrokerAcl.isInternalTopic(filter);
    }
    // Every client's own device shadow topics (AWS IoT's names), and nobody else's.
    if (mayReadShadowFilter(filter, subject.clientId)) {
      return true;
    }
    if (subject.portal) {
      return filter.startsWith(this.underPrefix) && filter.length > this.underPrefix.length;
    }
    // parse() accepts only concrete names, so any wildcard, `$SYS` or extra level is refused here.
    const parsed = this.topics.parse(filter);
    if (parsed === undefined || (parsed.kind === 'private' && parsed.clientId !== subject.clientId)) {
      return false;
    }
    return this.hasTopic(parsed);
  }

  /**
   * Clients and devices are receive-only, except for requests on their own shadow
   * (`$aws/things/{clientId}/shadow/update` and `/get`, answered by the state module);
   * portal clients may also publish to any existing channel topic.
   */
  async mayPublish(subject: AclSubject, topic: string): Promise<boolean> {
    if (subject.transport === 'internal') {
      return BrokerAcl.isInternalTopic(topic);
    }
    if (ownShadowRequest(topic, subject.clientId) !== undefined) {
      return true;
    }
    if (!subject.portal) {
      return false;
    }
    const parsed = this.topics.parse(topic);
    return parsed !== undefined && this.hasTopic(parsed);
  }

  /**
   * Whether the topic exists: its channel is known, carries its own messages
   * (a channel with `communicationChannel` rides on that channel's topics and
   * has none of its own) and has the matching type.
   */
  private async hasTopic(parsed: ParsedTopic): Promise<boolean> {
    const channel = await this.catalog.get(parsed.channel);
    if (channel === undefined || channel.communicationChannel !== undefined) {
      return false;
    }
    return channel.types.includes(parsed.kind === 'broadcast' ? 'BROADCAST' : 'PRIVATE');
  }
}
