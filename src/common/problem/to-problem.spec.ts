import { BadRequestException, NotFoundException } from '@nestjs/common';
import {
  BrokerRulesTooLargeError,
  BrokerUnavailableError,
  ClientBannedError,
  DomainError,
  ErrorCode,
  InvalidCursorError,
  MessageTooLargeError,
  RateLimitedError,
  StoreUnavailableError,
} from '../../domain/errors';
import { HTTP_STATUS } from './problem';
import { toProblem } from './to-problem';

describe('toProblem', () => {
  it.each([
    [new MessageTooLargeError('big'), 413, 'MESSAGE_TOO_LARGE', undefined],
    [new RateLimitedError('slow down', 3), 429, 'RATE_LIMITED', 3],
    [new BrokerUnavailableError(), 503, 'BROKER_UNAVAILABLE', 5],
    [new StoreUnavailableError('down'), 503, 'STORE_UNAVAILABLE', 5],
    [new ClientBannedError('x'), 403, 'CLIENT_BANNED', undefined],
    [new InvalidCursorError(), 400, 'INVALID_CURSOR', undefined],
    [new BrokerRulesTooLargeError('policy too large'), 422, 'VALIDATION_FAILED', undefined],
    [new NotFoundException(), 404, 'NOT_FOUND', undefined],
    [new BadRequestException('nope'), 400, 'BAD_REQUEST', undefined],
  ])('%s → %i %s', (error, status, code, retryAfter) => {
    const problem = toProblem(error, '/v1/x');
    expect(problem.body).toEqual(expect.objectContaining({ status, code, type: expect.stringMatching(/^urn:web-communicator:problem:/), instance: '/v1/x' }));
    expect(problem.retryAfterSeconds).toBe(retryAfter);
    expect(problem.unexpected).toBe(false);
  });

  it('keeps a driver\'s own words about an outage out of the answer', () => {
    const problem = toProblem(new StoreUnavailableError('ThrottlingException (HTTP 400) at arn:aws:dynamodb:secret-table'));
    expect(problem.body.detail).toBe('The data store is unavailable. Retry later.');
  });

  it('retries exactly what answers 429 or 503 (the events consumers and HTTP clients agree)', () => {
    for (const code of Object.values(ErrorCode)) {
      const status = HTTP_STATUS[code];
      expect({ code, retryable: new DomainError(code, 'x').retryable }).toEqual({ code, retryable: status === 429 || status === 503 });
    }
  });

  it('turns anything unexpected into a generic 500 with a correlation id, without leaking the message', () => {
    const problem = toProblem(new Error('secret internals at /etc/passwd'));
    expect(problem.unexpected).toBe(true);
    expect(problem.body).toEqual(expect.objectContaining({ status: 500, code: 'INTERNAL_ERROR', correlationId: expect.stringMatching(/^[0-9a-f-]{36}$/) }));
    expect(JSON.stringify(problem.body)).not.toContain('passwd');
    expect(problem.body.detail).toContain(problem.body.correlationId);
  });
});
