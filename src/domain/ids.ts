/** Client ids: Cognito identity ids contain ':'; nothing that MQTT treats as a topic separator or wildcard. */
export const CLIENT_ID_PATTERN = /^[A-Za-z0-9:._-]{1,128}$/;
export const CHANNEL_NAME_PATTERN = /^[A-Za-z0-9_-]{1,64}$/;

export function isClientId(value: unknown): value is string {
  return typeof value === 'string' && CLIENT_ID_PATTERN.test(value);
}

export function isChannelName(value: unknown): value is string {
  return typeof value === 'string' && CHANNEL_NAME_PATTERN.test(value);
}
