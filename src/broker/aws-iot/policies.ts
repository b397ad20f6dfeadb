import { Topics } from '../../domain/topics';
import type { ChannelDefinition } from '../../domain/channel';
import { BrokerRulesTooLargeError } from '../../domain/errors';

/**
 * The AWS IoT policies the service manages, generated from the channel table.
 * Pure: no SDK calls here (see policy-sync.ts for that).
 *
 * Shape, and why:
 * - Player (Cognito identities) and Device (certificates) policies are the same
 *   rules with a different policy variable standing for the client id:
 *   `${cognito-identity.amazonaws.com:sub}` (the Cognito identity id) and
 *   `${iot:Connection.Thing.ThingName}`. Each device certificate is attached,
 *   exclusively, to a thing named after its client id, and IoT resolves the
 *   thing from the MQTT client id, so a certificate can only connect as its
 *   own client id. `${iot:ClientId}` would let any device certificate connect
 *   as any client (and read that client's private topics); the certificate
 *   serial number the original used can't equal a client id chosen before the
 *   certificate exists.
 * - IoT caps a policy document at 2,048 characters, so rules are written to
 *   grow by one entry per broadcast channel only: Subscribe is exact for
 *   broadcast topics, one `{prefix}/<any>/client/<self>` entry covers the
 *   caller's own private topics, and a Deny refuses any filter containing the
 *   MQTT wildcards `+` or `#` (literal characters in IoT policies), so no
 *   wildcard subscription is possible. Receive is allowed on every topic:
 *   IoT checks it on every delivery (a detached policy stops delivery at
 *   once), but only topics the client could subscribe to ever reach it.
 * - Clients and devices publish only to their own Device Shadow's request
 *   topics (`$aws/things/<self>/shadow/update` and `/get`), and subscribe to
 *   and receive its response topics (`.../shadow/*`, one entry): every
 *   client's state document is the classic shadow of the thing named after
 *   its client id (API.md section 6). Nothing else is published by them (all
 *   client sends go through the HTTP API). Portal clients subscribe to anything under the prefix (wildcards
 *   included, for the live view) and publish under it: players and devices
 *   can only subscribe to channel topics, so a portal message on any other
 *   topic reaches nobody but portals, and the portal policy stays the same
 *   size however many channels there are.
 * - Resource ARNs use `*` for region and account: an IoT policy is only ever
 *   evaluated in its own account and region, so this grants nothing more and
 *   leaves room for channels within the size limit.
 */

export type PolicyKind = 'Player' | 'Device' | 'Portal';
export const POLICY_KINDS: readonly PolicyKind[] = ['Player', 'Device', 'Portal'];

/** IoT's limit on a policy document, counted without whitespace. */
export const MAX_POLICY_DOCUMENT_CHARS = 2048;

export const COGNITO_IDENTITY_VARIABLE = '${cognito-identity.amazonaws.com:sub}';
export const THING_NAME_VARIABLE = '${iot:Connection.Thing.ThingName}';

export interface PolicyStatement {
  Effect: 'Allow' | 'Deny';
  Action: string | string[];
  Resource: string | string[];
  Condition?: Record<string, Record<string, string | string[]>>;
}

export interface PolicyDocument {
  Version: '2012-10-17';
  Statement: PolicyStatement[];
}

export interface PolicyContext {
  topicPrefix: string;
  region: string;
  policyPrefix: string;
}

/** The broker (IoT) can't hold the rules the channel table asks for: a domain error, 422 over HTTP. */
export class PolicyTooLargeError extends BrokerRulesTooLargeError {
  constructor(
    readonly policyName: string,
    readonly size: number,
  ) {
    super(
      `IoT policy ${policyName} would be ${size} characters, over AWS IoT's limit of ${MAX_POLICY_DOCUMENT_CHARS}: ` +
        'reduce the number of channels with their own broadcast topics (channels can share topics through communicationChannel)',
    );
  }
}

export function policyName(policyPrefix: string, kind: PolicyKind): string {
  return `${policyPrefix}-${kind}`;
}

/** The channels whose topics carry messages, by type (a channel with `communicationChannel` rides on its parent's topics). */
export function deliveryChannels(channels: readonly ChannelDefinition[]): { broadcast: string[]; private: string[] } {
  const broadcast = new Set<string>();
  const privates = new Set<string>();
  for (const channel of channels) {
    const delivery = channel.communicationChannel ?? channel.name;
    if (channel.types.includes('BROADCAST')) {
      broadcast.add(delivery);
    }
    if (channel.types.includes('PRIVATE')) {
      privates.add(delivery);
    }
  }
  return { broadcast: [...broadcast].sort(), private: [...privates].sort() };
}

