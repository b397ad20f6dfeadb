import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  AttachPolicyCommand,
  AttachThingPrincipalCommand,
  CreateKeysAndCertificateCommand,
  CreatePolicyCommand,
  CreatePolicyVersionCommand,
  CreateThingCommand,
  DeletePolicyVersionCommand,
  DescribeEndpointCommand,
  DetachPolicyCommand,
  GetPolicyCommand,
  IoTClient,
  ListPolicyVersionsCommand,
  ResourceAlreadyExistsException,
  ResourceNotFoundException,
  ThrottlingException,
  UpdateCertificateCommand,
  VersionsLimitExceededException,
} from '@aws-sdk/client-iot';
import {
  DeleteConnectionCommand,
  IoTDataPlaneClient,
  PublishCommand,
  ResourceNotFoundException as DataResourceNotFoundException,
  ServiceUnavailableException,
} from '@aws-sdk/client-iot-data-plane';
import { Logger } from '@nestjs/common';
import type { AppConfig } from '../../config/app-config';
import { toProblem } from '../../common/problem/to-problem';
import { type AwsClientStub, mockClient } from 'aws-sdk-client-mock';
import 'aws-sdk-client-mock-jest';
import { AwsIotBroker } from './aws-iot-broker';
import { awsConfig, catalogOf, clientRecord, GAME_CHANNELS, IDENTITY_ID } from '../../../test/support/aws-iot';
import { InMemoryClientRepository } from '../../../test/support/fakes';
import { dataPlaneEndpoint } from './iot-clients';
import { buildPolicies, POLICY_KINDS } from './policies';
import { BrokerRulesTooLargeError, BrokerUnavailableError, ValidationFailedError } from '../../domain/errors';

const POLICY = { Player: 'WebComm-Player', Device: 'WebComm-Device', Portal: 'WebComm-Portal' } as const;
const CERT_ARN = 'arn:aws:iot:eu-west-1:123456789012:cert/c0ffee';
const meta = { $metadata: {} };

/** The policy documents the broker is expected to send for these channels. */
function documents(channels = GAME_CHANNELS): Record<keyof typeof POLICY, string> {
  const built = buildPolicies(channels, { topicPrefix: 'mygame/prod', region: 'eu-west-1', policyPrefix: 'WebComm' });
  return { Player: JSON.stringify(built.Player), Device: JSON.stringify(built.Device), Portal: JSON.stringify(built.Portal) };
}

const kindOf = (name: string): keyof typeof POLICY => name.replace('WebComm-', '') as keyof typeof POLICY;

/** Every command a client stub received, in order, as [name, input]. */
function sent(stub: AwsClientStub<IoTClient> | AwsClientStub<IoTDataPlaneClient>): [string, unknown][] {
  return stub.calls().map((call) => {
    const command = call.args[0] as { constructor: { name: string }; input: unknown };
    return [command.constructor.name, command.input];
  });
}

