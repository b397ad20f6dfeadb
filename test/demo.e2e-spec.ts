import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { ServiceProcess } from './support/service-process';

const ROOT = join(__dirname, '..');

/** A child process whose output is collected; `waitFor` resolves when a line matches. */
class Proc {
  output = '';
  readonly exited: Promise<number | null>;

  constructor(readonly child: ChildProcess) {
    child.stdout!.setEncoding('utf8').on('data', (d: string) => (this.output += d));
    child.stderr!.setEncoding('utf8').on('data', (d: string) => (this.output += d));
    this.exited = new Promise((resolve) => child.once('exit', (code) => resolve(code)));
  }

  async waitFor(pattern: RegExp, timeoutMs = 60_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!pattern.test(this.output)) {
      if (Date.now() > deadline || this.child.exitCode !== null) {
        throw new Error(`no ${String(pattern)} in:\n${this.output}`);
      }
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }
}

/**
 * `npm run demo` against the real built service (`node dist/main.js`): it mints its own
 * tokens with `node dist/bin/token.js` (same DATA_DIR), registers, connects, has a service
 * broadcast and send it a direct message, prints them; keeps running until banned or stopped.
 */
describe('npm run demo', () => {
  let service: ServiceProcess;
  const procs: Proc[] = [];

  function demoEnv(): NodeJS.ProcessEnv {
    const env: NodeJS.ProcessEnv = { ...process.env, WC_URL: service.url, DATA_DIR: service.config.dataDir, LOG_LEVEL: 'warn' };
    delete env.WC_TOKEN;
    delete env.WC_SERVICE_TOKEN;
    delete env.AUTH_JWT_SECRET;
    return env;
  }

  beforeAll(async () => {
    service = await ServiceProcess.start();
    // The running-mode test below starts the compiled demo directly; the --once test compiles through npm itself.
    execFileSync(
      process.execPath,
      [join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', join(ROOT, 'examples', 'game-client', 'tsconfig.json')],
      { stdio: 'pipe' },
    );
  });

  afterEach(() => {
    for (const proc of procs.splice(0)) {
      proc.child.kill('SIGKILL');
    }
  });

  afterAll(async () => {
    service.kill('SIGTERM');
    await service.exited;
    rmSync(service.config.dataDir, { recursive: true, force: true });
  });

  it('--once: registers, connects, receives the broadcast and the direct message, exits 0', async () => {
    const demo = new Proc(
      // Found through PORT, as after `PORT=… npm start` in the same shell (no WC_URL).
      spawn('npm', ['run', '-s', 'demo', '--', '--once'], { cwd: ROOT, env: { ...demoEnv(), WC_URL: undefined, PORT: new URL(service.url).port }, stdio: ['ignore', 'pipe', 'pipe'] }),
    );
    procs.push(demo);
    expect(await demo.exited).toBe(0);
    expect(demo.output).toContain('registered demo-player');
    expect(demo.output).toMatch(/connected, subscribed to .*webcommunicator\/dev\/CloudGemWebCommunicator\/client\/demo-player/);
    expect(demo.output).toMatch(/<< \[CloudGemWebCommunicator #1\] Hello from the demo service/);
    expect(demo.output).toMatch(/<< \[CloudGemWebCommunicator, direct #1\] Just for you, demo-player/);
    // Recovery: offline, three broadcasts, back: exactly those, in Seq order, from history, before anything new.
    expect(demo.output).toContain('demo-player goes offline');
    const recovered = [...demo.output.matchAll(/<< \[CloudGemWebCommunicator #(\d+)\] Missed while offline #(\d) .*\(recovered\)/g)];
    expect(recovered.map((m) => m[2])).toEqual(['1', '2', '3']);
    expect(recovered.map((m) => Number(m[1]))).toEqual([2, 3, 4]);
    expect(demo.output).toMatch(/recovered 3 missed message\(s\) on webcommunicator\/dev\/CloudGemWebCommunicator\n/);
    expect(demo.output).toContain('done: every message arrived');
    // Its registration is what an admin sees in the portal.
    const user = (await (
      await fetch(`${service.url}/v1/admin/users/demo-player`, { headers: { Authorization: `Bearer ${service.token('root', ['admin'])}` } })
    ).json()) as { status: string };
    expect(user.status).toBe('REGISTERED');
  });

  it('keeps running; a ban shows up in its output, an un-ban lets it back in; stops on SIGTERM', async () => {
    const demo = new Proc(
      spawn(process.execPath, [join(ROOT, 'examples', 'game-client', 'dist', 'demo.js'), '--client-id', 'demo-watched'], {
        cwd: ROOT,
        env: demoEnv(),
        stdio: ['ignore', 'pipe', 'pipe'],
      }),
    );
    procs.push(demo);
    await demo.waitFor(/Running\. Watch demo-watched in the portal: http:\/\/127\.0\.0\.1:\d+\/portal\//);
    const admin = { Authorization: `Bearer ${service.token('root', ['admin'])}`, 'Content-Type': 'application/json' };
    const ban = await fetch(`${service.url}/v1/admin/users/demo-watched`, {
      method: 'PATCH',
      headers: admin,
      body: JSON.stringify({ status: 'BANNED', reason: 'demo' }),
    });
    expect(ban.status).toBe(200);
    await demo.waitFor(/disconnected[\s\S]*refused the connection[\s\S]*banned: CLIENT_BANNED/);
    await fetch(`${service.url}/v1/admin/users/demo-watched`, {
      method: 'PATCH',
      headers: admin,
      body: JSON.stringify({ status: 'REGISTERED' }),
    });
    // Back within the backoff (first retries are 1 s, 2 s...).
    await demo.waitFor(/banned: CLIENT_BANNED[\s\S]*connected, subscribed/, 60_000);
    demo.child.kill('SIGTERM');
    expect(await demo.exited).toBe(0);
    expect(demo.output).not.toContain('..');
    // A retry loop says each thing once, not a line per attempt.
    const lines = demo.output.split('\n').filter((line) => line.trim() !== '');
    expect(lines.filter((line, i) => i > 0 && line === lines[i - 1])).toEqual([]);
  });
});
