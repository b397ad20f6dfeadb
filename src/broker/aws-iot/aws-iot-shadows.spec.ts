import {
  GetThingShadowCommand,
  type GetThingShadowCommandOutput,
  IoTDataPlaneClient,
  UpdateThingShadowCommand,
} from '@aws-sdk/client-iot-data-plane';
import { Logger } from '@nestjs/common';
import { mockClient } from 'aws-sdk-client-mock';
import 'aws-sdk-client-mock-jest';
import { BrokerUnavailableError } from '../../domain/errors';
import { AwsIotShadows, diffPatch } from './aws-iot-shadows';

function awsError(name: string, status: number): Error {
  return Object.assign(new Error(name), { name, $metadata: { httpStatusCode: status } });
}

/** A payload as the SDK returns it (its blob adapter is a Uint8Array with helpers the code under test doesn't use). */
const json = (value: unknown): GetThingShadowCommandOutput['payload'] =>
  Buffer.from(JSON.stringify(value)) as unknown as GetThingShadowCommandOutput['payload'];

describe('AwsIotShadows (state documents as AWS IoT Device Shadows)', () => {
  const data = mockClient(IoTDataPlaneClient);
  const shadows = new AwsIotShadows(
    new IoTDataPlaneClient({ region: 'eu-west-1', credentials: { accessKeyId: 'a', secretAccessKey: 'b' } }),
  );

  beforeEach(() => {
    data.reset();
    jest.spyOn(Logger.prototype, 'warn').mockImplementation(() => undefined);
  });

  it('reads the classic shadow of the thing named after the client id', async () => {
    data.on(GetThingShadowCommand).resolves({
      payload: json({ state: { desired: { a: 1 }, reported: { a: 0 }, delta: { a: 1 } }, metadata: {}, version: 7, timestamp: 1767225600 }),
    });

    await expect(shadows.get('dev-1')).resolves.toEqual({
      clientId: 'dev-1',
      desired: { a: 1 },
      reported: { a: 0 },
      version: 7,
      updatedAt: '2026-01-01T00:00:00.000Z',
    });
    expect(data).toHaveReceivedCommandWith(GetThingShadowCommand, { thingName: 'dev-1' });
  });

  it('no shadow reads as none; missing sections as empty', async () => {
    data
      .on(GetThingShadowCommand)
      .rejectsOnce(awsError('ResourceNotFoundException', 404))
      .resolves({ payload: json({ state: {}, version: 2 }) });

    await expect(shadows.get('dev-1')).resolves.toBeUndefined();
    await expect(shadows.get('dev-1')).resolves.toEqual(expect.objectContaining({ desired: {}, reported: {}, version: 2 }));
  });

  it('writes the difference with the version read; a conflict is reported as a lost write', async () => {
    const previous = { clientId: 'dev-1', desired: { a: 1, b: { c: 1 } }, reported: { x: 1 }, version: 3, updatedAt: '' };
    const next = { ...previous, desired: { a: 1, b: { d: 2 } }, reported: {}, version: 4 };
    data
      .on(UpdateThingShadowCommand)
      .resolvesOnce({ payload: json({ state: {}, version: 4, timestamp: 1767225601 }) })
      .rejects(awsError('ConflictException', 409));

    await expect(shadows.save(previous, next)).resolves.toEqual({ ...next, updatedAt: '2026-01-01T00:00:01.000Z' });
    const sent = JSON.parse(
      Buffer.from(data.commandCalls(UpdateThingShadowCommand)[0].args[0].input.payload as Uint8Array).toString('utf8'),
    );
    expect(sent).toEqual({ state: { desired: { b: { c: null, d: 2 } }, reported: null }, version: 3 });

    await expect(shadows.save(previous, next)).resolves.toBeUndefined();
  });

  it('creates a shadow without a version (there is none to check)', async () => {
    data.on(UpdateThingShadowCommand).resolves({ payload: json({ state: {}, version: 1, timestamp: 1767225601 }) });

    await shadows.save(undefined, { clientId: 'dev-2', desired: { a: 1 }, reported: {}, version: 1, updatedAt: '' });
    const sent = JSON.parse(
      Buffer.from(data.commandCalls(UpdateThingShadowCommand)[0].args[0].input.payload as Uint8Array).toString('utf8'),
    );
    expect(sent).toEqual({ state: { desired: { a: 1 } } });
  });

  it('any other AWS failure is the broker being unavailable (503)', async () => {
    data.on(GetThingShadowCommand).rejects(awsError('ThrottlingException', 429));
    data.on(UpdateThingShadowCommand).rejects(awsError('ServiceUnavailableException', 503));

    await expect(shadows.get('dev-1')).rejects.toBeInstanceOf(BrokerUnavailableError);
    await expect(
      shadows.save(undefined, { clientId: 'dev-1', desired: {}, reported: { a: 1 }, version: 1, updatedAt: '' }),
    ).rejects.toBeInstanceOf(BrokerUnavailableError);
  });
});

describe('diffPatch', () => {
  it('is the merge patch from one object to the other', () => {
    expect(diffPatch({ a: 1, b: [1], c: { d: 1, e: 2 } }, { a: 1, b: [1, 2], c: { d: 1 }, f: 'x' })).toEqual({
      b: [1, 2],
      c: { e: null },
      f: 'x',
    });
    expect(diffPatch({ a: { b: 1 } }, { a: { b: 1 } })).toBeUndefined();
  });
});
