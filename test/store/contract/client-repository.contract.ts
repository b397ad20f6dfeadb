import { type ClientRepository, type RegisterInput } from '../../../src/store/client.repository';
import type { StoreEngine } from '../../../src/store/store-engine';
import type { ClientRecord } from '../../../src/domain/client';
import { ClientBannedError, InvalidCursorError } from '../../../src/domain/errors';

const T0 = '2026-01-01T00:00:00.000Z';
const T1 = '2026-01-02T00:00:00.000Z';
const T2 = '2026-01-03T00:00:00.000Z';

function input(clientId: string, overrides: Partial<RegisterInput> = {}): RegisterInput {
  return { clientId, connectionType: 'WEBSOCKET', portalClient: false, now: T0, ...overrides };
}

/** Follows the cursors to the end; checks every page against the limit. */
async function allPages(clients: ClientRepository, query: { status?: ClientRecord['status']; limit: number }): Promise<ClientRecord[][]> {
  const pages: ClientRecord[][] = [];
  let cursor: string | undefined;
  do {
    const page = await clients.list({ ...query, cursor });
    expect(page.items.length).toBeLessThanOrEqual(query.limit);
    pages.push(page.items);
    cursor = page.nextCursor;
    expect(pages.length).toBeLessThan(100);
  } while (cursor !== undefined);
  return pages;
}

