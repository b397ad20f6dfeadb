import type { Statement } from 'better-sqlite3';
import { type ClientPage, type ClientPresence, ClientRepository, type ListClientsQuery, type RegisterInput, type StatusChange } from '../client.repository';
import { TooManyCertificatesError } from '../../domain/errors';
import { decodeCursor, encodeCursor } from '../cursor';
import { BoundedCache } from './bounded-cache';
import { type ClientRow, toRecord } from './sqlite-client.rows';
import { type SqliteConnection, sqliteCall } from './sqlite-connection';
import type { ClientRecord } from '../../domain/client';
import { ClientBannedError, InvalidCursorError } from '../../domain/errors';

/** `lastSeenAt` writes are coalesced: at most one transaction per this interval, whatever the connection churn. */
const LAST_SEEN_FLUSH_MS = 1_000;

/** How many client rows `get` keeps in memory (first in, first out): about 0.4 KiB each. */
const CACHED_ROWS = 50_000;

/**
 * The client registry on SQLite. A ban is committed before `setStatus` returns, and the next `get` (a
 * CONNECT, a SUBSCRIBE, a client send) sees it.
 *
 * `get` answers from a bounded cache of rows. That is exact because this process is the file's only
 * writer and every write to `clients` is in this class: a synchronous write (`durable`) puts the row it
 * returned into the cache once it committed (or drops the entry if it threw); a group-committed write
 * drops the entry inside its transaction, so the next `get` reads what was committed (or, if the commit
 * failed, what was there before). Only `lastSeenAt` changes under a cached row, and `flushLastSeen`
 * updates the cached rows with what it wrote.
 */
export class SqliteClientRepository extends ClientRepository {
  private readonly selectOne: Statement<[string], ClientRow>;
  private readonly upsert: Statement<Record<string, unknown>, ClientRow>;
  private readonly updateStatus: Statement<Record<string, unknown>, ClientRow>;
  private readonly appendCertificate: Statement<Record<string, unknown>>;
  private readonly writeCertificates: Statement<Record<string, unknown>, ClientRow>;
  private readonly expiredBans: Statement<[string, number], ClientRow>;
  private readonly liftBan: Statement<Record<string, unknown>, ClientRow>;
  private readonly updateLastSeen: Statement<[string, string]>;
  private readonly updateConnected: Statement<[number, string]>;
  private readonly selectPresence: Statement<[string], { client_id: string; connected: number; last_seen_at: string | null }>;
  private readonly clearAllConnected: Statement<[]>;
  private readonly page: Statement<[string, number], ClientRow>;
  private readonly pageByStatus: Statement<[string, string, number], ClientRow>;
  private readonly selectOneRow: Statement<[], unknown>;
  private readonly insertImported: Statement<Record<string, unknown>>;
  /** lastSeenAt values not written yet (client id → time); reads see them. */
  private readonly pendingLastSeen = new Map<string, string>();
  /** Committed rows by client id. */
  private readonly rows = new BoundedCache<ClientRow>(CACHED_ROWS);
  private flushTimer?: NodeJS.Timeout;

