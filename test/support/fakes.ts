import type { BrokerEndpoint, ConnectionState, InternalMqttEndpoint, IssuedCredentials, PublishOptions } from '../../src/broker/broker';
import { Broker } from '../../src/broker/broker';
import { ChannelRepository } from '../../src/store/channel.repository';
import { type ClientPage, type ClientPresence, ClientRepository, type ListClientsQuery, type RegisterInput, type StatusChange } from '../../src/store/client.repository';
import type { ChannelDefinition } from '../../src/domain/channel';
import type { ClientRecord, ConnectionType } from '../../src/domain/client';
import type { OutboundEvents } from '../../src/events/out/outbound-events';
import type { OutboundEnvelope, OutboundEventFields, OutboundEventType } from '../../src/events/out/outbound-event';
import { ClientBannedError, TooManyCertificatesError } from '../../src/domain/errors';

/** In-memory ClientRepository for unit tests (the DynamoDB one is tested against dynalite). `get` returns a snapshot, like a real store read. */
export class InMemoryClientRepository extends ClientRepository {
  private readonly records = new Map<string, ClientRecord>();
  private gate?: { opened: Promise<void>; open: () => void };
  /** Client ids passed to `get`, in order (lets a test wait for a CONNECT to reach the store). */
  readonly reads: string[] = [];
  failReads = false;

  reset(): void {
    this.records.clear();
    this.reads.length = 0;
    this.failReads = false;
    this.release();
  }

  /** Adds (or replaces) a REGISTERED client. */
  seed(
    clientId: string,
    options: { portal?: boolean; connectionType?: ConnectionType; status?: ClientRecord['status'] } = {},
  ): ClientRecord {
    const now = new Date().toISOString();
    const record: ClientRecord = {
      clientId,
      status: options.status ?? 'REGISTERED',
      connectionType: options.connectionType ?? 'WEBSOCKET',
      portalClient: options.portal ?? false,
      registeredAt: now,
      updatedAt: now,
    };
    this.records.set(clientId, record);
    return { ...record };
  }

  /** Makes `get` wait (after taking its snapshot) until `release()`. */
  hold(): void {
    let open!: () => void;
    const opened = new Promise<void>((resolve) => (open = resolve));
    this.gate = { opened, open };
  }

  release(): void {
    this.gate?.open();
    this.gate = undefined;
  }

  peek(clientId: string): ClientRecord | undefined {
    const record = this.records.get(clientId);
    return record && { ...record };
  }

  async get(clientId: string): Promise<ClientRecord | undefined> {
    this.reads.push(clientId);
    if (this.failReads) {
      throw new Error('store down');
    }
    const record = this.peek(clientId);
    await this.gate?.opened;
    return record;
  }

  async register(input: RegisterInput): Promise<ClientRecord> {
    const existing = this.records.get(input.clientId);
    if (existing?.status === 'BANNED') {
      throw new ClientBannedError(input.clientId);
    }
    const record: ClientRecord = {
      ...existing,
      clientId: input.clientId,
      status: 'REGISTERED',
      connectionType: input.connectionType,
      portalClient: input.portalClient,
      registeredAt: existing?.registeredAt ?? input.now,
      updatedAt: input.now,
    };
    if (input.certificate !== undefined) {
      if (input.maxCertificates !== undefined && (record.certificateIds?.length ?? 0) >= input.maxCertificates) {
        throw new TooManyCertificatesError(input.clientId, input.maxCertificates);
      }
      record.certificateIds = [...(record.certificateIds ?? []), input.certificate.id];
      if (input.certificate.arn !== undefined) {
        record.certificateArns = [...(record.certificateArns ?? []), input.certificate.arn];
      }
    }
    this.records.set(input.clientId, record);
    return { ...record };
  }

