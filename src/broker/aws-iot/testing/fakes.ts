/* In-memory fakes of the store ports and a config builder, for the AWS IoT driver's tests. */
import { ChannelCatalog } from '../../../channels/catalog/channel-catalog';
import { type AppConfig, loadConfig } from '../../../config/app-config';
import { type ChannelDefinition, ChannelRepository } from '../../../store/channel.repository';
import {
  ClientBannedError,
  type ClientPage,
  type ClientRecord,
  ClientRepository,
  type ListClientsQuery,
  type RegisterInput,
  type StatusChange,
} from '../../../store/client.repository';

export class FakeChannelRepository extends ChannelRepository {
  private readonly rows = new Map<string, ChannelDefinition>();

  constructor(channels: ChannelDefinition[] = []) {
    super();
    channels.forEach((channel) => this.rows.set(channel.name, channel));
  }

  async list(): Promise<ChannelDefinition[]> {
    return [...this.rows.values()];
  }

  async get(name: string): Promise<ChannelDefinition | undefined> {
    return this.rows.get(name);
  }

  async put(channel: ChannelDefinition): Promise<boolean> {
    const created = !this.rows.has(channel.name);
    this.rows.set(channel.name, channel);
    return created;
  }

  async delete(name: string): Promise<boolean> {
    return this.rows.delete(name);
  }

  reset(): void {
    this.rows.clear();
  }
}

export class FakeClientRepository extends ClientRepository {
  private readonly rows = new Map<string, ClientRecord>();

  async get(clientId: string): Promise<ClientRecord | undefined> {
    return this.rows.get(clientId);
  }

  async register(input: RegisterInput): Promise<ClientRecord> {
    const existing = this.rows.get(input.clientId);
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
    this.rows.set(record.clientId, record);
    return record;
  }

  async setStatus(clientId: string, change: StatusChange): Promise<ClientRecord | undefined> {
    const existing = this.rows.get(clientId);
    if (existing === undefined) {
      return undefined;
    }
    const record: ClientRecord = {
      ...existing,
      status: change.status,
      updatedAt: change.now,
      bannedAt: change.status === 'BANNED' ? change.now : undefined,
      banReason: change.status === 'BANNED' ? change.reason : undefined,
    };
    this.rows.set(clientId, record);
    return record;
  }

  async addCertificate(clientId: string, certificateId: string, certificateArn: string | undefined, now: string): Promise<void> {
    const existing = this.rows.get(clientId);
    if (existing === undefined) {
      return;
    }
    this.rows.set(clientId, {
      ...existing,
      certificateIds: [...(existing.certificateIds ?? []), certificateId],
      certificateArns: certificateArn === undefined ? existing.certificateArns : [...(existing.certificateArns ?? []), certificateArn],
      updatedAt: now,
    });
  }

  async touchLastSeen(clientId: string, now: string): Promise<void> {
    const existing = this.rows.get(clientId);
    if (existing !== undefined) {
      this.rows.set(clientId, { ...existing, lastSeenAt: now });
    }
  }

  async list(query: ListClientsQuery): Promise<ClientPage> {
    const items = [...this.rows.values()]
      .filter((row) => query.status === undefined || row.status === query.status)
      .sort((a, b) => a.clientId.localeCompare(b.clientId));
    return { items: items.slice(0, query.limit) };
  }

  async ping(): Promise<void> {}

  reset(): void {
    this.rows.clear();
  }
}

export const GAME_CHANNELS: ChannelDefinition[] = [
  { name: 'News', types: ['BROADCAST'], clientSend: false, maxMessageBytes: 1024 },
  { name: 'Game', types: ['BROADCAST', 'PRIVATE'], clientSend: true, maxMessageBytes: 1024 },
  // Rides on Game's topics: adds nothing to the policies.
  { name: 'GameEvents', types: ['BROADCAST', 'PRIVATE'], communicationChannel: 'Game', clientSend: false, maxMessageBytes: 1024 },
  { name: 'Inbox', types: ['PRIVATE'], clientSend: false, maxMessageBytes: 1024 },
];

/** A validated AWS-mode config, as `loadConfig` builds it from the environment. */
export function awsConfig(env: Record<string, string> = {}): AppConfig {
  return loadConfig({
    BROKER: 'aws-iot',
    STORE: 'dynamodb',
    AWS_REGION: 'eu-west-1',
    AUTH_JWKS_URI: 'https://auth.example.com/.well-known/jwks.json',
    TOPIC_PREFIX: 'mygame/prod',
    IOT_POLICY_PREFIX: 'WebComm',
    ...env,
  });
}

export function catalogOf(channels: ChannelDefinition[] = GAME_CHANNELS): ChannelCatalog {
  return new ChannelCatalog(new FakeChannelRepository(channels));
}

export const IDENTITY_ID = 'eu-west-1:0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0';

export function clientRecord(overrides: Partial<ClientRecord> = {}): ClientRecord {
  return {
    clientId: IDENTITY_ID,
    status: 'REGISTERED',
    connectionType: 'WEBSOCKET',
    portalClient: false,
    registeredAt: '2025-01-01T00:00:00.000Z',
    updatedAt: '2025-01-01T00:00:00.000Z',
    ...overrides,
  };
}