  constructor(private readonly connection: SqliteConnection) {
    super();
    const { db } = connection;
    this.selectOne = db.prepare('SELECT * FROM clients WHERE client_id = ?');
    this.updateConnected = db.prepare('UPDATE clients SET connected = ? WHERE client_id = ?');
    this.selectPresence = db.prepare('SELECT client_id, connected, last_seen_at FROM clients WHERE client_id IN (SELECT value FROM json_each(?))');
    this.clearAllConnected = db.prepare('UPDATE clients SET connected = 0 WHERE connected = 1');
    // One statement: the ban check and the write are atomic (a banned row makes the WHERE fail: no row returned).
    this.upsert = db.prepare(`
      INSERT INTO clients (client_id, status, connection_type, portal_client, registered_at, updated_at, certificate_ids, certificate_arns)
      VALUES (@clientId, 'REGISTERED', @connectionType, @portal, @now, @now, iif(@certId IS NULL, NULL, json_array(@certId)), iif(@certArn IS NULL, NULL, json_array(@certArn)))
      ON CONFLICT (client_id) DO UPDATE SET
        status = 'REGISTERED',
        connection_type = excluded.connection_type,
        portal_client = excluded.portal_client,
        updated_at = excluded.updated_at,
        certificate_ids = iif(@certId IS NULL, certificate_ids, json_insert(coalesce(certificate_ids, '[]'), '$[#]', @certId)),
        certificate_arns = iif(@certArn IS NULL, certificate_arns, json_insert(coalesce(certificate_arns, '[]'), '$[#]', @certArn))
      WHERE clients.status <> 'BANNED'
        AND (@certId IS NULL OR @maxCerts IS NULL OR coalesce(json_array_length(clients.certificate_ids), 0) < @maxCerts)
      RETURNING *`);
    this.updateStatus = db.prepare(`
      UPDATE clients SET
        status = @status,
        updated_at = @now,
        banned_at = iif(@status = 'BANNED', coalesce(banned_at, @now), NULL),
        ban_reason = iif(@status = 'BANNED', coalesce(@reason, ban_reason), NULL),
        ban_expires_at = iif(@status = 'BANNED', @expiresAt, NULL)
      WHERE client_id = @clientId
      RETURNING *`);
    this.appendCertificate = db.prepare(`
      UPDATE clients SET
        updated_at = @now,
        certificate_ids = json_insert(coalesce(certificate_ids, '[]'), '$[#]', @certId),
        certificate_arns = iif(@certArn IS NULL, certificate_arns, json_insert(coalesce(certificate_arns, '[]'), '$[#]', @certArn))
      WHERE client_id = @clientId AND (@maxCerts IS NULL OR coalesce(json_array_length(certificate_ids), 0) < @maxCerts)`);
    this.writeCertificates = db.prepare(`
      UPDATE clients SET updated_at = @now, certificate_ids = @certificateIds, certificate_arns = @certificateArns
      WHERE client_id = @clientId
      RETURNING *`);
    this.expiredBans = db.prepare(`SELECT * FROM clients WHERE status = 'BANNED' AND ban_expires_at <= ? ORDER BY ban_expires_at LIMIT ?`);
    this.liftBan = db.prepare(`
      UPDATE clients SET status = 'REGISTERED', updated_at = @now, banned_at = NULL, ban_reason = NULL, ban_expires_at = NULL
      WHERE client_id = @clientId AND status = 'BANNED' AND ban_expires_at = @expiresAt
      RETURNING *`);
    this.updateLastSeen = db.prepare('UPDATE clients SET last_seen_at = ? WHERE client_id = ?');
    this.page = db.prepare('SELECT * FROM clients WHERE client_id > ? ORDER BY client_id LIMIT ?');
    this.pageByStatus = db.prepare('SELECT * FROM clients WHERE status = ? AND client_id > ? ORDER BY client_id LIMIT ?');
    this.selectOneRow = db.prepare('SELECT 1');
    this.insertImported = db.prepare(`
      INSERT INTO clients (client_id, status, connection_type, portal_client, registered_at, updated_at, banned_at, ban_reason, ban_expires_at, certificate_ids, certificate_arns, last_seen_at)
      VALUES (@clientId, @status, @connectionType, @portal, @registeredAt, @updatedAt, @bannedAt, @banReason, @banExpiresAt, @certificateIds, @certificateArns, @lastSeenAt)
      ON CONFLICT (client_id) DO NOTHING`);
  }

  async get(clientId: string): Promise<ClientRecord | undefined> {
    return sqliteCall(() => this.getNow(clientId));
  }

  /** The synchronous read behind `get`. */
  getNow(clientId: string): ClientRecord | undefined {
    let row = this.rows.get(clientId);
    if (row === undefined) {
      row = this.selectOne.get(clientId);
      if (row !== undefined) {
        this.rows.set(clientId, row);
      }
    }
    return row === undefined ? undefined : toRecord(row, this.pendingLastSeen.get(clientId));
  }

