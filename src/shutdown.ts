import type { INestApplication, LoggerService } from '@nestjs/common';
import { HttpDrain } from './common/http-drain';
import { EventsTransport } from './events/events-transport';

/**
 * SIGTERM/SIGINT: first stop taking events (cancel the events consumer, so
 * events sent from now on stay queued for another instance), then refuse new
 * requests and let in-flight ones finish (HttpDrain), then close: events being
 * relayed finish, then broker and store close (Nest's close order: HTTP
 * drains before onApplicationShutdown hooks release resources), then exit 0. If that takes
 * longer than the budget, exit 1 so the orchestrator knows it was cut short.
 */
export function installShutdown(app: INestApplication, budgetMs: number, logger: LoggerService): void {
  let closing = false;
  const shutdown = (signal: NodeJS.Signals): void => {
    if (closing) {
      return;
    }
    closing = true;
    logger.log({ signal, budgetMs }, 'shutting down');
    const timer = setTimeout(() => {
      logger.error({ budgetMs }, 'shutdown budget exceeded; exiting');
      process.exit(1);
    }, budgetMs);
    timer.unref();
    app
      .get(EventsTransport)
      .stopConsuming()
      .then(() => app.get(HttpDrain).drain(Math.floor(budgetMs / 2)))
      .then(() => app.close())
      .then(() => {
        logger.log('shut down cleanly');
        process.exit(0);
      })
      .catch((error: unknown) => {
        logger.error({ err: error }, 'error while shutting down');
        process.exit(1);
      });
  };
  process.once('SIGTERM', shutdown);
  process.once('SIGINT', shutdown);
}
