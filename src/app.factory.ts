import { NestFactory } from '@nestjs/core';
import { FastifyAdapter, type NestFastifyApplication } from '@nestjs/platform-fastify';
import { Logger } from 'nestjs-pino';
import { HttpDrain } from './common/http-drain';
import { parseJsonBody } from './common/problem/json-body';
import { createValidationPipe } from './common/problem/validation';
import type { AppConfig } from './config/app-config';
import { AppModule } from './app.module';
import { MetricsService } from './metrics/metrics.service';
import { setupOpenApi } from './openapi';

/** Builds the whole app (not listening yet). Used by main, the tests and the OpenAPI writer. */
export async function createApp(config: AppConfig, options: { logger?: boolean } = {}): Promise<NestFastifyApplication> {
  const adapter = new FastifyAdapter({
    bodyLimit: config.bodyLimitBytes,
    onProtoPoisoning: 'error',
    onConstructorPoisoning: 'error',
    return503OnClosing: true,
    // On close, idle keep-alive sockets go at once; busy ones finish their request first.
    forceCloseConnections: 'idle',
  });
  const app = await NestFactory.create<NestFastifyApplication>(AppModule.forRoot(config), adapter, {
    bufferLogs: true,
    abortOnError: false,
    // Body parsing is ours (below), not Nest's default.
    bodyParser: false,
    logger: options.logger === false ? false : undefined,
  });
  if (options.logger !== false) {
    app.useLogger(app.get(Logger));
  }
  app.useGlobalPipes(createValidationPipe());

  const metrics = app.get(MetricsService);
  const fastify = app.getHttpAdapter().getInstance();
  app.get(HttpDrain).install(fastify);
  // Our own JSON parser: Nest maps Fastify's parse errors to a bare HttpException, losing the reason.
  fastify.removeContentTypeParser('application/json');
  fastify.addContentTypeParser('application/json', { parseAs: 'string' }, (_request, body, done) => {
    try {
      done(null, parseJsonBody(body as string));
    } catch (error) {
      done(error as Error, undefined);
    }
  });
  fastify.addHook('onResponse', (request, reply, done) => {
    const route = request.routeOptions.url ?? 'unmatched';
    metrics.httpDuration.observe({ method: request.method, route, status: String(reply.statusCode) }, reply.elapsedTime / 1000);
    done();
  });

  setupOpenApi(app);
  return app;
}
