import { readFileSync } from 'node:fs';
import { Agent, request } from 'node:http';
import { join } from 'node:path';
import fc from 'fast-check';

/**
 * Property-based HTTP fuzzing driven by the committed OpenAPI document: every
 * operation, its path and query parameters and its JSON body are generated from
 * the document (read at test time, so a new operation is fuzzed without editing
 * this file), then bent out of shape: wrong types, huge strings, deep nesting,
 * unicode, NUL bytes, prototype-pollution keys, MQTT wildcards and `/` in
 * names, invalid UTF-8, invalid percent-encoding, wrong content types and
 * bodies over the limit.
 */

type Schema = Record<string, unknown>;

export interface FuzzOperation {
  operationId: string;
  method: string;
  /** OpenAPI path template, e.g. /v1/admin/users/{clientId}. */
  path: string;
  pathParams: string[];
  query: Array<{ name: string; schema: Schema }>;
  body?: Schema;
  secured: boolean;
}

export function loadOperations(file = join(__dirname, '..', '..', '..', 'openapi', 'openapi.json')): FuzzOperation[] {
  const doc = JSON.parse(readFileSync(file, 'utf8')) as { paths: Record<string, Record<string, Record<string, unknown>>> };
  const resolve = (schema: unknown): Schema => deref(doc, schema);
  const operations: FuzzOperation[] = [];
  for (const [path, methods] of Object.entries(doc.paths)) {
    for (const [method, op] of Object.entries(methods)) {
      const parameters = (op.parameters ?? []) as Array<{ name: string; in: string; schema: Schema }>;
      const body = (op.requestBody as { content?: Record<string, { schema: unknown }> } | undefined)?.content?.['application/json']?.schema;
      operations.push({
        operationId: op.operationId as string,
        method: method.toUpperCase(),
        path,
        pathParams: parameters.filter((p) => p.in === 'path').map((p) => p.name),
        query: parameters.filter((p) => p.in === 'query').map((p) => ({ name: p.name, schema: resolve(p.schema) })),
        body: body === undefined ? undefined : resolve(body),
        secured: Array.isArray(op.security) && op.security.length > 0,
      });
    }
  }
  return operations;
}

/** Inlines local `$ref`s (the document has no cycles). */
function deref(doc: unknown, schema: unknown): Schema {
  if (Array.isArray(schema)) {
    return schema.map((s) => deref(doc, s)) as unknown as Schema;
  }
  if (schema === null || typeof schema !== 'object') {
    return schema as Schema;
  }
  const ref = (schema as { $ref?: string }).$ref;
  if (typeof ref === 'string') {
    const target = ref
      .slice(2)
      .split('/')
      .reduce<unknown>((node, key) => (node as Record<string, unknown>)[key], doc);
    return deref(doc, target);
  }
  return Object.fromEntries(Object.entries(schema).map(([k, v]) => [k, deref(doc, v)]));
}

// ---- value generators ---------------------------------------------------------------------

/** Names the service will meet for real (so requests reach services, not only validation). */
export const KNOWN_CHANNELS = ['news', 'chat', 'fz-a', 'fz_b'];
export const KNOWN_CLIENTS = ['fuzz-client', 'fuzz-banned', 'fuzz-admin', 'fuzz-device', 'us-east-1:7d0c1a8e-1111'];

const HOSTILE_STRINGS = [
  '',
  ' ',
  '#',
  '+',
  '/',
  'a/b',
  'news/#',
  'news/+',
  'news/client/fuzz-client',
  '$SYS',
  '$SYS/#',
  '$webcommunicator/internal/x',
  '..',
  '../../etc/passwd',
  '__proto__',
  'constructor',
  'prototype',
  'toString',
  'hasOwnProperty',
  'valueOf',
  '\u0000',
  'news\u0000',
  'a\u0000b',
  '\uD800',
  '\uDFFF\uD800',
  '\uFEFFnews',
  'é',
  'ｎｅｗｓ',
  '🎮🎮',
  'news\r\nX-Injected: 1',
  '%00',
  '%2F',
  '${jndi:ldap://x}',
  '{{7*7}}',
  "' OR 1=1 --",
  'null',
  'undefined',
  'NaN',
  '-1',
  '1e309',
  'x'.repeat(64),
  'x'.repeat(65),
  'x'.repeat(128),
  'x'.repeat(129),
];

