import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import jwt from 'jsonwebtoken';
import { createApp } from '../../src/app.factory';
import { resolveJwtSecret } from '../../src/common/auth/auth-keys';
import { type AppConfig, loadConfig } from '../../src/config/app-config';
import { startEvents } from '../../src/events/start-events';
import { loopbackEnv } from './loopback-env';

export interface TestChannel {
  name: string;
  types: Array<'BROADCAST' | 'PRIVATE'>;
  communicationChannel?: string;
  clientSend?: boolean;
  maxMessageBytes?: number;
  messageSchema?: Record<string, unknown>;
  rateLimit?: { messages: number; perSeconds: number };
  history?: { size: number; ttlSeconds: number };
}

export const DEFAULT_TEST_CHANNELS: TestChannel[] = [
  { name: 'news', types: ['BROADCAST', 'PRIVATE'] },
  { name: 'chat', types: ['BROADCAST'], clientSend: true, maxMessageBytes: 64 },
];

export interface TestAppOptions {
  env?: Record<string, string>;
  channels?: TestChannel[];
  /** Reuse a data directory (restart tests). */
  dataDir?: string;
  /**
   * Events follow EVENTS_TRANSPORT in `env` (none by default). With this set,
   * the transport isn't started: call `startEvents(t.app)` when the test is ready.
   */
  deferEvents?: boolean;
}

/**
 * A real app on the embedded store and broker, in a temp DATA_DIR, listening
 * on a random loopback port. Everything is real: pipes, guards, filter, dynalite, Aedes.
 */
export class TestApp {
  private constructor(
    readonly app: NestFastifyApplication,
    readonly config: AppConfig,
    readonly url: string,
    private readonly ownsDataDir: boolean,
  ) {}

  static async start(options: TestAppOptions = {}): Promise<TestApp> {
    const dataDir = options.dataDir ?? mkdtempSync(join(tmpdir(), 'wc-test-'));
    const config = loadConfig({
      ...loopbackEnv(dataDir, options.channels ?? DEFAULT_TEST_CHANNELS),
      LOG_LEVEL: process.env.TEST_LOG_LEVEL ?? 'silent',
      EVENTS_TRANSPORT: 'none',
      ...options.env,
    });
    const app = await createApp(config);
    await app.listen({ port: 0, host: '127.0.0.1' });
    if (!options.deferEvents) {
      // A no-op unless the test sets EVENTS_TRANSPORT (the default here is none).
      await startEvents(app);
    }
    const address = app.getHttpServer().address() as { port: number };
    return new TestApp(app, config, `http://127.0.0.1:${address.port}`, options.dataDir === undefined);
  }

  get dataDir(): string {
    return this.config.dataDir;
  }

  get port(): number {
    return (this.app.getHttpServer().address() as { port: number }).port;
  }

  /** A bearer token signed the way the configured auth expects. */
  token(sub: string, roles: string | string[] = [], options: jwt.SignOptions = {}): string {
    return signToken(this.config, { [this.config.auth.clientIdClaim]: sub, [this.config.auth.rolesClaim]: roles }, options);
  }

  auth(sub: string, roles: string | string[] = []): { Authorization: string } {
    return { Authorization: `Bearer ${this.token(sub, roles)}` };
  }

  async stop(options: { keepData?: boolean } = {}): Promise<void> {
    await this.app.close();
    if (this.ownsDataDir && !options.keepData) {
      rmSync(this.config.dataDir, { recursive: true, force: true });
    }
  }
}

export function signToken(config: AppConfig, payload: Record<string, unknown>, options: jwt.SignOptions = {}): string {
  const secret = resolveJwtSecret(config);
  if (secret === undefined) {
    throw new Error('test app uses JWKS; sign with the test key instead');
  }
  const claims: jwt.SignOptions = { algorithm: 'HS256', expiresIn: 600 };
  if (config.auth.issuer !== undefined) {
    claims.issuer = config.auth.issuer;
  }
  if (config.auth.audience !== undefined) {
    claims.audience = config.auth.audience;
  }
  return jwt.sign(payload, secret, { ...claims, ...options });
}

/** Asserts the response is problem+json with the given status and code; returns the body. */
export function expectProblem(response: { status: number; headers: Record<string, string>; body: unknown }, status: number, code: string): Record<string, unknown> {
  const body = response.body as Record<string, unknown>;
  expect({ status: response.status, code: body?.code }).toEqual({ status, code });
  expect(response.headers['content-type']).toMatch(/^application\/problem\+json/);
  expect(body).toEqual(expect.objectContaining({ type: expect.any(String), title: expect.any(String), status, detail: expect.any(String), code }));
  return body;
}
