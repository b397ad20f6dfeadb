import { ErrorCode, type FieldError } from '../../domain/errors';

/** RFC 9457 problem details with our stable `code`. */
export interface ProblemBody {
  type: string;
  title: string;
  status: number;
  detail: string;
  code: ErrorCode;
  errors?: FieldError[];
  instance?: string;
  /** The request's id (also in the `X-Request-Id` response header and on every log line of the request). */
  requestId?: string;
  correlationId?: string;
}

export function problemType(code: ErrorCode): string {
  return `urn:web-communicator:problem:${code.toLowerCase().replace(/_/g, '-')}`;
}

/** The HTTP status of each error code. Exhaustive: a new code does not compile until it has one. */
export const HTTP_STATUS: Readonly<Record<ErrorCode, number>> = {
  VALIDATION_FAILED: 400,
  MALFORMED_JSON: 400,
  BAD_REQUEST: 400,
  INVALID_CURSOR: 400,
  UNAUTHORIZED: 401,
  FORBIDDEN: 403,
  CLIENT_BANNED: 403,
  CLIENT_SEND_DISABLED: 403,
  OPENSSL_NOT_ENABLED: 403,
  NOT_FOUND: 404,
  CHANNEL_NOT_FOUND: 404,
  USER_NOT_FOUND: 404,
  CERTIFICATE_NOT_FOUND: 404,
  TOO_MANY_CERTIFICATES: 409,
  METHOD_NOT_ALLOWED: 405,
  REQUEST_TIMEOUT: 408,
  CHANNEL_IN_USE: 409,
  VERSION_CONFLICT: 409,
  HISTORY_DISABLED: 409,
  IDEMPOTENCY_KEY_REUSED: 422,
  MESSAGE_TOO_LARGE: 413,
  STATE_TOO_LARGE: 413,
  PAYLOAD_TOO_LARGE: 413,
  UNSUPPORTED_MEDIA_TYPE: 415,
  MESSAGE_SCHEMA_MISMATCH: 422,
  CHANNEL_NOT_BROADCAST: 422,
  CHANNEL_NOT_PRIVATE: 422,
  RECIPIENT_BANNED: 422,
  RATE_LIMITED: 429,
  HEADERS_TOO_LARGE: 431,
  INTERNAL_ERROR: 500,
  BROKER_UNAVAILABLE: 503,
  STORE_UNAVAILABLE: 503,
  EVENTS_UNAVAILABLE: 503,
  SHUTTING_DOWN: 503,
};

export const HTTP_TITLES: Readonly<Record<number, string>> = {
  400: 'Bad Request',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'Not Found',
  405: 'Method Not Allowed',
  406: 'Not Acceptable',
  408: 'Request Timeout',
  409: 'Conflict',
  413: 'Content Too Large',
  415: 'Unsupported Media Type',
  422: 'Unprocessable Content',
  429: 'Too Many Requests',
  431: 'Request Header Fields Too Large',
  500: 'Internal Server Error',
  503: 'Service Unavailable',
};
