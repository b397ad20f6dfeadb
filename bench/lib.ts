/**
 * Shared pieces of `npm run bench`: child processes (the built service, bare
 * Fastify, Mosquitto), free ports, process RSS/CPU from /proc, percentiles and
 * progress output. Everything listens on 127.0.0.1 only.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, openSync, readFileSync, writeFileSync } from 'node:fs';
import { connect, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import jwt from 'jsonwebtoken';
import WebSocket from 'ws';

export const ROOT = join(__dirname, '..');
export const HOST = '127.0.0.1';
export const TOPIC_PREFIX = 'webcommunicator/dev';
/** Channel the fan-out and HTTP benches use: broadcast, open to client sends, no rate limit. */
export const BENCH_CHANNEL = 'bench';
/** Like BENCH_CHANNEL, with history (API.md section 4). */
export const BENCH_HISTORY_CHANNEL = 'bench-history';

/** Progress goes to stderr; stdout carries only the final table. */
export function progress(message: string): void {
  process.stderr.write(`[bench ${new Date().toISOString().slice(11, 19)}] ${message}\n`);
}

export async function sleep(ms: number): Promise<void> {
  await new Promise((resolve) => setTimeout(resolve, ms));
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, HOST, () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

export function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) {
    return NaN;
  }
  const index = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[index];
}

export function sortNumbers(values: number[]): number[] {
  return Float64Array.from(values).sort() as unknown as number[];
}

/** Resident set size of a process, bytes (from /proc). */
export function rssBytes(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const match = /VmRSS:\s+(\d+) kB/.exec(status);
  return match ? Number(match[1]) * 1024 : NaN;
}

/** user+system CPU seconds a process has used so far (from /proc; clock ticks are 100/s on Linux). */
export function cpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

/** user+system CPU seconds of a process's main thread (its event loop; worker threads excluded), from /proc. */
export function mainThreadCpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/task/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

async function waitForOk(url: string, child: ChildProcess, timeoutMs: number, pollMs = 10): Promise<number> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (child.exitCode !== null) {
      throw new Error(`${url}: process exited with ${child.exitCode}`);
    }
    try {
      const response = await fetch(url);
      if (response.status === 200) {
        return performance.now();
      }
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`${url}: not ready within ${timeoutMs} ms`);
    }
    await sleep(pollMs);
  }
}

async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) {
    return;
  }
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
  await exited;
  clearTimeout(timer);
}

/** How a suite reports: `row` adds a line to the table bench/run.ts prints, `fmt` formats a number for it. */
export interface BenchReport {
  row: (suite: string, metric: string, value: string, baseline: string, ratio: number, target?: { text: string; ok: boolean }) => void;
  fmt: (value: number, digits?: number) => string;
}

export interface ServiceOptions {
  env?: Record<string, string>;
  dataDir?: string;
  /** Extra node flags, e.g. --cpu-prof (BENCH_NODE_FLAGS adds more). */
  nodeFlags?: string[];
}

/**
 * The built service (`node dist/main.js`) as a child process, the way it runs
 * in production: LOG_LEVEL=info, JSON logs on stdout written to a file in its
 * DATA_DIR (`service.log`), which the bench never reads while measuring.
 */
export class Service {
  private constructor(
    readonly child: ChildProcess,
    readonly url: string,
    readonly port: number,
    readonly dataDir: string,
    /** ms from spawn to the first 200 of /health/ready. */
    readonly readyMs: number,
  ) {}

  /** Starts the service; retried (twice) when it exits at start, e.g. a picked free port was taken meanwhile. */
  static async start(options: ServiceOptions = {}): Promise<Service> {
    for (let attempt = 1; ; attempt += 1) {
      try {
        return await Service.startOnce(options);
      } catch (error) {
        if (attempt >= 3 || !(error instanceof Error) || !error.message.includes('process exited')) {
          throw error;
        }
        progress(`service did not start (${error.message}); retrying`);
      }
    }
  }