export const hostileString: fc.Arbitrary<string> = fc.oneof(
  { weight: 4, arbitrary: fc.constantFrom(...HOSTILE_STRINGS) },
  { weight: 3, arbitrary: fc.constantFrom(...KNOWN_CHANNELS, ...KNOWN_CLIENTS) },
  { weight: 2, arbitrary: fc.string({ unit: 'binary', maxLength: 40 }) },
  { weight: 2, arbitrary: fc.string({ unit: 'grapheme', maxLength: 40 }) },
  { weight: 2, arbitrary: fc.stringMatching(/^[A-Za-z0-9:._\-/#+$]{1,20}$/) },
  // Huge: past the name limits, the message limits and (rarely) the body limit.
  { weight: 1, arbitrary: fc.constantFrom(1_000, 70_000, 140_000).map((n) => 'x'.repeat(n)) },
);

/** Values a well-behaved caller would send, so that a good share of requests succeed. */
const plausibleString = fc.constantFrom(...KNOWN_CHANNELS, ...KNOWN_CLIENTS, 'hello', '{"pak":"p1"}', 'gg');

/** Names of things that exist, for fields and parameters with these names. */
const NAME_HINTS: Record<string, fc.Arbitrary<string>> = {
  channel: fc.constantFrom(...KNOWN_CHANNELS),
  name: fc.constantFrom(...KNOWN_CHANNELS),
  clientId: fc.constantFrom(...KNOWN_CLIENTS),
};

const prototypeKey = fc.constantFrom('__proto__', 'constructor', 'prototype');

const anyJson: fc.Arbitrary<unknown> = fc.oneof(
  { weight: 3, arbitrary: fc.jsonValue({ maxDepth: 3 }) },
  { weight: 2, arbitrary: hostileString },
  { weight: 1, arbitrary: fc.constantFrom(null, true, false, 0, -1, 1.5, Number.MAX_SAFE_INTEGER, 1e308, -0, [], {}) },
);

/** A value for `schema`: mostly valid-shaped (so it reaches the services), sometimes anything at all. */
export function valueFor(schema: Schema | undefined, depth = 0): fc.Arbitrary<unknown> {
  if (schema === undefined || depth > 4) {
    return anyJson;
  }
  const shaped = shapedValue(schema, depth);
  return fc.oneof({ weight: 5, arbitrary: shaped }, { weight: 1, arbitrary: anyJson });
}

function shapedValue(schema: Schema, depth: number): fc.Arbitrary<unknown> {
  if (schema === MESSAGE_SCHEMA) {
    return messageSchemaArbitrary;
  }
  const all = schema.allOf as Schema[] | undefined;
  if (all !== undefined && all.length > 0) {
    return shapedValue(Object.assign({}, ...all) as Schema, depth);
  }
  if (Array.isArray(schema.enum)) {
    return fc.oneof({ weight: 4, arbitrary: fc.constantFrom(...(schema.enum as unknown[])) }, { weight: 1, arbitrary: hostileString });
  }
  switch (schema.type) {
    case 'string':
      return fc.oneof({ weight: 3, arbitrary: plausibleString }, { weight: 2, arbitrary: hostileString });
    case 'number':
    case 'integer':
      return fc.oneof(
        fc.integer({ min: (schema.minimum as number | undefined) ?? 0, max: (schema.maximum as number | undefined) ?? 1000 }),
        fc.double(),
        fc.constantFrom(0, -1, 1.5, 1e21, Number.MAX_SAFE_INTEGER + 2),
      );
    case 'boolean':
      return fc.oneof({ weight: 4, arbitrary: fc.boolean() }, { weight: 1, arbitrary: fc.constantFrom('true', 1, 0, null) });
    case 'array':
      return fc.array(valueFor(schema.items as Schema | undefined, depth + 1), { maxLength: 4 });
    case 'object': {
      const properties = (schema.properties ?? {}) as Record<string, Schema>;
      const required = new Set((schema.required ?? []) as string[]);
      const record: Record<string, fc.Arbitrary<unknown>> = {};
      for (const [name, sub] of Object.entries(properties)) {
        const hint = NAME_HINTS[name];
        const value = valueFor(name === 'messageSchema' ? MESSAGE_SCHEMA : sub, depth + 1);
        record[name] = hint === undefined ? value : fc.oneof({ weight: 3, arbitrary: hint }, { weight: 2, arbitrary: value });
      }
      const requiredKeys = Object.keys(properties).filter((k) => required.has(k));
      return fc
        .tuple(
          fc.record(record, { requiredKeys }),
          fc.boolean(),
          fc.array(fc.tuple(fc.oneof(prototypeKey, hostileString), anyJson), { maxLength: 2 }),
          fc.integer({ min: 0, max: 9 }),
        )
        .map(([value, dropRequired, extras, roll]) => {
          const out: Record<string, unknown> = { ...value };
          if (dropRequired && requiredKeys.length > 0 && roll === 0) {
            delete out[requiredKeys[0]];
          }
          if (roll < 2) {
            for (const [key, extra] of extras) {
              // An own property, even for "__proto__" (what JSON.parse of a hostile body would make).
              Object.defineProperty(out, key, { value: extra, enumerable: true, configurable: true, writable: true });
            }
          }
          return out;
        });
    }
    default:
      return anyJson;
  }
}

/** Channel message schemas: real JSON Schema, broken schema, hostile regexes (compiled by ajv). */
const MESSAGE_SCHEMA: Schema = { type: '__messageSchema' };
const messageSchemaArbitrary: fc.Arbitrary<unknown> = fc.oneof(
  fc.constant({ type: 'object', required: ['pak'], properties: { pak: { type: 'string' } } }),
  fc.constant({ type: 'object', properties: { n: { type: 'integer', maximum: 3 } }, additionalProperties: false }),
  fc.constant({ $ref: '#/definitions/missing' }),
  fc.constant({ type: 'not-a-type' }),
  fc.constant({ pattern: '([' }),
  fc.constant({ type: 'string', format: 'unknown-format' }),
  fc.constant({ $id: 'http://evil.test/schema', $schema: 'http://evil.test/meta' }),
  fc.jsonValue({ maxDepth: 3 }).filter((v) => v !== null && typeof v === 'object' && !Array.isArray(v)),
);

// ---- requests ------------------------------------------------------------------------------

export type TokenKind = 'none' | 'garbage' | 'client' | 'banned' | 'service' | 'admin';

export interface FuzzRequest {
  operationId: string;
  method: string;
  path: string;
  headers: Record<string, string>;
  body?: Buffer;
  /** For the report: what kind of body was sent. */
  bodyKind: string;
  token: TokenKind;
}

/** encodeURIComponent without its URIError on lone surrogates (they go as U+FFFD, like Buffer.from does). */
function pct(value: string): string {
  return Array.from(Buffer.from(value, 'utf8'))
    .map((b) =>
      /[A-Za-z0-9\-_.!~*'()]/.test(String.fromCharCode(b)) && b < 0x80
        ? String.fromCharCode(b)
        : `%${b.toString(16).toUpperCase().padStart(2, '0')}`,
    )
    .join('');
}

/** How a path parameter value is put in the URL. */
function encodePathValue(raw: string, how: number): string {
  // Node answers a request line over 16 KiB (maxHeaderSize) itself, before Fastify: see the 431 test.
  const value = raw.slice(0, MAX_URL_PART);
  switch (how) {
    case 0:
      return pct(value);
    case 1:
      // `/` kept raw: another route, or none.
      return pct(value).replace(/%2F/gi, '/');
    case 2:
      return `${pct(value)}%`;
    case 3:
      return `${pct(value)}%zz%E0%A4`;
    case 4:
      return pct(pct(value));
    default:
      // Raw bytes, with only what the HTTP client can't send escaped.
      return Array.from(Buffer.from(value, 'utf8'))
        .map((b) =>
          b > 0x20 && b < 0x7f && b !== 0x3f && b !== 0x23 && b !== 0x25 ? String.fromCharCode(b) : `%${b.toString(16).padStart(2, '0')}`,
        )
        .join('');
  }
}

/** Keeps a generated URL under Node's 16 KiB header limit (even when every character is percent-encoded). */
const MAX_URL_PART = 1_000;

function queryPair(key: string, value: unknown): string {
  const text = typeof value === 'string' ? value : (JSON.stringify(value) ?? '');
  return `${pct(key.slice(0, MAX_URL_PART))}=${pct(text.slice(0, MAX_URL_PART))}`;
}

const otherContentTypes = fc.constantFrom(
  'application/json; charset=utf-8',
  'APPLICATION/JSON',
  'application/json; charset=latin1',
  'application/json;;;',
  'application/problem+json',
  'text/plain',
  'text/html',
  'application/x-www-form-urlencoded',
  'multipart/form-data; boundary=x',
  'application/octet-stream',
  '*/*',
  'json',
  '',
  undefined,
);

const contentTypes = fc.oneof({ weight: 4, arbitrary: fc.constant('application/json') }, { weight: 1, arbitrary: otherContentTypes });

const INVALID_UTF8 = [
  Buffer.from([0xff, 0xfe]),
  Buffer.from([0xc0, 0x80]),
  Buffer.from([0xed, 0xa0, 0x80]),
  Buffer.from([0x80]),
  Buffer.from([0xf4, 0x90, 0x80, 0x80]),
];

/** A JSON body, raw-bent: as is, truncated, with invalid UTF-8 spliced in, with NULs, deep, empty, oversized. */
function bodyArbitrary(schema: Schema | undefined, bodyLimit: number): fc.Arbitrary<{ body?: Buffer; kind: string }> {
  const json = valueFor(schema).map((v) => JSON.stringify(v) ?? 'null');
  return fc.oneof(
    { weight: 10, arbitrary: json.map((text) => ({ body: Buffer.from(text, 'utf8'), kind: 'json' })) },
    {
      weight: 2,
      arbitrary: fc
        .tuple(json, fc.nat())
        .map(([text, cut]) => ({ body: Buffer.from(text.slice(0, cut % Math.max(1, text.length)), 'utf8'), kind: 'truncated' })),
    },
    {
      weight: 2,
      arbitrary: fc.tuple(json, fc.nat(), fc.constantFrom(...INVALID_UTF8)).map(([text, at, bad]) => {
        const bytes = Buffer.from(text, 'utf8');
        const i = at % (bytes.length + 1);
        return { body: Buffer.concat([bytes.subarray(0, i), bad, bytes.subarray(i)]), kind: 'invalid-utf8' };
      }),
    },
    {
      weight: 1,
      arbitrary: fc.tuple(fc.integer({ min: 1, max: 20_000 }), fc.constantFrom('[', '{"a":')).map(([n, open]) => ({
        body: Buffer.from(`${open.repeat(n)}1${(open === '[' ? ']' : '}').repeat(n)}`),
        kind: 'deep',
      })),
    },
    {
      weight: 1,
      arbitrary: fc
        .constantFrom(
          '{"__proto__":{"polluted":"yes"}}',
          '{"constructor":{"prototype":{"polluted":"yes"}}}',
          '{"channel":"news","message":"x","__proto__":{"isAdmin":true}}',
          '{"connectionType":"WEBSOCKET","constructor":{"prototype":{"polluted":1}}}',
          '{"types":["BROADCAST"],"messageSchema":{"__proto__":{"polluted":1}}}',
          '{"status":"BANNED","reason":"x","__proto__":null}',
        )
        .map((text) => ({ body: Buffer.from(text), kind: 'proto' })),
    },
    {
      weight: 1,
      arbitrary: fc
        .constantFrom('', ' ', 'null', '\u0000', '\uFEFF{}', '{"a":1}\u0000', '{"a":"\u0000"}')
        .map((text) => ({ body: Buffer.from(text), kind: 'odd' })),
    },
    { weight: 1, arbitrary: fc.constant({ body: undefined, kind: 'none' }) },
    // Over the body limit: 413, never a 5xx nor a dropped connection without an answer.
    { weight: 1, arbitrary: fc.constant({ body: Buffer.from(`{"message":"${'x'.repeat(bodyLimit)}"}`), kind: 'oversize' }) },
  );
}

export interface FuzzContext {
  operations: FuzzOperation[];
  tokens: Record<Exclude<TokenKind, 'none' | 'garbage'>, string>;
  bodyLimit: number;
}

/** One generated request for one of the operations (or, rarely, a route outside the document). */
export function requestArbitrary(ctx: FuzzContext): fc.Arbitrary<FuzzRequest> {
  const perOperation = ctx.operations.map((op) => operationRequest(ctx, op));
  const outside = fc
    .tuple(
      fc.constantFrom('GET', 'POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS'),
      fc.constantFrom(
        '/health/live',
        '/health/ready',
        '/metrics',
        '/v1',
        '/v1/',
        '/v1/admin',
        '/openapi.json',
        '/%',
        '/v1/%zz',
        '/v1/channels/%00/messages',
      ),
      tokenArbitrary(ctx),
    )
    .map(([method, path, [token, authorization]]): FuzzRequest => ({
      operationId: `outside ${path}`,
      method,
      path,
      headers: authorization === undefined ? {} : { authorization },
      bodyKind: 'none',
      token,
    }));
  return fc.oneof({ weight: 20, arbitrary: fc.oneof(...perOperation) }, { weight: 1, arbitrary: outside });
}

function tokenArbitrary(ctx: FuzzContext): fc.Arbitrary<[TokenKind, string | undefined]> {
  return fc.oneof(
    { weight: 2, arbitrary: fc.constantFrom<[TokenKind, string | undefined]>(['none', undefined]) },
    {
      weight: 1,
      arbitrary: fc
        .oneof(
          fc.constantFrom('Bearer', 'Bearer ', 'Bearer a.b.c', 'Basic YTpi', `Bearer ${'x'.repeat(10_000)}`, 'bearer  x'),
          fc.string({ unit: 'grapheme-ascii', maxLength: 60 }).map((s) => `Bearer ${s}`),
        )
        .map((h): [TokenKind, string | undefined] => ['garbage', h.replace(/[^\x20-\x7e]/g, '')]),
    },
    {
      weight: 8,
      arbitrary: fc
        .constantFrom(...(Object.keys(ctx.tokens) as Array<keyof FuzzContext['tokens']>))
        .map((k): [TokenKind, string | undefined] => [k, `Bearer ${ctx.tokens[k]}`]),
    },
  );
}

function operationRequest(ctx: FuzzContext, op: FuzzOperation): fc.Arbitrary<FuzzRequest> {
  const pathValues = fc.tuple(
    ...op.pathParams.map((name) =>
      fc.tuple(NAME_HINTS[name] === undefined ? hostileString : fc.oneof(NAME_HINTS[name], hostileString), fc.nat({ max: 9 })),
    ),
  );
  const queryValues = fc.tuple(
    fc.tuple(...op.query.map((q) => fc.option(valueFor(q.schema), { freq: 2 }))),
    fc.array(
      fc.tuple(
        fc.oneof(
          prototypeKey,
          hostileString,
          fc.constantFrom('__proto__[polluted]', 'constructor[prototype][polluted]', 'limit', 'status'),
        ),
        hostileString,
      ),
      { maxLength: 2 },
    ),
    fc.nat({ max: 5 }),
  );
  const method = fc.oneof(
    { weight: 12, arbitrary: fc.constant(op.method) },
    { weight: 1, arbitrary: fc.constantFrom('GET', 'POST', 'PUT', 'DELETE', 'PATCH', 'HEAD', 'OPTIONS') },
  );
  const withBody = op.body !== undefined;
  return fc
    .record({
      method,
      token: tokenArbitrary(ctx),
      pathValues,
      queryValues,
      body: withBody
        ? bodyArbitrary(op.body, ctx.bodyLimit)
        : fc.oneof(
            { weight: 5, arbitrary: fc.constant({ body: undefined, kind: 'none' }) },
            { weight: 1, arbitrary: bodyArbitrary(undefined, ctx.bodyLimit) },
          ),
      contentType: withBody ? contentTypes : fc.constantFrom(undefined, 'application/json'),
    })
    .map(({ method: m, token: [token, authorization], pathValues: pv, queryValues: [declared, extra, extraRoll], body, contentType }) => {
      let path = op.path;
      op.pathParams.forEach((name, i) => {
        const [value, how] = pv[i];
        path = path.replace(`{${name}}`, encodePathValue(value, how));
      });
      const pairs: string[] = [];
      op.query.forEach((q, i) => {
        if (declared[i] !== null) {
          pairs.push(queryPair(q.name, declared[i]));
        }
      });
      if (extraRoll === 0) {
        pairs.push(...extra.map(([k, v]) => queryPair(k, v)));
      }
      if (pairs.length > 0) {
        path += `?${pairs.join('&')}`;
      }
      const headers: Record<string, string> = {};
      if (authorization !== undefined) {
        headers.authorization = authorization;
      }
      if (body.body !== undefined && contentType !== undefined) {
        headers['content-type'] = contentType;
      }
      return { operationId: op.operationId, method: m, path, headers, body: body.body, bodyKind: body.kind, token };
    });
}

// ---- sending -------------------------------------------------------------------------------

export interface FuzzResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

const agent = new Agent({ keepAlive: true, maxSockets: 4 });

export function destroyAgent(): void {
  agent.destroy();
}

export function send(baseUrl: string, req: FuzzRequest, timeoutMs = 10_000): Promise<FuzzResponse> {
  const url = new URL(baseUrl);
  return new Promise((resolve, reject) => {
    const headers: Record<string, string> = { ...req.headers };
    if (req.body !== undefined) {
      headers['content-length'] = String(req.body.length);
    }
    const r = request(
      { host: url.hostname, port: url.port, method: req.method, path: req.path, headers, agent, timeout: timeoutMs },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') }));
        res.on('error', reject);
      },
    );
    r.on('timeout', () => r.destroy(new Error(`no answer within ${timeoutMs} ms`)));
    r.on('error', reject);
    if (req.body !== undefined) {
      r.end(req.body);
    } else {
      r.end();
    }
  });
}

/**
 * What every answer must be: no 5xx; every 4xx is problem+json with a stable
 * UPPER_SNAKE `code` and the same `status`. Returns a reason, or undefined when fine.
 */
export function violation(req: FuzzRequest, res: FuzzResponse): string | undefined {
  if (res.status >= 500 || res.status < 100) {
    return `status ${res.status}: ${res.body.slice(0, 300)}`;
  }
  if (res.status < 400) {
    return undefined;
  }
  const type = String(res.headers['content-type'] ?? '');
  if (!/^application\/problem\+json/.test(type)) {
    return `status ${res.status} with content-type ${JSON.stringify(type)}`;
  }
  if (req.method === 'HEAD') {
    return undefined;
  }
  let body: { code?: unknown; status?: unknown };
  try {
    body = JSON.parse(res.body) as typeof body;
  } catch {
    return `problem body is not JSON: ${res.body.slice(0, 200)}`;
  }
  if (typeof body.code !== 'string' || !/^[A-Z][A-Z0-9_]*$/.test(body.code) || body.status !== res.status) {
    return `problem without a stable code or with another status: ${res.body.slice(0, 200)}`;
  }
  return undefined;
}

/** Own property names of the built-in prototypes, to compare before and after. */
export function prototypeSnapshot(): Record<string, string[]> {
  const targets: Record<string, object> = {
    Object: Object.prototype,
    Array: Array.prototype,
    Function: Function.prototype,
    String: String.prototype,
  };
  return Object.fromEntries(Object.entries(targets).map(([name, proto]) => [name, Reflect.ownKeys(proto).map(String).sort()]));
}
