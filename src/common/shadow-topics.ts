import { isClientId } from '../domain/ids';

/**
 * AWS IoT's classic (unnamed) Device Shadow topics, `$aws/things/{thingName}/shadow/...`,
 * with the client id as the thing name. Used unchanged on the embedded broker so
 * that device code written for IoT shadows works against either broker.
 */
export const SHADOW_REQUESTS = ['update', 'get'] as const;
export type ShadowRequestKind = (typeof SHADOW_REQUESTS)[number];

/** Topics the service publishes on: responses and notifications. */
export const SHADOW_RESPONSES = [
  'update/accepted',
  'update/rejected',
  'update/delta',
  'update/documents',
  'get/accepted',
  'get/rejected',
] as const;
export type ShadowResponseKind = (typeof SHADOW_RESPONSES)[number];

const PREFIX = '$aws/things/';

export function shadowTopic(clientId: string, suffix: ShadowRequestKind | ShadowResponseKind | '#'): string {
  if (!isClientId(clientId)) {
    throw new TypeError('invalid client id');
  }
  return `${PREFIX}${clientId}/shadow/${suffix}`;
}

/** `$aws/things/{clientId}/shadow/{rest}` split up; undefined for any other topic. */
export function parseShadowTopic(topic: string): { clientId: string; rest: string } | undefined {
  if (!topic.startsWith(PREFIX)) {
    return undefined;
  }
  const slash = topic.indexOf('/', PREFIX.length);
  if (slash < 0) {
    return undefined;
  }
  const clientId = topic.slice(PREFIX.length, slash);
  const tail = topic.slice(slash + 1);
  if (!isClientId(clientId) || !tail.startsWith('shadow/')) {
    return undefined;
  }
  return { clientId, rest: tail.slice('shadow/'.length) };
}

/** The request a client publishes on its own shadow topic, or undefined when the topic is anything else. */
export function ownShadowRequest(topic: string, clientId: string): ShadowRequestKind | undefined {
  const parsed = parseShadowTopic(topic);
  if (parsed === undefined || parsed.clientId !== clientId) {
    return undefined;
  }
  return (SHADOW_REQUESTS as readonly string[]).includes(parsed.rest) ? (parsed.rest as ShadowRequestKind) : undefined;
}

/**
 * Filters a client may subscribe to: its own shadow topics, one by one, or
 * `.../shadow/#`, `.../shadow/update/#`, `.../shadow/get/#`. Never another
 * client's (no `+` in place of the thing name).
 */
export function mayReadShadowFilter(filter: string, clientId: string): boolean {
  const parsed = parseShadowTopic(filter);
  if (parsed === undefined || parsed.clientId !== clientId) {
    return false;
  }
  const { rest } = parsed;
  return (
    rest === '#' ||
    rest === 'update/#' ||
    rest === 'get/#' ||
    (SHADOW_REQUESTS as readonly string[]).includes(rest) ||
    (SHADOW_RESPONSES as readonly string[]).includes(rest)
  );
}
