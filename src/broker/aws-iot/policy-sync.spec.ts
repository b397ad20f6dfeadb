/*
 * Policy sync when several instances run it at once (API.md section 9: AWS mode, N instances).
 * First with aws-sdk-client-mock (exact call sequences of the races), then with the real SDK
 * against a stateful HTTP double of IoT's policy versions (test/support/iot-double.ts), several
 * syncs truly concurrent.
 */
import {
  CreatePolicyVersionCommand,
  DeleteConflictException,
  DeletePolicyVersionCommand,
  GetPolicyCommand,
  IoTClient,
  ListPolicyVersionsCommand,
  ResourceNotFoundException,
  VersionsLimitExceededException,
} from '@aws-sdk/client-iot';
import { Logger } from '@nestjs/common';
import { type AwsClientStub, mockClient } from 'aws-sdk-client-mock';
import 'aws-sdk-client-mock-jest';
import { awsConfig, catalogOf, GAME_CHANNELS } from '../../../test/support/aws-iot';
import { InMemoryChannelRepository, InMemoryClientRepository } from '../../../test/support/fakes';
import { ChannelCatalog } from '../../store/channel-catalog';
import { IotDouble } from '../../../test/support/iot-double';
import { AwsIotBroker } from './aws-iot-broker';
import { createIotClients, type IotClients } from './iot-clients';
import { buildPolicies, POLICY_KINDS, policyName, samePolicyDocument } from './policies';
import { MAX_POLICY_VERSIONS, syncPolicy } from './policy-sync';

const meta = { $metadata: {} };
const NAME = 'WebComm-Player';
const OLD = '{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"iot:Connect","Resource":"*"}]}';
const NEW = '{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"iot:Receive","Resource":"*"}]}';
async function until(condition: () => boolean, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) {
      throw new Error('condition not met in time');
    }
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

const credentials = { accessKeyId: 'AKIDTESTWEBCOMM', secretAccessKey: 'test-secret-key' };

function fullVersions(): Array<{ versionId: string; isDefaultVersion: boolean; createDate: Date }> {
  return ['1', '2', '3', '4', '5'].map((versionId, i) => ({ versionId, isDefaultVersion: i === 4, createDate: new Date(Date.UTC(2025, 0, i + 1)) }));
}

