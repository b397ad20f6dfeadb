/* Channels, client records, a catalog and a config builder for the AWS IoT driver's tests. */
import { ChannelCatalog } from '../../src/store/channel-catalog';
import { type AppConfig, loadConfig } from '../../src/config/app-config';
import { InMemoryChannelRepository } from './fakes';
import type { ChannelDefinition } from '../../src/domain/channel';
import type { ClientRecord } from '../../src/domain/client';

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
    AUTH_ISSUER: 'https://auth.example.com/',
    AUTH_AUDIENCE: 'web-communicator',
    TOPIC_PREFIX: 'mygame/prod',
    IOT_POLICY_PREFIX: 'WebComm',
    // The driver specs test IoT's control and data planes; lifecycle events have their own (aws-lifecycle).
    IOT_LIFECYCLE_EVENTS: 'false',
    ...env,
  });
}

export function catalogOf(channels: ChannelDefinition[] = GAME_CHANNELS): ChannelCatalog {
  return new ChannelCatalog(new InMemoryChannelRepository(channels));
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
