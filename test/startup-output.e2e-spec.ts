import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort, ServiceProcess } from './support/service-process';

/** What a person sees of the built service and CLI on start-up (issue 19): the output, not the behaviour. */
const root = join(__dirname, '..');

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/**
 * Runs `node <script>` from dist/ until it exits, or until `until` matches its stdout (then stops it with
 * SIGTERM and waits for the exit). Non-blocking: jest's event loop keeps running.
 */
function runNode(script: string, args: string[], env: Record<string, string>, until?: RegExp): Promise<Run> {
  const child = spawn(process.execPath, [join(root, 'dist', script), ...args], {
    cwd: root,
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/tmp', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (d: string) => {
    stdout += d;
    if (until?.test(stdout)) {
      child.kill('SIGTERM');
    }
  });
  child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  // A ceiling for a cold start on a busy machine, not a wait.
  const ceiling = setTimeout(() => child.kill('SIGKILL'), 180_000);
  return new Promise((resolve) =>
    child.once('close', (code) => {
      clearTimeout(ceiling);
      resolve({ code, stdout, stderr });
    }),
  );
}

function hold(port: number): Promise<Server> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => resolve(server));
  });
}

describe('start-up output', () => {
  const dirs: string[] = [];
  const dataDir = (): string => {
    const dir = mkdtempSync(join(tmpdir(), 'wc-startup-'));
    dirs.push(dir);
    return dir;
  };
  afterAll(() => {
    for (const dir of dirs) {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  async function baseEnv(): Promise<Record<string, string>> {
    return { DATA_DIR: dataDir(), HOST: '127.0.0.1', PUBLIC_HOST: '127.0.0.1', PORT: String(await freePort()), MQTT_TLS_PORT: String(await freePort()) };
  }

  it.each([
    ['PORT', 'PORT'],
    ['MQTT_TLS_PORT', 'MQTT_TLS_PORT'],
  ])('a busy %s: one line naming it and how to change it, no stack trace, no "started"', async (_name, variable) => {
    const env = await baseEnv();
    const busy = await hold(Number(env[variable]));
    try {
      const run = await runNode('main.js', [], env);
      expect(run.code).toBe(1);
      const errors = run.stderr.split('\n').filter((l) => l.trim() !== '');
      expect(errors).toEqual([`port ${env[variable]} is already in use (${variable}): stop what is using it, or choose another, e.g. ${variable}=${Number(env[variable]) + 1} npm start`]);
      // Before it, at most the start-up's own log lines (JSON here: not a terminal); nothing says it started.
      expect(run.stdout).not.toMatch(/successfully started|Web Communicator (is )?ready|^\s+at /m);
    } finally {
      busy.close();
    }
  });

  it('on a terminal (LOG_FORMAT=pretty as a TTY gets): readable lines and a banner with the URLs and the token command; no route mapping', async () => {
    const env = await baseEnv();
    const run = await runNode('main.js', [], { ...env, LOG_FORMAT: 'pretty' }, /Mint a token/);
    const http = `http://127.0.0.1:${env.PORT}`;
    for (const expected of [`${http}/v1/status`, `${http}/docs`, `${http}/portal`, `ws://127.0.0.1:${env.PORT}/mqtt`, `mqtts://127.0.0.1:${env.MQTT_TLS_PORT}`, 'npm run -s token -- --sub alice']) {
      expect(run.stdout).toContain(expected);
    }
    expect(run.stdout).not.toMatch(/^\{"level"/m);
    expect(`${run.stdout}${run.stderr}`).not.toMatch(/Mapped \{|RouterExplorer|RoutesResolver/);
  });

  it('not on a terminal (and LOG_FORMAT=json): JSON lines, one "ready" line, no banner, no route mapping', async () => {
    const env = await baseEnv();
    const run = await runNode('main.js', [], { ...env, LOG_FORMAT: 'json' }, /Web Communicator ready/);
    const lines = run.stdout.split('\n').filter((l) => l.trim() !== '');
    expect(lines.length).toBeGreaterThan(0);
    for (const line of lines) {
      expect(() => JSON.parse(line)).not.toThrow();
    }
    expect(lines.filter((l) => (JSON.parse(l) as { msg?: string }).msg === 'Web Communicator ready')).toHaveLength(1);
    expect(run.stdout).not.toContain('API docs');
    expect(run.stdout).not.toMatch(/Mapped \{|RouterExplorer|RoutesResolver/);
  });

  it.each([
    ['json', /"statusCode":401[^\n]*"code":"UNAUTHORIZED"|"code":"UNAUTHORIZED"[^\n]*"statusCode":401/],
    ['pretty', /GET \/v1\/channels 401 UNAUTHORIZED/],
  ])('a 4xx request is logged with its problem code (LOG_FORMAT=%s)', async (format, line) => {
    const service = await ServiceProcess.start({ LOG_LEVEL: 'info', LOG_FORMAT: format });
    try {
      expect((await fetch(`${service.url}/v1/channels`)).status).toBe(401);
      // The request line is written once the response is sent: wait for it (a ceiling, not a wait).
      const deadline = Date.now() + 30_000;
      while (!line.test(service.logs) && Date.now() < deadline) {
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
      expect(service.logs).toMatch(line);
    } finally {
      service.kill('SIGTERM');
      await service.exited;
    }
  });

  it('npm run token -- --help prints usage and exits 0', async () => {
    const run = await runNode(join('bin', 'token.js'), ['--help'], { DATA_DIR: dataDir() });
    expect(run.code).toBe(0);
    expect(run.stdout).toMatch(/--sub/);
    expect(run.stdout).toMatch(/--role/);
    expect(run.stdout).toMatch(/-h, --help/);
  });
});