describe('syncPolicy (IoT mocked): races with other instances', () => {
  let iot: IoTClient;
  let mock: AwsClientStub<IoTClient>;

  beforeEach(() => {
    iot = new IoTClient({ region: 'eu-west-1', credentials });
    mock = mockClient(iot);
  });
  afterEach(() => mock.restore());

  it('another instance took the freed slot with the same document: re-reads, accepts, adds nothing', async () => {
    mock.on(GetPolicyCommand).resolvesOnce({ policyDocument: OLD }).resolves({ policyDocument: NEW });
    mock.on(ListPolicyVersionsCommand).resolves({ policyVersions: fullVersions() });
    mock.on(DeletePolicyVersionCommand).resolves({});
    mock.on(CreatePolicyVersionCommand).rejects(new VersionsLimitExceededException({ message: 'limit', ...meta }));

    await expect(syncPolicy(iot, NAME, NEW)).resolves.toBe('updated-elsewhere');

    expect(mock).toHaveReceivedCommandTimes(CreatePolicyVersionCommand, 1);
    expect(mock).toHaveReceivedCommandTimes(GetPolicyCommand, 2);
  });

  it('another instance took the slot with a different document: frees another slot and writes its own', async () => {
    mock.on(GetPolicyCommand).resolves({ policyDocument: OLD });
    mock.on(ListPolicyVersionsCommand).resolves({ policyVersions: fullVersions() });
    mock.on(DeletePolicyVersionCommand).resolves({});
    mock
      .on(CreatePolicyVersionCommand)
      .rejectsOnce(new VersionsLimitExceededException({ message: 'limit', ...meta }))
      .resolves({ policyVersionId: '7', isDefaultVersion: true });

    await expect(syncPolicy(iot, NAME, NEW)).resolves.toBe('updated');

    expect(mock).toHaveReceivedCommandTimes(CreatePolicyVersionCommand, 2);
    expect(mock).toHaveReceivedCommandTimes(DeletePolicyVersionCommand, 2);
  });

  it('the oldest version is gone already (another instance pruned it): goes on to create', async () => {
    mock.on(GetPolicyCommand).resolves({ policyDocument: OLD });
    mock.on(ListPolicyVersionsCommand).resolves({ policyVersions: fullVersions() });
    mock.on(DeletePolicyVersionCommand).rejects(new ResourceNotFoundException({ message: 'gone', ...meta }));
    mock.on(CreatePolicyVersionCommand).resolves({});

    await expect(syncPolicy(iot, NAME, NEW)).resolves.toBe('updated');
    expect(mock).toHaveReceivedCommandWith(DeletePolicyVersionCommand, { policyName: NAME, policyVersionId: '1' });
  });

  it('a version that can not be deleted (DeleteConflict) is skipped for the next oldest', async () => {
    mock.on(GetPolicyCommand).resolves({ policyDocument: OLD });
    mock.on(ListPolicyVersionsCommand).resolves({ policyVersions: fullVersions() });
    mock
      .on(DeletePolicyVersionCommand, { policyVersionId: '1' })
      .rejects(new DeleteConflictException({ message: 'default', ...meta }))
      .on(DeletePolicyVersionCommand, { policyVersionId: '2' })
      .resolves({});
    mock.on(CreatePolicyVersionCommand).resolves({});

    await expect(syncPolicy(iot, NAME, NEW)).resolves.toBe('updated');
    expect(mock.commandCalls(DeletePolicyVersionCommand).map((c) => c.args[0].input.policyVersionId)).toEqual(['1', '2']);
  });

  it('gives up with the error after five lost races', async () => {
    mock.on(GetPolicyCommand).resolves({ policyDocument: OLD });
    mock.on(ListPolicyVersionsCommand).resolves({ policyVersions: fullVersions() });
    mock.on(DeletePolicyVersionCommand).resolves({});
    mock.on(CreatePolicyVersionCommand).rejects(new VersionsLimitExceededException({ message: 'limit', ...meta }));

    await expect(syncPolicy(iot, NAME, NEW)).rejects.toBeInstanceOf(VersionsLimitExceededException);
    expect(mock).toHaveReceivedCommandTimes(CreatePolicyVersionCommand, 5);
  });
});

