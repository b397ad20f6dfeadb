import { type ArgumentsHost, Catch, type ExceptionFilter, Logger } from '@nestjs/common';
import type { Duplex } from 'node:stream';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { allowedMethods } from '../http/route-methods';
import { HTTP_STATUS, HTTP_TITLES, problemType } from './problem';
import { toProblem } from './to-problem';
import { DomainError, ErrorCode } from '../../domain/errors';

/** The one HTTP exception filter: every 4xx/5xx leaves as application/problem+json with a stable code. */
@Catch()
export class ProblemFilter implements ExceptionFilter {
  private readonly logger = new Logger(ProblemFilter.name);

  catch(error: unknown, host: ArgumentsHost): void {
    if (host.getType() !== 'http') {
      throw error;
    }
    const http = host.switchToHttp();
    sendProblem(error, http.getRequest<FastifyRequest>(), http.getResponse<FastifyReply>(), this.logger);
  }
}

/** The problem `code` each reply was sent with, for the request's log line. */
const problemCodes = new WeakMap<FastifyReply, string>();

export function problemCodeOf(reply: FastifyReply): string | undefined {
  return problemCodes.get(reply);
}

export function sendProblem(error: unknown, request: FastifyRequest, reply: FastifyReply, logger: { error: (details: object, message: string) => void }): void {
  const path = request.url?.split('?')[0] ?? '';
  let problem = toProblem(error, path);
  if (problem.body.status === 404 && problem.body.code === ErrorCode.NOT_FOUND) {
    // No route for this method, but there is one for others: 405 with Allow, not 404.
    const allowed = allowedMethods(request.server, path);
    // A route that answers this very method said 404 itself (a static file that isn't there): it stays 404.
    if (allowed.length > 0 && !allowed.includes(request.method)) {
      problem = toProblem(new DomainError(ErrorCode.METHOD_NOT_ALLOWED, `${request.method} is not allowed on this path; use ${allowed.join(', ')}.`), path);
      void reply.header('Allow', allowed.join(', '));
    }
  }
  // Callers quote this id when they report a problem; it is on every log line of the request.
  problem.body.requestId = String(request.id);
  problemCodes.set(reply, problem.body.code);
  if (problem.unexpected) {
    logger.error({ err: error, correlationId: problem.body.correlationId, reqId: request.id }, 'unexpected error');
  }
  if (problem.retryAfterSeconds !== undefined) {
    void reply.header('Retry-After', String(problem.retryAfterSeconds));
  }
  void reply.status(problem.body.status).header('Content-Type', 'application/problem+json; charset=utf-8').send(JSON.stringify(problem.body));
}

/**
 * Node's HTTP parser refused the request (headers too large, malformed request
 * line): there is no request object, so answer on the raw socket.
 */
export function writeRawProblem(error: Error & { code?: string }, socket: Duplex): void {
  if (!socket.writable) {
    socket.destroy();
    return;
  }
  const code = error.code === 'HPE_HEADER_OVERFLOW' ? ErrorCode.HEADERS_TOO_LARGE : error.code === 'ERR_HTTP_REQUEST_TIMEOUT' ? ErrorCode.REQUEST_TIMEOUT : ErrorCode.BAD_REQUEST;
  const status = HTTP_STATUS[code];
  const title = HTTP_TITLES[status];
  const body = JSON.stringify({ type: problemType(code), title, status, detail: 'The HTTP request could not be parsed.', code });
  socket.end(
    `HTTP/1.1 ${status} ${title}\r\nContent-Type: application/problem+json; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
  );
}
