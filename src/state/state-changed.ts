import type { JsonObject } from './state-document';

/** A client's `reported` state changed (the `client.state` outbound event, API.md section 7). */
export interface ReportedStateChanged {
  clientId: string;
  version: number;
  reported: JsonObject;
  /** ISO-8601, the document's updatedAt. */
  time: string;
}

/**
 * The one call site for the outbound `client.state` event. The events module
 * provides an implementation (exported from a global module) and StateService
 * picks it up; without one, nothing is emitted. Called after the change is
 * stored, never awaited: it must not block or fail the client's call.
 */
export abstract class StateChangeListener {
  abstract reportedChanged(event: ReportedStateChanged): void;
}
