import { Inject, Injectable, Logger, Optional } from '@nestjs/common';
import { Broker } from '../broker/broker';
import type { Role } from '../common/auth/api-caller';
import { ClientBannedError, ForbiddenError, StateTooLargeError, UserNotFoundError, ValidationFailedError, VersionConflictError } from '../domain/errors';
import { shadowTopic } from '../common/shadow-topics';
import { ClientRepository } from '../store/client.repository';
import { type StateRecord, StateRepository } from '../store/state.repository';
import { StateChangeListener } from './state-changed';
import {
  computeDelta,
  type JsonObject,
  jsonEqual,
  MAX_STATE_DOCUMENT_BYTES,
  mergePatch,
  sectionProblem,
  stateDocumentBytes,
} from './state-document';

/** A change as HTTP and MQTT both express it: merge patches of each section, and the version it applies to. */
export interface StateChange {
  desired?: JsonObject;
  reported?: JsonObject;
  version?: number;
}

/** A document as served: an absent one reads as empty at version 0. */
export interface ClientStateView {
  clientId: string;
  desired: JsonObject;
  reported: JsonObject;
  delta?: JsonObject;
  version: number;
  updatedAt?: string;
}

export interface StateUpdate {
  previous: ClientStateView;
  current: ClientStateView;
}

/**
 * Writes lost to a concurrent writer (another instance: this one queues its own
 * per client) are retried this often, re-read and re-merged, before answering 409.
 */
const MAX_WRITE_ATTEMPTS = 10;

export function toView(clientId: string, record: StateRecord | undefined): ClientStateView {
  if (record === undefined) {
    return { clientId, desired: {}, reported: {}, version: 0 };
  }
  return {
    clientId,
    desired: record.desired,
    reported: record.reported,
    delta: computeDelta(record.desired, record.reported),
    version: record.version,
    updatedAt: record.updatedAt,
  };
}

/**
 * Client state documents (API.md section 6): AWS IoT classic shadow semantics
 * over either the store (embedded broker; this service then publishes the
 * shadow topics) or AWS IoT's own Device Shadows (aws-iot broker, which
 * publishes them itself).
 */
@Injectable()
export class StateService {
  private readonly logger = new Logger(StateService.name);
  private readonly documents: StateRepository;
  /** True when this service, not the broker, publishes `/update/delta` and `/update/documents`. */
  private readonly publishesShadowTopics: boolean;
  /** The last queued write per client: this instance writes one client's document one change at a time. */
  private readonly writes = new Map<string, Promise<unknown>>();

  constructor(
    private readonly clients: ClientRepository,
    private readonly broker: Broker,
    repository: StateRepository,
    @Optional() @Inject(StateChangeListener) private readonly listener?: StateChangeListener,
  ) {
    const shadows = broker.shadowDocuments();
    this.documents = shadows ?? repository;
    this.publishesShadowTopics = shadows === undefined;
  }

  async get(clientId: string): Promise<ClientStateView> {
    await this.assertServed(clientId);
    return toView(clientId, await this.documents.get(clientId));
  }

  /**
   * Applies a change for `role`: a client may change only `reported` (its own
   * document; the caller checks whose). `acknowledge` runs once the change is
   * stored and before the shadow notifications go out (MQTT's `/update/accepted`).
   */
  async update(
    role: Role,
    clientId: string,
    change: StateChange,
    acknowledge?: (update: StateUpdate) => Promise<void>,
  ): Promise<StateUpdate> {
    this.validate(role, change);
    await this.assertServed(clientId);
    const previous = this.writes.get(clientId) ?? Promise.resolve();
    const run = previous.catch(() => undefined).then(() => this.write(clientId, change, acknowledge));
    this.writes.set(clientId, run);
    try {
      return await run;
    } finally {
      if (this.writes.get(clientId) === run) {
        this.writes.delete(clientId);
      }
    }
  }

