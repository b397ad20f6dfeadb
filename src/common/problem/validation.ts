import { ValidationPipe } from '@nestjs/common';
import type { ValidationError } from 'class-validator';
import { ProblemCode, ProblemException, type ProblemFieldError } from './problem';

/** class-validator errors as `{field: "/a/b", message}` entries. */
export function flattenValidationErrors(errors: ValidationError[], parent = ''): ProblemFieldError[] {
  return errors.flatMap((error) => {
    const field = `${parent}/${error.property}`;
    const own = Object.values(error.constraints ?? {}).map((message) => ({ field, message }));
    return [...own, ...flattenValidationErrors(error.children ?? [], field)];
  });
}

/** The global pipe: unknown fields rejected, wrong types rejected, 400 VALIDATION_FAILED with every field's problem. */
export function createValidationPipe(): ValidationPipe {
  return new ValidationPipe({
    whitelist: true,
    forbidNonWhitelisted: true,
    transform: true,
    forbidUnknownValues: true,
    validationError: { target: false, value: false },
    exceptionFactory: (errors) => ProblemException.badRequest(ProblemCode.VALIDATION_FAILED, 'The request is invalid.', flattenValidationErrors(errors)),
  });
}
