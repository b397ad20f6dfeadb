import type { BrokerEndpoint, ConnectionState, InternalMqttEndpoint, IssuedCredentials, PublishOptions } from '../../src/broker/broker';
import { Broker } from '../../src/broker/broker';
import { ChannelRepository } from '../../src/store/channel.repository';
import { type ClientPage, ClientRepository, type ListClientsQuery, type RegisterInput, type StatusChange } from '../../src/store/client.repository';
import type { ChannelDefinition } from '../../src/domain/channel';
import type { ClientRecord, ConnectionType } from '../../src/domain/client';
import { ClientBannedError } from '../../src/domain/errors';

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
    } else {
      delete record.bannedAt;
      delete record.banReason;
    }
    return { ...record };
  }

  async addCertificate(clientId: string, certificateId: string, certificateArn: string | undefined, now: string): Promise<void> {
    const record = this.records.get(clientId);
    if (record !== undefined) {
      record.certificateIds = [...(record.certificateIds ?? []), certificateId];
      if (certificateArn !== undefined) {
        record.certificateArns = [...(record.certificateArns ?? []), certificateArn];
      }
      record.updatedAt = now;
    }
  }

  async touchLastSeen(clientId: string, now: string): Promise<void> {
    const record = this.records.get(clientId);
    if (record !== undefined) {
      record.lastSeenAt = now;
    }
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
