/** What a registered client is, as every layer sees it (the store keeps it, the broker grants it rights). */

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
  certificateIds?: string[];
  certificateArns?: string[];
  lastSeenAt?: string;
}
