/**
 * The errors of this service, as every layer sees them. Services and drivers
 * throw these; the HTTP layer maps them to a status and a problem+json body in
 * one place (common/problem/to-problem.ts), and the events consumers decide
 * ack / retry / dead-letter from `retryable` (events/event-relay.service.ts).
 * Nothing here knows of HTTP.
 */

/** Stable, documented error codes (API.md): clients switch on these, so never rename one. */
export const ErrorCode = {
  VALIDATION_FAILED: 'VALIDATION_FAILED',
  MALFORMED_JSON: 'MALFORMED_JSON',
  BAD_REQUEST: 'BAD_REQUEST',
  INVALID_CURSOR: 'INVALID_CURSOR',
  UNAUTHORIZED: 'UNAUTHORIZED',
  FORBIDDEN: 'FORBIDDEN',
  CLIENT_BANNED: 'CLIENT_BANNED',
  CLIENT_SEND_DISABLED: 'CLIENT_SEND_DISABLED',
  OPENSSL_NOT_ENABLED: 'OPENSSL_NOT_ENABLED',
  NOT_FOUND: 'NOT_FOUND',
  CHANNEL_NOT_FOUND: 'CHANNEL_NOT_FOUND',
  USER_NOT_FOUND: 'USER_NOT_FOUND',
  CERTIFICATE_NOT_FOUND: 'CERTIFICATE_NOT_FOUND',
  TOO_MANY_CERTIFICATES: 'TOO_MANY_CERTIFICATES',
  METHOD_NOT_ALLOWED: 'METHOD_NOT_ALLOWED',
  CHANNEL_IN_USE: 'CHANNEL_IN_USE',
  MESSAGE_TOO_LARGE: 'MESSAGE_TOO_LARGE',
  STATE_TOO_LARGE: 'STATE_TOO_LARGE',
  VERSION_CONFLICT: 'VERSION_CONFLICT',
  HISTORY_DISABLED: 'HISTORY_DISABLED',
  IDEMPOTENCY_KEY_REUSED: 'IDEMPOTENCY_KEY_REUSED',
  PAYLOAD_TOO_LARGE: 'PAYLOAD_TOO_LARGE',
  UNSUPPORTED_MEDIA_TYPE: 'UNSUPPORTED_MEDIA_TYPE',
  MESSAGE_SCHEMA_MISMATCH: 'MESSAGE_SCHEMA_MISMATCH',
  CHANNEL_NOT_BROADCAST: 'CHANNEL_NOT_BROADCAST',
  CHANNEL_NOT_PRIVATE: 'CHANNEL_NOT_PRIVATE',
  RECIPIENT_BANNED: 'RECIPIENT_BANNED',
  RATE_LIMITED: 'RATE_LIMITED',
  BROKER_UNAVAILABLE: 'BROKER_UNAVAILABLE',
  STORE_UNAVAILABLE: 'STORE_UNAVAILABLE',
  EVENTS_UNAVAILABLE: 'EVENTS_UNAVAILABLE',
  SHUTTING_DOWN: 'SHUTTING_DOWN',
  HEADERS_TOO_LARGE: 'HEADERS_TOO_LARGE',
  REQUEST_TIMEOUT: 'REQUEST_TIMEOUT',
  INTERNAL_ERROR: 'INTERNAL_ERROR',
} as const;
export type ErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode];

/** The same operation may succeed later, unchanged: a dependency is down, the caller is over a rate, the instance is stopping. */
const RETRYABLE: ReadonlySet<ErrorCode> = new Set<ErrorCode>([
  ErrorCode.RATE_LIMITED,
  ErrorCode.BROKER_UNAVAILABLE,
  ErrorCode.STORE_UNAVAILABLE,
  ErrorCode.EVENTS_UNAVAILABLE,
  ErrorCode.SHUTTING_DOWN,
]);

export interface FieldError {
  /** JSON pointer-like path of the offending field ("" for the body itself). */
  field: string;
  message: string;
}

