import { Injectable } from '@nestjs/common';
import type { FastifyInstance } from 'fastify';
import { problemType } from './problem/problem';
import { ErrorCode } from '../domain/errors';

/**
 * Graceful shutdown, first step: refuse new requests (503 SHUTTING_DOWN) and
 * wait for the ones in flight, while the broker, store and MQTT sessions are
 * all still up, so every request answered 202 was published to live subscribers.
 */
@Injectable()
export class HttpDrain {
  private inflight = 0;
  private closing = false;
  private idle?: () => void;

  install(fastify: FastifyInstance): void {
    fastify.addHook('onRequest', (request, reply, done) => {
      if (this.closing) {
        void reply
          .status(503)
          .header('Retry-After', '5')
          .header('Connection', 'close')
          .header('Content-Type', 'application/problem+json; charset=utf-8')
          .send(JSON.stringify({ type: problemType(ErrorCode.SHUTTING_DOWN), title: 'Service Unavailable', status: 503, detail: 'The service is shutting down; retry on another instance.', code: ErrorCode.SHUTTING_DOWN, instance: request.url.split('?')[0] }));
        return;
      }
      this.inflight += 1;
      let finished = false;
      const finish = (): void => {
        if (!finished) {
          finished = true;
          this.inflight -= 1;
          if (this.inflight === 0) {
            this.idle?.();
          }
        }
      };
      reply.raw.once('close', finish);
      done();
    });
  }

  /** Stops taking requests; resolves when none is in flight or after timeoutMs. */
  async drain(timeoutMs: number): Promise<void> {
    this.closing = true;
    if (this.inflight === 0) {
      return;
    }
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, timeoutMs);
      this.idle = () => {
        clearTimeout(timer);
        resolve();
      };
    });
  }
}
