import { Injectable, Logger } from '@nestjs/common';
import Ajv, { type ErrorObject, type ValidateFunction } from 'ajv';
import type { RegExpEngine } from 'ajv/dist/types';
import addFormats from 'ajv-formats';
import { RE2JS } from 're2js';
import type { ChannelDefinition } from '../domain/channel';

export interface SchemaProblem {
  field: string;
  message: string;
}

/**
 * Bounds on an admin-written schema. Ajv's compile time grows with the number of subschemas
 * (a 3,500-property schema blocked the event loop for seconds, then overflowed the stack);
 * a message schema is a few dozen properties, so these leave ample room.
 */
export const SCHEMA_LIMITS = {
  /** JSON text of the schema, in bytes. */
  maxBytes: 32_768,
  /** Objects and arrays in the schema, all levels. */
  maxNodes: 500,
  /** Nesting of objects and arrays. */
  maxDepth: 32,
} as const;

/**
 * `pattern` and `patternProperties` run on RE2 (re2js, pure JS): matching takes time linear in the
 * input, so no pattern can stall the event loop the way `^(a+)+$` does on V8's backtracking engine.
 * RE2 has no lookaround and no backreferences: such patterns are refused when the channel is saved.
 */
const linearTimeRegExp: RegExpEngine = Object.assign(
  (pattern: string, flags: string) => {
    const compiled = RE2JS.compile(pattern);
    return { test: (input: string) => compiled.test(input), toString: () => `/${pattern}/${flags}` };
  },
  { code: 'require("re2js").RE2JS.compile' },
);

function describe(errors: ErrorObject[] | null | undefined): SchemaProblem[] {
  return (errors ?? []).slice(0, 20).map((e) => ({ field: e.instancePath || '/', message: e.message ?? 'is invalid' }));
}

/** Thrown when a stored schema can't be used (it was saved before these rules): messages on its channel are refused. */
export class UnusableSchemaError extends Error {
  constructor(readonly problems: SchemaProblem[]) {
    super(problems.map((p) => p.message).join('; '));
    this.name = 'UnusableSchemaError';
  }
}

/**
 * Compiled schemas by schema text, shared by the DTO check (`IsMessageSchema`, which runs when a channel
 * is saved) and `MessageSchemas`: a schema is compiled once, when it is saved, and its first message
 * costs a function call. Compiling is pure (each schema gets its own Ajv instance), so one cache serves
 * every application in the process.
 */
const compiledSchemas = new Map<string, ValidateFunction | UnusableSchemaError>();
const logger = new Logger('MessageSchemas');

function compileCached(schema: Record<string, unknown>): ValidateFunction | UnusableSchemaError {
  const key = JSON.stringify(schema);
  let compiled = compiledSchemas.get(key);
  if (compiled === undefined) {
    compiled = compileBounded(schema, key);
    if (compiled instanceof UnusableSchemaError) {
      logger.debug(`message schema refused: ${compiled.message}`);
    }
    if (compiledSchemas.size >= 1000) {
      compiledSchemas.clear();
    }
    compiledSchemas.set(key, compiled);
  }
  return compiled;
}

/** Why `schema` isn't a usable message schema; empty when it is. */
export function messageSchemaProblems(schema: Record<string, unknown>): SchemaProblem[] {
  const compiled = compileCached(schema);
  return compiled instanceof UnusableSchemaError ? compiled.problems : [];
}

/**
 * Channel message schemas, compiled once (at save time, and cached by schema
 * text), so checking a message costs a function call. Each schema gets its own
 * Ajv instance: an `$id` is then local to its schema, so re-saving a schema
 * with an `$id` works and one channel's schema can't `$ref` another's.
 */
@Injectable()
export class MessageSchemas {
  /** Compiles a schema; returns its problems when it isn't a usable JSON Schema. */
  check(schema: Record<string, unknown>): SchemaProblem[] {
    return messageSchemaProblems(schema);
  }

  /** Validates a parsed message against the channel's schema; an empty array means valid. */
  validate(channel: ChannelDefinition, value: unknown): SchemaProblem[] {
    if (channel.messageSchema === undefined) {
      return [];
    }
    const validate = compileCached(channel.messageSchema);
    if (validate instanceof UnusableSchemaError) {
      throw validate;
    }
    return validate(value) ? [] : describe(validate.errors);
  }
}

function compileBounded(schema: Record<string, unknown>, text: string): ValidateFunction | UnusableSchemaError {
  const sizeProblem = checkSize(schema, text);
  if (sizeProblem !== undefined) {
    return new UnusableSchemaError([{ field: '/messageSchema', message: sizeProblem }]);
  }
  try {
    const ajv = new Ajv({ allErrors: false, strict: false, validateSchema: true, code: { regExp: linearTimeRegExp } });
    addFormats(ajv);
    return ajv.compile(schema);
  } catch (error) {
    return new UnusableSchemaError([{ field: '/messageSchema', message: compileMessage(error) }]);
  }
}

function checkSize(schema: unknown, text: string): string | undefined {
  const bytes = Buffer.byteLength(text, 'utf8');
  if (bytes > SCHEMA_LIMITS.maxBytes) {
    return `is ${bytes} bytes; a message schema may have at most ${SCHEMA_LIMITS.maxBytes}`;
  }
  let nodes = 0;
  let deepest = 0;
  const stack: Array<{ value: unknown; depth: number }> = [{ value: schema, depth: 1 }];
  while (stack.length > 0) {
    const { value, depth } = stack.pop()!;
    if (value === null || typeof value !== 'object') {
      continue;
    }
    nodes += 1;
    deepest = Math.max(deepest, depth);
    if (nodes > SCHEMA_LIMITS.maxNodes) {
      return `has more than ${SCHEMA_LIMITS.maxNodes} objects and arrays (subschemas, property lists); split or simplify it`;
    }
    if (depth > SCHEMA_LIMITS.maxDepth) {
      return `nests deeper than ${SCHEMA_LIMITS.maxDepth} levels`;
    }
    for (const child of Object.values(value)) {
      stack.push({ value: child, depth: depth + 1 });
    }
  }
  return undefined;
}

function compileMessage(error: unknown): string {
  const message = error instanceof Error ? error.message : 'invalid schema';
  if (error instanceof Error && error.name.startsWith('RE2JS')) {
    return `has a pattern the linear-time regex engine (RE2 syntax) does not support: ${message}; lookaround and backreferences are not available`;
  }
  return message;
}
