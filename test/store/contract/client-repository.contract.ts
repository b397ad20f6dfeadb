import { type ClientRepository, type RegisterInput } from '../../../src/store/client.repository';
import { TooManyCertificatesError } from '../../../src/domain/errors';
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

    it('caps live certificates (registration and append), atomically with the ban check', async () => {
      await clients.register(input('dev', { connectionType: 'OPENSSL', certificate: { id: 'c1', arn: 'arn:c1' }, maxCertificates: 2 }));
      await clients.addCertificate('dev', 'c2', 'arn:c2', T1, 2);
      await expect(clients.register(input('dev', { connectionType: 'OPENSSL', certificate: { id: 'c3' }, maxCertificates: 2 }))).rejects.toBeInstanceOf(TooManyCertificatesError);
      await expect(clients.addCertificate('dev', 'c3', 'arn:c3', T1, 2)).rejects.toBeInstanceOf(TooManyCertificatesError);
      expect((await clients.get('dev'))?.certificateIds).toEqual(['c1', 'c2']);
      // A banned client is reported as banned, whatever its certificates.
      await clients.setStatus('dev', { status: 'BANNED', now: T1 });
      await expect(clients.register(input('dev', { connectionType: 'OPENSSL', certificate: { id: 'c3' }, maxCertificates: 2 }))).rejects.toBeInstanceOf(ClientBannedError);
      await expect(clients.addCertificate('ghost', 'c1', undefined, T1, 2)).resolves.toBeUndefined();
    });

    it('removes one certificate (and its ARN), leaving the others in order', async () => {
      await clients.register(input('dev', { connectionType: 'OPENSSL', certificate: { id: 'c1', arn: 'arn:c1' } }));
      await clients.addCertificate('dev', 'c2', 'arn:c2', T1);
      await clients.addCertificate('dev', 'c3', 'arn:c3', T1);
      const removed = await clients.removeCertificate('dev', 'c2', T2);
      expect(removed?.arn).toBe('arn:c2');
      expect(removed?.record).toMatchObject({ certificateIds: ['c1', 'c3'], certificateArns: ['arn:c1', 'arn:c3'], updatedAt: T2 });
      expect(await clients.get('dev')).toMatchObject({ certificateIds: ['c1', 'c3'], certificateArns: ['arn:c1', 'arn:c3'] });
      await expect(clients.removeCertificate('dev', 'c2', T2)).resolves.toBeUndefined();
      await expect(clients.removeCertificate('ghost', 'c1', T2)).resolves.toBeUndefined();
      // Room again under the cap.
      await clients.addCertificate('dev', 'c4', undefined, T2, 3);
      expect((await clients.get('dev'))?.certificateIds).toEqual(['c1', 'c3', 'c4']);
    });

    it('keeps a ban end, lists expired bans, and lifts one only while it is unchanged', async () => {
      await clients.register(input('early'));
      await clients.register(input('late'));
      await clients.register(input('forever'));
      await clients.setStatus('early', { status: 'BANNED', expiresAt: T1, now: T0 });
      await clients.setStatus('late', { status: 'BANNED', expiresAt: T2, now: T0 });
      await clients.setStatus('forever', { status: 'BANNED', now: T0 });
      expect((await clients.get('early'))?.banExpiresAt).toBe(T1);
      expect((await clients.listExpiredBans(T1, 10)).map((r) => r.clientId)).toEqual(['early']);
      expect((await clients.listExpiredBans(T2, 10)).map((r) => r.clientId).sort()).toEqual(['early', 'late']);
      expect(await clients.listExpiredBans(T2, 1)).toHaveLength(1);
      // Another end given meanwhile: the old one lifts nothing.
      await expect(clients.expireBan('late', T1, T2)).resolves.toBeUndefined();
      const lifted = await clients.expireBan('early', T1, T2);
      expect(lifted).toMatchObject({ status: 'REGISTERED', updatedAt: T2 });
      expect(lifted?.banExpiresAt).toBeUndefined();
      expect(lifted?.bannedAt).toBeUndefined();
      await expect(clients.expireBan('early', T1, T2)).resolves.toBeUndefined();
      // A ban without an end replaces a timed one; an un-ban clears it.
      await clients.setStatus('late', { status: 'BANNED', now: T1 });
      expect((await clients.get('late'))?.banExpiresAt).toBeUndefined();
      await clients.setStatus('late', { status: 'BANNED', expiresAt: T2, now: T1 });
      await clients.setStatus('late', { status: 'REGISTERED', now: T1 });
      expect((await clients.get('late'))?.banExpiresAt).toBeUndefined();
      expect(await clients.listExpiredBans(T2, 10)).toEqual([]);
    });

    it('records presence: connected and lastSeenAt per client, unknown ids left out, read in one call', async () => {
      await clients.register(input('alice'));
      await clients.register(input('bob'));
      await clients.register(input('carol'));
      await clients.setConnected('nobody', true, T1);
      await expect(clients.presence(['alice', 'nobody'])).resolves.toEqual([{ clientId: 'alice', connected: false }]);

      await clients.setConnected('alice', true, T1);
      await clients.setConnected('bob', true, T1);
      await clients.setConnected('bob', false, T2);
      const presence = await clients.presence(['alice', 'bob', 'carol', 'nobody']);
      expect(presence.sort((a, b) => a.clientId.localeCompare(b.clientId))).toEqual([
        { clientId: 'alice', connected: true, lastSeenAt: T1 },
        { clientId: 'bob', connected: false, lastSeenAt: T2 },
        { clientId: 'carol', connected: false },
      ]);
      await expect(clients.presence([])).resolves.toEqual([]);
    });

    it('reads presence of 100 clients at once', async () => {
      const ids = Array.from({ length: 100 }, (_, i) => `many-${String(i).padStart(3, '0')}`);
      for (const id of ids) {
        await clients.register(input(id));
      }
      await clients.setConnected('many-042', true, T1);
      const presence = await clients.presence(ids);
      expect(presence).toHaveLength(100);
      expect(presence.filter((p) => p.connected).map((p) => p.clientId)).toEqual(['many-042']);
    });

    it('clears every connected mark at once (a single broker starting after a crash), keeping lastSeenAt', async () => {
      await clients.register(input('alice'));
      await clients.register(input('bob'));
      await clients.setConnected('alice', true, T1);
      await clients.setConnected('bob', true, T1);
      await expect(clients.clearConnected()).resolves.toBe(2);
      await expect(clients.clearConnected()).resolves.toBe(0);
      const presence = await clients.presence(['alice', 'bob']);
      expect(presence.map((p) => [p.connected, p.lastSeenAt])).toEqual([
        [false, T1],
        [false, T1],
      ]);
    });

    it('answers a ping', async () => {
      await expect(clients.ping()).resolves.toBeUndefined();
    });
  });
}
