import { Controller, Get } from '@nestjs/common';
import { ApiExcludeController } from '@nestjs/swagger';
import { HealthCheck, HealthCheckService, HealthIndicatorService, type HealthCheckResult } from '@nestjs/terminus';
import { Public } from '../common/auth/auth.decorators';
import { Readiness } from './readiness';
import { ErrorCode, errorMessage, NotReadyError } from '../domain/errors';

const CHECK_TIMEOUT_MS = 3_000;

function withTimeout<T>(promise: Promise<T>): Promise<T> {
  return Promise.race([
    promise,
    new Promise<never>((_, reject) => setTimeout(() => reject(new Error(`no answer within ${CHECK_TIMEOUT_MS} ms`)), CHECK_TIMEOUT_MS).unref()),
  ]);
}

@ApiExcludeController()
@Public()
@Controller('health')
export class HealthController {
  constructor(
    private readonly health: HealthCheckService,
    private readonly indicators: HealthIndicatorService,
    private readonly readiness: Readiness,
  ) {}

  /** The process is up (container health check). */
  @Get('live')
  live(): { status: 'ok' } {
    return { status: 'ok' };
  }

  /** Ready to serve: the store, the broker and the events transport answer. 503 problem+json otherwise. */
  @Get('ready')
  @HealthCheck()
  async ready(): Promise<HealthCheckResult> {
    const checks = this.readiness.entries().map(([name, check]) => async () => {
      const session = this.indicators.check(name);
      try {
        const details = await withTimeout(check());
        return details === undefined ? session.up() : session.up(details);
      } catch (error) {
        return session.down({ message: errorMessage(error) });
      }
    });
    try {
      return await this.health.check(checks);
    } catch (error) {
      const details = (error as { response?: { error?: Record<string, { message?: string }> } }).response?.error ?? {};
      const errors = Object.entries(details).map(([field, value]) => ({ field, message: value.message ?? 'down' }));
      const down = new Set(errors.map((e) => e.field));
      const code = down.has('store') ? ErrorCode.STORE_UNAVAILABLE : down.has('broker') ? ErrorCode.BROKER_UNAVAILABLE : ErrorCode.EVENTS_UNAVAILABLE;
      throw new NotReadyError(code, `Not ready: ${[...down].join(', ')} unavailable.`, errors);
    }
  }
}
