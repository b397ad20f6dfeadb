import { HttpStatus } from '@nestjs/common';

/** Stable, documented error codes (API.md): clients switch on these, so never rename one. */
export const ProblemCode = {
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
  METHOD_NOT_ALLOWED: 'METHOD_NOT_ALLOWED',
  CHANNEL_IN_USE: 'CHANNEL_IN_USE',
  MESSAGE_TOO_LARGE: 'MESSAGE_TOO_LARGE',
  STATE_TOO_LARGE: 'STATE_TOO_LARGE',
  VERSION_CONFLICT: 'VERSION_CONFLICT',
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
export type ProblemCode = (typeof ProblemCode)[keyof typeof ProblemCode];

export interface ProblemFieldError {
  /** JSON pointer-like path of the offending field ("" for the body itself). */
  field: string;
  message: string;
}

/** RFC 9457 problem details with our stable `code`. */
export interface ProblemBody {
  type: string;
  title: string;
  status: number;
  detail: string;
  code: ProblemCode;
  errors?: ProblemFieldError[];
  instance?: string;
  /** The request's id (also in the `X-Request-Id` response header and on every log line of the request). */
  requestId?: string;
  correlationId?: string;
}

export function problemType(code: ProblemCode): string {
  return `urn:web-communicator:problem:${code.toLowerCase().replace(/_/g, '-')}`;
}

/**
 * Thrown anywhere (services included, so HTTP and queue events share it) to end
 * a request with a problem+json response.
 */
export class ProblemException extends Error {
  constructor(
    readonly status: HttpStatus,
    readonly code: ProblemCode,
    readonly detail: string,
    readonly extra: { errors?: ProblemFieldError[]; retryAfterSeconds?: number } = {},
  ) {
    super(detail);
    this.name = 'ProblemException';
  }

  static badRequest(code: ProblemCode, detail: string, errors?: ProblemFieldError[]): ProblemException {
    return new ProblemException(HttpStatus.BAD_REQUEST, code, detail, { errors });
  }

  static forbidden(code: ProblemCode, detail: string): ProblemException {
    return new ProblemException(HttpStatus.FORBIDDEN, code, detail);
  }

  static notFound(code: ProblemCode, detail: string): ProblemException {
    return new ProblemException(HttpStatus.NOT_FOUND, code, detail);
  }

  static unavailable(code: ProblemCode, detail: string, retryAfterSeconds = 5): ProblemException {
    return new ProblemException(HttpStatus.SERVICE_UNAVAILABLE, code, detail, { retryAfterSeconds });
  }
}