/** `aws`, `aws-cn` or `aws-us-gov`, from the region name. */
export function partitionOf(region: string): string {
  if (region.startsWith('cn-')) {
    return 'aws-cn';
  }
  if (region.startsWith('us-gov-')) {
    return 'aws-us-gov';
  }
  return 'aws';
}

/**
 * The three policy documents for this channel table. Only broadcast delivery
 * channels make them grow: with the default prefix and 16-character names,
 * about 17 fit (see policies.spec.ts; 20 before the shadow topics were added).
 */
export function buildPolicies(channels: readonly ChannelDefinition[], context: PolicyContext): Record<PolicyKind, PolicyDocument> {
  const topics = new Topics(context.topicPrefix);
  const arn = (type: 'client' | 'topic' | 'topicfilter', name: string): string =>
    `arn:${partitionOf(context.region)}:iot:*:*:${type}/${name}`;
  const delivery = deliveryChannels(channels);
  const broadcastTopics = delivery.broadcast.map((channel) => topics.broadcast(channel));
  // `*` in an IoT policy matches any characters, '/' included.
  const underPrefix = `${context.topicPrefix}/*`;
  const ownPrivateFilter = (self: string): string => arn('topicfilter', `${context.topicPrefix}/*/client/${self}`);
  const noMqttWildcards: PolicyStatement = {
    Effect: 'Deny',
    Action: 'iot:Subscribe',
    Resource: [arn('topicfilter', '*+*'), arn('topicfilter', '*#*')],
  };
  const thingAttached = { Bool: { 'iot:Connection.Thing.IsAttached': 'true' } };

  const shadow = (self: string): string => `$aws/things/${self}/shadow`;
  const receiveOnly = (self: string, connect: PolicyStatement): PolicyDocument => ({
    Version: '2012-10-17',
    Statement: [
      connect,
      {
        Effect: 'Allow',
        Action: 'iot:Subscribe',
        Resource: [
          ...broadcastTopics.map((topic) => arn('topicfilter', topic)),
          ownPrivateFilter(self),
          arn('topicfilter', `${shadow(self)}/*`),
        ],
      },
      noMqttWildcards,
      // Receive is checked per delivery, and only what Subscribe allowed is ever delivered: `*` grants nothing more and keeps room for channels.
      { Effect: 'Allow', Action: 'iot:Receive', Resource: arn('topic', '*') },
      { Effect: 'Allow', Action: 'iot:Publish', Resource: [arn('topic', `${shadow(self)}/update`), arn('topic', `${shadow(self)}/get`)] },
    ],
  });

  const player = receiveOnly(COGNITO_IDENTITY_VARIABLE, {
    Effect: 'Allow',
    Action: 'iot:Connect',
    Resource: arn('client', COGNITO_IDENTITY_VARIABLE),
  });
  const device = receiveOnly(THING_NAME_VARIABLE, {
    Effect: 'Allow',
    Action: 'iot:Connect',
    Resource: arn('client', THING_NAME_VARIABLE),
    Condition: thingAttached,
  });

  const portal: PolicyDocument = {
    Version: '2012-10-17',
    Statement: [
      // Portal clients register over WEBSOCKET (a Cognito identity) or OPENSSL (a certificate and its thing).
      { Effect: 'Allow', Action: 'iot:Connect', Resource: arn('client', COGNITO_IDENTITY_VARIABLE) },
      { Effect: 'Allow', Action: 'iot:Connect', Resource: arn('client', THING_NAME_VARIABLE), Condition: thingAttached },
      { Effect: 'Allow', Action: 'iot:Subscribe', Resource: arn('topicfilter', underPrefix) },
      { Effect: 'Allow', Action: 'iot:Receive', Resource: arn('topic', underPrefix) },
      { Effect: 'Allow', Action: 'iot:Publish', Resource: arn('topic', underPrefix) },
    ],
  };

  return { Player: player, Device: device, Portal: portal };
}

/** The document as sent to IoT: compact JSON (no whitespace to count against the limit). Throws PolicyTooLargeError when over the limit. */
export function serializePolicy(name: string, document: PolicyDocument): string {
  const text = JSON.stringify(document);
  if (text.length > MAX_POLICY_DOCUMENT_CHARS) {
    throw new PolicyTooLargeError(name, text.length);
  }
  return text;
}

/** Whether two policy documents say the same thing (key order and whitespace aside). */
export function samePolicyDocument(a: string, b: string): boolean {
  try {
    return canonical(JSON.parse(a)) === canonical(JSON.parse(b));
  } catch {
    return false;
  }
}

function canonical(value: unknown): string {
  if (Array.isArray(value)) {
    return `[${value.map(canonical).join(',')}]`;
  }
  if (value !== null && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([key, item]) => `${JSON.stringify(key)}:${canonical(item)}`).join(',')}}`;
  }
  return JSON.stringify(value);
}
