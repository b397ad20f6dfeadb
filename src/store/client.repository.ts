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
}

export interface StatusChange {
  status: ClientStatus;
  reason?: string;
  now: string;
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

  /** Appends issued certificate ids/ARNs to the client's record. */
  abstract addCertificate(clientId: string, certificateId: string, certificateArn: string | undefined, now: string): Promise<void>;

  abstract touchLastSeen(clientId: string, now: string): Promise<void>;

  abstract list(query: ListClientsQuery): Promise<ClientPage>;

  /** Cheap round trip used by readiness. */
  abstract ping(): Promise<void>;
}
