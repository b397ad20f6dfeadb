import { Injectable, Logger, type OnModuleInit } from '@nestjs/common';
import { Broker, type ShadowRequest } from '../broker/broker';
import { DomainError, ErrorCode, MalformedJsonError, ValidationFailedError } from '../domain/errors';
import { shadowTopic } from '../common/shadow-topics';
import { toProblem } from '../common/problem/to-problem';
import { isJsonObject } from './state-document';
import { type StateChange, StateService } from './state.service';

/** AWS IoT: "A client token that is longer than 64 bytes will cause a 400". */
const MAX_CLIENT_TOKEN_BYTES = 64;

/**
 * Devices' requests on their own shadow topics (embedded broker), answered the way
 * AWS IoT's Device Shadow service answers them:
 * - `/update` `{state: {reported}, version?, clientToken?}` → `/update/accepted`
 *   `{state: {reported}, version, timestamp, clientToken?}` or `/update/rejected`;
 * - `/get` → `/get/accepted` `{state: {desired, reported, delta?}, version, timestamp, clientToken?}`,
 *   or `/get/rejected` (404 while there is no document, as AWS).
 * Errors are AWS's error document `{code, message, timestamp, clientToken?}` with
 * `code` the HTTP status, plus `errorCode`, this service's stable problem code.
 * Every update goes through StateService with the client role, so the rules are
 * the HTTP API's (size, objects only, `reported` only, version).
 */
@Injectable()
export class ShadowRequests implements OnModuleInit {
  private readonly logger = new Logger(ShadowRequests.name);

  constructor(
    private readonly broker: Broker,
    private readonly state: StateService,
  ) {}

  onModuleInit(): void {
    this.broker.handleShadowRequests((request) => {
      this.handle(request).catch((error: unknown) =>
        this.logger.warn(`shadow ${request.kind} of ${request.clientId} failed: ${String(error)}`),
      );
    });
  }

  async handle({ clientId, kind, payload }: ShadowRequest): Promise<void> {
    let clientToken: string | undefined;
    try {
      const body = parseRequest(payload, kind === 'get');
      clientToken = readClientToken(body);
      if (kind === 'get') {
        const view = await this.state.get(clientId);
        if (view.version === 0) {
          throw new DomainError(ErrorCode.NOT_FOUND, `No shadow exists with name: '${clientId}'`);
        }
        const state: Record<string, unknown> = { desired: view.desired, reported: view.reported };
        if (view.delta !== undefined) {
          state.delta = view.delta;
        }
        await this.answer(clientId, 'get/accepted', { state, version: view.version, timestamp: epochSeconds(view.updatedAt), clientToken });
        return;
      }
      const change = toChange(body);
      await this.state.update('client', clientId, change, async ({ current }) => {
        const state: Record<string, unknown> = {};
        if (change.reported !== undefined) {
          state.reported = change.reported;
        }
        await this.answer(clientId, 'update/accepted', {
          state,
          version: current.version,
          timestamp: epochSeconds(current.updatedAt),
          clientToken,
        });
      });
    } catch (error) {
      const { body } = toProblem(error);
      await this.answer(clientId, kind === 'get' ? 'get/rejected' : 'update/rejected', {
        code: body.status,
        message: body.detail,
        errorCode: body.code,
        timestamp: epochSeconds(),
        clientToken,
      });
    }
  }

  private async answer(
    clientId: string,
    kind: 'get/accepted' | 'get/rejected' | 'update/accepted' | 'update/rejected',
    body: Record<string, unknown>,
  ): Promise<void> {
    if (body.clientToken === undefined) {
      delete body.clientToken;
    }
    await this.broker.publish(shadowTopic(clientId, kind), Buffer.from(JSON.stringify(body)), { qos: 1 });
  }
}

function invalid(message: string, field = ''): ValidationFailedError {
  return new ValidationFailedError(message, [{ field, message }]);
}

/** The request document; `/get` may be empty (AWS ignores its body apart from a client token). */
function parseRequest(payload: Buffer, emptyAllowed: boolean): Record<string, unknown> {
  if (emptyAllowed && payload.length === 0) {
    return {};
  }
  let body: unknown;
  try {
    body = JSON.parse(payload.toString('utf8'));
  } catch {
    throw new MalformedJsonError('Invalid JSON');
  }
  if (!isJsonObject(body)) {
    throw invalid('The request document must be a JSON object.');
  }
  return body;
}

function readClientToken(body: Record<string, unknown>): string | undefined {
  const token = body.clientToken;
  if (token === undefined) {
    return undefined;
  }
  if (typeof token !== 'string' || Buffer.byteLength(token, 'utf8') > MAX_CLIENT_TOKEN_BYTES) {
    throw invalid('Invalid clientToken', '/clientToken');
  }
  return token;
}

/** AWS's request state document, checked as AWS does (its messages), into a StateChange. */
function toChange(body: Record<string, unknown>): StateChange {
  for (const key of Object.keys(body)) {
    if (key !== 'state' && key !== 'version' && key !== 'clientToken') {
      throw invalid(`Unknown field: ${key}`, `/${key}`);
    }
  }
  const state = body.state;
  if (state === undefined) {
    throw invalid('Missing required node: state', '/state');
  }
  if (!isJsonObject(state)) {
    throw invalid('State node must be an object', '/state');
  }
  const change: StateChange = {};
  for (const [key, value] of Object.entries(state)) {
    if (key !== 'desired' && key !== 'reported') {
      throw invalid('State contains an invalid node', `/state/${key}`);
    }
    if (!isJsonObject(value)) {
      throw invalid(`${key === 'desired' ? 'Desired' : 'Reported'} node must be an object`, `/state/${key}`);
    }
    change[key] = value;
  }
  if (body.version !== undefined) {
    if (typeof body.version !== 'number' || !Number.isInteger(body.version) || body.version < 0) {
      throw invalid('Invalid version', '/version');
    }
    change.version = body.version;
  }
  return change;
}

function epochSeconds(iso?: string): number {
  return Math.floor((iso === undefined ? Date.now() : Date.parse(iso)) / 1000);
}
