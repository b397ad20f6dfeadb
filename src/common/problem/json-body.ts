import secureJson from 'secure-json-parse';
import { MalformedJsonError, ValidationFailedError } from '../../domain/errors';

/**
 * Deepest nesting of arrays and objects a request body may have. No body of the API
 * comes close (a channel's messageSchema is the deepest); past a few thousand levels the
 * recursive validation pipeline (class-transformer, Nest's proto-key stripping) overflows
 * the stack, which would answer 500.
 */
export const MAX_JSON_DEPTH = 64;

/** Parses a JSON request body; `__proto__` and `constructor.prototype` keys are refused (prototype pollution). */
export function parseJsonBody(body: string): unknown {
  if (body.trim() === '') {
    throw new MalformedJsonError('The request body is empty but Content-Type is application/json.');
  }
  if (nestingExceeds(body, MAX_JSON_DEPTH)) {
    throw new ValidationFailedError(`The request body is nested deeper than ${MAX_JSON_DEPTH} levels.`);
  }
  try {
    return secureJson.parse(body, undefined, { protoAction: 'error', constructorAction: 'error' });
  } catch (error) {
    const forbidden = error instanceof SyntaxError && /prototype/i.test(error.message);
    throw new MalformedJsonError(forbidden ? 'The request body contains a forbidden key (__proto__ or constructor.prototype).' : 'The request body is not valid JSON.');
  }
}

/** Whether `[`/`{` nest deeper than `max` outside strings; one pass, and none for bodies too short to. */
export function nestingExceeds(text: string, max: number): boolean {
  if (text.length <= max) {
    return false;
  }
  let depth = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 0x5c) {
        i++; // the escaped character
      } else if (c === 0x22) {
        inString = false;
      }
    } else if (c === 0x22) {
      inString = true;
    } else if (c === 0x5b || c === 0x7b) {
      if (++depth > max) {
        return true;
      }
    } else if (c === 0x5d || c === 0x7d) {
      depth--;
    }
  }
  return false;
}
