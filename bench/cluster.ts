/**
 * The `cluster` suite (API.md section 9): an embedded cluster of three built services over
 * Redis (a private redis-server, nothing on disk) with dynalite as the shared store, against
 * one instance of the same build and store holding every subscriber, in the same invocation:
 * - burst deliveries/s with N subscribers spread evenly over the three (published on the first);
 * - cross-instance delivery latency p50 / p99 when paced (subscribers on the 2nd and 3rd
 *   instances of a message published on the 1st), against the single instance's;
 * - ban through one instance → the socket of a client on another closed, p99 (target ≤ 50 ms),
 *   against a ban of a client on the instance the ban went through.
 * Three services, Redis, dynalite and the subscriber workers share this machine's cores: the
 * ratio says what a cluster costs on one host, not what it gains on three.
 */
import { type ChildProcess, fork, spawn } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import jwt from 'jsonwebtoken';
import mqtt, { type MqttClient } from 'mqtt';
import { BENCH_CHANNEL, type BenchReport, freePort, HOST, inParallel, percentile, postJson, progress, ROOT, Service, sleep, sortNumbers, TOPIC_PREFIX } from './lib';
import type { SubscriberSpec, WorkerCommand, WorkerReply } from './subscriber-worker';

export interface ClusterBenchOptions extends BenchReport {
  /** Subscribers in all. */
  n: number;
  burst: number;
  paced: number;
  bans: number;
}

const INSTANCES = 3;
const PACED_INTERVAL_MS = 250;
const JWT_SECRET = 'bench-cluster-jwt-secret-of-32-characters!';
const TOKEN_SECRET = 'bench-cluster-connection-token-key-of-32-chars';

function token(sub: string, roles: string[] = []): string {
  return jwt.sign({ sub, roles }, JWT_SECRET, { algorithm: 'HS256', expiresIn: 3600 });
}

/** A child process that answers on a port; killed at the end. */
async function startChild(command: string, args: string[], port: number, what: string): Promise<ChildProcess> {
  const child = spawn(command, args, { stdio: 'ignore' });
  const deadline = Date.now() + 30_000;
  for (;;) {
    if (child.exitCode !== null) {
      throw new Error(`${what} exited with ${child.exitCode}`);
    }
    const open = await new Promise<boolean>((resolve) => {
      const socket = connect(port, HOST, () => {
        socket.destroy();
        resolve(true);
      });
      socket.once('error', () => resolve(false));
    });
    if (open) {
      return child;
    }
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`${what} did not start`);
    }
    await sleep(50);
  }
}

/** One worker process per instance, each holding the subscribers of that instance. */
class Workers {
  readonly children: ChildProcess[] = Array.from({ length: INSTANCES }, () =>
    fork(join(ROOT, 'dist-bench', 'subscriber-worker.js'), [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] }),
  );

  async each<T extends WorkerReply['type']>(command: (index: number) => WorkerCommand | undefined, type: T, timeoutMs: number): Promise<Array<Extract<WorkerReply, { type: T }>>> {
    return Promise.all(
      this.children.map(
        (child, index) =>
          new Promise<Extract<WorkerReply, { type: T }>>((resolve) => {
            const listener = (reply: WorkerReply): void => {
              if (reply.type === type) {
                child.off('message', listener);
                clearTimeout(timer);
                resolve(reply as Extract<WorkerReply, { type: T }>);
              }
            };
            const timer = setTimeout(() => child.send({ type: 'report' }), timeoutMs);
            child.on('message', listener);
            child.send(command(index) ?? ({ type: 'noop' }));
          }),
      ),
    );
  }

  kill(): void {
    this.children.forEach((child) => child.kill('SIGKILL'));
  }
}

async function connectMqtt(url: string, clientId: string, password: string): Promise<MqttClient> {
  const client = mqtt.connect(url, { clientId, username: clientId, password, reconnectPeriod: 0, protocolVersion: 4, connectTimeout: 10_000, keepalive: 0 });
  await new Promise<void>((resolve, reject) => {
    client.once('connect', () => resolve());
    client.once('error', reject);
  });
  return client;
}

function payload(): Buffer {
  const stamp = (performance.timeOrigin + performance.now()).toFixed(3).padStart(20, '0');
  return Buffer.from(stamp + '.'.repeat(200 - stamp.length), 'latin1');
}

interface RunResult {
  burstRate: number;
  /** Latencies by the instance index their subscribers were on. */
  latencies: number[][];
}

