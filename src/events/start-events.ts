import type { INestApplication } from '@nestjs/common';
import { EventsTransport } from './events-transport';

/**
 * Connects the events transport (EVENTS_TRANSPORT) to the app as a hybrid
 * microservice and starts it. Called after `listen()`, once the embedded
 * broker is up, by main and the tests; the OpenAPI writer never calls it.
 * Resolves once consuming; with RabbitMQ down it keeps retrying (readiness
 * reports `events` down meanwhile). EVENTS_TRANSPORT=none does nothing.
 */
export async function startEvents(app: INestApplication): Promise<void> {
  const strategy = app.get(EventsTransport).createServer();
  if (strategy === undefined) {
    return;
  }
  app.connectMicroservice({ strategy }, { inheritAppConfig: true });
  await app.startAllMicroservices();
}