describe('AwsIotBroker (IoT control plane mocked)', () => {
  let iot: IoTClient;
  let data: IoTDataPlaneClient;
  let iotMock: AwsClientStub<IoTClient>;
  let dataMock: AwsClientStub<IoTDataPlaneClient>;

  function broker(config: AppConfig = awsConfig(), channels = GAME_CHANNELS): AwsIotBroker {
    return new AwsIotBroker(config, new InMemoryClientRepository(), catalogOf(channels), { iot, data });
  }

  beforeAll(() => Logger.overrideLogger(false));

  beforeEach(() => {
    const credentials = { accessKeyId: 'AKIDTEST', secretAccessKey: 'test-secret' };
    iot = new IoTClient({ region: 'eu-west-1', credentials });
    data = new IoTDataPlaneClient({ region: 'eu-west-1', credentials });
    iotMock = mockClient(iot);
    dataMock = mockClient(data);
  });

  afterEach(() => {
    iotMock.restore();
    dataMock.restore();
  });

  it('is the aws-iot driver and does not know connection states', () => {
    const subject = broker();

    expect(subject.kind).toBe('aws-iot');
    expect(subject.connectionState(IDENTITY_ID)).toBeUndefined();
  });

  describe('policies', () => {
    it('creates the three policies at start when they are missing', async () => {
      iotMock.on(GetPolicyCommand).rejects(new ResourceNotFoundException({ message: 'no such policy', ...meta }));
      iotMock.on(CreatePolicyCommand).resolves({});

      await broker().onApplicationBootstrap();

      const docs = documents();
      expect(sent(iotMock)).toEqual([
        ['GetPolicyCommand', { policyName: POLICY.Player }],
        ['CreatePolicyCommand', { policyName: POLICY.Player, policyDocument: docs.Player }],
        ['GetPolicyCommand', { policyName: POLICY.Device }],
        ['CreatePolicyCommand', { policyName: POLICY.Device, policyDocument: docs.Device }],
        ['GetPolicyCommand', { policyName: POLICY.Portal }],
        ['CreatePolicyCommand', { policyName: POLICY.Portal, policyDocument: docs.Portal }],
      ]);
    });

    it('adds no version when the documents are unchanged (whitespace and key order aside)', async () => {
      const docs = documents();
      for (const kind of POLICY_KINDS) {
        const pretty = JSON.stringify({ Statement: JSON.parse(docs[kind]).Statement, Version: '2012-10-17' }, null, 2);
        iotMock
          .on(GetPolicyCommand, { policyName: POLICY[kind] })
          .resolves({ policyName: POLICY[kind], policyDocument: pretty, defaultVersionId: '3' });
      }

      await broker().onApplicationBootstrap();

      expect(sent(iotMock).map(([name]) => name)).toEqual(['GetPolicyCommand', 'GetPolicyCommand', 'GetPolicyCommand']);
    });

    it('with five versions, deletes the oldest non-default one, then adds the new default version', async () => {
      const docs = documents();
      const stale = documents(GAME_CHANNELS.slice(0, 1)).Player;
      iotMock.on(GetPolicyCommand).callsFake((input: { policyName: string }) => ({
        policyDocument: input.policyName === POLICY.Player ? stale : docs[kindOf(input.policyName)],
      }));
      iotMock.on(ListPolicyVersionsCommand).resolves({
        policyVersions: [
          { versionId: '7', isDefaultVersion: true, createDate: new Date('2025-01-07') },
          { versionId: '6', isDefaultVersion: false, createDate: new Date('2025-01-06') },
          { versionId: '5', isDefaultVersion: false, createDate: new Date('2025-01-05') },
          // Oldest by date, although not the lowest id.
          { versionId: '4', isDefaultVersion: false, createDate: new Date('2025-01-01') },
          { versionId: '3', isDefaultVersion: false, createDate: new Date('2025-01-03') },
        ],
      });
      iotMock.on(DeletePolicyVersionCommand).resolves({});
      iotMock.on(CreatePolicyVersionCommand).resolves({ policyVersionId: '8', isDefaultVersion: true });

      await broker().onApplicationBootstrap();

      expect(sent(iotMock)).toEqual([
        ['GetPolicyCommand', { policyName: POLICY.Player }],
        ['ListPolicyVersionsCommand', { policyName: POLICY.Player }],
        ['DeletePolicyVersionCommand', { policyName: POLICY.Player, policyVersionId: '4' }],
        ['CreatePolicyVersionCommand', { policyName: POLICY.Player, policyDocument: docs.Player, setAsDefault: true }],
        ['GetPolicyCommand', { policyName: POLICY.Device }],
        ['GetPolicyCommand', { policyName: POLICY.Portal }],
      ]);
    });

    it('with fewer than five versions, adds the new default version without deleting any', async () => {
      iotMock.on(GetPolicyCommand).resolves({ policyDocument: '{"Version":"2012-10-17","Statement":[]}' });
      iotMock.on(ListPolicyVersionsCommand).resolves({ policyVersions: [{ versionId: '1', isDefaultVersion: true }] });
      iotMock.on(CreatePolicyVersionCommand).resolves({});

      await broker().onApplicationBootstrap();

      expect(iotMock).toHaveReceivedCommandTimes(CreatePolicyVersionCommand, 3);
      expect(iotMock).not.toHaveReceivedCommand(DeletePolicyVersionCommand);
    });

    it('frees another slot when a concurrent instance took the one it freed', async () => {
      const docs = documents();
      iotMock.on(GetPolicyCommand).callsFake((input: { policyName: string }) => ({
        policyDocument: input.policyName === POLICY.Player ? '{}' : docs[kindOf(input.policyName)],
      }));
      const five = ['1', '2', '3', '4', '5'].map((versionId, i) => ({
        versionId,
        isDefaultVersion: i === 4,
        createDate: new Date(Date.UTC(2025, 0, i + 1)),
      }));
      // The other instance deleted nothing and added version 6 after our delete of version 1.
      const raced = [...five.slice(1), { versionId: '6', isDefaultVersion: false, createDate: new Date(Date.UTC(2025, 0, 6)) }];
      iotMock.on(ListPolicyVersionsCommand).resolvesOnce({ policyVersions: five }).resolves({ policyVersions: raced });
      iotMock.on(DeletePolicyVersionCommand).resolves({});
      iotMock
        .on(CreatePolicyVersionCommand)
        .rejectsOnce(new VersionsLimitExceededException({ message: 'limit', ...meta }))
        .resolves({});

      await broker().onApplicationBootstrap();

      expect(sent(iotMock).filter(([name]) => name !== 'GetPolicyCommand')).toEqual([
        ['ListPolicyVersionsCommand', { policyName: POLICY.Player }],
        ['DeletePolicyVersionCommand', { policyName: POLICY.Player, policyVersionId: '1' }],
        ['CreatePolicyVersionCommand', { policyName: POLICY.Player, policyDocument: docs.Player, setAsDefault: true }],
        ['ListPolicyVersionsCommand', { policyName: POLICY.Player }],
        ['DeletePolicyVersionCommand', { policyName: POLICY.Player, policyVersionId: '2' }],
        ['CreatePolicyVersionCommand', { policyName: POLICY.Player, policyDocument: docs.Player, setAsDefault: true }],
      ]);
    });

    it('goes on with the version check when another instance created the policy first', async () => {
      const docs = documents();
      iotMock
        .on(GetPolicyCommand)
        .rejectsOnce(new ResourceNotFoundException({ message: 'no such policy', ...meta }))
        .callsFake((input: { policyName: string }) => ({ policyDocument: docs[kindOf(input.policyName)] }));
      iotMock
        .on(CreatePolicyCommand)
        .rejects(new ResourceAlreadyExistsException({ message: 'exists', resourceId: 'x', resourceArn: 'y', ...meta }));

      await broker().onApplicationBootstrap();

      expect(sent(iotMock).map(([name]) => name)).toEqual([
        'GetPolicyCommand',
        'CreatePolicyCommand',
        'GetPolicyCommand',
        'GetPolicyCommand',
        'GetPolicyCommand',
      ]);
    });

    it('regenerates the policies when the channel table changes', async () => {
      iotMock.on(GetPolicyCommand).resolves({ policyDocument: documents().Player });
      iotMock.on(ListPolicyVersionsCommand).resolves({ policyVersions: [] });
      iotMock.on(CreatePolicyVersionCommand).resolves({});
      const channels = [...GAME_CHANNELS, { name: 'Patches', types: ['BROADCAST' as const], clientSend: false, maxMessageBytes: 1024 }];

      await broker().channelsChanged(channels);

      const player = iotMock.commandCalls(CreatePolicyVersionCommand, { policyName: POLICY.Player });
      expect(player).toHaveLength(1);
      expect(player[0].args[0].input.policyDocument).toBe(documents(channels).Player);
      expect(player[0].args[0].input.policyDocument).toContain('topicfilter/mygame/prod/Patches');
    });

    it('refuses a channel table that no longer fits the IoT policy size limit, changing nothing', async () => {
      const many = Array.from({ length: 80 }, (_, i) => ({
        name: `channel-${i}`,
        types: ['BROADCAST' as const],
        clientSend: false,
        maxMessageBytes: 1024,
      }));

      const error = await broker()
        .channelsChanged(many)
        .catch((e: unknown) => e);

      expect(error).toBeInstanceOf(BrokerRulesTooLargeError);
      expect(toProblem(error).body).toMatchObject({ status: 422, code: 'VALIDATION_FAILED' });
      expect(sent(iotMock)).toEqual([]);
    });

    it('still starts (keeping the previous rules) when the stored channel table is too large', async () => {
      const many = Array.from({ length: 80 }, (_, i) => ({
        name: `channel-${i}`,
        types: ['BROADCAST' as const],
        clientSend: false,
        maxMessageBytes: 1024,
      }));

      await expect(broker(awsConfig(), many).onApplicationBootstrap()).resolves.toBeUndefined();
      expect(sent(iotMock)).toEqual([]);
    });

    it('fails start with BrokerUnavailableError when IoT keeps failing', async () => {
      iotMock.on(GetPolicyCommand).rejects(new ThrottlingException({ message: 'slow down', ...meta }));

      await expect(broker().onApplicationBootstrap()).rejects.toBeInstanceOf(BrokerUnavailableError);
    });
  });

  describe('registration', () => {
    it('WEBSOCKET: attaches the player policy to the Cognito identity and returns no token', async () => {
      const credentials = await broker().issueCredentials(clientRecord(), 'WEBSOCKET');

      expect(credentials).toEqual({});
      expect(sent(iotMock)).toEqual([
        ['AttachPolicyCommand', { policyName: POLICY.Player, target: IDENTITY_ID }],
        ['DetachPolicyCommand', { policyName: POLICY.Portal, target: IDENTITY_ID }],
      ]);
    });

    it('WEBSOCKET portal client: attaches the portal policy instead', async () => {
      iotMock.on(DetachPolicyCommand).rejects(new ResourceNotFoundException({ message: 'not attached', ...meta }));

      await broker().issueCredentials(clientRecord({ portalClient: true }), 'WEBSOCKET');

      expect(sent(iotMock)).toEqual([
        ['AttachPolicyCommand', { policyName: POLICY.Portal, target: IDENTITY_ID }],
        ['DetachPolicyCommand', { policyName: POLICY.Player, target: IDENTITY_ID }],
      ]);
    });

    it('WEBSOCKET: refuses a client id that is not a Cognito identity id', async () => {
      const error = await broker()
        .issueCredentials(clientRecord({ clientId: 'player-1' }), 'WEBSOCKET')
        .catch((e: unknown) => e);

      expect(error).toBeInstanceOf(ValidationFailedError);
      expect(toProblem(error).body).toMatchObject({ status: 400, code: 'VALIDATION_FAILED' });
      expect(sent(iotMock)).toEqual([]);
    });

    it('OPENSSL: creates an active certificate, a thing named after the client, and attaches the device policy', async () => {
      iotMock.on(CreateKeysAndCertificateCommand).resolves({
        certificateArn: CERT_ARN,
        certificateId: 'c0ffee',
        certificatePem: '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n',
        keyPair: { PublicKey: 'public', PrivateKey: '-----BEGIN RSA PRIVATE KEY-----\nsecret\n-----END RSA PRIVATE KEY-----\n' },
      });

      const credentials = await broker().issueCredentials(clientRecord({ clientId: 'device-42', connectionType: 'OPENSSL' }), 'OPENSSL');

      expect(credentials).toEqual({
        certificatePem: '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n',
        privateKeyPem: '-----BEGIN RSA PRIVATE KEY-----\nsecret\n-----END RSA PRIVATE KEY-----\n',
        certificateId: 'c0ffee',
        certificateArn: CERT_ARN,
      });
      expect(sent(iotMock)).toEqual([
        ['CreateKeysAndCertificateCommand', { setAsActive: true }],
        ['CreateThingCommand', { thingName: 'device-42' }],
        ['AttachThingPrincipalCommand', { thingName: 'device-42', principal: CERT_ARN, thingPrincipalType: 'EXCLUSIVE_THING' }],
        ['AttachPolicyCommand', { policyName: POLICY.Device, target: CERT_ARN }],
      ]);
    });

    it('OPENSSL portal device, existing thing, configured root CA: portal policy, CA PEM returned', async () => {
      const dir = mkdtempSync(join(tmpdir(), 'iot-ca-'));
      writeFileSync(join(dir, 'root.pem'), 'ROOT CA PEM');
      iotMock
        .on(CreateKeysAndCertificateCommand)
        .resolves({ certificateArn: CERT_ARN, certificateId: 'c0ffee', certificatePem: 'CERT', keyPair: { PrivateKey: 'KEY' } });
      iotMock
        .on(CreateThingCommand)
        .rejects(new ResourceAlreadyExistsException({ message: 'exists', resourceId: 'x', resourceArn: 'y', ...meta }));
      iotMock.on(GetPolicyCommand).resolves({ policyDocument: '{}' });
      const subject = broker(awsConfig({ IOT_ROOT_CA_FILE: join(dir, 'root.pem') }), []);
      await subject.onApplicationBootstrap().catch(() => undefined);
      iotMock.resetHistory();

      const credentials = await subject.issueCredentials(clientRecord({ clientId: 'editor-1', portalClient: true }), 'OPENSSL');

      expect(credentials.caCertificatePem).toBe('ROOT CA PEM');
      expect(iotMock).toHaveReceivedCommandWith(AttachPolicyCommand, { policyName: POLICY.Portal, target: CERT_ARN });
    });

    it('OPENSSL: leaves the new certificate inactive when setting it up fails', async () => {
      iotMock
        .on(CreateKeysAndCertificateCommand)
        .resolves({ certificateArn: CERT_ARN, certificateId: 'c0ffee', certificatePem: 'CERT', keyPair: { PrivateKey: 'KEY' } });
      iotMock.on(AttachThingPrincipalCommand).rejects(new ThrottlingException({ message: 'slow down', ...meta }));

      await expect(broker().issueCredentials(clientRecord({ clientId: 'device-42' }), 'OPENSSL')).rejects.toBeInstanceOf(
        BrokerUnavailableError,
      );
      expect(iotMock).toHaveReceivedCommandWith(UpdateCertificateCommand, { certificateId: 'c0ffee', newStatus: 'INACTIVE' });
      expect(iotMock).not.toHaveReceivedCommand(AttachPolicyCommand);
    });

    it('OPENSSL: refuses a client id that cannot be a thing name', async () => {
      await expect(broker().issueCredentials(clientRecord({ clientId: 'device.42' }), 'OPENSSL')).rejects.toBeInstanceOf(ValidationFailedError);
      expect(sent(iotMock)).toEqual([]);
    });
  });

  describe('ban and un-ban', () => {
    const banned = clientRecord({
      status: 'BANNED',
      certificateIds: ['cert-a', 'cert-b'],
      certificateArns: ['arn:aws:iot:eu-west-1:123456789012:cert/cert-a', 'arn:aws:iot:eu-west-1:123456789012:cert/cert-b'],
    });

    it('revoke: detaches every policy from every principal, deactivates certificates, then disconnects', async () => {
      const order: string[] = [];
      iotMock.on(DetachPolicyCommand).callsFake(() => order.push('detach'));
      iotMock.on(UpdateCertificateCommand).callsFake(() => order.push('certificate'));
      dataMock.on(DeleteConnectionCommand).callsFake(() => order.push('disconnect'));

      await broker().revoke(banned);

      const principals = [IDENTITY_ID, ...banned.certificateArns!];
      expect(sent(iotMock)).toEqual([
        ...principals.flatMap((target) => POLICY_KINDS.map((kind) => ['DetachPolicyCommand', { policyName: POLICY[kind], target }])),
        ['UpdateCertificateCommand', { certificateId: 'cert-a', newStatus: 'INACTIVE' }],
        ['UpdateCertificateCommand', { certificateId: 'cert-b', newStatus: 'INACTIVE' }],
      ]);
      expect(sent(dataMock)).toEqual([['DeleteConnectionCommand', { clientId: IDENTITY_ID, cleanSession: true }]]);
      expect(order.at(-1)).toBe('disconnect');
    });

    it('revoke: a client that is not connected is fine', async () => {
      dataMock.on(DeleteConnectionCommand).rejects(new DataResourceNotFoundException({ message: 'not connected', ...meta }));

      await expect(broker().revoke(clientRecord())).resolves.toBeUndefined();
    });

    it('revoke: a device (not a Cognito identity) loses its certificates only', async () => {
      await broker().revoke(clientRecord({ clientId: 'device-42', certificateIds: ['cert-a'], certificateArns: ['arn:cert-a'] }));

      expect(sent(iotMock).map(([, input]) => (input as { target?: string }).target ?? 'cert')).toEqual([
        'arn:cert-a',
        'arn:cert-a',
        'arn:cert-a',
        'cert',
      ]);
      expect(sent(dataMock)).toEqual([['DeleteConnectionCommand', { clientId: 'device-42', cleanSession: true }]]);
    });

    it('revoke: fails with BrokerUnavailableError, and does not report a disconnect, when IoT fails', async () => {
      iotMock.on(DetachPolicyCommand).rejects(new ThrottlingException({ message: 'slow down', ...meta }));

      await expect(broker().revoke(banned)).rejects.toBeInstanceOf(BrokerUnavailableError);
      expect(dataMock).not.toHaveReceivedCommand(DeleteConnectionCommand);
    });

    it('revokeCertificate: that certificate only: policies off it, INACTIVE, then the connection closed with its session kept', async () => {
      const order: string[] = [];
      iotMock.on(DetachPolicyCommand).callsFake(() => order.push('detach'));
      iotMock.on(UpdateCertificateCommand).callsFake(() => order.push('certificate'));
      dataMock.on(DeleteConnectionCommand).callsFake(() => order.push('disconnect'));

      await broker().revokeCertificate(banned, { id: 'cert-b', arn: banned.certificateArns![1] });

      expect(sent(iotMock)).toEqual([
        ...POLICY_KINDS.map((kind) => ['DetachPolicyCommand', { policyName: POLICY[kind], target: banned.certificateArns![1] }]),
        ['UpdateCertificateCommand', { certificateId: 'cert-b', newStatus: 'INACTIVE' }],
      ]);
      expect(sent(dataMock)).toEqual([['DeleteConnectionCommand', { clientId: IDENTITY_ID, cleanSession: false }]]);
      expect(order).toEqual([...POLICY_KINDS.map(() => 'detach'), 'certificate', 'disconnect']);
    });

    it('revokeCertificate: IoT failing → BrokerUnavailableError and no disconnect', async () => {
      iotMock.on(UpdateCertificateCommand).rejects(new ThrottlingException({ message: 'slow down', ...meta }));

      await expect(broker().revokeCertificate(banned, { id: 'cert-a' })).rejects.toBeInstanceOf(BrokerUnavailableError);
      expect(iotMock).not.toHaveReceivedCommand(DetachPolicyCommand);
      expect(dataMock).not.toHaveReceivedCommand(DeleteConnectionCommand);
    });

    it('grant: re-attaches the policies and reactivates the certificates', async () => {
      await broker().grant({ ...banned, status: 'REGISTERED' });

      expect(sent(iotMock)).toEqual([
        ['AttachPolicyCommand', { policyName: POLICY.Player, target: IDENTITY_ID }],
        ['AttachPolicyCommand', { policyName: POLICY.Device, target: banned.certificateArns![0] }],
        ['AttachPolicyCommand', { policyName: POLICY.Device, target: banned.certificateArns![1] }],
        ['UpdateCertificateCommand', { certificateId: 'cert-a', newStatus: 'ACTIVE' }],
        ['UpdateCertificateCommand', { certificateId: 'cert-b', newStatus: 'ACTIVE' }],
      ]);
      expect(sent(dataMock)).toEqual([]);
    });

    it('grant: a portal client gets the portal policy on every principal', async () => {
      await broker().grant({ ...banned, status: 'REGISTERED', portalClient: true });

      expect(
        iotMock
          .commandCalls(AttachPolicyCommand)
          .map((call) => call.args[0].input.policyName)
          .every((name) => name === POLICY.Portal),
      ).toBe(true);
    });
  });

  describe('endpoint', () => {
    it('asks IoT for the ATS data endpoint once and builds both URLs from it', async () => {
      iotMock.on(DescribeEndpointCommand).resolves({ endpointAddress: 'a1b2c3-ats.iot.eu-west-1.amazonaws.com' });
      const subject = broker();

      await expect(subject.endpoint('WEBSOCKET')).resolves.toEqual({
        endpoint: 'a1b2c3-ats.iot.eu-west-1.amazonaws.com',
        port: 443,
        url: 'wss://a1b2c3-ats.iot.eu-west-1.amazonaws.com:443/mqtt',
      });
      await expect(subject.endpoint('OPENSSL')).resolves.toEqual({
        endpoint: 'a1b2c3-ats.iot.eu-west-1.amazonaws.com',
        port: 8883,
        url: 'mqtts://a1b2c3-ats.iot.eu-west-1.amazonaws.com:8883',
      });
      expect(sent(iotMock)).toEqual([['DescribeEndpointCommand', { endpointType: 'iot:Data-ATS' }]]);
    });

    it('uses IOT_DATA_ENDPOINT without asking IoT', async () => {
      const subject = broker(awsConfig({ IOT_DATA_ENDPOINT: 'mqtt.example.com' }));

      await expect(subject.endpoint('WEBSOCKET')).resolves.toMatchObject({ url: 'wss://mqtt.example.com:443/mqtt' });
      expect(sent(iotMock)).toEqual([]);
    });

    it('reports BrokerUnavailableError when IoT cannot say, and asks again next time', async () => {
      iotMock
        .on(DescribeEndpointCommand)
        .rejectsOnce(new ThrottlingException({ message: 'slow down', ...meta }))
        .resolves({ endpointAddress: 'a1b2c3-ats.iot.eu-west-1.amazonaws.com' });
      const subject = broker();

      await expect(subject.endpoint('OPENSSL')).rejects.toBeInstanceOf(BrokerUnavailableError);
      await expect(subject.endpoint('OPENSSL')).resolves.toMatchObject({ port: 8883 });
    });
  });

  describe('iot-data endpoint of the SDK client', () => {
    const describe = jest.fn(async () => 'a1b2c3-ats.iot.eu-west-1.amazonaws.com');

    it('is the account endpoint from DescribeEndpoint by default', async () => {
      const endpoint = dataPlaneEndpoint(awsConfig(), describe) as () => Promise<{ url: URL }>;

      await expect(endpoint()).resolves.toEqual({ url: new URL('https://a1b2c3-ats.iot.eu-west-1.amazonaws.com') });
    });

    it('is IOT_DATA_ENDPOINT when set', () => {
      expect(dataPlaneEndpoint(awsConfig({ IOT_DATA_ENDPOINT: 'mqtt.example.com' }), describe)).toEqual({
        url: new URL('https://mqtt.example.com'),
      });
    });

    it('is left to the SDK when AWS_ENDPOINT_URL_IOT_DATA_PLANE or AWS_ENDPOINT_URL is set', () => {
      expect(
        dataPlaneEndpoint(
          awsConfig({ AWS_ENDPOINT_URL_IOT_DATA_PLANE: 'http://localhost:4566', IOT_DATA_ENDPOINT: 'x.example.com' }),
          describe,
        ),
      ).toBeUndefined();
      expect(dataPlaneEndpoint(awsConfig({ AWS_ENDPOINT_URL: 'http://localhost:4566' }), describe)).toBeUndefined();
      expect(
        dataPlaneEndpoint(awsConfig({ AWS_ENDPOINT_URL: 'http://localhost:4566', AWS_IGNORE_CONFIGURED_ENDPOINT_URLS: 'true' }), describe),
      ).toBeDefined();
    });
  });

  describe('publish', () => {
    it('publishes the payload with the configured QoS, or the one asked for', async () => {
      const payload = Buffer.from('{"Channel":"News","Message":"hi"}');

      await broker().publish('mygame/prod/News', payload);
      await broker().publish('mygame/prod/News', payload, { qos: 0 });

      expect(sent(dataMock)).toEqual([
        ['PublishCommand', { topic: 'mygame/prod/News', qos: 1, payload }],
        ['PublishCommand', { topic: 'mygame/prod/News', qos: 0, payload }],
      ]);
    });

    it('uses IOT_PUBLISH_QOS', async () => {
      await broker(awsConfig({ IOT_PUBLISH_QOS: '0' })).publish('mygame/prod/News', Buffer.from('x'));

      expect(dataMock).toHaveReceivedCommandWith(PublishCommand, { qos: 0 });
    });

    it('throws BrokerUnavailableError when IoT does not take the message', async () => {
      dataMock.on(PublishCommand).rejects(new ServiceUnavailableException({ message: 'down', ...meta }));

      await expect(broker().publish('mygame/prod/News', Buffer.from('x'))).rejects.toBeInstanceOf(BrokerUnavailableError);
    });
  });

  describe('health', () => {
    it('answers from a recent DescribeEndpoint call', async () => {
      iotMock.on(DescribeEndpointCommand).resolves({ endpointAddress: 'a1b2c3-ats.iot.eu-west-1.amazonaws.com' });
      const subject = broker();

      await subject.checkHealth();
      await subject.checkHealth();

      expect(iotMock).toHaveReceivedCommandTimes(DescribeEndpointCommand, 1);
    });

    it('throws BrokerUnavailableError when IoT is unreachable', async () => {
      iotMock.on(DescribeEndpointCommand).rejects(Object.assign(new Error('connect ECONNREFUSED'), { name: 'Error' }));

      await expect(broker().checkHealth()).rejects.toBeInstanceOf(BrokerUnavailableError);
    });
  });
});