/** N subscribers, `urlOf(i)` the instance of subscriber i; publishes on `publisherUrl`. */
async function run(label: string, specs: SubscriberSpec[], urlOf: (i: number) => number, urls: string[], publisherToken: string, options: ClusterBenchOptions): Promise<RunResult> {
  const topic = `${TOPIC_PREFIX}/${BENCH_CHANNEL}`;
  const workers = new Workers();
  try {
    progress(`cluster ${label}: connecting ${specs.length} subscribers`);
    const connected = await workers.each(
      (w) => ({ type: 'connect', url: urls[Math.min(w, urls.length - 1)], topic, clients: specs.filter((_, i) => urlOf(i) === w), concurrency: 50 }),
      'connected',
      300_000,
    );
    const failed = connected.reduce((sum, r) => sum + r.failed, 0);
    if (failed > 0) {
      progress(`cluster ${label}: ${failed} subscribers failed to connect (${connected.find((r) => r.firstError)?.firstError})`);
    }
    const publisher = await connectMqtt(urls[0], 'bench-publisher', publisherToken);
    await sleep(1000);
    progress(`cluster ${label}: burst of ${options.burst}`);
    await workers.each(() => ({ type: 'expect', messages: options.burst, latency: false }), 'armed', 10_000);
    const started = performance.timeOrigin + performance.now();
    const burstDone = workers.each(() => undefined, 'done', 120_000);
    for (let i = 0; i < options.burst; i += 1) {
      publisher.publish(topic, payload(), { qos: 0 });
    }
    const burst = await burstDone;
    const seconds = (Math.max(...burst.map((r) => r.lastAtMs || performance.timeOrigin + performance.now())) - started) / 1000;
    const delivered = burst.reduce((sum, r) => sum + r.received, 0);
    progress(`cluster ${label}: ${delivered}/${specs.length * options.burst} delivered in ${seconds.toFixed(2)} s`);
    await sleep(2000);
    progress(`cluster ${label}: paced ${options.paced} messages`);
    await workers.each(() => ({ type: 'expect', messages: options.paced, latency: true }), 'armed', 10_000);
    const pacedDone = workers.each(() => undefined, 'done', options.paced * PACED_INTERVAL_MS + 30_000);
    for (let i = 0; i < options.paced; i += 1) {
      publisher.publish(topic, payload(), { qos: 0 });
      await sleep(PACED_INTERVAL_MS);
    }
    const paced = await pacedDone;
    await publisher.endAsync(true);
    await workers.each(() => ({ type: 'close' }), 'closed', 60_000);
    return { burstRate: delivered / seconds, latencies: paced.map((r) => sortNumbers(r.latencies ?? [])) };
  } finally {
    workers.kill();
  }
}

/** Bans `count` clients connected to `clientUrl` through `adminUrl`: ms from the request to each socket's close. */
async function bans(prefix: string, count: number, registerUrl: string, clientUrl: string, adminUrl: string): Promise<number[]> {
  const ids = Array.from({ length: count }, (_, i) => `${prefix}-${i}`);
  const clients = await inParallel(ids, 8, async (clientId) => {
    for (let attempt = 1; ; attempt += 1) {
      const reg = await postJson(`${registerUrl}/v1/registrations`, token(clientId), { connectionType: 'WEBSOCKET' });
      if (reg.status === 201) {
        return connectMqtt(clientUrl, clientId, String(reg.body.connectionToken));
      }
      // The shared store (dynalite, one process) can answer 503 under the burst before; anything else is a failure.
      if (reg.status !== 503 || attempt >= 5) {
        throw new Error(`registration of ${clientId}: ${reg.status} ${JSON.stringify(reg.body).slice(0, 300)}`);
      }
      await sleep(200 * attempt);
    }
  });
  const admin = token('bench-admin', ['admin']);
  const closes: number[] = [];
  for (let i = 0; i < ids.length; i += 1) {
    const started = performance.now();
    const closed = new Promise<number>((resolve) => clients[i].stream.once('close', () => resolve(performance.now())));
    const response = await postJson(`${adminUrl}/v1/admin/users/${ids[i]}`, admin, { status: 'BANNED', reason: 'bench' }, 'PATCH');
    if (response.status !== 200) {
      throw new Error(`ban of ${ids[i]}: ${response.status}`);
    }
    closes.push((await Promise.race([closed, sleep(5000).then(() => NaN)])) - started);
    clients[i].end(true);
  }
  return sortNumbers(closes);
}

