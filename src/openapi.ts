import type { INestApplication } from '@nestjs/common';
import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import { DocumentBuilder, type OpenAPIObject, SwaggerModule } from '@nestjs/swagger';
import { ProblemCode } from './common/problem/problem';
import { version } from './status/version';

const PROBLEM_SCHEMA = {
  type: 'object',
  description: 'RFC 9457 problem details. `code` is stable: switch on it.',
  required: ['type', 'title', 'status', 'detail', 'code'],
  properties: {
    type: { type: 'string', example: 'urn:web-communicator:problem:channel-not-found' },
    title: { type: 'string', example: 'Not Found' },
    status: { type: 'integer', example: 404 },
    detail: { type: 'string', example: 'Channel news does not exist.' },
    code: { type: 'string', enum: Object.values(ProblemCode).sort() },
    instance: { type: 'string' },
    correlationId: { type: 'string', description: 'Set on 500s; quote it when reporting.' },
    errors: {
      type: 'array',
      items: { type: 'object', required: ['field', 'message'], properties: { field: { type: 'string' }, message: { type: 'string' } } },
    },
  },
};

/** Builds the OpenAPI document from the running app's controllers; operationId = the method name (API.md). */
export function createOpenApiDocument(app: INestApplication): OpenAPIObject {
  const config = new DocumentBuilder()
    .setTitle('Web Communicator')
    .setDescription('Push events to connected game clients, editors, servers and devices in real time over MQTT. Errors are application/problem+json with a stable `code`.')
    .setVersion(version)
    .addBearerAuth({ type: 'http', scheme: 'bearer', bearerFormat: 'JWT' })
    .build();
  const document = SwaggerModule.createDocument(app, config, { operationIdFactory: (_controller, method) => method });
  document.components = document.components ?? {};
  document.components.schemas = { ...document.components.schemas, Problem: PROBLEM_SCHEMA };
  for (const path of Object.values(document.paths)) {
    for (const operation of [path.get, path.put, path.post, path.patch, path.delete]) {
      if (operation) {
        operation.responses.default = {
          description: 'Problem (4xx/5xx)',
          content: { 'application/problem+json': { schema: { $ref: '#/components/schemas/Problem' } } },
        };
      }
    }
  }
  return document;
}

/**
 * Swagger UI's page: its scripts are files from this origin; its template has inline <style> blocks
 * (so styles may be inline, scripts may not); never framed (clickjacking on "Try it out").
 */
export const DOCS_CSP = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self' 'unsafe-inline'",
  "img-src 'self' data:",
  "connect-src 'self'",
  "object-src 'none'",
  "base-uri 'none'",
  "form-action 'self'",
  "frame-ancestors 'none'",
].join('; ');

export function setupOpenApi(app: NestFastifyApplication): void {
  const document = createOpenApiDocument(app);
  app
    .getHttpAdapter()
    .getInstance()
    .addHook('onRequest', (request, reply, done) => {
      const url = request.url;
      if (url === '/docs' || url.startsWith('/docs/') || url.startsWith('/docs?')) {
        void reply.header('Content-Security-Policy', DOCS_CSP);
        void reply.header('X-Frame-Options', 'DENY');
        void reply.header('X-Content-Type-Options', 'nosniff');
        void reply.header('Referrer-Policy', 'no-referrer');
      }
      done();
    });
  SwaggerModule.setup('docs', app, document, {
    jsonDocumentUrl: 'openapi.json',
    yamlDocumentUrl: 'openapi.yaml',
    // No badge fetched from a third-party validator (and the CSP would block it).
    swaggerOptions: { validatorUrl: null },
  });
}

/** Recursively key-sorted copy, so the committed spec diffs cleanly. */
export function sortKeys(value: unknown): unknown {
  if (Array.isArray(value)) {
    return value.map(sortKeys);
  }
  if (value !== null && typeof value === 'object') {
    return Object.fromEntries(
      Object.keys(value)
        .sort()
        .map((key) => [key, sortKeys((value as Record<string, unknown>)[key])]),
    );
  }
  return value;
}
