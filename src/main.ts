import 'reflect-metadata';
import { Logger } from '@nestjs/common';
import { createApp } from './app.factory';
import { prepareDataDir } from './common/data-dir';
import { resolveLogFormat } from './common/logging/root-logger';
import { type AppConfig, ConfigError, loadConfig } from './config/app-config';
import { startEvents } from './events/start-events';
import { installShutdown } from './shutdown';

/** The short banner a person sees on a terminal: where everything is, and how to get a token. */
function banner(config: AppConfig): string {
  const http = `http://${config.publicHost}:${config.port}`;
  const lines = [
    '',
    `  Web Communicator is ready (broker: ${config.broker.driver}, store: ${config.store.driver})`,
    '',
    `  API          ${http}/v1/status`,
    `  API docs     ${http}/docs`,
    `  Portal       ${http}/portal`,
  ];
  if (config.broker.driver === 'embedded') {
    lines.push(`  MQTT (WS)    ${config.broker.ws.publicUrl ?? `ws://${config.publicHost}:${config.port}/mqtt`}`);
    lines.push(`  MQTT (TLS)   mqtts://${config.publicHost}:${config.broker.tls.port}  (client certificates)`);
  }
  if (config.auth.generateSecret) {
    lines.push('', '  Mint a token: npm run -s token -- --sub alice [--role admin|service]   (--help for more)');
  }
  lines.push('');
  return `${lines.join('\n')}\n`;
}

/** A port someone else holds: one line naming the setting to change, no stack trace. */
function portInUse(error: unknown, config: AppConfig): string | undefined {
  // The listener's own error, or one wrapping it (the TLS listener says which listener failed).
  let cause: unknown = error;
  while (cause instanceof Error && (cause as NodeJS.ErrnoException).code !== 'EADDRINUSE' && cause.cause !== undefined) {
    cause = cause.cause;
  }
  const e = cause as NodeJS.ErrnoException & { port?: unknown };
  if (e?.code !== 'EADDRINUSE') {
    return undefined;
  }
  const tls = config.broker.tls.port;
  const [name, port] = tls !== 0 && (e.port === tls || String(error).includes('MQTT_TLS_PORT')) ? ['MQTT_TLS_PORT', tls] : ['PORT', config.port];
  return `port ${port} is already in use (${name}): stop what is using it, or choose another, e.g. ${name}=${port + 1} npm start`;
}

async function bootstrap(): Promise<void> {
  // Every file this process creates (CA key, secrets, the SQLite database and its -wal/-shm) is for its user only.
  process.umask(0o077);
  let config: AppConfig;
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
  // The AWS SDK prints a ten-line warning on Node 20 at its first client; one line of ours says the same.
  const nodeMajor = Number(process.versions.node.split('.')[0]);
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';

  if (config.broker.driver === 'embedded' || config.store.driver === 'embedded') {
    prepareDataDir(config.dataDir);
  }

  try {
    const app = await createApp(config);
    await app.listen({ port: config.port, host: config.host });
    const logger = new Logger('Bootstrap');
    installShutdown(app, config.shutdownTimeoutMs, logger);
    if (nodeMajor < 22) {
      logger.warn(`Node ${process.versions.node} is past its end of life and the AWS SDK needs Node 22 from January 2027: use Node 22 (the container image does).`);
    }
    if (resolveLogFormat(config.logFormat) === 'pretty') {
      process.stdout.write(banner(config));
    } else {
      logger.log({ url: await app.getUrl(), broker: config.broker.driver, store: config.store.driver, dataDir: config.dataDir }, 'Web Communicator ready');
      if (config.auth.generateSecret) {
        logger.log('No auth configured: using a secret generated under DATA_DIR. Mint a token with: npm run token -- --sub alice [--role admin|service]');
      }
    }
    // After listen: the MQTT transport connects to the embedded broker's internal listener. With RabbitMQ down
    // this waits (retrying) while HTTP already serves; /health/ready reports `events` until it consumes.
    await startEvents(app);
  } catch (error) {
    const line = portInUse(error, config);
    if (line !== undefined) {
      process.stderr.write(`${line}\n`);
      process.exit(1);
    }
    throw error;
  }
}

bootstrap().catch((error: unknown) => {
  process.stderr.write(`fatal: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  process.exit(1);
});