export interface DomainErrorOptions {
  errors?: FieldError[];
  /** When a retry may succeed (only meaningful for a retryable error). */
  retryAfterSeconds?: number;
  cause?: unknown;
}

/**
 * An expected failure with a stable code. `message` is the human-readable
 * detail (safe to show the caller); `retryable` follows from the code.
 */
export class DomainError extends Error {
  readonly retryable: boolean;
  readonly errors?: FieldError[];
  readonly retryAfterSeconds?: number;

  constructor(
    readonly code: ErrorCode,
    message: string,
    options: DomainErrorOptions = {},
  ) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.retryable = RETRYABLE.has(code);
    this.errors = options.errors;
    this.retryAfterSeconds = options.retryAfterSeconds;
  }
}

/** Seconds a caller should wait before retrying after an outage. */
export const OUTAGE_RETRY_AFTER_SECONDS = 5;

// Input

export class ValidationFailedError extends DomainError {
  constructor(message: string, errors?: FieldError[]) {
    super(ErrorCode.VALIDATION_FAILED, message, { errors });
  }
}

export class MalformedJsonError extends DomainError {
  constructor(message = 'The request body is not valid JSON.') {
    super(ErrorCode.MALFORMED_JSON, message);
  }
}

/** A list cursor this service did not issue (or can't decode). */
export class InvalidCursorError extends DomainError {
  constructor() {
    super(ErrorCode.INVALID_CURSOR, 'The cursor is not one this service issued.');
  }
}

/** The broker can't hold the rules generated from the channel table (e.g. an AWS IoT policy over its size limit); nothing was changed. */
export class BrokerRulesTooLargeError extends DomainError {
  constructor(message: string, options: { cause?: unknown } = {}) {
    super(ErrorCode.VALIDATION_FAILED, message, options);
  }
}

// Who may do what

export class ForbiddenError extends DomainError {
  constructor(message: string) {
    super(ErrorCode.FORBIDDEN, message);
  }
}

/** The client is banned (a registration of a banned client is refused atomically with the ban check). */
export class ClientBannedError extends DomainError {
  constructor(readonly clientId: string) {
    super(ErrorCode.CLIENT_BANNED, 'This client is banned.');
  }
}

/** Thrown by the store's `register` / `addCertificate` when the client already holds its maximum of live certificates. */
export class TooManyCertificatesError extends DomainError {
  constructor(
    readonly clientId: string,
    readonly max: number,
  ) {
    super(ErrorCode.TOO_MANY_CERTIFICATES, `Client ${clientId} already has ${max} certificates (MAX_CERTIFICATES_PER_CLIENT); an admin must revoke one first (revokeCertificate).`);
  }
}

export class CertificateNotFoundError extends DomainError {
  constructor(clientId: string, certificateId: string) {
    super(ErrorCode.CERTIFICATE_NOT_FOUND, `Client ${clientId} has no certificate ${certificateId.slice(0, 128)}.`);
  }
}

export class ClientSendDisabledError extends DomainError {
  constructor(channel: string) {
    super(ErrorCode.CLIENT_SEND_DISABLED, `Channel ${channel} does not accept messages from clients.`);
  }
}

export class OpensslNotEnabledError extends DomainError {
  constructor() {
    super(ErrorCode.OPENSSL_NOT_ENABLED, 'OPENSSL registration is not enabled for clients (REGISTRATION_CLIENT_OPENSSL).');
  }
}

// What does not exist, or is in the way

export class ChannelNotFoundError extends DomainError {
  constructor(channel: string) {
    super(ErrorCode.CHANNEL_NOT_FOUND, `Channel ${channel} does not exist.`);
  }
}

export class UserNotFoundError extends DomainError {
  constructor(clientId: string) {
    super(ErrorCode.USER_NOT_FOUND, `Client ${clientId} is not registered.`);
  }
}

export class ChannelInUseError extends DomainError {
  constructor(channel: string, dependants: string[]) {
    super(ErrorCode.CHANNEL_IN_USE, `Channel ${channel} carries ${dependants.join(', ')} (communicationChannel); change or delete those first.`);
  }
}

