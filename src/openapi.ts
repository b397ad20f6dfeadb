import type { INestApplication } from '@nestjs/common';
import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import { DocumentBuilder, type OpenAPIObject, SwaggerModule } from '@nestjs/swagger';
import { version } from './status/version';
import { ErrorCode } from './domain/errors';

const PROBLEM_SCHEMA = {
  type: 'object',
  description: 'RFC 9457 problem details. `code` is stable: switch on it.',
  required: ['type', 'title', 'status', 'detail', 'code'],
  properties: {
    type: { type: 'string', example: 'urn:web-communicator:problem:channel-not-found' },
    title: { type: 'string', example: 'Not Found' },
    status: { type: 'integer', example: 404 },
    detail: { type: 'string', example: 'Channel news does not exist.' },
    code: { type: 'string', enum: Object.values(ErrorCode).sort() },
    instance: { type: 'string' },
    requestId: { type: 'string', description: 'The request id, also sent as the X-Request-Id header (send your own X-Request-Id to choose it); quote it when reporting.' },
    correlationId: { type: 'string', description: 'Set on 500s; quote it when reporting.' },
    errors: {
      type: 'array',
      items: { type: 'object', required: ['field', 'message'], properties: { field: { type: 'string' }, message: { type: 'string' } } },
    },
  },
};

/** Enums used in several places: one named schema each, so generators make one type. */
const NAMED_ENUMS: Record<string, readonly string[]> = {
  ConnectionType: ['WEBSOCKET', 'OPENSSL'],
  UserStatus: ['REGISTERED', 'BANNED'],
  ChannelType: ['BROADCAST', 'PRIVATE'],
};

/** Problems an operation can answer besides the ones its shape implies (auth, body, parameters). */
const EXTRA_PROBLEMS: Record<string, number[]> = {
  registerClient: [429],
  registerPortalClient: [404, 409],
  sendClientMessage: [413, 422, 429],
  listChannelMessages: [403, 404, 409, 422],
  broadcast: [404, 413, 422],
  sendDirect: [404, 413, 422],
  putChannel: [422],
  deleteChannel: [409],
  setUserStatus: [404],
  getOwnState: [404],
  updateOwnState: [404, 409, 413],
  getClientState: [404],
  updateClientState: [404, 409, 413],
};

const PROBLEM_DESCRIPTIONS: Record<number, string> = {
  400: 'Bad request: malformed JSON, or a body, parameter or query that fails validation (VALIDATION_FAILED names each field)',
  401: 'Missing, invalid or expired bearer token',
  403: 'The caller may not do this (wrong role, banned caller, channel closed to client sends...)',
  404: 'Unknown channel, user or client',
  409: 'Conflicts with the current state',
  413: 'Message or body over the limit',
  415: 'The body is not application/json',
  422: 'Valid JSON that the channel or the service refuses (schema mismatch...)',
  429: 'Rate limited: retry after the Retry-After header',
  503: 'Broker or store unavailable: nothing was done, retry after the Retry-After header',
};

/**
 * The contract's schema names for the DTO classes (`PublishResultResponseDto` → `PublishResult`,
 * `BroadcastRequestDto` → `BroadcastRequest`): generated SDKs show these names to every user.
 * One rule here rather than a decorator per class, so a new DTO can't leak `Dto` into the SDKs.
 */
export function contractSchemaName(className: string): string {
  return className.replace(/ResponseDto$/, '').replace(/RequestDto$/, 'Request').replace(/Dto$/, '');
}

function renameSchemas(document: OpenAPIObject): void {
  const schemas = document.components?.schemas ?? {};
  const renames = new Map<string, string>();
  for (const name of Object.keys(schemas)) {
    const wanted = contractSchemaName(name);
    if (wanted !== name) {
      if (schemas[wanted] !== undefined) {
        throw new Error(`OpenAPI: two schemas would be named ${wanted}`);
      }
      renames.set(name, wanted);
    }
  }
  for (const [from, to] of renames) {
    schemas[to] = schemas[from];
    delete schemas[from];
  }
  const visit = (node: unknown): void => {
    if (Array.isArray(node)) {
      node.forEach(visit);
    } else if (node !== null && typeof node === 'object') {
      const object = node as Record<string, unknown>;
      const ref = object.$ref;
      if (typeof ref === 'string' && ref.startsWith('#/components/schemas/')) {
        const target = renames.get(ref.slice('#/components/schemas/'.length));
        if (target !== undefined) {
          object.$ref = `#/components/schemas/${target}`;
        }
      }
      Object.values(object).forEach(visit);
    }
  };
  visit(document);
}

