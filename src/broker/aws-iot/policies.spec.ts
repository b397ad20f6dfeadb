import { GAME_CHANNELS } from '../../../test/support/aws-iot';
import {
  buildPolicies,
  deliveryChannels,
  MAX_POLICY_DOCUMENT_CHARS,
  partitionOf,
  type PolicyContext,
  PolicyTooLargeError,
  samePolicyDocument,
  serializePolicy,
} from './policies';
import type { ChannelDefinition } from '../../domain/channel';

const context: PolicyContext = { topicPrefix: 'mygame/prod', region: 'eu-west-1', policyPrefix: 'WebComm' };
const ARN = 'arn:aws:iot:*:*:';
const COGNITO = '${cognito-identity.amazonaws.com:sub}';
const THING = '${iot:Connection.Thing.ThingName}';

function channel(name: string, overrides: Partial<ChannelDefinition> = {}): ChannelDefinition {
  return { name, types: ['BROADCAST'], clientSend: false, maxMessageBytes: 1024, ...overrides };
}

describe('IoT policies', () => {
  it('gives players their broadcast topics and their own private topics, receive-only', () => {
    const { Player } = buildPolicies(GAME_CHANNELS, context);

    expect(Player).toEqual({
      Version: '2012-10-17',
      Statement: [
        { Effect: 'Allow', Action: 'iot:Connect', Resource: `${ARN}client/${COGNITO}` },
        {
          Effect: 'Allow',
          Action: 'iot:Subscribe',
          Resource: [
            `${ARN}topicfilter/mygame/prod/Game`,
            `${ARN}topicfilter/mygame/prod/News`,
            `${ARN}topicfilter/mygame/prod/*/client/${COGNITO}`,
            `${ARN}topicfilter/$aws/things/${COGNITO}/shadow/*`,
          ],
        },
        { Effect: 'Deny', Action: 'iot:Subscribe', Resource: [`${ARN}topicfilter/*+*`, `${ARN}topicfilter/*#*`] },
        { Effect: 'Allow', Action: 'iot:Receive', Resource: `${ARN}topic/*` },
        {
          Effect: 'Allow',
          Action: 'iot:Publish',
          Resource: [`${ARN}topic/$aws/things/${COGNITO}/shadow/update`, `${ARN}topic/$aws/things/${COGNITO}/shadow/get`],
        },
      ],
    });
  });

  it('binds a device certificate to its thing, named after the client id', () => {
    const { Device, Player } = buildPolicies(GAME_CHANNELS, context);

    expect(Device.Statement[0]).toEqual({
      Effect: 'Allow',
      Action: 'iot:Connect',
      Resource: `${ARN}client/${THING}`,
      Condition: { Bool: { 'iot:Connection.Thing.IsAttached': 'true' } },
    });
    expect(JSON.stringify(Device.Statement.slice(1))).toBe(JSON.stringify(Player.Statement.slice(1)).replaceAll(COGNITO, THING));
  });

  it("lets players and devices publish only to their own shadow's update and get topics", () => {
    const { Player, Device } = buildPolicies(GAME_CHANNELS, context);

    for (const [document, self] of [
      [Player, COGNITO],
      [Device, THING],
    ] as const) {
      const publish = document.Statement.filter(
        (s) => s.Action === 'iot:Publish' || (Array.isArray(s.Action) && s.Action.includes('iot:Publish')),
      );
      expect(publish).toEqual([
        {
          Effect: 'Allow',
          Action: 'iot:Publish',
          Resource: [`${ARN}topic/$aws/things/${self}/shadow/update`, `${ARN}topic/$aws/things/${self}/shadow/get`],
        },
      ]);
    }
  });

  it('lets portal clients connect as either kind of principal, subscribe and publish under the prefix', () => {
    const { Portal } = buildPolicies(GAME_CHANNELS, context);

    expect(Portal.Statement).toEqual([
      { Effect: 'Allow', Action: 'iot:Connect', Resource: `${ARN}client/${COGNITO}` },
      {
        Effect: 'Allow',
        Action: 'iot:Connect',
        Resource: `${ARN}client/${THING}`,
        Condition: { Bool: { 'iot:Connection.Thing.IsAttached': 'true' } },
      },
      { Effect: 'Allow', Action: 'iot:Subscribe', Resource: `${ARN}topicfilter/mygame/prod/*` },
      { Effect: 'Allow', Action: 'iot:Receive', Resource: `${ARN}topic/mygame/prod/*` },
      { Effect: 'Allow', Action: 'iot:Publish', Resource: `${ARN}topic/mygame/prod/*` },
    ]);
  });

  it('delivers a channel with communicationChannel on its parent topics only', () => {
    expect(deliveryChannels(GAME_CHANNELS)).toEqual({ broadcast: ['Game', 'News'], private: ['Game', 'Inbox'] });
    const withChild = buildPolicies(GAME_CHANNELS, context);
    const withoutChild = buildPolicies(
      GAME_CHANNELS.filter((c) => c.name !== 'GameEvents'),
      context,
    );
    expect(withChild).toEqual(withoutChild);
  });

  it('leaves only the own private topics when there are no channels', () => {
    const { Player } = buildPolicies([], context);

    expect(Player.Statement[1].Resource).toEqual([
      `${ARN}topicfilter/mygame/prod/*/client/${COGNITO}`,
      `${ARN}topicfilter/$aws/things/${COGNITO}/shadow/*`,
    ]);
  });

  it('uses the partition of the region', () => {
    expect(partitionOf('eu-west-1')).toBe('aws');
    expect(partitionOf('cn-north-1')).toBe('aws-cn');
    expect(partitionOf('us-gov-west-1')).toBe('aws-us-gov');
    expect(JSON.stringify(buildPolicies(GAME_CHANNELS, { ...context, region: 'cn-north-1' }).Player)).toContain(
      '"arn:aws-cn:iot:*:*:client/',
    );
  });

  it('fits 17 channels with 16-character names under the default prefix, private topics and shadow topics included', () => {
    const channels = Array.from({ length: 17 }, (_, i) =>
      channel(`channel-name-${String(i).padStart(3, '0')}`, { types: ['BROADCAST', 'PRIVATE'] }),
    );
    const documents = buildPolicies(channels, { ...context, topicPrefix: 'webcommunicator/dev', region: 'us-east-1' });

    for (const kind of ['Player', 'Device', 'Portal'] as const) {
      expect(serializePolicy(kind, documents[kind]).length).toBeLessThanOrEqual(MAX_POLICY_DOCUMENT_CHARS);
    }
  });

  it('refuses a document over the limit, naming the policy', () => {
    const channels = Array.from({ length: 60 }, (_, i) => channel(`channel-name-${String(i).padStart(3, '0')}`));
    const documents = buildPolicies(channels, context);

    expect(() => serializePolicy('WebComm-Player', documents.Player)).toThrow(PolicyTooLargeError);
    expect(() => serializePolicy('WebComm-Player', documents.Player)).toThrow(/WebComm-Player would be \d+ characters/);
  });

  it('serializes compactly, so whitespace never counts against the limit', () => {
    const text = serializePolicy('WebComm-Player', buildPolicies(GAME_CHANNELS, context).Player);

    expect(text).not.toMatch(/\s/);
  });

  it('compares documents regardless of whitespace and key order, but not array order', () => {
    const a = '{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"iot:Connect","Resource":["x","y"]}]}';
    const b = '{\n  "Statement": [ { "Resource": ["x", "y"], "Action": "iot:Connect", "Effect": "Allow" } ],\n  "Version": "2012-10-17"\n}';
    const c = '{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"iot:Connect","Resource":["y","x"]}]}';

    expect(samePolicyDocument(a, b)).toBe(true);
    expect(samePolicyDocument(a, c)).toBe(false);
    expect(samePolicyDocument(a, 'not json')).toBe(false);
  });
});
