import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import request from 'supertest';
import { CertificateAuthority } from '../../src/broker/embedded/certificate-authority';
import { RedisLink } from '../../src/cluster/redis-link';
import { loadConfig } from '../../src/config/app-config';
import { MetricsService } from '../../src/metrics/metrics.service';
import { DynaliteProcess } from '../support/dynalite';
import { loopbackEnv } from '../support/loopback-env';
import { TestMqttClient } from '../support/mqtt';
import { freePort, ServiceProcess } from '../support/service-process';

/**
 * A redis-server of the test's own, on a free port, nothing on disk: the cluster tests may stop
 * and restart it (the machine's Redis on 6379 is never touched).
 */
export class RedisServer {
  private child?: ChildProcess;

  private constructor(readonly port: number) {}

  static async start(): Promise<RedisServer> {
    const server = new RedisServer(await freePort());
    await server.restart();
    return server;
  }

  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  /** A started RedisLink to this server, as instance `instanceId` with keys under `keyPrefix` (the caller shuts it down). */
  link(instanceId: string, keyPrefix: string): RedisLink {
    const config = loadConfig({
      BROKER: 'aws-iot',
      STORE: 'dynamodb',
      AUTH_JWT_SECRET: 'a-cluster-unit-secret-of-32-characters!!',
      REDIS_URL: this.url,
      REDIS_KEY_PREFIX: keyPrefix,
      INSTANCE_ID: instanceId,
    });
    const link = new RedisLink(config, new MetricsService());
    link.onModuleInit();
    return link;
  }