/** Inline `{type: string, enum: [...]}` equal to a named enum → a `$ref` to it (also inside arrays). */
function nameEnums(document: OpenAPIObject): void {
  const schemas = (document.components!.schemas ??= {});
  const sameValues = (a: unknown, b: readonly string[]): boolean => Array.isArray(a) && a.length === b.length && [...(a as string[])].sort().join() === [...b].sort().join();
  const visit = (node: unknown): void => {
    if (Array.isArray(node)) {
      node.forEach(visit);
      return;
    }
    if (node === null || typeof node !== 'object') {
      return;
    }
    const object = node as Record<string, unknown>;
    for (const [key, value] of Object.entries(object)) {
      if (value !== null && typeof value === 'object' && !Array.isArray(value)) {
        const candidate = value as Record<string, unknown>;
        const named = Object.entries(NAMED_ENUMS).find(([, values]) => sameValues(candidate.enum, values));
        if (named !== undefined && (candidate.type === 'string' || candidate.type === undefined)) {
          const description = candidate.description;
          object[key] = description === undefined ? { $ref: `#/components/schemas/${named[0]}` } : { allOf: [{ $ref: `#/components/schemas/${named[0]}` }], description };
          continue;
        }
      }
      visit(value);
    }
  };
  visit(document.paths);
  visit(schemas);
  for (const [name, values] of Object.entries(NAMED_ENUMS)) {
    schemas[name] = { type: 'string', enum: [...values] };
  }
}

/** Each operation declares the 4xx/5xx it can answer, all with the Problem schema (plus `default`). */
function declareProblems(document: OpenAPIObject): void {
  const problem = (status: number) => ({
    description: PROBLEM_DESCRIPTIONS[status],
    content: { 'application/problem+json': { schema: { $ref: '#/components/schemas/Problem' } } },
  });
  for (const path of Object.values(document.paths)) {
    for (const operation of [path.get, path.put, path.post, path.patch, path.delete]) {
      if (!operation) {
        continue;
      }
      const statuses = new Set<number>(EXTRA_PROBLEMS[operation.operationId ?? ''] ?? []);
      const parameters = (operation.parameters ?? []) as Array<{ in?: string }>;
      if ((operation.security ?? []).length > 0) {
        statuses.add(401).add(403).add(503);
      }
      if (operation.requestBody !== undefined) {
        statuses.add(400).add(413).add(415);
      }
      if (parameters.some((p) => p.in === 'query')) {
        statuses.add(400);
      }
      if (parameters.some((p) => p.in === 'path')) {
        statuses.add(400).add(404);
      }
      if (operation.security === undefined) {
        // Open to everyone (getStatus): say so explicitly rather than by omission.
        operation.security = [];
      }
      for (const status of [...statuses].sort()) {
        operation.responses[String(status)] = problem(status);
      }
      operation.responses.default = {
        description: 'Problem (any other 4xx/5xx)',
        content: { 'application/problem+json': { schema: { $ref: '#/components/schemas/Problem' } } },
      };
    }
  }
}

/** Builds the OpenAPI document from the running app's controllers; operationId = the method name (API.md). */
export function createOpenApiDocument(app: INestApplication): OpenAPIObject {
  const config = new DocumentBuilder()
    .setTitle('Web Communicator')
    .setDescription('Push events to connected game clients, editors, servers and devices in real time over MQTT. Errors are application/problem+json with a stable `code`.')
    .setVersion(version)
    .setLicense('MIT', 'https://opensource.org/licenses/MIT')
    .addServer('http://localhost:3000', 'The embedded default (npm start); in production, your deployment\'s URL')
    .addBearerAuth({ type: 'http', scheme: 'bearer', bearerFormat: 'JWT' })
    .build();
  const document = SwaggerModule.createDocument(app, config, { operationIdFactory: (_controller, method) => method });
  document.components = document.components ?? {};
  document.components.schemas = { ...document.components.schemas, Problem: PROBLEM_SCHEMA };
  renameSchemas(document);
  nameEnums(document);
  declareProblems(document);
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
