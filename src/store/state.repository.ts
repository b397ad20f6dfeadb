import type { JsonObject } from '../state/state-document';

/** One client's state document as stored (a classic device shadow without metadata). */
export interface StateRecord {
  clientId: string;
  desired: JsonObject;
  reported: JsonObject;
  /** 1 for the first stored document, +1 per change. */
  version: number;
  /** ISO-8601. */
  updatedAt: string;
}

/**
 * Port: state documents. Writes are conditional on the version the caller read,
 * so two instances (or two requests) can't both write on top of the same
 * version: exactly one wins, the other is told and re-reads.
 */
export abstract class StateRepository {
  abstract get(clientId: string): Promise<StateRecord | undefined>;

  /**
   * Stores `next` if the stored document is still `previous` (by version; no
   * document when `previous` is undefined). `next.version` is `previous.version + 1`
   * (1 for a first document). Returns the document as stored (a driver that numbers
   * versions itself may differ from `next` there), or undefined when another write
   * came first.
   */
  abstract save(previous: StateRecord | undefined, next: StateRecord): Promise<StateRecord | undefined>;
}
