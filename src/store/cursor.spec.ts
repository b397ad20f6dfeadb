import { decodeCursor, encodeCursor } from './cursor';
import { InvalidCursorError } from '../domain/errors';

describe('cursor', () => {
  it('round-trips a key', () => {
    const key = { ClientID: 'alice', RegistrationStatus: 'BANNED' };
    expect(decodeCursor(encodeCursor(key))).toEqual(key);
  });

  it.each([
    ['not base64url', '***'],
    ['not JSON', Buffer.from('nope').toString('base64url')],
    ['an array', encodeCursor([] as unknown as Record<string, unknown>)],
    ['an unknown attribute', encodeCursor({ Password: 'x' })],
    ['a non-string value', encodeCursor({ ClientID: { S: 'x' } })],
    ['too long', 'a'.repeat(2000)],
  ])('refuses %s', (_name, cursor) => {
    expect(() => decodeCursor(cursor)).toThrow(InvalidCursorError);
  });
});