  private async write(clientId: string, change: StateChange, acknowledge?: (update: StateUpdate) => Promise<void>): Promise<StateUpdate> {
    for (let attempt = 1; ; attempt++) {
      const stored = await this.documents.get(clientId);
      const currentVersion = stored?.version ?? 0;
      if (change.version !== undefined && change.version !== currentVersion) {
        throw versionConflict(change.version, currentVersion);
      }
      const desired = change.desired === undefined ? (stored?.desired ?? {}) : mergePatch(stored?.desired ?? {}, change.desired);
      const reported = change.reported === undefined ? (stored?.reported ?? {}) : mergePatch(stored?.reported ?? {}, change.reported);
      const bytes = stateDocumentBytes({ desired, reported });
      if (bytes > MAX_STATE_DOCUMENT_BYTES) {
        throw new StateTooLargeError(`The state document would be ${bytes} bytes; the limit is ${MAX_STATE_DOCUMENT_BYTES}.`);
      }
      const next: StateRecord = { clientId, desired, reported, version: currentVersion + 1, updatedAt: new Date().toISOString() };
      const saved = await this.documents.save(stored, next);
      if (saved === undefined) {
        if (change.version !== undefined || attempt >= MAX_WRITE_ATTEMPTS) {
          throw versionConflict(change.version ?? currentVersion, undefined);
        }
        continue;
      }
      const update: StateUpdate = { previous: toView(clientId, stored), current: toView(clientId, saved) };
      await acknowledge?.(update);
      await this.notify(update, change);
      return update;
    }
  }

  private validate(role: Role, change: StateChange): void {
    if (change.desired === undefined && change.reported === undefined) {
      throw new ValidationFailedError('A state change needs `desired` or `reported`.', [
        { field: '', message: 'desired or reported is required' },
      ]);
    }
    if (role === 'client' && change.desired !== undefined) {
      throw new ForbiddenError('A client may change only its reported state; desired is set by services and admins.');
    }
    for (const name of ['desired', 'reported'] as const) {
      const section = change[name];
      const problem = section === undefined ? undefined : sectionProblem(section, name);
      if (problem !== undefined) {
        throw new ValidationFailedError(`The ${name} state is invalid: ${problem}.`, [
          { field: `/${name}`, message: problem },
        ]);
      }
    }
  }

  /** Only registered clients have documents; a banned one can't read or change its own, nor can anyone else. */
  private async assertServed(clientId: string): Promise<void> {
    const client = await this.clients.get(clientId);
    if (client === undefined) {
      throw new UserNotFoundError(clientId);
    }
    if (client.status === 'BANNED') {
      throw new ClientBannedError(clientId);
    }
  }

  /**
   * AWS IoT's notifications: `/update/documents` on every change, `/update/delta` when
   * the change touched `desired` and a delta remains (the whole delta, as AWS sends it).
   * The change is stored already: a broker failure here is logged, not answered as an
   * error (devices resynchronise with `/get`).
   */
  private async notify({ previous, current }: StateUpdate, change: StateChange): Promise<void> {
    if (change.reported !== undefined && !jsonEqual(previous.reported, current.reported)) {
      try {
        this.listener?.reportedChanged({
          clientId: current.clientId,
          version: current.version,
          reported: current.reported,
          time: current.updatedAt!,
        });
      } catch (error) {
        this.logger.warn(`client.state listener failed for ${current.clientId}: ${String(error)}`);
      }
    }
    if (!this.publishesShadowTopics) {
      return;
    }
    const timestamp = Math.floor(Date.parse(current.updatedAt!) / 1000);
    const messages: Array<[string, unknown]> = [
      [
        shadowTopic(current.clientId, 'update/documents'),
        {
          previous: { state: { desired: previous.desired, reported: previous.reported }, version: previous.version },
          current: { state: { desired: current.desired, reported: current.reported }, version: current.version },
          timestamp,
        },
      ],
    ];
    if (change.desired !== undefined && current.delta !== undefined) {
      messages.unshift([shadowTopic(current.clientId, 'update/delta'), { state: current.delta, version: current.version, timestamp }]);
    }
    for (const [topic, body] of messages) {
      try {
        await this.broker.publish(topic, Buffer.from(JSON.stringify(body)), { qos: 1 });
      } catch (error) {
        this.logger.warn(`could not publish ${topic}: ${error instanceof Error ? error.message : String(error)}`);
      }
    }
  }
}

function versionConflict(given: number, current: number | undefined): VersionConflictError {
  const detail =
    current === undefined
      ? `Version ${given} was changed by another writer; read the document again.`
      : `Version ${given} is not the current version (${current}); read the document again.`;
  return new VersionConflictError(detail);
}
