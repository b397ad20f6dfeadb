import { randomUUID } from 'node:crypto';
import { HttpException, HttpStatus } from '@nestjs/common';
import { BrokerRulesTooLargeError, BrokerUnavailableError, DomainError, ErrorCode, StoreUnavailableError } from '../../domain/errors';
import { HTTP_STATUS, HTTP_TITLES, type ProblemBody, problemType } from './problem';

export interface ProblemResponse {
  body: ProblemBody;
  retryAfterSeconds?: number;
  /** The error was not one we expected: log it with its stack. */
  unexpected: boolean;
}

/** Codes for Nest's own HttpExceptions (a route that doesn't exist, an authentication failure). */
const CODE_BY_STATUS: Record<number, ErrorCode> = {
  400: ErrorCode.BAD_REQUEST,
  401: ErrorCode.UNAUTHORIZED,
  403: ErrorCode.FORBIDDEN,
  404: ErrorCode.NOT_FOUND,
  405: ErrorCode.METHOD_NOT_ALLOWED,
  413: ErrorCode.PAYLOAD_TOO_LARGE,
  415: ErrorCode.UNSUPPORTED_MEDIA_TYPE,
  429: ErrorCode.RATE_LIMITED,
  503: ErrorCode.BROKER_UNAVAILABLE,
};

/** Fastify's own errors (body parsing, content type, limits) carry a FST_ code and a status. */
const FASTIFY_CODES: Record<string, ErrorCode> = {
  FST_ERR_CTP_INVALID_MEDIA_TYPE: ErrorCode.UNSUPPORTED_MEDIA_TYPE,
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: ErrorCode.BAD_REQUEST,
  FST_ERR_CTP_BODY_TOO_LARGE: ErrorCode.PAYLOAD_TOO_LARGE,
  FST_ERR_CTP_EMPTY_JSON_BODY: ErrorCode.MALFORMED_JSON,
  FST_ERR_CTP_INVALID_JSON_BODY: ErrorCode.MALFORMED_JSON,
  FST_ERR_CTP_INSTANCE_ALREADY_STARTED: ErrorCode.BAD_REQUEST,
};

const SEND_JSON = 'Send the body as JSON with the header Content-Type: application/json.';

/** The HTTP status of a domain error: its code's, except where one code answers two ways. */
export function httpStatusOf(error: DomainError): number {
  // The change was valid input, but the broker can't hold the resulting rules: not the 400 of malformed input.
  if (error instanceof BrokerRulesTooLargeError) {
    return HttpStatus.UNPROCESSABLE_ENTITY;
  }
  return HTTP_STATUS[error.code];
}

/** What the caller is told; drivers' own messages (which may name internals) stay in the logs. */
function publicDetail(error: DomainError): string {
  if (error instanceof BrokerUnavailableError) {
    return 'The message broker is unavailable; nothing was sent. Retry later.';
  }
  if (error instanceof StoreUnavailableError) {
    return 'The data store is unavailable. Retry later.';
  }
  return error.message;
}

function make(status: number, code: ErrorCode, detail: string, extra: Partial<ProblemBody> = {}): ProblemBody {
  return { type: problemType(code), title: HTTP_TITLES[status] ?? 'Error', status, detail, code, ...extra };
}

/**
 * The one place that maps a thrown value to an HTTP status and a problem+json
 * body. Used by the HTTP filter and Fastify's error handler.
 */
export function toProblem(error: unknown, instance?: string): ProblemResponse {
  if (error instanceof DomainError) {
    return {
      body: make(httpStatusOf(error), error.code, publicDetail(error), { errors: error.errors, instance }),
      retryAfterSeconds: error.retryAfterSeconds,
      unexpected: false,
    };
  }
  if (error instanceof HttpException) {
    const status = error.getStatus();
    const response = error.getResponse();
    const message = typeof response === 'string' ? response : ((response as { message?: unknown }).message ?? error.message);
    const given = Array.isArray(message) ? message.map(String).join('; ') : typeof message === 'string' ? message : error.message;
    const detail = status === 415 ? SEND_JSON : given;
    return { body: make(status, CODE_BY_STATUS[status] ?? (status >= 500 ? ErrorCode.INTERNAL_ERROR : ErrorCode.BAD_REQUEST), detail, { instance }), unexpected: status >= 500 };
  }
  const fastify = error as { code?: unknown; statusCode?: unknown; message?: unknown };
  if (typeof fastify?.statusCode === 'number' && fastify.statusCode >= 400 && fastify.statusCode < 500) {
    const code = (typeof fastify.code === 'string' && FASTIFY_CODES[fastify.code]) || (error instanceof SyntaxError ? ErrorCode.MALFORMED_JSON : CODE_BY_STATUS[fastify.statusCode] ?? ErrorCode.BAD_REQUEST);
    const detail =
      code === ErrorCode.MALFORMED_JSON
        ? 'The request body is not valid JSON.'
        : code === ErrorCode.UNSUPPORTED_MEDIA_TYPE
          ? SEND_JSON
          : typeof fastify.message === 'string'
            ? fastify.message
            : 'Bad request';
    return { body: make(fastify.statusCode, code, detail, { instance }), unexpected: false };
  }
  const correlationId = randomUUID();
  return {
    body: make(HttpStatus.INTERNAL_SERVER_ERROR, ErrorCode.INTERNAL_ERROR, `An unexpected error occurred. Quote correlation id ${correlationId} when reporting it.`, { instance, correlationId }),
    unexpected: true,
  };
}