/** The client registry's contract: every engine must pass it unchanged. */
export function clientRepositoryContract(open: () => Promise<StoreEngine>): void {
  describe('ClientRepository', () => {
    let store: StoreEngine;
    let clients: ClientRepository;

    beforeEach(async () => {
      store = await open();
      clients = store.clients;
    });

    afterEach(async () => {
      await store.close();
    });

    it('knows no client before registration', async () => {
      await expect(clients.get('nobody')).resolves.toBeUndefined();
      await expect(clients.setStatus('nobody', { status: 'BANNED', now: T0 })).resolves.toBeUndefined();
      await clients.touchLastSeen('nobody', T0);
      await clients.addCertificate('nobody', 'cert-1', undefined, T0);
      await expect(clients.get('nobody')).resolves.toBeUndefined();
    });

    it('registers a client as REGISTERED and reads it back', async () => {
      const record = await clients.register(input('alice', { portalClient: true }));
      const expected = {
        clientId: 'alice',
        status: 'REGISTERED',
        connectionType: 'WEBSOCKET',
        portalClient: true,
        registeredAt: T0,
        updatedAt: T0,
      };
      expect(record).toEqual(expected);
      await expect(clients.get('alice')).resolves.toEqual(expected);
    });

    it('re-registration keeps the first registration time and takes the new type and portal flag', async () => {
      await clients.register(input('bob', { portalClient: true }));
      const again = await clients.register(input('bob', { connectionType: 'OPENSSL', portalClient: false, now: T1 }));
      expect(again).toEqual(
        expect.objectContaining({ registeredAt: T0, updatedAt: T1, connectionType: 'OPENSSL', portalClient: false, status: 'REGISTERED' }),
      );
      await expect(clients.get('bob')).resolves.toEqual(again);
    });

    it('appends certificates: with the registration and afterwards', async () => {
      await clients.register(input('dev', { connectionType: 'OPENSSL', certificate: { id: 'c1', arn: 'arn:c1' } }));
      await clients.register(input('dev', { connectionType: 'OPENSSL', certificate: { id: 'c2' }, now: T1 }));
      await clients.addCertificate('dev', 'c3', 'arn:c3', T2);
      const record = await clients.get('dev');
      expect(record).toEqual(
        expect.objectContaining({ certificateIds: ['c1', 'c2', 'c3'], certificateArns: ['arn:c1', 'arn:c3'], updatedAt: T2 }),
      );
      const plain = await clients.register(input('plain'));
      expect(plain.certificateIds).toBeUndefined();
      expect(plain.certificateArns).toBeUndefined();
    });

    it('bans with a reason, keeps the first ban time, and un-banning clears both', async () => {
      await clients.register(input('carol'));
      const banned = await clients.setStatus('carol', { status: 'BANNED', reason: 'spam', now: T1 });
      expect(banned).toEqual(
        expect.objectContaining({ status: 'BANNED', bannedAt: T1, banReason: 'spam', updatedAt: T1, registeredAt: T0 }),
      );
      const again = await clients.setStatus('carol', { status: 'BANNED', now: T2 });
      expect(again).toEqual(expect.objectContaining({ bannedAt: T1, banReason: 'spam', updatedAt: T2 }));
      const reworded = await clients.setStatus('carol', { status: 'BANNED', reason: 'abuse', now: T2 });
      expect(reworded?.banReason).toBe('abuse');
      await expect(clients.get('carol')).resolves.toEqual(reworded);
      const lifted = await clients.setStatus('carol', { status: 'REGISTERED', now: T2 });
      expect(lifted).toEqual(expect.objectContaining({ status: 'REGISTERED' }));
      expect(lifted?.bannedAt).toBeUndefined();
      expect(lifted?.banReason).toBeUndefined();
      await expect(clients.get('carol')).resolves.toEqual(lifted);
    });

    it('refuses to re-register a banned client, atomically, and leaves its record as it was', async () => {
      await clients.register(input('dave'));
      const banned = await clients.setStatus('dave', { status: 'BANNED', reason: 'cheat', now: T1 });
      await expect(clients.register(input('dave', { now: T2, portalClient: true, certificate: { id: 'c9' } }))).rejects.toThrow(
        ClientBannedError,
      );
      await expect(clients.get('dave')).resolves.toEqual(banned);
    });

    it('never loses a ban that races re-registrations (conditional write)', async () => {
      const ids = Array.from({ length: 8 }, (_, i) => `racer-${i}`);
      await Promise.all(ids.map((id) => clients.register(input(id))));
      const outcomes = await Promise.all(
        ids.flatMap((id) => [
          clients.register(input(id, { now: T1 })).then(
            () => 'registered',
            (error: unknown) => (error instanceof ClientBannedError ? 'refused' : `failed: ${String(error)}`),
          ),
          clients.setStatus(id, { status: 'BANNED', reason: 'race', now: T1 }).then(() => 'banned'),
          clients.register(input(id, { now: T2 })).then(
            () => 'registered',
            (error: unknown) => (error instanceof ClientBannedError ? 'refused' : `failed: ${String(error)}`),
          ),
        ]),
      );
      expect(outcomes.filter((o) => o.startsWith('failed'))).toEqual([]);
      for (const id of ids) {
        await expect(clients.get(id)).resolves.toEqual(expect.objectContaining({ status: 'BANNED', banReason: 'race' }));
      }
    });

    it('records lastSeenAt, visible to the next read', async () => {
      await clients.register(input('erin'));
      await clients.touchLastSeen('erin', T1);
      await clients.touchLastSeen('erin', T2);
      await expect(clients.get('erin')).resolves.toEqual(expect.objectContaining({ lastSeenAt: T2, updatedAt: T0 }));
      const { items } = await clients.list({ limit: 10 });
      expect(items).toEqual([expect.objectContaining({ clientId: 'erin', lastSeenAt: T2 })]);
    });

    it('pages through every client exactly once, with and without the status filter', async () => {
      const ids = Array.from({ length: 23 }, (_, i) => `user-${String(i).padStart(2, '0')}`);
      await Promise.all(ids.map((id) => clients.register(input(id))));
      const bannedIds = ids.filter((_, i) => i % 3 === 0);
      for (const id of bannedIds) {
        await clients.setStatus(id, { status: 'BANNED', reason: `r-${id}`, now: T1 });
      }
      const registeredIds = ids.filter((id) => !bannedIds.includes(id));

      const all = await allPages(clients, { limit: 5 });
      expect(all.slice(0, -1).every((page) => page.length === 5)).toBe(true);
      expect(
        all
          .flat()
          .map((r) => r.clientId)
          .sort(),
      ).toEqual(ids);

      const banned = await allPages(clients, { status: 'BANNED', limit: 3 });
      expect(banned.slice(0, -1).every((page) => page.length === 3)).toBe(true);
      // Within a status, clients come in id order.
      expect(banned.flat().map((r) => r.clientId)).toEqual(bannedIds);
      expect(banned.flat().every((r) => r.status === 'BANNED' && r.banReason === `r-${r.clientId}` && r.bannedAt === T1)).toBe(true);

      const registered = await allPages(clients, { status: 'REGISTERED', limit: 4 });
      expect(registered.flat().map((r) => r.clientId)).toEqual(registeredIds);
      expect(registered.flat().every((r) => r.status === 'REGISTERED' && r.bannedAt === undefined)).toBe(true);

      const big = await clients.list({ status: 'BANNED', limit: 100 });
      expect(big.items.map((r) => r.clientId)).toEqual(bannedIds);
      expect(big.nextCursor).toBeUndefined();
    });

    it('gives a cursor with a full page, and ends with a page without one', async () => {
      await Promise.all(['a1', 'a2', 'a3', 'a4'].map((id) => clients.register(input(id))));
      const exact = await allPages(clients, { status: 'REGISTERED', limit: 2 });
      expect(exact.map((page) => page.map((r) => r.clientId))).toEqual([['a1', 'a2'], ['a3', 'a4'], []]);
      const short = await allPages(clients, { status: 'REGISTERED', limit: 3 });
      expect(short.map((page) => page.map((r) => r.clientId))).toEqual([['a1', 'a2', 'a3'], ['a4']]);
      await expect(clients.list({ status: 'BANNED', limit: 2 })).resolves.toEqual({ items: [] });
    });

    it.each([
      ['garbage', '***'],
      ['not a key', Buffer.from('{"Password":"x"}').toString('base64url')],
    ])('refuses a bad cursor (%s)', async (_name, cursor) => {
      await clients.register(input('frank'));
      await expect(clients.list({ limit: 5, cursor })).rejects.toThrow(InvalidCursorError);
      await expect(clients.list({ limit: 5, status: 'BANNED', cursor })).rejects.toThrow(InvalidCursorError);
    });

    it('answers a ping', async () => {
      await expect(clients.ping()).resolves.toBeUndefined();
    });
  });
}