  private static async startOnce(options: ServiceOptions): Promise<Service> {
    const dataDir = options.dataDir ?? mkdtempSync(join(tmpdir(), 'wc-bench-'));
    const channelsFile = join(dataDir, 'bench-channels.json');
    writeFileSync(
      channelsFile,
      JSON.stringify({
        channels: [
          { name: 'CloudGemWebCommunicator', types: ['BROADCAST', 'PRIVATE'] },
          { name: BENCH_CHANNEL, types: ['BROADCAST', 'PRIVATE'], clientSend: true, maxMessageBytes: 1024 },
          { name: BENCH_HISTORY_CHANNEL, types: ['BROADCAST', 'PRIVATE'], clientSend: true, maxMessageBytes: 1024, history: { size: 1000, ttlSeconds: 3600 } },
        ],
      }),
    );
    const port = await freePort();
    const tlsPort = await freePort();
    const env = {
      PATH: process.env.PATH ?? '',
      DATA_DIR: dataDir,
      PORT: String(port),
      HOST,
      PUBLIC_HOST: HOST,
      MQTT_TLS_PORT: String(tlsPort),
      MQTT_TLS_HOST: HOST,
      CHANNELS_FILE: channelsFile,
      LOG_LEVEL: 'info',
      REGISTRATION_CLIENT_OPENSSL: 'true',
      ...options.env,
    };
    const log = openSync(join(dataDir, 'service.log'), 'a');
    const flags = [...(options.nodeFlags ?? []), ...(process.env.BENCH_NODE_FLAGS ?? '').split(' ').filter(Boolean)];
    const started = performance.now();
    const child = spawn(process.execPath, [...flags, join(ROOT, 'dist', 'main.js')], { env, stdio: ['ignore', log, log], cwd: ROOT });
    // 90 s: on this shared machine under a load average of 25+, a start has taken 20–30 s.
    const ready = await waitForOk(`http://${HOST}:${port}/health/ready`, child, 90_000);
    return new Service(child, `http://${HOST}:${port}`, port, dataDir, ready - started);
  }

  get pid(): number {
    return this.child.pid!;
  }

  /**
   * Runs two full garbage collections in the service, through its inspector (the service must
   * have been started with `--inspect=127.0.0.1:0`), so that a following RSS reading holds what
   * is alive, not garbage V8 has not collected yet.
   */
  async collectGarbage(): Promise<void> {
    const url = /ws:\/\/127\.0\.0\.1:\d+\/[\w-]+/.exec(readFileSync(join(this.dataDir, 'service.log'), 'utf8'))?.[0];
    if (url === undefined) {
      throw new Error('collectGarbage: the service was not started with --inspect');
    }
    const ws = new WebSocket(url);
    await new Promise<void>((resolve, reject) => {
      ws.once('open', () => resolve());
      ws.once('error', reject);
    });
    try {
      let id = 0;
      const call = (method: string): Promise<void> =>
        new Promise((resolve) => {
          const mine = ++id;
          const onMessage = (data: WebSocket.RawData): void => {
            if ((JSON.parse(Buffer.isBuffer(data) ? data.toString('utf8') : '{}') as { id?: number }).id === mine) {
              ws.off('message', onMessage);
              resolve();
            }
          };
          ws.on('message', onMessage);
          ws.send(JSON.stringify({ id: mine, method }));
        });
      await call('HeapProfiler.collectGarbage');
      await call('HeapProfiler.collectGarbage');
    } finally {
      ws.close();
    }
    await sleep(500);
  }

  get wsUrl(): string {
    return `ws://${HOST}:${this.port}/mqtt`;
  }

  private secret?: string;

  /** An API token signed with the service's generated HS256 secret. */
  token(sub: string, roles: string[] = []): string {
    this.secret ??= readFileSync(join(this.dataDir, 'auth-jwt.secret'), 'utf8').trim();
    return jwt.sign({ sub, roles }, this.secret, { algorithm: 'HS256', expiresIn: 3600 });
  }

  async stop(): Promise<void> {
    await stopChild(this.child);
  }
}