  /** A synchronous write of one client's row: the row it returns is cached once committed. */
  private writeRow(clientId: string, write: () => ClientRow | undefined): ClientRow | undefined {
    let row: ClientRow | undefined;
    try {
      row = sqliteCall(write);
    } catch (error) {
      this.rows.delete(clientId);
      throw error;
    }
    if (row === undefined) {
      this.rows.delete(clientId);
    } else {
      this.rows.set(clientId, row);
    }
    return row;
  }

  async register(input: RegisterInput): Promise<ClientRecord> {
    const certId = input.certificate?.id ?? null;
    const certArn = input.certificate?.arn ?? null;
    const row = await this.connection.write(() => {
      // Inside the shared transaction: the next `get` reads what its commit leaves.
      this.rows.delete(input.clientId);
      return this.upsert.get({
        clientId: input.clientId,
        connectionType: input.connectionType,
        portal: input.portalClient ? 1 : 0,
        now: input.now,
        certId,
        certArn,
        maxCerts: input.maxCertificates ?? null,
      });
    });
    if (row === undefined) {
      const current = this.getNow(input.clientId);
      if (current?.status !== 'BANNED' && input.maxCertificates !== undefined) {
        throw new TooManyCertificatesError(input.clientId, input.maxCertificates);
      }
      throw new ClientBannedError(input.clientId);
    }
    return toRecord(row, this.pendingLastSeen.get(input.clientId));
  }

  async setStatus(clientId: string, change: StatusChange): Promise<ClientRecord | undefined> {
    const row = this.writeRow(clientId, () =>
      this.connection.durable(() =>
        this.updateStatus.get({ clientId, status: change.status, now: change.now, reason: change.reason ?? null, expiresAt: change.expiresAt ?? null }),
      ),
    );
    return row === undefined ? undefined : toRecord(row, this.pendingLastSeen.get(clientId));
  }

  async addCertificate(clientId: string, certificateId: string, certificateArn: string | undefined, now: string, maxCertificates?: number): Promise<void> {
    this.rows.delete(clientId);
    const { changes } = sqliteCall(() =>
      this.appendCertificate.run({ clientId, certId: certificateId, certArn: certificateArn ?? null, now, maxCerts: maxCertificates ?? null }),
    );
    // An unknown client gets no record; a known one is at its maximum.
    if (changes === 0 && maxCertificates !== undefined && this.getNow(clientId) !== undefined) {
      throw new TooManyCertificatesError(clientId, maxCertificates);
    }
  }

  async removeCertificate(clientId: string, certificateId: string, now: string): Promise<{ record: ClientRecord; arn?: string } | undefined> {
    const current = sqliteCall(() => this.getNow(clientId));
    const index = current?.certificateIds?.indexOf(certificateId) ?? -1;
    if (current === undefined || index < 0) {
      return undefined;
    }
    const row = this.writeRow(clientId, () =>
      this.connection.durable(() =>
        this.writeCertificates.get({
          clientId,
          now,
          certificateIds: JSON.stringify(current.certificateIds!.filter((_, i) => i !== index)),
          certificateArns: current.certificateArns === undefined ? null : JSON.stringify(current.certificateArns.filter((_, i) => i !== index)),
        }),
      ),
    );
    return row === undefined ? undefined : { record: toRecord(row, this.pendingLastSeen.get(clientId)), arn: current.certificateArns?.[index] };
  }

  async listExpiredBans(now: string, limit: number): Promise<ClientRecord[]> {
    return sqliteCall(() => this.expiredBans.all(now, limit)).map((row) => toRecord(row, this.pendingLastSeen.get(row.client_id)));
  }

