import { InvalidCursorError } from '../domain/errors';

const KEY_ATTRIBUTES = new Set(['ClientID', 'RegistrationStatus']);

/** Opaque page cursor (both engines): the key to resume after, as base64url JSON. */
export function encodeCursor(key: Record<string, unknown>): string {
  return Buffer.from(JSON.stringify(key), 'utf8').toString('base64url');
}

/** Decodes a cursor, accepting only key attributes with string values (never arbitrary input to DynamoDB). */
export function decodeCursor(cursor: string): Record<string, string> {
  if (cursor.length > 1024 || !/^[A-Za-z0-9_-]+$/.test(cursor)) {
    throw new InvalidCursorError();
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
  } catch {
    throw new InvalidCursorError();
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    throw new InvalidCursorError();
  }
  const entries = Object.entries(parsed);
  if (
    entries.length === 0 ||
    !entries.every(([key, value]) => KEY_ATTRIBUTES.has(key) && typeof value === 'string' && value.length > 0 && value.length <= 128)
  ) {
    throw new InvalidCursorError();
  }
  return Object.fromEntries(entries);
}
