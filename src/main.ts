import 'reflect-metadata';
import { Logger } from '@nestjs/common';
import { createApp } from './app.factory';
import { prepareDataDir } from './common/data-dir';
import { ConfigError, loadConfig } from './config/app-config';
import { startEvents } from './events/start-events';
import { installShutdown } from './shutdown';

async function bootstrap(): Promise<void> {
  // Every file this process creates (CA key, secrets, the SQLite database and its -wal/-shm) is for its user only.
  process.umask(0o077);
  let config;
  try {
    config = loadConfig(process.env);
  } catch (error) {
    if (error instanceof ConfigError) {
      // One line per bad variable, then stop: no half-configured service.
      for (const problem of error.problems) {
        process.stderr.write(`config error: ${problem}\n`);
      }
      process.exit(78);
    }
    throw error;
  }
  if (config.broker.driver === 'embedded' || config.store.driver === 'embedded') {
    prepareDataDir(config.dataDir);
  }
  const app = await createApp(config);
  await app.listen({ port: config.port, host: config.host });
  const logger = new Logger('Bootstrap');
  installShutdown(app, config.shutdownTimeoutMs, logger);
  logger.log(
    { url: await app.getUrl(), broker: config.broker.driver, store: config.store.driver, dataDir: config.dataDir },
    'Web Communicator ready',
  );
  if (config.auth.generateSecret) {
    logger.log(
      'No auth configured: using a secret generated under DATA_DIR. Mint a token with: npm run token -- --sub alice [--role admin|service]',
    );
  }
  // After listen: the MQTT transport connects to the embedded broker's internal listener. With RabbitMQ down
  // this waits (retrying) while HTTP already serves; /health/ready reports `events` until it consumes.
  await startEvents(app);
}

bootstrap().catch((error: unknown) => {
  process.stderr.write(`fatal: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  process.exit(1);
});