  async setStatus(clientId: string, change: StatusChange): Promise<ClientRecord | undefined> {
    const record = this.records.get(clientId);
    if (record === undefined) {
      return undefined;
    }
    record.status = change.status;
    record.updatedAt = change.now;
    if (change.status === 'BANNED') {
      // Like the real store: banning twice keeps the first ban time.
      record.bannedAt ??= change.now;
      record.banReason = change.reason ?? record.banReason;
      record.banExpiresAt = change.expiresAt;
    } else {
      delete record.bannedAt;
      delete record.banReason;
      delete record.banExpiresAt;
    }
    return { ...record };
  }

  async addCertificate(clientId: string, certificateId: string, certificateArn: string | undefined, now: string, maxCertificates?: number): Promise<void> {
    const record = this.records.get(clientId);
    if (record !== undefined) {
      if (maxCertificates !== undefined && (record.certificateIds?.length ?? 0) >= maxCertificates) {
        throw new TooManyCertificatesError(clientId, maxCertificates);
      }
      record.certificateIds = [...(record.certificateIds ?? []), certificateId];
      if (certificateArn !== undefined) {
        record.certificateArns = [...(record.certificateArns ?? []), certificateArn];
      }
      record.updatedAt = now;
    }
  }

  async removeCertificate(clientId: string, certificateId: string, now: string): Promise<{ record: ClientRecord; arn?: string } | undefined> {
    const record = this.records.get(clientId);
    const index = record?.certificateIds?.indexOf(certificateId) ?? -1;
    if (record === undefined || index < 0) {
      return undefined;
    }
    const arn = record.certificateArns?.[index];
    record.certificateIds = record.certificateIds!.filter((_, i) => i !== index);
    if (record.certificateArns !== undefined) {
      record.certificateArns = record.certificateArns.filter((_, i) => i !== index);
    }
    record.updatedAt = now;
    return { record: { ...record }, arn };
  }

  async listExpiredBans(now: string, limit: number): Promise<ClientRecord[]> {
    return [...this.records.values()]
      .filter((r) => r.status === 'BANNED' && r.banExpiresAt !== undefined && r.banExpiresAt <= now)
      .slice(0, limit)
      .map((r) => ({ ...r }));
  }

  async expireBan(clientId: string, banExpiresAt: string, now: string): Promise<ClientRecord | undefined> {
    const record = this.records.get(clientId);
    if (record?.status !== 'BANNED' || record.banExpiresAt !== banExpiresAt) {
      return undefined;
    }
    record.status = 'REGISTERED';
    record.updatedAt = now;
    delete record.bannedAt;
    delete record.banReason;
    delete record.banExpiresAt;
    return { ...record };
  }

  async touchLastSeen(clientId: string, now: string): Promise<void> {
    const record = this.records.get(clientId);
    if (record !== undefined) {
      record.lastSeenAt = now;
    }
  }

  private readonly connected = new Set<string>();

  async setConnected(clientId: string, connected: boolean, now: string): Promise<void> {
    if (this.records.has(clientId)) {
      if (connected) {
        this.connected.add(clientId);
      } else {
        this.connected.delete(clientId);
      }
      await this.touchLastSeen(clientId, now);
    }
  }

  async presence(clientIds: string[]): Promise<ClientPresence[]> {
    return clientIds.flatMap((clientId) => {
      const record = this.records.get(clientId);
      if (record === undefined) {
        return [];
      }
      const presence: ClientPresence = { clientId, connected: this.connected.has(clientId) };
      if (record.lastSeenAt !== undefined) {
        presence.lastSeenAt = record.lastSeenAt;
      }
      return [presence];
    });
  }

  async clearConnected(): Promise<number> {
    const cleared = this.connected.size;
    this.connected.clear();
    return cleared;
  }

