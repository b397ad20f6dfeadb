import type { BrokerEndpoint, ConnectionState, IssuedCredentials, PublishOptions } from '../broker/broker';
import { Broker } from '../broker/broker';
import { type ChannelDefinition, ChannelRepository } from '../store/channel.repository';
import {
  ClientBannedError,
  type ClientPage,
  type ClientRecord,
  ClientRepository,
  type ListClientsQuery,
  type RegisterInput,
  type StatusChange,
} from '../store/client.repository';

/** In-memory ClientRepository for unit tests (the real one is tested against dynalite). */
export class FakeClientRepository extends ClientRepository {
  readonly records = new Map<string, ClientRecord>();

  reset(): void {
    this.records.clear();
  }

  async get(clientId: string): Promise<ClientRecord | undefined> {
    const record = this.records.get(clientId);
    return record && { ...record };
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
    this.records.set(input.clientId, record);
    return { ...record };
  }

  async setStatus(clientId: string, change: StatusChange): Promise<ClientRecord | undefined> {
    const existing = this.records.get(clientId);
    if (!existing) {
      return undefined;
    }
    const record: ClientRecord =
      change.status === 'BANNED'
        ? { ...existing, status: 'BANNED', updatedAt: change.now, bannedAt: existing.bannedAt ?? change.now, banReason: change.reason ?? existing.banReason }
        : { ...existing, status: 'REGISTERED', updatedAt: change.now, bannedAt: undefined, banReason: undefined };
    this.records.set(clientId, record);
    return { ...record };
  }

  async addCertificate(clientId: string, certificateId: string, certificateArn: string | undefined): Promise<void> {
    const record = this.records.get(clientId);
    if (record) {
      record.certificateIds = [...(record.certificateIds ?? []), certificateId];
      if (certificateArn) {
        record.certificateArns = [...(record.certificateArns ?? []), certificateArn];
      }
    }
  }

  async touchLastSeen(clientId: string, now: string): Promise<void> {
    const record = this.records.get(clientId);
    if (record) {
      record.lastSeenAt = now;
    }
  }

  async list(query: ListClientsQuery): Promise<ClientPage> {
    const all = [...this.records.values()].filter((r) => !query.status || r.status === query.status).sort((a, b) => a.clientId.localeCompare(b.clientId));
    const start = query.cursor ? all.findIndex((r) => r.clientId > query.cursor!) : 0;
    const items = start < 0 ? [] : all.slice(start, start + query.limit);
    const last = items.at(-1);
    return { items, nextCursor: last && all.indexOf(last) < all.length - 1 ? last.clientId : undefined };
  }

  async ping(): Promise<void> {}
}

export class FakeChannelRepository extends ChannelRepository {
  readonly channels = new Map<string, ChannelDefinition>();

  constructor(initial: ChannelDefinition[] = []) {
    super();
    for (const c of initial) {
      this.channels.set(c.name, c);
    }
  }

  async list(): Promise<ChannelDefinition[]> {
    return [...this.channels.values()];
  }

  async get(name: string): Promise<ChannelDefinition | undefined> {
    return this.channels.get(name);
  }

  async put(channel: ChannelDefinition): Promise<boolean> {
    const created = !this.channels.has(channel.name);
    this.channels.set(channel.name, channel);
    return created;
  }

  async delete(name: string): Promise<boolean> {
    return this.channels.delete(name);
  }
}

/** Records what the features asked of the broker. */
export class RecordingBroker extends Broker {
  readonly kind = 'embedded' as const;
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
}
