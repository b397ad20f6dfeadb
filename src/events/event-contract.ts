import Ajv, { type ErrorObject, type ValidateFunction } from 'ajv';
import { CHANNEL_NAME_PATTERN, CLIENT_ID_PATTERN } from '../domain/ids';
import { ErrorCode, type FieldError } from '../domain/errors';

/** The cross-service event patterns (API.md section 3). */
export const EVENT_PATTERNS = {
  broadcast: 'webcommunicator.broadcast',
  direct: 'webcommunicator.direct',
} as const;
export type EventPatternName = (typeof EVENT_PATTERNS)[keyof typeof EVENT_PATTERNS];

/** An event id doubles as the envelope `Id` and the dedupe key: the same alphabet as client ids. */
export const EVENT_ID_PATTERN = /^[A-Za-z0-9:._-]{1,128}$/;

export interface BroadcastEvent {
  id?: string;
  channel: string;
  message: string;
}

export interface DirectEvent {
  id?: string;
  channel: string;
  clientId: string;
  message: string;
}

export type ValidEvent =
  { pattern: typeof EVENT_PATTERNS.broadcast; payload: BroadcastEvent } | { pattern: typeof EVENT_PATTERNS.direct; payload: DirectEvent };

/** Why an event was dead-lettered: an ErrorCode of the publishing pipeline, or one of the wire format's own. */
export type EventRejectionCode = ErrorCode | 'UNKNOWN_PATTERN';

export interface EventRejection {
  code: EventRejectionCode;
  detail: string;
}

/**
 * What a transport's deserializer hands to the events controller: every
 * delivery reaches it, the undecodable ones included, so that one place
 * decides between relay and dead-letter.
 */
export type DecodedEvent =
  { ok: true; pattern: EventPatternName; data: unknown } | { ok: false; pattern?: string; rejection: EventRejection };

const KNOWN_PATTERNS = new Set<string>(Object.values(EVENT_PATTERNS));

export function isEventPattern(value: unknown): value is EventPatternName {
  return typeof value === 'string' && KNOWN_PATTERNS.has(value);
}

/** Maps a pattern and its data, as a transport found them, to a decoded event. */
export function decodeEvent(pattern: unknown, data: unknown): DecodedEvent {
  if (!isEventPattern(pattern)) {
    const shown = typeof pattern === 'string' ? pattern.slice(0, 200) : undefined;
    return {
      ok: false,
      pattern: shown,
      rejection: {
        code: 'UNKNOWN_PATTERN',
        detail:
          shown === undefined
            ? 'The event has no string pattern.'
            : `Unknown event pattern ${JSON.stringify(shown)}; expected ${[...KNOWN_PATTERNS].join(' or ')}.`,
      },
    };
  }
  return { ok: true, pattern, data };
}

export function rejectMalformedJson(detail: string, pattern?: string): DecodedEvent {
  return { ok: false, pattern, rejection: { code: ErrorCode.MALFORMED_JSON, detail } };
}

export function rejectInvalid(detail: string, pattern?: string): DecodedEvent {
  return { ok: false, pattern, rejection: { code: ErrorCode.VALIDATION_FAILED, detail } };
}

const id = { type: 'string', pattern: EVENT_ID_PATTERN.source };
const channel = { type: 'string', pattern: CHANNEL_NAME_PATTERN.source };
const message = { type: 'string' };

const SCHEMAS: Record<EventPatternName, object> = {
  [EVENT_PATTERNS.broadcast]: {
    type: 'object',
    additionalProperties: false,
    required: ['channel', 'message'],
    properties: { id, channel, message },
  },
  [EVENT_PATTERNS.direct]: {
    type: 'object',
    additionalProperties: false,
    required: ['channel', 'clientId', 'message'],
    properties: { id, channel, clientId: { type: 'string', pattern: CLIENT_ID_PATTERN.source }, message },
  },
};

function fieldErrors(errors: ErrorObject[] | null | undefined): FieldError[] {
  return (errors ?? []).slice(0, 10).map((e) => {
    const params = e.params as { additionalProperty?: string; missingProperty?: string };
    if (e.keyword === 'additionalProperties' && params.additionalProperty !== undefined) {
      return { field: `${e.instancePath}/${params.additionalProperty}`, message: 'is not allowed (unknown field)' };
    }
    if (e.keyword === 'required' && params.missingProperty !== undefined) {
      return { field: `${e.instancePath}/${params.missingProperty}`, message: 'is required' };
    }
    return { field: e.instancePath || '/', message: e.message ?? 'is invalid' };
  });
}

/**
 * Payload validation: one compiled ajv function per pattern, so a check costs
 * a function call. Same rules as the HTTP DTOs (channel and client id
 * patterns, `message` a string), unknown fields rejected.
 */
export class EventValidator {
  private readonly validators: Record<EventPatternName, ValidateFunction>;

  constructor() {
    const ajv = new Ajv({ allErrors: true, strict: true });
    this.validators = {
      [EVENT_PATTERNS.broadcast]: ajv.compile(SCHEMAS[EVENT_PATTERNS.broadcast]),
      [EVENT_PATTERNS.direct]: ajv.compile(SCHEMAS[EVENT_PATTERNS.direct]),
    };
  }

  validate(pattern: EventPatternName, data: unknown): { ok: true; event: ValidEvent } | { ok: false; rejection: EventRejection } {
    const validate = this.validators[pattern];
    if (validate(data)) {
      return { ok: true, event: { pattern, payload: data } as ValidEvent };
    }
    const errors = fieldErrors(validate.errors);
    return {
      ok: false,
      rejection: {
        code: ErrorCode.VALIDATION_FAILED,
        detail: `Invalid ${pattern} event: ${errors.map((e) => `${e.field} ${e.message}`).join('; ')}.`,
      },
    };
  }
}
