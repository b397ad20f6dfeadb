import type { LoggerService } from '@nestjs/common';
import pino, { type Logger as PinoLogger } from 'pino';
import pinoPretty from 'pino-pretty';
import type { AppConfig } from '../../config/app-config';

/** `auto` means human-readable on a terminal, JSON lines anywhere else (files, pipes, log collectors). */
export function resolveLogFormat(format: AppConfig['logFormat'], isTty = process.stdout.isTTY === true): 'json' | 'pretty' {
  return format === 'auto' ? (isTty ? 'pretty' : 'json') : format;
}

interface RequestLine {
  msg?: string;
  req?: { method?: string; url?: string };
  res?: { statusCode?: number };
  responseTime?: number;
  code?: string;
}

/** One short line per request on a terminal (`GET /v1/channels 200 3 ms`) instead of the request/response objects. */
function prettyMessage(log: RequestLine, messageKey: string): string {
  const raw = (log as Record<string, unknown>)[messageKey];
  const message = typeof raw === 'string' ? raw : JSON.stringify(raw ?? '');
  if (log.req && log.res) {
    const time = typeof log.responseTime === 'number' ? ` ${log.responseTime.toFixed(1)} ms` : '';
    const code = log.code ? ` ${log.code}` : '';
    return `${log.req.method ?? ''} ${log.req.url ?? ''} ${log.res.statusCode ?? ''}${code}${time}`;
  }
  return message;
}

/** The one root logger: tokens never reach the logs, message bodies are never logged at all. */
export function createRootLogger(config: Pick<AppConfig, 'logLevel' | 'logFormat'>): PinoLogger {
  const options: pino.LoggerOptions = {
    level: config.logLevel,
    redact: { paths: ['req.headers.authorization', 'req.headers.cookie', 'req.headers["sec-websocket-protocol"]'], censor: '[redacted]' },
  };
  if (resolveLogFormat(config.logFormat) === 'json') {
    return pino(options);
  }
  const pretty = pinoPretty({
    sync: true,
    colorize: process.stdout.isTTY === true,
    translateTime: 'SYS:HH:MM:ss.l',
    ignore: 'pid,hostname,req,res,responseTime,reqId,context,code',
    messageFormat: (log, messageKey) => prettyMessage(log, messageKey),
    singleLine: true,
  });
  return pino(options, pretty);
}

/** Nest's start-up chatter (a line per module and per route) is debug-level detail, not what a user needs to see. */
const START_UP_CONTEXTS = new Set(['InstanceLoader', 'RoutesResolver', 'RouterExplorer', 'NestFactory', 'NestApplication', 'NestMicroservice']);

/** Passes Nest's own log calls to the service logger, with the start-up chatter moved to debug. */
export class NestLogger implements LoggerService {
  constructor(private readonly inner: LoggerService) {}

  log(message: unknown, ...rest: unknown[]): void {
    const context = rest[rest.length - 1];
    if (typeof context === 'string' && START_UP_CONTEXTS.has(context)) {
      this.inner.debug?.(message, ...rest);
      return;
    }
    this.inner.log(message, ...rest);
  }

  error(message: unknown, ...rest: unknown[]): void {
    if (String(message).includes('EADDRINUSE')) {
      // main says which port setting to change, in one line; Nest's own report of it is noise.
      return;
    }
    this.inner.error(message, ...rest);
  }

  warn(message: unknown, ...rest: unknown[]): void {
    this.inner.warn(message, ...rest);
  }

  debug(message: unknown, ...rest: unknown[]): void {
    this.inner.debug?.(message, ...rest);
  }

  verbose(message: unknown, ...rest: unknown[]): void {
    this.inner.verbose?.(message, ...rest);
  }

  fatal(message: unknown, ...rest: unknown[]): void {
    (this.inner.fatal ?? this.inner.error).call(this.inner, message, ...rest);
  }
}
