import { type ArgumentMetadata, Injectable, type PipeTransform, ValidationPipe } from '@nestjs/common';
import Ajv, { type ValidateFunction } from 'ajv';
import { TransformationType } from 'class-transformer';
import { defaultMetadataStorage } from 'class-transformer/cjs/storage';
import { getMetadataStorage, type ValidationError } from 'class-validator';
import type { ValidationMetadata } from 'class-validator/types/metadata/ValidationMetadata';
import { type FieldError, ValidationFailedError } from '../../domain/errors';

/** class-validator errors as `{field: "/a/b", message}` entries. */
export function flattenValidationErrors(errors: ValidationError[], parent = ''): FieldError[] {
  return errors.flatMap((error) => {
    const field = `${parent}/${error.property}`;
    // A field that isn't there is reported once as missing, not as "must be a string" and the like.
    const missing = error.value === undefined && error.constraints !== undefined && !('whitelistValidation' in error.constraints);
    const own = missing ? [{ field, message: `${error.property} is required` }] : Object.values(error.constraints ?? {}).map((message) => ({ field, message }));
    return [...own, ...flattenValidationErrors(error.children ?? [], field)];
  });
}

/** The reflective pipe: unknown fields rejected, wrong types rejected, 400 VALIDATION_FAILED with every field's problem. */
export function createClassValidatorPipe(): ValidationPipe {
  return new ValidationPipe({
    whitelist: true,
    forbidNonWhitelisted: true,
    transform: true,
    forbidUnknownValues: true,
    // `value` is read by flattenValidationErrors (to tell a missing field) and never leaves this file.
    validationError: { target: false, value: true },
    exceptionFactory: (errors) => new ValidationFailedError('The request is invalid.', flattenValidationErrors(errors)),
  });
}

type Schema = Record<string, unknown>;
type Constructor = new () => object;
/** A DTO class, as class-validator's metadata storage keys it. */
// eslint-disable-next-line @typescript-eslint/no-unsafe-function-type
type Target = Function;

/**
 * The JSON schema that accepts exactly what class-validator (with the pipe's
 * options) accepts for `target`, or undefined when a decorator isn't one we
 * translate (that DTO then always goes through class-validator).
 *
 * Translated: IsString, Matches (a RegExp without flags), IsIn (strings), IsObject, IsInt, Min, Max, IsOptional.
 */
export function schemaFromClassValidator(target: Target): Schema | undefined {
  const metadatas = getMetadataStorage().getTargetValidationMetadatas(target, '', true, false);
  if (metadatas.length === 0) {
    return undefined;
  }
  const byProperty = new Map<string, ValidationMetadata[]>();
  for (const metadata of metadatas) {
    const list = byProperty.get(metadata.propertyName) ?? [];
    list.push(metadata);
    byProperty.set(metadata.propertyName, list);
  }
  const properties: Record<string, Schema> = {};
  const required: string[] = [];
  for (const [property, list] of byProperty) {
    const all: Schema[] = [];
    let optional = false;
    for (const metadata of list) {
      if (metadata.each || metadata.always || (metadata.groups?.length ?? 0) > 0) {
        return undefined;
      }
      if (metadata.type === 'conditionalValidation' && metadata.name === 'isOptional') {
        optional = true;
        continue;
      }
      if (metadata.type !== 'customValidation') {
        return undefined;
      }
      const schema = constraintSchema(metadata);
      if (schema === undefined) {
        return undefined;
      }
      all.push(schema);
    }
    const schema: Schema = all.length === 1 ? all[0] : { allOf: all };
    properties[property] = optional ? { anyOf: [{ type: 'null' }, schema] } : schema;
    if (!optional) {
      required.push(property);
    }
  }
  return { type: 'object', properties, required, additionalProperties: false };
}

function constraintSchema(metadata: ValidationMetadata): Schema | undefined {
  const [first, second] = (metadata.constraints ?? []) as unknown[];
  switch (metadata.name ?? '') {
    case 'isString':
      return { type: 'string' };
    case 'matches':
      // A RegExp without flags: ajv (unicodeRegExp off) builds `new RegExp(source)`, the same test class-validator runs.
      return first instanceof RegExp && first.flags === '' && second === undefined ? { type: 'string', pattern: first.source } : undefined;
    case 'isIn':
      return Array.isArray(first) && first.every((v) => typeof v === 'string') ? { type: 'string', enum: [...first] } : undefined;
    case 'isObject':
      // class-validator: not null, an object (or a function, which JSON can't hold), not an array.
      return first === undefined ? { type: 'object' } : undefined;
    case 'isInt':
      return first === undefined ? { type: 'integer' } : undefined;
    case 'min':
      return typeof first === 'number' && second === undefined ? { type: 'number', minimum: first } : undefined;
    case 'max':
      return typeof first === 'number' && second === undefined ? { type: 'number', maximum: first } : undefined;
    default:
      return undefined;
  }
}