// Messages

export class MessageTooLargeError extends DomainError {
  constructor(message: string) {
    super(ErrorCode.MESSAGE_TOO_LARGE, message);
  }
}

/** The message envelope would exceed what the broker takes. */
export class PayloadTooLargeError extends DomainError {
  constructor(message: string) {
    super(ErrorCode.PAYLOAD_TOO_LARGE, message);
  }
}

export class MessageSchemaMismatchError extends DomainError {
  constructor(message: string, errors?: FieldError[]) {
    super(ErrorCode.MESSAGE_SCHEMA_MISMATCH, message, { errors });
  }
}

/** The channel has no delivery of this type (CHANNEL_NOT_BROADCAST / CHANNEL_NOT_PRIVATE). */
export class WrongChannelTypeError extends DomainError {
  constructor(channel: string, wanted: 'BROADCAST' | 'PRIVATE') {
    super(wanted === 'PRIVATE' ? ErrorCode.CHANNEL_NOT_PRIVATE : ErrorCode.CHANNEL_NOT_BROADCAST, `Channel ${channel} has no ${wanted} delivery.`);
  }
}

export class RecipientBannedError extends DomainError {
  constructor(clientId: string) {
    super(ErrorCode.RECIPIENT_BANNED, `Client ${clientId} is banned and can't receive messages.`);
  }
}

export class RateLimitedError extends DomainError {
  constructor(message: string, retryAfterSeconds: number) {
    super(ErrorCode.RATE_LIMITED, message, { retryAfterSeconds });
  }
}

// Dependencies

/** A driver could not reach the broker, or the broker can't take a message or a change right now. */
export class BrokerUnavailableError extends DomainError {
  constructor(message = 'broker unavailable', options: { cause?: unknown } = {}) {
    super(ErrorCode.BROKER_UNAVAILABLE, message, { ...options, retryAfterSeconds: OUTAGE_RETRY_AFTER_SECONDS });
  }
}

/** The store could not be reached or refused to serve (throttled, network, 5xx). */
export class StoreUnavailableError extends DomainError {
  constructor(message: string, options: { cause?: unknown } = {}) {
    super(ErrorCode.STORE_UNAVAILABLE, message, { ...options, retryAfterSeconds: OUTAGE_RETRY_AFTER_SECONDS });
  }
}

/** Readiness: one or more dependencies don't answer; `errors` names them. */
export class NotReadyError extends DomainError {
  constructor(code: typeof ErrorCode.STORE_UNAVAILABLE | typeof ErrorCode.BROKER_UNAVAILABLE | typeof ErrorCode.EVENTS_UNAVAILABLE, message: string, errors: FieldError[]) {
    super(code, message, { errors, retryAfterSeconds: OUTAGE_RETRY_AFTER_SECONDS });
  }
}

/** The text of any thrown value, for logs and dead-letter details. */
export function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

// State documents (API.md section 6)

/** `version` given and not the current one, or lost to concurrent writers too often. */
export class VersionConflictError extends DomainError {
  constructor(message: string) {
    super(ErrorCode.VERSION_CONFLICT, message);
  }
}

/** A state document over AWS IoT's 8 KB. */
export class StateTooLargeError extends DomainError {
  constructor(message: string) {
    super(ErrorCode.STATE_TOO_LARGE, message);
  }
}

// History and idempotent publishing (API.md sections 4 and 5)

/** listChannelMessages on a channel that keeps no history. */
export class HistoryDisabledError extends DomainError {
  constructor(channel: string) {
    super(ErrorCode.HISTORY_DISABLED, `Channel ${channel} keeps no history (its definition has no history settings).`);
  }
}

/** An Idempotency-Key used before by the same caller for a different request. */
export class IdempotencyKeyReusedError extends DomainError {
  constructor() {
    super(ErrorCode.IDEMPOTENCY_KEY_REUSED, 'This Idempotency-Key was used for a different request; use a new key for a new request.');
  }
}