  /** (Re)starts it on the same port, empty. */
  async restart(): Promise<void> {
    await this.stop();
    const child = spawn('redis-server', ['--port', String(this.port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--daemonize', 'no'], {
      stdio: 'ignore',
    });
    this.child = child;
    const deadline = Date.now() + 30_000;
    while (!(await answers(this.port))) {
      if (child.exitCode !== null || Date.now() > deadline) {
        throw new Error(`redis-server did not start on port ${this.port} (is it installed? scripts/ensure-test-services.sh)`);
      }
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }

  /** Kills it at once (what a crash does) and waits until it is gone. */
  async stop(): Promise<void> {
    const child = this.child;
    this.child = undefined;
    if (child === undefined || child.exitCode !== null || child.signalCode !== null) {
      return;
    }
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGKILL');
    await exited;
  }
}

async function answers(port: number): Promise<boolean> {
  const { createConnection } = await import('node:net');
  return new Promise((resolve) => {
    const socket = createConnection({ port, host: '127.0.0.1' }, () => socket.write('PING\r\n'));
    socket.once('data', (data) => {
      socket.destroy();
      resolve(data.toString().startsWith('+PONG'));
    });
    socket.once('error', () => resolve(false));
  });
}

export interface ClusterOptions {
  instances: number;
  channels: readonly object[];
  env?: Record<string, string>;
}

/**
 * N built services (`node dist/main.js`) forming an embedded cluster: BROKER=embedded over one
 * Redis (own key prefix), dynalite out of process as the shared store, the same broker keys.
 */
export class TestCluster {
  private constructor(
    readonly redis: RedisServer,
    readonly dynalite: DynaliteProcess,
    readonly nodes: ServiceProcess[],
    private readonly baseEnv: Record<string, string>,
    private readonly dirs: string[],
  ) {}

  static async start(options: ClusterOptions): Promise<TestCluster> {
    const dir = mkdtempSync(join(tmpdir(), 'wc-cluster-'));
    const ca = await CertificateAuthority.open({ dataDir: dir, serverHosts: ['127.0.0.1'], workerThreads: 0 });
    await ca.close();
    const [redis, dynalite] = await Promise.all([RedisServer.start(), DynaliteProcess.start()]);
    const run = randomBytes(4).toString('hex');
    // ServiceProcess picks each instance's HTTP port.
    const { PORT: _port, ...loopback } = loopbackEnv(dir, options.channels);
    const baseEnv: Record<string, string> = {
      ...loopback,
      STORE: 'dynamodb',
      DYNAMODB_ENDPOINT: dynalite.endpoint,
      DYNAMODB_CREATE_TABLES: 'true',
      DYNAMODB_TABLE_PREFIX: `cluster-${run}-`,
      AWS_REGION: 'us-east-1',
      AWS_ACCESS_KEY_ID: 'test',
      AWS_SECRET_ACCESS_KEY: 'test',
      AUTH_JWT_SECRET: 'a-cluster-e2e-secret-of-32-characters!!',
      CONNECTION_TOKEN_SECRET: 'a-cluster-connection-token-key-of-32-characters',
      MQTT_CA_CERT_FILE: join(dir, 'ca', 'ca.pem'),
      MQTT_CA_KEY_FILE: join(dir, 'ca', 'ca-key.pem'),
      REDIS_URL: redis.url,
      REDIS_KEY_PREFIX: `wc-test-${run}:`,
      EVENTS_TRANSPORT: 'none',
      LOG_LEVEL: 'warn',
      ...options.env,
    };
    const cluster = new TestCluster(redis, dynalite, [], baseEnv, [dir]);
    try {
      // The first creates the tables; the others start together.
      cluster.nodes.push(await cluster.startNode(0));
      cluster.nodes.push(...(await Promise.all(Array.from({ length: options.instances - 1 }, (_, i) => cluster.startNode(i + 1)))));
    } catch (error) {
      await cluster.stop();
      throw error;
    }
    return cluster;
  }

  /** Starts one more instance (INSTANCE_ID `node<n>`) and adds it to `nodes`. */
  async addNode(): Promise<ServiceProcess> {
    const node = await this.startNode(this.nodes.length);
    this.nodes.push(node);
    return node;
  }

  private async startNode(index: number): Promise<ServiceProcess> {
    const dataDir = mkdtempSync(join(tmpdir(), `wc-cluster-node${index}-`));
    this.dirs.push(dataDir);
    return ServiceProcess.start({ ...this.baseEnv, DATA_DIR: dataDir, INSTANCE_ID: `node${index}` }, dataDir);
  }

  token(sub: string, roles: string[] = []): string {
    return this.nodes[0].token(sub, roles);
  }

  auth(sub: string, roles: string[] = []): { Authorization: string } {
    return { Authorization: `Bearer ${this.token(sub, roles)}` };
  }

  /** MQTT over WebSocket of instance `index`. */
  wsUrl(index: number): string {
    return `${this.nodes[index].url.replace('http:', 'ws:')}/mqtt`;
  }

  /** Registers `clientId` (WEBSOCKET) through instance `via`; returns its connection token. */
  async register(clientId: string, via: number): Promise<string> {
    const response = await request(this.nodes[via].url).post('/v1/registrations').set(this.auth(clientId)).send({ connectionType: 'WEBSOCKET' });
    if (response.status !== 201) {
      throw new Error(`registration of ${clientId} through node${via}: ${response.status} ${JSON.stringify(response.body)}`);
    }
    return response.body.connectionToken as string;
  }

  /** Connects `clientId` to instance `index` (registering it through `via` first when no token is given). */
  async connect(clientId: string, index: number, token?: string): Promise<TestMqttClient> {
    return TestMqttClient.ws(this.wsUrl(index), clientId, token ?? (await this.register(clientId, index)));
  }

  async stop(): Promise<void> {
    await Promise.all(
      this.nodes.map(async (node) => {
        node.kill('SIGKILL');
        await node.exited;
      }),
    );
    await Promise.all([this.redis.stop(), this.dynalite.stop()]);
    for (const dir of this.dirs) {
      rmSync(dir, { recursive: true, force: true });
    }
  }
}

/** Reads one counter or gauge (summed over its labels) from an instance's /metrics. */
export async function metric(node: ServiceProcess, name: string): Promise<number> {
  const text = (await request(node.url).get('/metrics')).text;
  let total = 0;
  for (const line of text.split('\n')) {
    if (line.startsWith(`${name} `) || line.startsWith(`${name}{`)) {
      total += Number(line.slice(line.lastIndexOf(' ') + 1));
    }
  }
  return total;
}

/** Polls `check` until it holds (or throws after `timeoutMs`). */
export async function eventually(what: string, check: () => Promise<boolean> | boolean, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) {
      throw new Error(`timed out waiting for: ${what}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}