  /** Sorted by client id; the cursor is the last id of the previous page. */
  async list(query: ListClientsQuery): Promise<ClientPage> {
    const all = [...this.records.values()]
      .filter((r) => query.status === undefined || r.status === query.status)
      .sort((a, b) => a.clientId.localeCompare(b.clientId));
    const rest = query.cursor === undefined ? all : all.filter((r) => r.clientId > query.cursor!);
    const items = rest.slice(0, query.limit).map((r) => ({ ...r }));
    return { items, nextCursor: rest.length > query.limit ? items.at(-1)?.clientId : undefined };
  }

  async ping(): Promise<void> {}
}

/** In-memory ChannelRepository for tests. */
export class InMemoryChannelRepository extends ChannelRepository {
  private readonly channels = new Map<string, ChannelDefinition>();

  constructor(initial: ChannelDefinition[] = []) {
    super();
    this.reset(initial);
  }

  reset(channels: ChannelDefinition[] = []): void {
    this.channels.clear();
    for (const channel of channels) {
      this.channels.set(channel.name, { ...channel });
    }
  }

  async list(): Promise<ChannelDefinition[]> {
    return [...this.channels.values()].map((c) => ({ ...c }));
  }

  async get(name: string): Promise<ChannelDefinition | undefined> {
    const channel = this.channels.get(name);
    return channel && { ...channel };
  }

  async put(channel: ChannelDefinition): Promise<boolean> {
    const created = !this.channels.has(channel.name);
    this.channels.set(channel.name, { ...channel });
    return created;
  }

  async delete(name: string): Promise<boolean> {
    return this.channels.delete(name);
  }
}

/** Records what the features asked of the broker. */
export class RecordingBroker extends Broker {
  readonly kind = 'embedded' as const;
  readonly issuesCredentialsLocally = true;
  readonly published: Array<{ topic: string; payload: Buffer; options?: PublishOptions }> = [];
  readonly calls: string[] = [];
  failPublish?: Error;

  async publish(topic: string, payload: Buffer, options?: PublishOptions): Promise<void> {
    if (this.failPublish) {
      throw this.failPublish;
    }
    this.published.push({ topic, payload, options });
  }

  async revokeCertificate(client: ClientRecord, certificate: { id: string }): Promise<void> {
    this.calls.push(`revokeCertificate:${client.clientId}:${certificate.id}`);
  }

  async revokePortalRights(client: ClientRecord): Promise<void> {
    this.calls.push(`revokePortalRights:${client.clientId}`);
  }

  async issueCredentials(client: ClientRecord): Promise<IssuedCredentials> {
    this.calls.push(`issue:${client.clientId}`);
    return { connectionToken: 'token', connectionTokenExpiresAt: new Date().toISOString() };
  }

  async grant(client: ClientRecord): Promise<void> {
    this.calls.push(`grant:${client.clientId}`);
  }

  async revoke(client: ClientRecord): Promise<void> {
    this.calls.push(`revoke:${client.clientId}`);
  }

  async endpoint(): Promise<BrokerEndpoint> {
    return { endpoint: 'localhost', port: 3000, url: 'ws://localhost:3000/mqtt' };
  }

  async channelsChanged(): Promise<void> {
    this.calls.push('channelsChanged');
  }

  connectionState(): ConnectionState | undefined {
    return undefined;
  }

  async checkHealth(): Promise<void> {}

  internalMqttEndpoint(): InternalMqttEndpoint | undefined {
    return undefined;
  }
}

/** Records what would be emitted as outbound events (API.md section 7). */
export class RecordingOutboundEvents {
  readonly emitted: Array<{ type: OutboundEventType; clientId: string; fields: unknown }> = [];

  emit<T extends OutboundEventType>(type: T, clientId: string, fields: OutboundEventFields[T]): void {
    this.emitted.push({ type, clientId, fields });
  }

  emitClientMessage(clientId: string, channel: string, envelopeJson: string): void {
    this.emit('client.message', clientId, { channel, message: JSON.parse(envelopeJson) as OutboundEnvelope });
  }

  /** As the services take it. */
  get asService(): OutboundEvents {
    return this as unknown as OutboundEvents;
  }
}
