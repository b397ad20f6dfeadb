import { BadRequestException, NotFoundException } from '@nestjs/common';
import { BrokerUnavailableError } from '../../broker/broker';
import { ClientBannedError, InvalidCursorError } from '../../store/client.repository';
import { StoreUnavailableError } from '../../store/store-unavailable.error';
import { ProblemCode, ProblemException } from './problem';
import { toProblem } from './to-problem';

describe('toProblem', () => {
  it.each([
    [new ProblemException(413, ProblemCode.MESSAGE_TOO_LARGE, 'big'), 413, 'MESSAGE_TOO_LARGE', undefined],
    [new BrokerUnavailableError(), 503, 'BROKER_UNAVAILABLE', 5],
    [new StoreUnavailableError('down'), 503, 'STORE_UNAVAILABLE', 5],
    [new ClientBannedError('x'), 403, 'CLIENT_BANNED', undefined],
    [new InvalidCursorError(), 400, 'INVALID_CURSOR', undefined],
    [new NotFoundException(), 404, 'NOT_FOUND', undefined],
    [new BadRequestException('nope'), 400, 'BAD_REQUEST', undefined],
  ])('%s → %i %s', (error, status, code, retryAfter) => {
    const problem = toProblem(error, '/v1/x');
    expect(problem.body).toEqual(expect.objectContaining({ status, code, type: expect.stringMatching(/^urn:web-communicator:problem:/), instance: '/v1/x' }));
    expect(problem.retryAfterSeconds).toBe(retryAfter);
    expect(problem.unexpected).toBe(false);
  });

  it('turns anything unexpected into a generic 500 with a correlation id, without leaking the message', () => {
    const problem = toProblem(new Error('secret internals at /etc/passwd'));
    expect(problem.unexpected).toBe(true);
    expect(problem.body).toEqual(expect.objectContaining({ status: 500, code: 'INTERNAL_ERROR', correlationId: expect.stringMatching(/^[0-9a-f-]{36}$/) }));
    expect(JSON.stringify(problem.body)).not.toContain('passwd');
    expect(problem.body.detail).toContain(problem.body.correlationId);
  });
});
