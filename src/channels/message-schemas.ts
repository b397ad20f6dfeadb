import { Injectable } from '@nestjs/common';
import Ajv, { type ErrorObject, type ValidateFunction } from 'ajv';
import addFormats from 'ajv-formats';
import type { ChannelDefinition } from '../domain/channel';

export interface SchemaProblem {
  field: string;
  message: string;
}

function describe(errors: ErrorObject[] | null | undefined): SchemaProblem[] {
  return (errors ?? []).slice(0, 20).map((e) => ({ field: e.instancePath || '/', message: e.message ?? 'is invalid' }));
}

/**
 * Channel message schemas, compiled once with ajv (at save time, and cached by
 * schema text), so checking a message costs a function call.
 */
@Injectable()
export class MessageSchemas {
  private readonly ajv: Ajv;
  private readonly cache = new Map<string, ValidateFunction>();

  constructor() {
    this.ajv = new Ajv({ allErrors: false, strict: false, validateSchema: true });
    addFormats(this.ajv);
  }

  /** Compiles a schema; returns its problems when it isn't a valid JSON Schema. */
  check(schema: Record<string, unknown>): SchemaProblem[] {
    try {
      this.compile(schema);
      return [];
    } catch (error) {
      return [{ field: '/messageSchema', message: error instanceof Error ? error.message : 'invalid schema' }];
    }
  }

  /** Validates a parsed message against the channel's schema; an empty array means valid. */
  validate(channel: ChannelDefinition, value: unknown): SchemaProblem[] {
    if (channel.messageSchema === undefined) {
      return [];
    }
    const validate = this.compile(channel.messageSchema);
    return validate(value) ? [] : describe(validate.errors);
  }

  private compile(schema: Record<string, unknown>): ValidateFunction {
    const key = JSON.stringify(schema);
    let validate = this.cache.get(key);
    if (validate === undefined) {
      validate = this.ajv.compile(schema);
      if (this.cache.size > 1000) {
        this.cache.clear();
      }
      this.cache.set(key, validate);
    }
    return validate;
  }
}
