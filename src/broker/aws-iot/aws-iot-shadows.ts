import { GetThingShadowCommand, type IoTDataPlaneClient, UpdateThingShadowCommand } from '@aws-sdk/client-iot-data-plane';
import { Logger } from '@nestjs/common';
import { isJsonObject, type JsonObject, type JsonValue, jsonEqual } from '../../state/state-document';
import { type StateRecord, StateRepository } from '../../store/state.repository';
import { BrokerUnavailableError } from '../../domain/errors';
import { describeAwsError, isAwsError } from './aws-errors';

/** What GetThingShadow / UpdateThingShadow return (AWS's response state document). */
interface ShadowDocument {
  state?: { desired?: JsonObject | null; reported?: JsonObject | null };
  version?: number;
  timestamp?: number;
}

/**
 * State documents as AWS IoT Device Shadows: the classic (unnamed) shadow of the
 * thing named after the client id, through iot-data GetThingShadow and
 * UpdateThingShadow. IoT Core then publishes `/update/delta` and
 * `/update/documents` and answers the devices' own `/update` and `/get` itself.
 *
 * A write sends the difference from the version it read, with that version, so
 * IoT applies it only on top of exactly that document (409 otherwise): the same
 * exactness across instances as the store's conditional writes.
 */
export class AwsIotShadows extends StateRepository {
  private readonly logger = new Logger(AwsIotShadows.name);

  constructor(private readonly data: IoTDataPlaneClient) {
    super();
  }

  async get(clientId: string): Promise<StateRecord | undefined> {
    let payload: Uint8Array | undefined;
    try {
      ({ payload } = await this.data.send(new GetThingShadowCommand({ thingName: clientId })));
    } catch (error) {
      // No shadow yet (or deleted): reads as an empty document at version 0.
      if (isAwsError(error, 'ResourceNotFoundException')) {
        return undefined;
      }
      throw this.unavailable(`read the shadow of ${clientId}`, error);
    }
    return toRecord(clientId, parse(payload));
  }

  async save(previous: StateRecord | undefined, next: StateRecord): Promise<StateRecord | undefined> {
    const state: { desired?: JsonObject | null; reported?: JsonObject | null } = {};
    for (const section of ['desired', 'reported'] as const) {
      const patch = diffPatch(previous?.[section] ?? {}, next[section]);
      if (patch !== undefined) {
        // An emptied section is removed (AWS: "set the desired section to null").
        state[section] = Object.keys(next[section]).length === 0 ? null : patch;
      }
    }
    if (Object.keys(state).length === 0) {
      // Nothing differs, but every accepted update is a new version (as AWS counts them).
      state.reported = {};
    }
    // Without a previous document there is no version to check: IoT creates the shadow (or continues a deleted one's versions).
    const body = previous === undefined ? { state } : { state, version: previous.version };
    let payload: Uint8Array | undefined;
    try {
      ({ payload } = await this.data.send(
        new UpdateThingShadowCommand({ thingName: next.clientId, payload: Buffer.from(JSON.stringify(body)) }),
      ));
    } catch (error) {
      if (isAwsError(error, 'ConflictException')) {
        return undefined;
      }
      throw this.unavailable(`update the shadow of ${next.clientId}`, error);
    }
    const accepted = parse(payload);
    return { ...next, version: accepted.version ?? next.version, updatedAt: isoFromEpoch(accepted.timestamp) ?? next.updatedAt };
  }

  private unavailable(action: string, error: unknown): BrokerUnavailableError {
    const detail = describeAwsError(error);
    this.logger.warn(`AWS IoT: could not ${action}: ${detail}`);
    return new BrokerUnavailableError(`AWS IoT: could not ${action}: ${detail}`, { cause: error });
  }
}

function parse(payload: Uint8Array | undefined): ShadowDocument {
  if (payload === undefined || payload.length === 0) {
    return {};
  }
  const value: unknown = JSON.parse(Buffer.from(payload).toString('utf8'));
  return isJsonObject(value) ? (value) : {};
}

function toRecord(clientId: string, document: ShadowDocument): StateRecord {
  const desired = document.state?.desired;
  const reported = document.state?.reported;
  return {
    clientId,
    desired: isJsonObject(desired) ? desired : {},
    reported: isJsonObject(reported) ? reported : {},
    version: document.version ?? 1,
    updatedAt: isoFromEpoch(document.timestamp) ?? new Date().toISOString(),
  };
}

function isoFromEpoch(seconds: number | undefined): string | undefined {
  return typeof seconds === 'number' ? new Date(seconds * 1000).toISOString() : undefined;
}

/**
 * The merge patch that turns `from` into `to` (RFC 7386: removed keys are null),
 * or undefined when they are equal. Arrays and scalars are sent whole.
 */
export function diffPatch(from: JsonObject, to: JsonObject): JsonObject | undefined {
  let patch: JsonObject | undefined;
  for (const key of Object.keys(from)) {
    if (!(key in to)) {
      (patch ??= {})[key] = null;
    }
  }
  for (const [key, value] of Object.entries(to)) {
    const old: JsonValue | undefined = from[key];
    if (isJsonObject(value) && isJsonObject(old)) {
      const inner = diffPatch(old, value);
      if (inner !== undefined) {
        (patch ??= {})[key] = inner;
      }
    } else if (old === undefined || !jsonEqual(old, value)) {
      (patch ??= {})[key] = value;
    }
  }
  return patch;
}