export async function benchCluster(options: ClusterBenchOptions): Promise<void> {
  const { n, row, fmt } = options;
  const dynamoPort = await freePort();
  const redisPort = await freePort();
  progress('cluster: starting dynalite and redis-server');
  const dynalite = await startChild(process.execPath, [join(ROOT, 'node_modules', 'dynalite', 'cli.js'), '--port', String(dynamoPort), '--createTableMs', '0'], dynamoPort, 'dynalite');
  const redis = await startChild('redis-server', ['--port', String(redisPort), '--bind', HOST, '--save', '', '--appendonly', 'no'], redisPort, 'redis-server');
  const services: Service[] = [];
  try {
    const caDir = mkdtempSync(join(tmpdir(), 'wc-bench-cluster-'));
    const common = {
      STORE: 'dynamodb',
      DYNAMODB_ENDPOINT: `http://${HOST}:${dynamoPort}`,
      DYNAMODB_CREATE_TABLES: 'true',
      AWS_REGION: 'us-east-1',
      AWS_ACCESS_KEY_ID: 'bench',
      AWS_SECRET_ACCESS_KEY: 'bench',
      AUTH_JWT_SECRET: JWT_SECRET,
      CONNECTION_TOKEN_SECRET: TOKEN_SECRET,
      EVENTS_TRANSPORT: 'none',
    };
    // The single instance, which also makes the CA the cluster then shares (under its DATA_DIR).
    progress('cluster: starting one instance');
    const single = await Service.start({ env: common, dataDir: caDir });
    services.push(single);
    const ids = Array.from({ length: n }, (_, i) => `csub-${String(i).padStart(6, '0')}`);
    progress(`cluster: registering ${n} subscribers`);
    const specs = await inParallel(ids, 32, async (clientId) => {
      const response = await postJson(`${single.url}/v1/registrations`, token(clientId), { connectionType: 'WEBSOCKET' });
      if (response.status !== 201) {
        throw new Error(`registration of ${clientId}: ${response.status}`);
      }
      return { clientId, username: clientId, password: String(response.body.connectionToken) };
    });
    const publisher = await postJson(`${single.url}/v1/admin/registrations`, token('bench-admin', ['admin']), { connectionType: 'WEBSOCKET', clientId: 'bench-publisher' });
    const publisherToken = String(publisher.body.connectionToken);
    const alone = await run('one instance', specs, () => 0, [single.wsUrl], publisherToken, options);
    await single.stop();
    services.length = 0;

    progress('cluster: starting three instances');
    const clusterEnv = { ...common, REDIS_URL: `redis://${HOST}:${redisPort}`, MQTT_CA_CERT_FILE: join(caDir, 'ca', 'ca.pem'), MQTT_CA_KEY_FILE: join(caDir, 'ca', 'ca-key.pem') };
    for (let i = 0; i < INSTANCES; i += 1) {
      services.push(await Service.start({ env: { ...clusterEnv, INSTANCE_ID: `bench-${i}` } }));
    }
    const urls = services.map((s) => s.wsUrl);
    const spread = await run('three instances', specs, (i) => i % INSTANCES, urls, publisherToken, options);

    progress(`cluster: ${options.bans} bans of clients on the instance banning them, then on another`);
    const local = await bans('cban-local', options.bans, services[0].url, services[0].wsUrl, services[0].url);
    const remote = await bans('cban-remote', options.bans, services[0].url, services[1].wsUrl, services[0].url);

    const aloneLatency = alone.latencies[0];
    const cross = sortNumbers([...spread.latencies[1], ...spread.latencies[2]]);
    row('cluster', `N=${n} burst deliveries/s, 3 instances vs 1`, fmt(spread.burstRate), fmt(alone.burstRate), spread.burstRate / alone.burstRate);
    row(
      'cluster',
      'cross-instance delivery p50 / p99 ms (paced)',
      `${fmt(percentile(cross, 50), 1)} / ${fmt(percentile(cross, 99), 1)}`,
      `${fmt(percentile(aloneLatency, 50), 1)} / ${fmt(percentile(aloneLatency, 99), 1)}`,
      percentile(cross, 99) / percentile(aloneLatency, 99),
    );
    row(
      'cluster',
      `ban across instances → socket closed p99 ms (${options.bans})`,
      fmt(percentile(remote, 99), 1),
      fmt(percentile(local, 99), 1),
      percentile(remote, 99) / percentile(local, 99),
      { text: '≤ 50 ms', ok: percentile(remote, 99) <= 50 },
    );
  } finally {
    await Promise.all(services.map((s) => s.stop()));
    redis.kill('SIGKILL');
    dynalite.kill('SIGKILL');
  }
}
