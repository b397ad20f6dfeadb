import type { ClientRecord } from '../../domain/client';
import type { SqliteMigration } from './sqlite-connection';

/** The `clients` table: its migrations, its row, and the row as a ClientRecord. */
export const CLIENT_MIGRATIONS: readonly SqliteMigration[] = [
  {
    id: 'clients-1',
    up: (db) =>
      db.exec(`
        CREATE TABLE clients (
          client_id        TEXT PRIMARY KEY,
          status           TEXT NOT NULL CHECK (status IN ('REGISTERED', 'BANNED')),
          connection_type  TEXT NOT NULL,
          portal_client    INTEGER NOT NULL,
          registered_at    TEXT NOT NULL,
          updated_at       TEXT NOT NULL,
          banned_at        TEXT,
          ban_reason       TEXT,
          certificate_ids  TEXT,  -- JSON array
          certificate_arns TEXT,  -- JSON array
          last_seen_at     TEXT
        ) STRICT, WITHOUT ROWID;
        CREATE INDEX clients_by_status ON clients (status, client_id);
      `),
  },
  {
    // Bans with an end (API.md section 8): the sweep reads banned rows by expiry.
    id: 'clients-2-ban-expiry',
    up: (db) =>
      db.exec(`
        ALTER TABLE clients ADD COLUMN ban_expires_at TEXT;
        CREATE INDEX clients_by_ban_expiry ON clients (ban_expires_at) WHERE status = 'BANNED';
      `),
  },
  {
    // Presence (API.md section 7): whether the client has a live session now.
    id: 'clients-3-presence',
    up: (db) =>
      db.exec(`
        ALTER TABLE clients ADD COLUMN connected INTEGER NOT NULL DEFAULT 0;
        CREATE INDEX clients_connected ON clients (client_id) WHERE connected = 1;
      `),
  },
];

export interface ClientRow {
  client_id: string;
  status: ClientRecord['status'];
  connection_type: ClientRecord['connectionType'];
  portal_client: number;
  registered_at: string;
  updated_at: string;
  banned_at: string | null;
  ban_reason: string | null;
  ban_expires_at: string | null;
  certificate_ids: string | null;
  certificate_arns: string | null;
  last_seen_at: string | null;
}

export function toRecord(row: ClientRow, lastSeenAt?: string): ClientRecord {
  const record: ClientRecord = {
    clientId: row.client_id,
    status: row.status,
    connectionType: row.connection_type,
    portalClient: row.portal_client === 1,
    registeredAt: row.registered_at,
    updatedAt: row.updated_at,
  };
  if (row.banned_at !== null) {
    record.bannedAt = row.banned_at;
  }
  if (row.ban_reason !== null) {
    record.banReason = row.ban_reason;
  }
  if (row.ban_expires_at !== null) {
    record.banExpiresAt = row.ban_expires_at;
  }
  if (row.certificate_ids !== null) {
    record.certificateIds = JSON.parse(row.certificate_ids) as string[];
  }
  if (row.certificate_arns !== null) {
    record.certificateArns = JSON.parse(row.certificate_arns) as string[];
  }
  const seen = lastSeenAt ?? row.last_seen_at;
  if (seen !== null) {
    record.lastSeenAt = seen;
  }
  return record;
}
