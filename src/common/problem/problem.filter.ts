import { type ArgumentsHost, Catch, type ExceptionFilter, Logger } from '@nestjs/common';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { toProblem } from './to-problem';

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

export function sendProblem(error: unknown, request: FastifyRequest, reply: FastifyReply, logger: Pick<Logger, 'error'>): void {
  const problem = toProblem(error, request.url?.split('?')[0]);
  if (problem.unexpected) {
    logger.error({ err: error, correlationId: problem.body.correlationId, reqId: request.id }, 'unexpected error');
  }
  if (problem.retryAfterSeconds !== undefined) {
    void reply.header('Retry-After', String(problem.retryAfterSeconds));
  }
  void reply.status(problem.body.status).header('Content-Type', 'application/problem+json; charset=utf-8').send(JSON.stringify(problem.body));
}
