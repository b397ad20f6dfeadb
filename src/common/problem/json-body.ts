import secureJson from 'secure-json-parse';
import { ProblemCode, ProblemException } from './problem';

/** Parses a JSON request body; `__proto__` and `constructor.prototype` keys are refused (prototype pollution). */
export function parseJsonBody(body: string): unknown {
  if (body.trim() === '') {
    throw ProblemException.badRequest(ProblemCode.MALFORMED_JSON, 'The request body is empty but Content-Type is application/json.');
  }
  try {
    return secureJson.parse(body, undefined, { protoAction: 'error', constructorAction: 'error' });
  } catch (error) {
    const forbidden = error instanceof SyntaxError && /prototype/i.test(error.message);
    throw ProblemException.badRequest(ProblemCode.MALFORMED_JSON, forbidden ? 'The request body contains a forbidden key (__proto__ or constructor.prototype).' : 'The request body is not valid JSON.');
  }
}
