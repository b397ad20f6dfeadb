import { type ChildProcess, spawn } from 'node:child_process';
import { join } from 'node:path';
import { freePort } from './service-process';

/**
 * dynalite as a separate process: the DynamoDB engine of the tests (STORE=dynamodb with
 * DYNAMODB_ENDPOINT), never loaded into the service's process. `path` keeps its LevelDB files there
 * (how the first release's embedded engine stored DATA_DIR/dynamodb); in memory otherwise.
 */
export class DynaliteProcess {
  private constructor(
    private readonly child: ChildProcess,
    readonly endpoint: string,
  ) {}

  static async start(options: { path?: string } = {}): Promise<DynaliteProcess> {
    const port = await freePort();
    const args = [
      join(__dirname, '..', '..', 'node_modules', 'dynalite', 'cli.js'),
      '--port',
      String(port),
      '--createTableMs',
      '0',
      '--deleteTableMs',
      '0',
    ];
    if (options.path !== undefined) {
      args.push('--path', options.path);
    }
    const child = spawn(process.execPath, args, { stdio: 'ignore' });
    const endpoint = `http://127.0.0.1:${port}`;
    const deadline = Date.now() + 60_000;
    for (;;) {
      if (child.exitCode !== null) {
        throw new Error(`dynalite exited with ${child.exitCode}`);
      }
      try {
        await fetch(endpoint);
        return new DynaliteProcess(child, endpoint);
      } catch {
        if (Date.now() > deadline) {
          child.kill('SIGKILL');
          throw new Error('dynalite did not start');
        }
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
    }
  }

  /** Stops it and waits until it is gone (its LevelDB lock released). */
  async stop(): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) {
      return;
    }
    const exited = new Promise((resolve) => this.child.once('exit', resolve));
    this.child.kill('SIGTERM');
    await exited;
  }
}

/** Static credentials for the SDK's default chain (dynalite checks none); returns a restore function. */
export function useFakeAwsCredentials(): () => void {
  const env = { AWS_ACCESS_KEY_ID: 'test', AWS_SECRET_ACCESS_KEY: 'test', AWS_REGION: 'us-east-1' };
  const saved = Object.fromEntries(Object.keys(env).map((key) => [key, process.env[key]]));
  Object.assign(process.env, env);
  return () => {
    for (const [key, value] of Object.entries(saved)) {
      if (value === undefined) {
        delete process.env[key];
      } else {
        process.env[key] = value;
      }
    }
  };
}