describe('policy sync against a stateful IoT double (real SDK, concurrent instances)', () => {
  let double: IotDouble;
  let sdks: IotClients[];

  beforeAll(async () => {
    Logger.overrideLogger(false);
    double = await IotDouble.start();
  });
  afterAll(async () => {
    await double.stop();
  });
  beforeEach(() => {
    double.policies.clear();
    double.latencyMs = 15;
    sdks = [];
  });
  afterEach(() => {
    for (const { iot, data } of sdks) {
      iot.destroy();
      data.destroy();
    }
  });

  const sdk = (): IotClients => {
    const clients = createIotClients(awsConfig({ IOT_MAX_ATTEMPTS: '3' }), { iot: { endpoint: double.url, credentials }, data: { endpoint: double.url, credentials } });
    sdks.push(clients);
    return clients;
  };
  const creates = (): number => double.calls.filter((c) => c.method === 'POST' && /\/version$/.test(c.path)).length;

  it('five instances syncing one policy at once, all five slots taken: at most 5 versions, the new default, one version per \'updated\' answer', async () => {
    double.seed(NAME, [OLD, OLD, OLD, OLD, OLD]);
    double.calls.length = 0;

    const results = await Promise.all(Array.from({ length: 5 }, () => syncPolicy(sdk().iot, NAME, NEW)));

    expect(results.every((r) => r === 'updated' || r === 'updated-elsewhere' || r === 'unchanged')).toBe(true);
    expect(double.versions(NAME).length).toBeLessThanOrEqual(MAX_POLICY_VERSIONS);
    expect(double.defaultDocument(NAME)).toBe(NEW);
    expect(creates()).toBeGreaterThanOrEqual(1);
    // Each instance that answered 'updated' wrote one version (version ids 6, 7, ... were handed out once each).
    expect(double.policies.get(NAME)!.nextVersion - 6).toBe(results.filter((r) => r === 'updated').length);
    // Settled: another start adds nothing.
    double.calls.length = 0;
    await expect(syncPolicy(sdk().iot, NAME, NEW)).resolves.toBe('unchanged');
    expect(double.calls.map((c) => c.method)).toEqual(['GET']);
  });

  it('instances writing different documents at once: one default, at most 5 versions, the default one of the two', async () => {
    double.seed(NAME, [OLD, OLD, OLD, OLD, OLD]);
    const other = NEW.replace('iot:Receive', 'iot:Subscribe');

    await Promise.all([NEW, other, NEW, other].map((document) => syncPolicy(sdk().iot, NAME, document)));

    expect(double.versions(NAME).length).toBeLessThanOrEqual(MAX_POLICY_VERSIONS);
    expect(double.versions(NAME).filter((v) => v.isDefault)).toHaveLength(1);
    expect([NEW, other]).toContain(double.defaultDocument(NAME));
  });

  it('two instances creating a missing policy at once: one creates it, the other accepts it; one version', async () => {
    const results = await Promise.all([syncPolicy(sdk().iot, NAME, NEW), syncPolicy(sdk().iot, NAME, NEW)]);

    expect(results.sort()).toEqual(['created', 'unchanged']);
    expect(double.versions(NAME)).toEqual([expect.objectContaining({ versionId: '1', isDefault: true, document: NEW })]);
  });

  it('three AwsIotBroker instances starting at once: the three policies say the channel table, each within five versions; a fourth start writes nothing', async () => {
    const config = awsConfig();
    const built = buildPolicies(GAME_CHANNELS, { topicPrefix: 'mygame/prod', region: 'eu-west-1', policyPrefix: 'WebComm' });
    for (const kind of POLICY_KINDS) {
      double.seed(policyName('WebComm', kind), [OLD, OLD, OLD, OLD]);
    }
    const start = (): Promise<void> => new AwsIotBroker(config, new InMemoryClientRepository(), catalogOf(), sdk()).onApplicationBootstrap();

    await Promise.all([start(), start(), start()]);

    for (const kind of POLICY_KINDS) {
      const name = policyName('WebComm', kind);
      expect(double.versions(name).length).toBeLessThanOrEqual(MAX_POLICY_VERSIONS);
      expect(double.versions(name).filter((v) => v.isDefault)).toHaveLength(1);
      expect(samePolicyDocument(double.defaultDocument(name) ?? '', JSON.stringify(built[kind]))).toBe(true);
    }
    double.calls.length = 0;
    await start();
    expect(double.calls.map((c) => `${c.method} ${c.path}`).sort()).toEqual(
      POLICY_KINDS.map((kind) => `GET /policies/${policyName('WebComm', kind)}`).sort(),
    );
  });
  it("an instance that wrote a stale table (its start raced another's edit) puts the stored table's rules back when its catalog sees the edit", async () => {
    const config = awsConfig();
    const store = new InMemoryChannelRepository(GAME_CHANNELS);
    const patched = [...GAME_CHANNELS, { name: 'Patches', types: ['BROADCAST' as const], clientSend: false, maxMessageBytes: 1024 }];
    const [catalogA, catalogB] = [new ChannelCatalog(store), new ChannelCatalog(store)];
    const brokerA = new AwsIotBroker(config, new InMemoryClientRepository(), catalogA, sdk());
    const brokerB = new AwsIotBroker(config, new InMemoryClientRepository(), catalogB, sdk());
    await brokerB.onApplicationBootstrap();
    const player = policyName('WebComm', 'Player');
    const expected = (channels: typeof GAME_CHANNELS): string =>
      JSON.stringify(buildPolicies(channels, { topicPrefix: 'mygame/prod', region: 'eu-west-1', policyPrefix: 'WebComm' }).Player);

    // A's edit: the broker's rules, then the store (as ChannelsService.put does).
    await brokerA.channelsChanged(patched);
    await store.put(patched[patched.length - 1]);
    // B's start sync, with the table it read before the edit, lands after it.
    await brokerB.channelsChanged(GAME_CHANNELS);
    expect(samePolicyDocument(double.defaultDocument(player) ?? '', expected(GAME_CHANNELS))).toBe(true);

    // B's catalog check finds the edit: its listener writes the stored table's rules.
    await catalogB.refresh();
    await until(() => samePolicyDocument(double.defaultDocument(player) ?? '', expected(patched)));
    expect(double.versions(player).length).toBeLessThanOrEqual(MAX_POLICY_VERSIONS);
    await Promise.all([brokerA.onApplicationShutdown(), brokerB.onApplicationShutdown()]);
  });
});