  async expireBan(clientId: string, banExpiresAt: string, now: string): Promise<ClientRecord | undefined> {
    const row = this.writeRow(clientId, () => this.connection.durable(() => this.liftBan.get({ clientId, expiresAt: banExpiresAt, now })));
    return row === undefined ? undefined : toRecord(row, this.pendingLastSeen.get(clientId));
  }

  async touchLastSeen(clientId: string, now: string): Promise<void> {
    this.pendingLastSeen.set(clientId, now);
    this.flushTimer ??= setTimeout(() => this.flushLastSeen(), LAST_SEEN_FLUSH_MS).unref();
  }

  async setConnected(clientId: string, connected: boolean, now: string): Promise<void> {
    await this.connection.write(() => this.updateConnected.run(connected ? 1 : 0, clientId));
    await this.touchLastSeen(clientId, now);
  }

  async presence(clientIds: string[]): Promise<ClientPresence[]> {
    const rows = sqliteCall(() => this.selectPresence.all(JSON.stringify(clientIds)));
    return rows.map((row) => {
      const lastSeenAt = this.pendingLastSeen.get(row.client_id) ?? row.last_seen_at ?? undefined;
      return lastSeenAt === undefined ? { clientId: row.client_id, connected: row.connected === 1 } : { clientId: row.client_id, connected: row.connected === 1, lastSeenAt };
    });
  }

  async clearConnected(): Promise<number> {
    return sqliteCall(() => this.clearAllConnected.run()).changes;
  }

  /** Writes the pending lastSeenAt values in one transaction (also on close). */
  flushLastSeen(): void {
    clearTimeout(this.flushTimer);
    this.flushTimer = undefined;
    if (this.pendingLastSeen.size === 0 || !this.connection.db.open) {
      return;
    }
    const pending = [...this.pendingLastSeen];
    this.pendingLastSeen.clear();
    try {
      this.connection.db.transaction(() => {
        for (const [clientId, now] of pending) {
          this.updateLastSeen.run(now, clientId);
        }
      })();
      for (const [clientId, now] of pending) {
        const cached = this.rows.get(clientId);
        if (cached !== undefined) {
          cached.last_seen_at = now;
        }
      }
    } catch {
      // Informational only (and this runs on a timer: nothing may throw out of it). The next touch writes again.
    }
  }

  /** Inserts a whole record from another store unless the client exists here already; true when inserted. */
  importRecord(record: ClientRecord): boolean {
    this.rows.delete(record.clientId);
    return (
      this.insertImported.run({
        clientId: record.clientId,
        status: record.status,
        connectionType: record.connectionType,
        portal: record.portalClient ? 1 : 0,
        registeredAt: record.registeredAt,
        updatedAt: record.updatedAt,
        bannedAt: record.bannedAt ?? null,
        banReason: record.banReason ?? null,
        banExpiresAt: record.banExpiresAt ?? null,
        certificateIds: record.certificateIds === undefined ? null : JSON.stringify(record.certificateIds),
        certificateArns: record.certificateArns === undefined ? null : JSON.stringify(record.certificateArns),
        lastSeenAt: record.lastSeenAt ?? null,
      }).changes === 1
    );
  }

  async list(query: ListClientsQuery): Promise<ClientPage> {
    const after = query.cursor === undefined ? '' : decodeCursor(query.cursor).ClientID;
    if (after === undefined) {
      throw new InvalidCursorError();
    }
    const rows = sqliteCall(() =>
      query.status === undefined ? this.page.all(after, query.limit) : this.pageByStatus.all(query.status, after, query.limit),
    );
    const items = rows.map((row) => toRecord(row, this.pendingLastSeen.get(row.client_id)));
    // Like DynamoDB's Limit: a full page carries a cursor (the page after it may be empty).
    const last = items.at(-1);
    return {
      items,
      nextCursor: items.length === query.limit && last !== undefined ? encodeCursor({ ClientID: last.clientId }) : undefined,
    };
  }

  async ping(): Promise<void> {
    sqliteCall(() => this.selectOneRow.get());
  }
}
