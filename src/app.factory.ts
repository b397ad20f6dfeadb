import { randomUUID } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { NestFactory } from '@nestjs/core';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { FastifyAdapter, type NestFastifyApplication } from '@nestjs/platform-fastify';
import { Logger } from 'nestjs-pino';
import { Store, storage } from 'nestjs-pino/storage';
import type { Logger as PinoLogger } from 'pino';
import { LogController } from 'fastify';
import { HttpDrain } from './common/http-drain';
import { asyncContextFrameEnabled } from './common/logging/request-context';
import { createRootLogger, NestLogger } from './common/logging/root-logger';
import { parseJsonBody } from './common/problem/json-body';
import { trackRouteMethods } from './common/http/route-methods';
import { problemCodeOf, sendProblem, writeRawProblem } from './common/problem/problem.filter';
import { createValidationPipe } from './common/problem/validation';
import type { AppConfig } from './config/app-config';
import { AppModule } from './app.module';
import { MetricsService } from './metrics/metrics.service';
import { setupOpenApi } from './openapi';

const REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;
/** Not worth a line per request. */
const QUIET_URLS = new Set(['/health/live', '/metrics']);

/** Builds the whole app (not listening yet). Used by main, the tests and the OpenAPI writer. */
export async function createApp(config: AppConfig, options: { logger?: boolean } = {}): Promise<NestFastifyApplication> {
  const logger = createRootLogger(options.logger === false ? { ...config, logLevel: 'silent' } : config);
  const adapter = new FastifyAdapter({
    // Fastify's own logger is the service's logger: every request gets a child carrying `reqId`.
    loggerInstance: logger,
    // One line per request, written by the onResponse hook below (Fastify's default is two). The id's label stays `reqId`.
    logController: new LogController({ disableRequestLogging: true }),
    genReqId: (req: IncomingMessage) => {
      const given = req.headers['x-request-id'];
      return typeof given === 'string' && REQUEST_ID.test(given) ? given : randomUUID();
    },
    bodyLimit: config.bodyLimitBytes,
    onProtoPoisoning: 'error',
    onConstructorPoisoning: 'error',
    return503OnClosing: true,
    // On close, idle keep-alive sockets go at once; busy ones finish their request first.
    forceCloseConnections: 'idle',
    // Long enough that an over-long id reaches validation (400 VALIDATION_FAILED) instead of the router's 414.
    routerOptions: { maxParamLength: 1024 },
    // Errors raised before a route is chosen (bad percent-encoding...) and by Node's HTTP parser (431,
    // malformed requests) are problem+json too, not Fastify's default JSON.
    frameworkErrors: (error: Error, request: FastifyRequest, reply: FastifyReply) => sendProblem(error, request, reply, logger),
    clientErrorHandler: (error, socket) => writeRawProblem(error, socket),
  });
  const app = await NestFactory.create<NestFastifyApplication>(AppModule.forRoot(config, logger), adapter, {
    bufferLogs: true,
    abortOnError: false,
    // Body parsing is ours (below), not Nest's default.
    bodyParser: false,
    logger: options.logger === false ? false : undefined,
  });
  if (options.logger !== false) {
    app.useLogger(new NestLogger(app.get(Logger)));
  }
  app.useGlobalPipes(createValidationPipe());

  const metrics = app.get(MetricsService);
  const fastify = app.getHttpAdapter().getInstance();
  app.get(HttpDrain).install(fastify);
  trackRouteMethods(fastify);
  // Echoed (or generated) on every response, so a caller can quote it.
  fastify.addHook('onSend', (request, reply, payload, done) => {
    void reply.header('X-Request-Id', request.id);
    done(null, payload);
  });
  // Our own JSON parser: Nest maps Fastify's parse errors to a bare HttpException, losing the reason.
  fastify.removeContentTypeParser('application/json');
  fastify.addContentTypeParser('application/json', { parseAs: 'string' }, (_request, body, done) => {
    try {
      done(null, parseJsonBody(body as string));
    } catch (error) {
      done(error as Error, undefined);
    }
  });
  // nestjs-pino's Logger finds the request's logger (and so its reqId) here. Bound in a hook rather than
  // in nestjs-pino's middleware: no pino-http, and no @fastify/middie pass per request. Only where
  // AsyncLocalStorage is cheap (see asyncContextFrameEnabled): on promise hooks it costs every request.
  if (asyncContextFrameEnabled()) {
    fastify.addHook('onRequest', (request, _reply, done) => {
      storage.run(new Store(request.log as PinoLogger), done);
    });
  }
  fastify.addHook('onResponse', (request, reply, done) => {
    const route = request.routeOptions.url ?? 'unmatched';
    metrics.httpDuration.observe({ method: request.method, route, status: String(reply.statusCode) }, reply.elapsedTime / 1000);
    if (!QUIET_URLS.has(request.url)) {
      request.log.info({ req: request, res: reply, responseTime: reply.elapsedTime, code: problemCodeOf(reply) }, 'request completed');
    }
    done();
  });

  setupOpenApi(app);
  return app;
}
