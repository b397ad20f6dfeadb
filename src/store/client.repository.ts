import type { ClientRecord, ClientStatus, ConnectionType } from '../domain/client';

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

/** Whether a client is connected now, as the store knows it (API.md section 7, `getPresence`). */
export interface ClientPresence {
  clientId: string;
  connected: boolean;
  lastSeenAt?: string;
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

  /** Records that the client connected or disconnected (and `lastSeenAt` = now); nothing for an unknown client. */
  abstract setConnected(clientId: string, connected: boolean, now: string): Promise<void>;

  /** Presence of the known clients among `clientIds` (at most 100, no duplicates); unknown ids are left out. */
  abstract presence(clientIds: string[]): Promise<ClientPresence[]>;

  /**
   * Marks every client disconnected: a broker whose sessions all lived in one process starts
   * (after a crash, nobody is connected any more). Returns how many were marked connected.
   */
  abstract clearConnected(): Promise<number>;

  abstract list(query: ListClientsQuery): Promise<ClientPage>;

  /** Cheap round trip used by readiness. */
  abstract ping(): Promise<void>;
}
