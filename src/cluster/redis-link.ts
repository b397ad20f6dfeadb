import { hostname } from 'node:os';
import { randomBytes } from 'node:crypto';
import { Injectable, Logger, type OnApplicationShutdown, type OnModuleInit } from '@nestjs/common';
import { Redis, type RedisOptions } from 'ioredis';
import { AppConfig } from '../config/app-config';
import { errorMessage } from '../domain/errors';
import { MetricsService } from '../metrics/metrics.service';

/** Reconnect forever, quickly at first: an instance cut off from Redis serves only its own clients until it is back. */
function retryStrategy(times: number): number {
  return Math.min(50 * 2 ** Math.min(times, 6), 2000);
}

/**
 * The door to Redis (REDIS_URL), shared by every instance of a deployment: one command
 * connection for everybody, and dedicated connections for pub/sub subscribers (a subscribed
 * connection can do nothing else). `enabled` is false without REDIS_URL: one instance on its own.
 *
 * Every key and pub/sub channel starts with REDIS_KEY_PREFIX (ioredis applies `keyPrefix` to
 * keys, never to channels: `channel()` does that), so deployments and test runs can share a Redis.
 *
 * Commands on the shared connection fail at once while Redis is unreachable (no offline queue):
 * its users (presence, rate limits, the cluster bus) fall back or report instead of waiting.
 */
@Injectable()
export class RedisLink implements OnModuleInit, OnApplicationShutdown {
  readonly enabled: boolean;
  readonly keyPrefix: string;
  /** This instance's name in the cluster. */
  readonly instanceId: string;
  private readonly logger = new Logger('Redis');
  private readonly connections = new Set<Redis>();
  private shared?: Redis;
  private closed = false;
  private readonly statusListeners: Array<(up: boolean) => void> = [];

  constructor(
    private readonly config: AppConfig,
    private readonly metrics: MetricsService,
  ) {
    this.enabled = config.cluster.redisUrl !== undefined;
    this.keyPrefix = config.cluster.keyPrefix;
    this.instanceId = config.cluster.instanceId ?? `${hostname().replace(/[^A-Za-z0-9._-]/g, '-').slice(0, 40)}-${process.pid}-${randomBytes(3).toString('hex')}`;
    this.metrics.redisUp.set(this.enabled ? 0 : 1);
  }

  /** Connects at start, so the first rate-limited call or ban finds Redis ready. */
  onModuleInit(): void {
    if (this.enabled) {
      this.open();
    }
  }

  /** The shared command connection (keys prefixed). */
  get client(): Redis {
    return this.open();
  }

  private open(): Redis {
    if (this.shared === undefined) {
      const client = this.connect('commands', { keyPrefix: this.keyPrefix, enableOfflineQueue: false });
      client.on('ready', () => this.setUp(true));
      client.on('close', () => this.setUp(false));
      this.shared = client;
    }
    return this.shared;
  }

  /** Whether the shared connection is up now. */
  get up(): boolean {
    return this.shared?.status === 'ready';
  }

  /** Calls `listener` whenever the shared connection goes up or down. */
  onStatus(listener: (up: boolean) => void): void {
    this.statusListeners.push(listener);
  }

  /** A pub/sub channel name of this deployment. */
  channel(name: string): string {
    return `${this.keyPrefix}${name}`;
  }

  /** A new connection of its own (a pub/sub subscriber), closed with the app. No key prefix unless asked. */
  connect(name: string, options: RedisOptions = {}): Redis {
    const url = this.config.cluster.redisUrl;
    if (url === undefined) {
      throw new Error('REDIS_URL is not set');
    }
    const connection = new Redis(url, {
      connectionName: `webcommunicator:${this.instanceId}:${name}`,
      retryStrategy,
      // A command caught by a lost connection fails (its caller decides) rather than being sent twice.
      autoResendUnfulfilledCommands: false,
      maxRetriesPerRequest: 1,
      ...options,
    });
    let reported = false;
    connection.on('error', (error: unknown) => {
      // Once per outage: ioredis reports every failed reconnect attempt.
      if (!reported && !this.closed) {
        reported = true;
        this.logger.warn(`Redis connection ${name}: ${errorMessage(error)}`);
      }
    });
    connection.on('ready', () => {
      if (reported) {
        this.logger.log(`Redis connection ${name} is back`);
      }
      reported = false;
    });
    this.connections.add(connection);
    return connection;
  }

  async onApplicationShutdown(): Promise<void> {
    this.closed = true;
    await Promise.all(
      [...this.connections].map(async (connection) => {
        try {
          await Promise.race([connection.quit(), new Promise((resolve) => setTimeout(resolve, 1000).unref())]);
        } catch {
          // already gone
        }
        connection.disconnect();
      }),
    );
    this.connections.clear();
  }

  private setUp(up: boolean): void {
    this.metrics.redisUp.set(up ? 1 : 0);
    for (const listener of this.statusListeners) {
      listener(up);
    }
  }
}
