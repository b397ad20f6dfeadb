import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type AppConfig, loadConfig } from '../../src/config/app-config';
import { signToken } from './test-app';

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

/** The built service (`node dist/main.js`) as a real child process, for signal and restart tests. */
export class ServiceProcess {
  private output = '';
  readonly exited: Promise<number | null>;

  private constructor(
    readonly child: ChildProcess,
    readonly url: string,
    readonly config: AppConfig,
  ) {
    child.stdout!.setEncoding('utf8').on('data', (d: string) => (this.output += d));
    child.stderr!.setEncoding('utf8').on('data', (d: string) => (this.output += d));
    this.exited = new Promise((resolve) => child.once('exit', (code) => resolve(code)));
  }

  static async start(env: Record<string, string> = {}, dataDir = mkdtempSync(join(tmpdir(), 'wc-proc-'))): Promise<ServiceProcess> {
    const port = await freePort();
    const fullEnv = { DATA_DIR: dataDir, PORT: String(port), HOST: '127.0.0.1', PUBLIC_HOST: '127.0.0.1', MQTT_TLS_PORT: '0', LOG_LEVEL: 'warn', EVENTS_TRANSPORT: 'none', ...env };
    const child = spawn(process.execPath, [join(__dirname, '..', '..', 'dist', 'main.js')], {
      env: { PATH: process.env.PATH, ...fullEnv },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const service = new ServiceProcess(child, `http://127.0.0.1:${port}`, loadConfig(fullEnv));
    // A ceiling for a cold start on a busy machine; ready as soon as /health/ready says so.
    const deadline = Date.now() + 180_000;
    for (;;) {
      if (child.exitCode !== null) {
        throw new Error(`service exited early: ${service.output}`);
      }
      try {
        if ((await fetch(`${service.url}/health/ready`)).status === 200) {
          return service;
        }
      } catch {
        // not listening yet
      }
      if (Date.now() > deadline) {
        child.kill('SIGKILL');
        throw new Error(`service not ready: ${service.output}`);
      }
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }

  get logs(): string {
    return this.output;
  }

  token(sub: string, roles: string[] = []): string {
    return signToken(this.config, { sub, roles });
  }

  kill(signal: NodeJS.Signals): void {
    this.child.kill(signal);
  }
}
