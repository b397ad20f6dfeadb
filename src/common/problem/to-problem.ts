import { randomUUID } from 'node:crypto';
import { HttpException, HttpStatus } from '@nestjs/common';
import { BrokerUnavailableError } from '../../broker/broker';
import { ClientBannedError, InvalidCursorError } from '../../store/client.repository';
import { StoreUnavailableError } from '../../store/store-unavailable.error';
import { type ProblemBody, ProblemCode, ProblemException, problemType } from './problem';

export interface ProblemResponse {
  body: ProblemBody;
  retryAfterSeconds?: number;
  /** The error was not one we expected: log it with its stack. */
  unexpected: boolean;
}

const TITLES: Record<number, string> = {
  400: 'Bad Request',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'Not Found',
  405: 'Method Not Allowed',
  406: 'Not Acceptable',
  409: 'Conflict',
  413: 'Content Too Large',
  415: 'Unsupported Media Type',
  422: 'Unprocessable Content',
  429: 'Too Many Requests',
  500: 'Internal Server Error',
  503: 'Service Unavailable',
};

const CODE_BY_STATUS: Record<number, ProblemCode> = {
  400: ProblemCode.BAD_REQUEST,
  401: ProblemCode.UNAUTHORIZED,
  403: ProblemCode.FORBIDDEN,
  404: ProblemCode.NOT_FOUND,
  405: ProblemCode.METHOD_NOT_ALLOWED,
  413: ProblemCode.PAYLOAD_TOO_LARGE,
  415: ProblemCode.UNSUPPORTED_MEDIA_TYPE,
  429: ProblemCode.RATE_LIMITED,
  503: ProblemCode.BROKER_UNAVAILABLE,
};

/** Fastify's own errors (body parsing, content type, limits) carry a FST_ code and a status. */
const FASTIFY_CODES: Record<string, ProblemCode> = {
  FST_ERR_CTP_INVALID_MEDIA_TYPE: ProblemCode.UNSUPPORTED_MEDIA_TYPE,
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: ProblemCode.BAD_REQUEST,
  FST_ERR_CTP_BODY_TOO_LARGE: ProblemCode.PAYLOAD_TOO_LARGE,
  FST_ERR_CTP_EMPTY_JSON_BODY: ProblemCode.MALFORMED_JSON,
  FST_ERR_CTP_INVALID_JSON_BODY: ProblemCode.MALFORMED_JSON,
  FST_ERR_CTP_INSTANCE_ALREADY_STARTED: ProblemCode.BAD_REQUEST,
};

const SEND_JSON = 'Send the body as JSON with the header Content-Type: application/json.';

function make(status: number, code: ProblemCode, detail: string, extra: Partial<ProblemBody> = {}): ProblemBody {
  return { type: problemType(code), title: TITLES[status] ?? 'Error', status, detail, code, ...extra };
}

/** Maps any thrown value to a problem+json body. Used by the HTTP filter and Fastify's error handler. */
export function toProblem(error: unknown, instance?: string): ProblemResponse {
  if (error instanceof ProblemException) {
    return {
      body: make(error.status, error.code, error.detail, { errors: error.extra.errors, instance }),
      retryAfterSeconds: error.extra.retryAfterSeconds,
      unexpected: false,
    };
  }
  if (error instanceof BrokerUnavailableError) {
    return { body: make(503, ProblemCode.BROKER_UNAVAILABLE, 'The message broker is unavailable; nothing was sent. Retry later.', { instance }), retryAfterSeconds: 5, unexpected: false };
  }
  if (error instanceof StoreUnavailableError) {
    return { body: make(503, ProblemCode.STORE_UNAVAILABLE, 'The data store is unavailable. Retry later.', { instance }), retryAfterSeconds: 5, unexpected: false };
  }
  if (error instanceof ClientBannedError) {
    return { body: make(403, ProblemCode.CLIENT_BANNED, 'This client is banned.', { instance }), unexpected: false };
  }
  if (error instanceof InvalidCursorError) {
    return { body: make(400, ProblemCode.INVALID_CURSOR, 'The cursor is not one this service issued.', { instance }), unexpected: false };
  }
  if (error instanceof HttpException) {
    const status = error.getStatus();
    const response = error.getResponse();
    const message = typeof response === 'string' ? response : ((response as { message?: unknown }).message ?? error.message);
    const given = Array.isArray(message) ? message.map(String).join('; ') : typeof message === 'string' ? message : error.message;
    const detail = status === 415 ? SEND_JSON : given;
    return { body: make(status, CODE_BY_STATUS[status] ?? (status >= 500 ? ProblemCode.INTERNAL_ERROR : ProblemCode.BAD_REQUEST), detail, { instance }), unexpected: status >= 500 };
  }
  const fastify = error as { code?: unknown; statusCode?: unknown; message?: unknown };
  if (typeof fastify?.statusCode === 'number' && fastify.statusCode >= 400 && fastify.statusCode < 500) {
    const code = (typeof fastify.code === 'string' && FASTIFY_CODES[fastify.code]) || (error instanceof SyntaxError ? ProblemCode.MALFORMED_JSON : CODE_BY_STATUS[fastify.statusCode] ?? ProblemCode.BAD_REQUEST);
    const detail =
      code === ProblemCode.MALFORMED_JSON
        ? 'The request body is not valid JSON.'
        : code === ProblemCode.UNSUPPORTED_MEDIA_TYPE
          ? SEND_JSON
          : typeof fastify.message === 'string'
            ? fastify.message
            : 'Bad request';
    return { body: make(fastify.statusCode, code, detail, { instance }), unexpected: false };
  }
  const correlationId = randomUUID();
  return {
    body: make(HttpStatus.INTERNAL_SERVER_ERROR, ProblemCode.INTERNAL_ERROR, `An unexpected error occurred. Quote correlation id ${correlationId} when reporting it.`, { instance, correlationId }),
    unexpected: true,
  };
}
