export type ConnectionType = 'WEBSOCKET' | 'OPENSSL';
export const CONNECTION_TYPES: readonly ConnectionType[] = ['WEBSOCKET', 'OPENSSL'];
export type ClientStatus = 'REGISTERED' | 'BANNED';
export const CLIENT_STATUSES: readonly ClientStatus[] = ['REGISTERED', 'BANNED'];

/** A row of the ClientRegistry table. Times are ISO-8601 strings. */
export interface ClientRecord {
  clientId: string;
  status: ClientStatus;
  connectionType: ConnectionType;
  portalClient: boolean;
  registeredAt: string;
  updatedAt: string;
  bannedAt?: string;
  banReason?: string;
  /** A ban with an end: when it passes, the client is un-banned (BanExpiry). */
  banExpiresAt?: string;
  /** Live (not revoked) certificates; on the embedded broker the id is the certificate's serial (lowercase hex). */
  certificateIds?: string[];
  /** AWS IoT: the ARNs of `certificateIds`, same order. */
  certificateArns?: string[];
  lastSeenAt?: string;
}

export interface ClientPage {
  items: ClientRecord[];
  nextCursor?: string;
}

export interface ListClientsQuery {
  status?: ClientStatus;
  limit: number;
  cursor?: string;
}

export interface RegisterInput {
  clientId: string;
  connectionType: ConnectionType;
  portalClient: boolean;
  now: string;
  /** A certificate issued for this registration, appended in the same write. */
  certificate?: { id: string; arn?: string };
  /** With `certificate`: refuse (TooManyCertificatesError) when the client already has this many. */
  maxCertificates?: number;
}

export interface StatusChange {
  status: ClientStatus;
  reason?: string;
  /** BANNED only: when the ban ends (ISO-8601); absent = until an admin lifts it. */
  expiresAt?: string;
  now: string;
}

/** Thrown by `register` when the client is banned (checked atomically with the write). */
export class ClientBannedError extends Error {
  constructor(readonly clientId: string) {
    super(`client ${clientId} is banned`);
    this.name = 'ClientBannedError';
  }
}

/** Thrown by `register` / `addCertificate` when the client already holds its maximum of live certificates. */
export class TooManyCertificatesError extends Error {
  constructor(
    readonly clientId: string,
    readonly max: number,
  ) {
    super(`client ${clientId} already has ${max} certificates`);
    this.name = 'TooManyCertificatesError';
  }
}

/** Thrown when a cursor can't be decoded. */
export class InvalidCursorError extends Error {
  constructor() {
    super('invalid cursor');
    this.name = 'InvalidCursorError';
  }
}

/** Port: the client registry. */
export abstract class ClientRepository {
  abstract get(clientId: string): Promise<ClientRecord | undefined>;

  /**
   * Creates the client, or refreshes an existing one, as REGISTERED. Fails with
   * ClientBannedError, atomically, if the client is banned: a ban racing a
   * re-registration can never be lost.
   */
  abstract register(input: RegisterInput): Promise<ClientRecord>;

  /** Sets the status; returns undefined when the client does not exist. Idempotent. */
  abstract setStatus(clientId: string, change: StatusChange): Promise<ClientRecord | undefined>;

  /** Appends issued certificate ids/ARNs to the client's record (TooManyCertificatesError at `maxCertificates`). */
  abstract addCertificate(clientId: string, certificateId: string, certificateArn: string | undefined, now: string, maxCertificates?: number): Promise<void>;

  /**
   * Takes one certificate off the client's live list (and its ARN), atomically. Returns the
   * updated record and the removed ARN; undefined when the client or the certificate isn't there.
   */
  abstract removeCertificate(clientId: string, certificateId: string, now: string): Promise<{ record: ClientRecord; arn?: string } | undefined>;

  /** Banned clients whose `banExpiresAt` is at or before `now`, up to `limit`. */
  abstract listExpiredBans(now: string, limit: number): Promise<ClientRecord[]>;

  /**
   * Lifts a timed ban, only if the client is still banned with exactly this `banExpiresAt`
   * (a re-ban or an admin's un-ban in between wins; so does another instance's sweep).
   * Returns the updated record, or undefined when nothing was changed.
   */
  abstract expireBan(clientId: string, banExpiresAt: string, now: string): Promise<ClientRecord | undefined>;

  abstract touchLastSeen(clientId: string, now: string): Promise<void>;

  abstract list(query: ListClientsQuery): Promise<ClientPage>;

  /** Cheap round trip used by readiness. */
  abstract ping(): Promise<void>;
}