/**
 * The global pipe. Request bodies and query strings whose DTO only uses the
 * decorators `schemaFromClassValidator` translates are checked by an ajv
 * function compiled once from the DTO's class-validator metadata (the DTO stays
 * the source of truth); a value that passes becomes a DTO instance, as
 * class-transformer would make it (a query's `@Type(() => Number)` members
 * converted with `Number`, as it converts them). Anything else — a value that
 * fails, another DTO, params, a repeated query parameter — goes through the
 * class-validator pipe unchanged, so every 400 VALIDATION_FAILED is exactly
 * class-validator's.
 *
 * Why: reflective validation cost ~54 µs per request on the publish path;
 * the compiled check costs about 1 µs.
 */
@Injectable()
export class CompiledValidationPipe implements PipeTransform {
  private readonly fallback = createClassValidatorPipe();
  private readonly ajv = new Ajv({ allErrors: false, unicodeRegExp: false, strict: true });
  private readonly compiled = new Map<Target, ValidateFunction | null>();
  /** Per query DTO, its members that class-transformer converts with `Number` (null: it does more, use the fallback). */
  private readonly numeric = new Map<Target, ReadonlySet<string> | null>();

  transform(value: unknown, metadata: ArgumentMetadata): unknown {
    const { type, metatype } = metadata;
    if ((type === 'body' || type === 'query') && metatype !== undefined && value !== null && typeof value === 'object' && !Array.isArray(value)) {
      const validate = this.validator(metatype);
      const candidate = validate === null ? undefined : type === 'body' ? value : this.queryValues(metatype, value as Record<string, unknown>);
      if (candidate !== undefined && validate!(candidate)) {
        return Object.assign(new (metatype as Constructor)(), candidate);
      }
    }
    return this.fallback.transform(value, metadata);
  }

  /**
   * A query's values as class-transformer makes them, or undefined when one is not a single string or the
   * DTO asks class-transformer for more than `@Type(() => Number)`.
   */
  private queryValues(metatype: Target, query: Record<string, unknown>): Record<string, unknown> | undefined {
    let numeric = this.numeric.get(metatype);
    if (numeric === undefined) {
      numeric = numericMembers(metatype);
      this.numeric.set(metatype, numeric);
    }
    if (numeric === null) {
      return undefined;
    }
    const values: Record<string, unknown> = {};
    for (const [name, raw] of Object.entries(query)) {
      if (typeof raw !== 'string') {
        return undefined;
      }
      values[name] = numeric.has(name) ? Number(raw) : raw;
    }
    return values;
  }

  private validator(metatype: Target): ValidateFunction | null {
    let validate = this.compiled.get(metatype);
    if (validate === undefined) {
      const schema = schemaFromClassValidator(metatype);
      validate = schema === undefined ? null : this.ajv.compile(schema);
      this.compiled.set(metatype, validate);
    }
    return validate;
  }
}

/** The members class-transformer turns into numbers, or null when it does anything else to this DTO. */
function numericMembers(metatype: Target): ReadonlySet<string> | null {
  const storage = defaultMetadataStorage;
  if (storage.getExposedMetadatas(metatype).length > 0 || storage.getExcludedMetadatas(metatype).length > 0) {
    return null;
  }
  const numeric = new Set<string>();
  for (const { propertyName } of getMetadataStorage().getTargetValidationMetadatas(metatype, '', true, false)) {
    const type = storage.findTypeMetadata(metatype, propertyName);
    if (storage.findTransformMetadatas(metatype, propertyName, TransformationType.PLAIN_TO_CLASS).length > 0 || (type !== undefined && type.typeFunction() !== Number)) {
      return null;
    }
    if (type !== undefined) {
      numeric.add(propertyName);
    }
  }
  return numeric;
}

export function createValidationPipe(): PipeTransform {
  return new CompiledValidationPipe();
}