/** The baseline HTTP server: bare Fastify in its own process (bench/bare-fastify.ts). */
export class BareFastify {
  private constructor(
    readonly child: ChildProcess,
    readonly url: string,
    readonly readyMs: number,
  ) {}

  static async start(): Promise<BareFastify> {
    const port = await freePort();
    const started = performance.now();
    const child = spawn(process.execPath, [join(ROOT, 'dist-bench', 'bare-fastify.js')], {
      env: { PATH: process.env.PATH ?? '', PORT: String(port), HOST },
      stdio: ['ignore', 'ignore', 'inherit'],
    });
    const ready = await waitForOk(`http://${HOST}:${port}/health/ready`, child, 10_000);
    return new BareFastify(child, `http://${HOST}:${port}`, ready - started);
  }

  async stop(): Promise<void> {
    await stopChild(this.child);
  }
}

/**
 * A private Mosquitto (the Debian package) with a generated config: WebSocket
 * on `port`, anonymous, no connection limit. Mosquitto 2.0.11 refuses to start
 * with only a websockets listener ("Unable to start any listening sockets"), so
 * an unused plain listener on another loopback port is configured as well.
 */
export class Mosquitto {
  private constructor(
    readonly child: ChildProcess,
    readonly port: number,
  ) {}

  static async start(): Promise<Mosquitto> {
    const dir = mkdtempSync(join(tmpdir(), 'wc-bench-mosquitto-'));
    const port = await freePort();
    const tcpPort = await freePort();
    const config = join(dir, 'mosquitto.conf');
    writeFileSync(
      config,
      [
        `listener ${tcpPort} ${HOST}`,
        `listener ${port} ${HOST}`,
        'protocol websockets',
        'allow_anonymous true',
        'allow_duplicate_messages true',
        'max_connections -1',
        'persistence false',
        'log_dest none',
        '',
      ].join('\n'),
    );
    const child = spawn('bash', ['-c', `ulimit -n $(ulimit -Hn); exec /usr/sbin/mosquitto -c '${config}'`], { stdio: ['ignore', 'ignore', 'inherit'] });
    const deadline = Date.now() + 10_000;
    for (;;) {
      if (child.exitCode !== null) {
        throw new Error(`mosquitto exited with ${child.exitCode}`);
      }
      const open = await new Promise<boolean>((resolve) => {
        const socket = connect(port, HOST);
        socket.once('connect', () => {
          socket.destroy();
          resolve(true);
        });
        socket.once('error', () => resolve(false));
      });
      if (open) {
        break;
      }
      if (Date.now() > deadline) {
        child.kill('SIGKILL');
        throw new Error('mosquitto did not start');
      }
      await sleep(50);
    }
    return new Mosquitto(child, port);
  }

  get pid(): number {
    return this.child.pid!;
  }

  get wsUrl(): string {
    return `ws://${HOST}:${this.port}/mqtt`;
  }

  async stop(): Promise<void> {
    await stopChild(this.child);
  }
}

/** Runs `task` over `items` with at most `concurrency` in flight. */
export async function inParallel<T, R>(items: T[], concurrency: number, task: (item: T, index: number) => Promise<R>): Promise<R[]> {
  const results = new Array<R>(items.length);
  let next = 0;
  const lanes = Array.from({ length: Math.min(concurrency, items.length) }, async () => {
    while (next < items.length) {
      const index = next++;
      results[index] = await task(items[index], index);
    }
  });
  await Promise.all(lanes);
  return results;
}

export async function postJson(url: string, token: string | undefined, body: unknown, method = 'POST'): Promise<{ status: number; body: Record<string, unknown> }> {
  const response = await fetch(url, {
    method,
    headers: { 'content-type': 'application/json', ...(token === undefined ? {} : { authorization: `Bearer ${token}` }) },
    body: JSON.stringify(body),
  });
  const text = await response.text();
  return { status: response.status, body: text === '' ? {} : (JSON.parse(text) as Record<string, unknown>) };
}
