/**
 * `npm run bench [-- [--quick] [--sizes=1000,5000,10000] [http] [fanout] [ban] [registration] [startup] [state] [eventsout] [history] [cluster]]`
 *
 * Every figure is measured next to a baseline run in the same invocation and
 * reported as a ratio; one table goes to stdout at the end, progress to stderr.
 * All traffic stays on 127.0.0.1; every loop is bounded in count and in time.
 *
 * - http: autocannon (100 connections) against the built service (`node dist/main.js`,
 *   LOG_LEVEL=info, logs to a file) and against bare Fastify, both child processes.
 * - fanout: N subscribers over MQTT-over-WebSocket (raw ws, bench/subscriber-worker.ts
 *   in worker processes) on the embedded broker and on a private Mosquitto.
 * - ban: ban request → the banned client's socket closes, against an admin GET round trip.
 * - registration: WEBSOCKET and OPENSSL registrations/s against the raw issuing rate of
 *   the service's own CertificateAuthority (@peculiar/x509) in this process.
 * - startup: spawn → first 200 of /health/ready, against bare Fastify's spawn → first 200.
 * - state: state updates/s against bare Fastify, and the delta's end-to-end latency (bench/state.ts).
 * - eventsout: client sends/s with outbound events on (RabbitMQ, embedded MQTT) against events off (bench/events-out.ts).
 * - history: broadcast on a history channel against one without, and listChannelMessages of 100
 *   messages at 50 concurrent readers (bench/history.ts).
 * - cluster: three embedded instances over Redis against one, N subscribers (3,000; --sizes= sets it):
 *   burst deliveries/s, cross-instance latency, ban across instances (bench/cluster.ts).
 */
import { type ChildProcess, fork } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { cpus, freemem, loadavg, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import autocannon from 'autocannon';
import mqtt, { type MqttClient } from 'mqtt';
import {
  BareFastify,
  BENCH_CHANNEL,
  cpuSeconds,
  inParallel,
  Mosquitto,
  percentile,
  postJson,
  progress,
  ROOT,
  rssBytes,
  Service,
  sleep,
  sortNumbers,
  TOPIC_PREFIX,
} from './lib';
import { benchCluster } from './cluster';
import { benchEventsOut } from './events-out';
import { benchHistory } from './history';
import { benchState } from './state';
import type { SubscriberSpec, WorkerCommand, WorkerReply } from './subscriber-worker';

const SUITES = ['http', 'fanout', 'ban', 'registration', 'startup', 'state', 'eventsout', 'history', 'cluster'] as const;
type Suite = (typeof SUITES)[number];

const args = process.argv.slice(2);
const QUICK = args.includes('--quick');
const selected = args.filter((a) => !a.startsWith('--'));
for (const name of selected) {
  if (!(SUITES as readonly string[]).includes(name)) {
    process.stderr.write(`unknown suite ${name}; choose from ${SUITES.join(', ')}\n`);
    process.exit(2);
  }
}
const suites: Suite[] = selected.length === 0 ? [...SUITES] : (selected as Suite[]);
const sizesArg = args.find((a) => a.startsWith('--sizes='));
const SIZES = sizesArg ? sizesArg.slice('--sizes='.length).split(',').map(Number) : QUICK ? [500, 1000] : [1000, 5000, 10_000];
const HTTP_SECONDS = QUICK ? 3 : 10;
const HTTP_CONNECTIONS = 100;
const BURST_MESSAGES = QUICK ? 50 : 200;
const PACED_MESSAGES = QUICK ? 6 : 20;
const PACED_INTERVAL_MS = 500;
const PAYLOAD_BYTES = 200;
const WORKERS = Number(process.env.BENCH_WORKERS ?? 2);
const BANS = QUICK ? 50 : 200;
const REG_WS = QUICK ? 300 : 2000;
const REG_OPENSSL = QUICK ? 100 : 400;
const REG_CONCURRENCY = 32;
const STARTS = QUICK ? 1 : 3;
/** Issue 13's targets: req/s against the newest bare Fastify. */
const HTTP_TARGETS: Record<string, number> = { broadcast: 0.5, sendClientMessage: 0.45, 'registerClient (WEBSOCKET)': 0.3 };

interface Row {
  suite: string;
  metric: string;
  value: string;
  baseline: string;
  ratio: string;
  target: string;
  met: string;
}
const rows: Row[] = [];

function fmt(value: number, digits = 0): string {
  return Number.isFinite(value) ? value.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits }) : 'n/a';
}

function row(suite: string, metric: string, value: string, baseline: string, ratio: number, target?: { text: string; ok: boolean }): void {
  rows.push({
    suite,
    metric,
    value,
    baseline,
    ratio: `${fmt(ratio, 2)}×`,
    target: target?.text ?? '',
    met: target === undefined ? '' : target.ok ? 'yes' : 'NO',
  });
}

// ---- http ------------------------------------------------------------------------------------

interface CannonResult {
  rps: number;
  p50: number;
  p99: number;
  non2xx: number;
  errors: number;
}

async function cannon(url: string, headers: Record<string, string>, body: string, seconds: number): Promise<CannonResult> {
  const result = await autocannon({
    url,
    method: 'POST',
    connections: HTTP_CONNECTIONS,
    duration: seconds,
    headers: { 'content-type': 'application/json', ...headers },
    body,
  });
  return {
    rps: result.requests.average,
    p50: result.latency.p50,
    p99: result.latency.p99,
    non2xx: result.non2xx,
    errors: result.errors + result.timeouts,
  };
}

async function benchHttp(): Promise<void> {
  progress('http: starting bare Fastify and the service');
  const bare = await BareFastify.start();
  // The baseline is the newest Fastify (package.json's override), not whatever Nest's platform pins.
  const bareVersion = await (await fetch(`${bare.url}/version`)).text();
  progress(`http: bare Fastify ${bareVersion}`);
  row('http', `baseline: bare Fastify ${bareVersion}`, '', '', NaN);
  const service = await Service.start();
  try {
    const serviceToken = service.token('bench-service', ['service']);
    const senderToken = service.token('bench-sender');
    const registrantToken = service.token('bench-registrant');
    const subscriberToken = service.token('bench-subscriber');
    await postJson(`${service.url}/v1/registrations`, senderToken, { connectionType: 'WEBSOCKET' });
    const sub = await postJson(`${service.url}/v1/registrations`, subscriberToken, { connectionType: 'WEBSOCKET' });
    const subscriber = await connectMqtt(service.wsUrl, 'bench-subscriber', String(sub.body.connectionToken));
    let delivered = 0;
    subscriber.on('message', () => (delivered += 1));
    await subscriber.subscribeAsync(`${TOPIC_PREFIX}/${BENCH_CHANNEL}`);

    const message = JSON.stringify({ kind: 'bench', text: 'x'.repeat(100) });
    const ops: Array<{ name: string; path: string; token: string; body: string; bareBody: string }> = [
      {
        name: 'broadcast',
        path: '/v1/messages/broadcast',
        token: serviceToken,
        body: JSON.stringify({ channel: BENCH_CHANNEL, message }),
        bareBody: JSON.stringify({ channel: BENCH_CHANNEL, message }),
      },
      {
        name: 'sendClientMessage',
        path: `/v1/channels/${BENCH_CHANNEL}/messages`,
        token: senderToken,
        body: JSON.stringify({ message }),
        bareBody: JSON.stringify({ message }),
      },
      {
        name: 'registerClient (WEBSOCKET)',
        path: '/v1/registrations',
        token: registrantToken,
        body: JSON.stringify({ connectionType: 'WEBSOCKET' }),
        bareBody: JSON.stringify({ connectionType: 'WEBSOCKET' }),
      },
    ];
    progress('http: warm-up (1 s each)');
    await cannon(`${bare.url}/bench`, {}, ops[0].bareBody, 1);
    for (const op of ops) {
      await cannon(`${service.url}${op.path}`, { authorization: `Bearer ${op.token}` }, op.body, 1);
    }
    for (const op of ops) {
      // broadcast: median of three interleaved pairs (its target is on the median); the others: one pair.
      const rounds = op.name === 'broadcast' && !QUICK ? 3 : 1;
      const pairs: Array<{ base: CannonResult; got: CannonResult }> = [];
      const deliveredBefore = delivered;
      for (let round = 1; round <= rounds; round += 1) {
        progress(`http: ${op.name}: bare Fastify ${HTTP_SECONDS} s (${round}/${rounds})`);
        const base = await cannon(`${bare.url}/bench`, {}, op.bareBody, HTTP_SECONDS);
        progress(`http: ${op.name}: service ${HTTP_SECONDS} s (${round}/${rounds})`);
        const got = await cannon(`${service.url}${op.path}`, { authorization: `Bearer ${op.token}` }, op.body, HTTP_SECONDS);
        progress(`http: ${op.name}: ${fmt(got.rps)} vs ${fmt(base.rps)} req/s (${fmt(got.rps / base.rps, 2)}×)`);
        pairs.push({ base, got });
      }
      const { base, got } = pairs.sort((a, b) => a.got.rps / a.base.rps - b.got.rps / b.base.rps)[Math.floor(pairs.length / 2)];
      const ratio = got.rps / base.rps;
      const wanted = HTTP_TARGETS[op.name];
      row('http', `${op.name} req/s${rounds > 1 ? ` (median of ${rounds})` : ''}`, fmt(got.rps), fmt(base.rps), ratio, {
        text: `≥ ${fmt(wanted, 2)}×`,
        ok: ratio >= wanted,
      });
      row('http', `${op.name} p50 / p99 ms`, `${got.p50} / ${got.p99}`, `${base.p50} / ${base.p99}`, got.p99 / base.p99);
      if (got.non2xx + got.errors > 0) {
        row('http', `${op.name} non-2xx / errors`, `${got.non2xx} / ${got.errors}`, `${base.non2xx} / ${base.errors}`, NaN);
      }
      if (op.name !== 'registerClient (WEBSOCKET)') {
        await sleep(500);
        progress(`http: ${op.name}: the live subscriber received ${delivered - deliveredBefore} messages`);
      }
    }
    await subscriber.endAsync(true);
  } finally {
    await service.stop();
    await bare.stop();
  }
}

async function connectMqtt(url: string, clientId: string, password?: string): Promise<MqttClient> {
  // keepalive 0: a broker busy with a long burst must not make the publisher give up on it.
  const client = mqtt.connect(url, {
    clientId,
    username: password === undefined ? undefined : clientId,
    password,
    reconnectPeriod: 0,
    protocolVersion: 4,
    connectTimeout: 10_000,
    keepalive: 0,
  });
  await new Promise<void>((resolve, reject) => {
    client.once('connect', () => resolve());
    client.once('error', reject);
  });
  return client;
}

// ---- fan-out ---------------------------------------------------------------------------------

class Workers {
  private readonly children: ChildProcess[];

  constructor(count: number) {
    this.children = Array.from({ length: count }, () =>
      fork(join(ROOT, 'dist-bench', 'subscriber-worker.js'), [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] }),
    );
  }

  get pids(): number[] {
    return this.children.map((c) => c.pid!);
  }

  /** Sends a command to every worker and collects one reply of `type` from each (or times out). */
  async all<T extends WorkerReply['type']>(
    command: WorkerCommand | ((index: number) => WorkerCommand),
    type: T,
    timeoutMs: number,
    onTimeout?: WorkerCommand,
  ): Promise<Array<Extract<WorkerReply, { type: T }>>> {
    const replies = this.children.map(
      (child) =>
        new Promise<Extract<WorkerReply, { type: T }>>((resolve) => {
          const listener = (reply: WorkerReply): void => {
            if (reply.type === type) {
              child.off('message', listener);
              resolve(reply as Extract<WorkerReply, { type: T }>);
            }
          };
          child.on('message', listener);
        }),
    );
    this.children.forEach((child, index) => child.send(typeof command === 'function' ? command(index) : command));
    const timer = setTimeout(() => {
      if (onTimeout !== undefined) {
        progress(`  (timed out after ${timeoutMs} ms; collecting what arrived)`);
        this.children.forEach((child) => child.send(onTimeout));
      }
    }, timeoutMs);
    const result = await Promise.all(replies);
    clearTimeout(timer);
    return result;
  }

  kill(): void {
    for (const child of this.children) {
      child.kill('SIGKILL');
    }
  }
}

interface FanoutResult {
  n: number;
  connectSeconds: number;
  /** Both RSS readings taken right after a full GC of the broker (where it has one). */
  rssPerClient: number;
  /** The connected reading taken before its GC (idle still after one): adds the garbage connecting left, so it moves with GC timing. */
  rssPerClientRaw: number;
  burstRate: number;
  burstDelivered: number;
  burstSeconds: number;
  brokerCpuBurst: number;
  harnessCpuBurst: number;
  p50: number;
  p99: number;
  /** Median over the paced messages of each message's p99 across subscribers: one slow message (a GC pause, a neighbour's burst) moves it little. */
  p99PerMessage: number;
  pacedDelivered: number;
}

/** For each paced message (grouped by its send stamp), the p99 latency across its subscribers; returns the median of those. */
function perMessagePercentiles(reports: Array<Extract<WorkerReply, { type: 'done' }>>): number {
  const byMessage = new Map<number, number[]>();
  for (const report of reports) {
    const stamps = report.sentAts ?? [];
    (report.latencies ?? []).forEach((latency, i) => {
      const list = byMessage.get(stamps[i]) ?? [];
      list.push(latency);
      byMessage.set(stamps[i], list);
    });
  }
  const p99s = sortNumbers([...byMessage.values()].map((list) => percentile(sortNumbers(list), 99)));
  return percentile(p99s, 50);
}

/** Waits until none of `pids` used more than 5 % of a core over 250 ms (at most 30 s). */
async function waitIdle(pids: number[]): Promise<void> {
  const deadline = Date.now() + 30_000;
  for (;;) {
    const before = pids.map(cpuSeconds);
    await sleep(250);
    const busiest = Math.max(...pids.map((pid, i) => cpuSeconds(pid) - before[i]));
    if (busiest <= 0.0125 || Date.now() > deadline) {
      return;
    }
  }
}

function payload(): Buffer {
  const stamp = (performance.timeOrigin + performance.now()).toFixed(3).padStart(20, '0');
  return Buffer.from(stamp + '.'.repeat(PAYLOAD_BYTES - stamp.length), 'latin1');
}

async function fanoutRun(
  label: string,
  brokerPid: number,
  url: string,
  publisher: MqttClient,
  specs: SubscriberSpec[],
  collectGarbage: () => Promise<void>,
): Promise<FanoutResult[]> {
  const topic = `${TOPIC_PREFIX}/${BENCH_CHANNEL}`;
  const workers = new Workers(WORKERS);
  const results: FanoutResult[] = [];
  try {
    await sleep(1000);
    await collectGarbage();
    const idleRss = rssBytes(brokerPid);
    let connected = 0;
    for (const n of SIZES) {
      const batch = specs.slice(connected, n);
      progress(`fanout ${label}: connecting ${batch.length} more subscribers (→ ${n})`);
      const started = performance.now();
      const replies = await workers.all(
        (index) => ({ type: 'connect', url, topic, clients: batch.filter((_, i) => i % WORKERS === index), concurrency: 100 }),
        'connected',
        300_000,
      );
      const connectSeconds = (performance.now() - started) / 1000;
      const failed = replies.reduce((sum, r) => sum + r.failed, 0);
      connected += replies.reduce((sum, r) => sum + r.connected, 0);
      if (failed > 0) {
        progress(`fanout ${label}: ${failed} subscribers failed to connect (${replies.find((r) => r.firstError)?.firstError})`);
      }
      await sleep(2000);
      const rssPerClientRaw = (rssBytes(brokerPid) - idleRss) / connected;
      await collectGarbage();
      const rssPerClient = (rssBytes(brokerPid) - idleRss) / connected;

      progress(`fanout ${label} N=${connected}: burst of ${BURST_MESSAGES}`);
      await workers.all({ type: 'expect', messages: BURST_MESSAGES, latency: false }, 'armed', 10_000);
      const cpuBefore = cpuSeconds(brokerPid);
      const harnessBefore = workers.pids.reduce((sum, pid) => sum + cpuSeconds(pid), 0);
      const burstStart = performance.timeOrigin + performance.now();
      const burstDone = collect(workers, 120_000);
      for (let i = 0; i < BURST_MESSAGES; i += 1) {
        publisher.publish(topic, payload(), { qos: 0 });
      }
      const burst = await burstDone;
      const burstSeconds = (Math.max(...burst.map((r) => r.lastAtMs || performance.timeOrigin + performance.now())) - burstStart) / 1000;
      const burstDelivered = burst.reduce((sum, r) => sum + r.received, 0);
      const brokerCpuBurst = cpuSeconds(brokerPid) - cpuBefore;
      const harnessCpuBurst = workers.pids.reduce((sum, pid) => sum + cpuSeconds(pid), 0) - harnessBefore;
      // The paced phase starts only once the burst has drained from the broker and the harness (both idle):
      // at N = 10,000 the burst's tail could still be in socket buffers a second later and land in the paced latencies.
      await waitIdle([brokerPid, ...workers.pids]);

      progress(`fanout ${label} N=${connected}: paced ${PACED_MESSAGES} messages at ${1000 / PACED_INTERVAL_MS}/s`);
      await workers.all({ type: 'expect', messages: PACED_MESSAGES, latency: true }, 'armed', 10_000);
      const pacedDone = collect(workers, PACED_MESSAGES * PACED_INTERVAL_MS + 30_000);
      for (let i = 0; i < PACED_MESSAGES; i += 1) {
        publisher.publish(topic, payload(), { qos: 0 });
        await sleep(PACED_INTERVAL_MS);
      }
      const paced = await pacedDone;
      const latencies = sortNumbers(paced.flatMap((r) => r.latencies ?? []));
      const perMessage = perMessagePercentiles(paced);
      results.push({
        n: connected,
        connectSeconds,
        rssPerClient,
        rssPerClientRaw,
        burstRate: burstDelivered / burstSeconds,
        burstDelivered,
        burstSeconds,
        brokerCpuBurst,
        harnessCpuBurst,
        p50: percentile(latencies, 50),
        p99: percentile(latencies, 99),
        p99PerMessage: perMessage,
        pacedDelivered: latencies.length,
      });
      const last = results[results.length - 1];
      progress(
        `fanout ${label} N=${connected}: ${fmt(last.burstRate)} deliveries/s (${burstDelivered}/${connected * BURST_MESSAGES} in ${fmt(burstSeconds, 2)} s), ` +
          `paced p50 ${fmt(last.p50, 1)} ms p99 ${fmt(last.p99, 1)} ms, ${fmt(rssPerClient / 1024, 1)} KiB/client after GC (${fmt(rssPerClientRaw / 1024, 1)} before)`,
      );
    }
    await workers.all({ type: 'close' }, 'closed', 60_000);
  } finally {
    workers.kill();
  }
  return results;
}

/** Waits for every worker's 'done' (they send it once they have all they expect), asking for a report at the deadline. */
async function collect(workers: Workers, timeoutMs: number): Promise<Array<Extract<WorkerReply, { type: 'done' }>>> {
  return workers.all({ type: 'noop' } as unknown as WorkerCommand, 'done', timeoutMs, { type: 'report' });
}

async function benchFanout(): Promise<void> {
  const max = Math.max(...SIZES);
  const specsBase = Array.from({ length: max }, (_, i) => `sub-${String(i).padStart(6, '0')}`);

  progress('fanout: starting the service');
  // --inspect (loopback): the bench forces a full GC before each RSS reading (Service.collectGarbage).
  const service = await Service.start({ nodeFlags: ['--inspect=127.0.0.1:0'] });
  let embedded: FanoutResult[];
  try {
    progress(`fanout: registering ${max} subscribers over HTTP (64 in flight)`);
    const started = performance.now();
    const specs = await inParallel(specsBase, 64, async (clientId, index) => {
      const response = await postJson(`${service.url}/v1/registrations`, service.token(clientId), { connectionType: 'WEBSOCKET' });
      if (response.status !== 201) {
        throw new Error(`registration of ${clientId}: ${response.status} ${JSON.stringify(response.body)}`);
      }
      if ((index + 1) % 2000 === 0) {
        progress(`fanout: ${index + 1} registered`);
      }
      return { clientId, username: clientId, password: String(response.body.connectionToken) };
    });
    progress(`fanout: registered ${max} in ${fmt((performance.now() - started) / 1000, 1)} s`);
    const admin = service.token('bench-admin', ['admin']);
    const pub = await postJson(`${service.url}/v1/admin/registrations`, admin, {
      connectionType: 'WEBSOCKET',
      clientId: 'bench-publisher',
    });
    const publisher = await connectMqtt(service.wsUrl, 'bench-publisher', String(pub.body.connectionToken));
    embedded = await fanoutRun('embedded', service.pid, service.wsUrl, publisher, specs, () => service.collectGarbage());
    await publisher.endAsync(true);
  } finally {
    await service.stop();
  }

  progress('fanout: starting Mosquitto');
  const mosquitto = await Mosquitto.start();
  let baseline: FanoutResult[];
  try {
    const publisher = await connectMqtt(mosquitto.wsUrl, 'bench-publisher');
    baseline = await fanoutRun(
      'mosquitto',
      mosquitto.pid,
      mosquitto.wsUrl,
      publisher,
      specsBase.map((clientId) => ({ clientId })),
      async () => undefined, // no garbage collector
    );
    await publisher.endAsync(true);
  } finally {
    await mosquitto.stop();
  }

  embedded.forEach((e, i) => {
    const m = baseline[i];
    const n = e.n;
    row(
      'fanout',
      `N=${n} burst deliveries/s`,
      fmt(e.burstRate),
      fmt(m.burstRate),
      e.burstRate / m.burstRate,
      n === 5000 ? { text: '≥ 2.00×', ok: e.burstRate / m.burstRate >= 2 } : undefined,
    );
    row(
      'fanout',
      `N=${n} burst delivered (of ${n * BURST_MESSAGES})`,
      fmt(e.burstDelivered),
      fmt(m.burstDelivered),
      e.burstDelivered / m.burstDelivered,
    );
    row(
      'fanout',
      `N=${n} burst broker / harness CPU s`,
      `${fmt(e.brokerCpuBurst, 2)} / ${fmt(e.harnessCpuBurst, 2)}`,
      `${fmt(m.brokerCpuBurst, 2)} / ${fmt(m.harnessCpuBurst, 2)}`,
      e.brokerCpuBurst / m.brokerCpuBurst,
    );
    row('fanout', `N=${n} paced p50 ms`, fmt(e.p50, 1), fmt(m.p50, 1), e.p50 / m.p50);
    row(
      'fanout',
      `N=${n} paced p99 ms`,
      fmt(e.p99, 1),
      fmt(m.p99, 1),
      e.p99 / m.p99,
    );
    row(
      'fanout',
      `N=${n} paced p99 ms (median of per-message p99)`,
      fmt(e.p99PerMessage, 1),
      fmt(m.p99PerMessage, 1),
      e.p99PerMessage / m.p99PerMessage,
      n === 10_000 ? { text: '≤ 1.00×', ok: e.p99PerMessage / m.p99PerMessage <= 1 } : undefined,
    );
    row(
      'fanout',
      `N=${n} RSS per client KiB (after GC)`,
      fmt(e.rssPerClient / 1024, 1),
      fmt(m.rssPerClient / 1024, 1),
      e.rssPerClient / m.rssPerClient,
      n === max ? { text: '≤ 1.50×', ok: e.rssPerClient / m.rssPerClient <= 1.5 } : undefined,
    );
    row(
      'fanout',
      `N=${n} RSS per client KiB (before GC)`,
      fmt(e.rssPerClientRaw / 1024, 1),
      fmt(m.rssPerClientRaw / 1024, 1),
      e.rssPerClientRaw / m.rssPerClientRaw,
    );
    // The storm: the batch connected to reach N (N=10,000: 5,000 more on top of 5,000), WebSocket, CONNECT + SUBSCRIBE each.
    const batch = n - (i === 0 ? 0 : embedded[i - 1].n);
    const storm = e.connectSeconds / m.connectSeconds;
    row(
      'fanout',
      `N=${n} connect s (+${batch} CONNECT + SUBSCRIBE)`,
      fmt(e.connectSeconds, 1),
      fmt(m.connectSeconds, 1),
      storm,
      n >= 5000 ? { text: '≤ 2.00×', ok: storm <= 2 } : undefined,
    );
  });
}

// ---- ban -------------------------------------------------------------------------------------

async function benchBan(): Promise<void> {
  progress('ban: starting the service');
  const service = await Service.start();
  try {
    const admin = service.token('bench-admin', ['admin']);
    const ids = Array.from({ length: BANS }, (_, i) => `ban-${String(i).padStart(4, '0')}`);
    progress(`ban: registering and connecting ${BANS} clients`);
    const clients = await inParallel(ids, 16, async (clientId) => {
      const reg = await postJson(`${service.url}/v1/registrations`, service.token(clientId), { connectionType: 'WEBSOCKET' });
      const client = await connectMqtt(service.wsUrl, clientId, String(reg.body.connectionToken));
      await client.subscribeAsync(`${TOPIC_PREFIX}/${BENCH_CHANNEL}`);
      return client;
    });
    progress(`ban: baseline, ${BANS} admin GET /v1/admin/users/{id} round trips`);
    const gets: number[] = [];
    for (const clientId of ids) {
      const started = performance.now();
      const response = await fetch(`${service.url}/v1/admin/users/${clientId}`, { headers: { authorization: `Bearer ${admin}` } });
      await response.text();
      gets.push(performance.now() - started);
    }
    progress(`ban: ${BANS} bans, one at a time`);
    const closes: number[] = [];
    const responses: number[] = [];
    for (let i = 0; i < ids.length; i += 1) {
      const client = clients[i];
      const started = performance.now();
      const closed = new Promise<number>((resolve) => {
        // The socket's close, not mqtt.js's reconnect bookkeeping.
        client.stream.once('close', () => resolve(performance.now()));
      });
      const response = await postJson(`${service.url}/v1/admin/users/${ids[i]}`, admin, { status: 'BANNED', reason: 'bench' }, 'PATCH');
      const answered = performance.now();
      if (response.status !== 200) {
        throw new Error(`ban of ${ids[i]}: ${response.status}`);
      }
      const closedAt = await Promise.race([closed, sleep(5000).then(() => NaN)]);
      closes.push(closedAt - started);
      responses.push(answered - started);
      client.end(true);
    }
    const c = sortNumbers(closes);
    const r = sortNumbers(responses);
    const g = sortNumbers(gets);
    row(
      'ban',
      `ban → socket closed p50 ms (${BANS})`,
      fmt(percentile(c, 50), 1),
      fmt(percentile(g, 50), 1),
      percentile(c, 50) / percentile(g, 50),
    );
    row(
      'ban',
      `ban → socket closed p99 ms (${BANS})`,
      fmt(percentile(c, 99), 1),
      fmt(percentile(g, 99), 1),
      percentile(c, 99) / percentile(g, 99),
      { text: '≤ 20 ms', ok: percentile(c, 99) <= 20 },
    );
    row(
      'ban',
      'ban → response p50 / p99 ms',
      `${fmt(percentile(r, 50), 1)} / ${fmt(percentile(r, 99), 1)}`,
      `${fmt(percentile(g, 50), 1)} / ${fmt(percentile(g, 99), 1)}`,
      percentile(r, 99) / percentile(g, 99),
    );
  } finally {
    await service.stop();
  }
}

// ---- registration ----------------------------------------------------------------------------

interface CertificateAuthorityLike {
  issueClientCertificate(clientId: string): Promise<unknown>;
}

async function rate(count: number, task: (i: number) => Promise<void>): Promise<number> {
  const started = performance.now();
  await inParallel(
    Array.from({ length: count }, (_, i) => i),
    REG_CONCURRENCY,
    task,
  );
  return count / ((performance.now() - started) / 1000);
}

async function benchRegistration(): Promise<void> {
  progress("registration: raw certificate issuing rate (@peculiar/x509, the service's CertificateAuthority, in this process)");
  // The compiled service code: the same library, the same key type and extensions.
  const { CertificateAuthority } = (await import(join(ROOT, 'dist', 'broker', 'embedded', 'certificate-authority.js'))) as {
    CertificateAuthority: {
      open(options: { dataDir: string; serverHosts: string[]; workerThreads: number }): Promise<CertificateAuthorityLike>;
    };
  };
  // workerThreads 0: the library's own rate on one thread (the service builds certificates on worker threads).
  const ca = await CertificateAuthority.open({
    dataDir: mkdtempSync(join(tmpdir(), 'wc-bench-ca-')),
    serverHosts: ['127.0.0.1'],
    workerThreads: 0,
  });
  await rate(20, async (i) => void (await ca.issueClientCertificate(`warm-${i}`)));
  const raw = await rate(REG_OPENSSL, async (i) => void (await ca.issueClientCertificate(`raw-${i}`)));

  progress('registration: starting the service');
  const service = await Service.start();
  try {
    const register = (prefix: string, connectionType: string) => async (i: number) => {
      const clientId = `${prefix}-${i}`;
      const response = await postJson(`${service.url}/v1/registrations`, service.token(clientId), { connectionType });
      if (response.status !== 201) {
        throw new Error(`registration of ${clientId}: ${response.status} ${JSON.stringify(response.body)}`);
      }
    };
    await rate(50, register('warm', 'OPENSSL'));
    progress(`registration: ${REG_OPENSSL} OPENSSL, ${REG_CONCURRENCY} in flight`);
    const openssl = await rate(REG_OPENSSL, register('dev', 'OPENSSL'));
    progress(`registration: ${REG_WS} WEBSOCKET, ${REG_CONCURRENCY} in flight`);
    const ws = await rate(REG_WS, register('ws', 'WEBSOCKET'));
    row('registration', 'OPENSSL registrations/s', fmt(openssl, 1), `${fmt(raw, 1)} raw`, openssl / raw, {
      text: '≥ 1.00×',
      ok: openssl / raw >= 1,
    });
    row('registration', 'WEBSOCKET registrations/s', fmt(ws, 1), `${fmt(raw, 1)} raw`, ws / raw);
  } finally {
    await service.stop();
  }
}

// ---- startup ---------------------------------------------------------------------------------

async function benchStartup(): Promise<void> {
  const fresh: number[] = [];
  const warm: number[] = [];
  const bare: number[] = [];
  for (let i = 0; i < STARTS; i += 1) {
    progress(`startup: round ${i + 1}/${STARTS}`);
    const b = await BareFastify.start();
    bare.push(b.readyMs);
    await b.stop();
    // The embedded default: only ports, DATA_DIR and the bench channels differ.
    const first = await Service.start({ env: { REGISTRATION_CLIENT_OPENSSL: 'false' } });
    fresh.push(first.readyMs);
    await first.stop();
    const second = await Service.start({ dataDir: first.dataDir, env: { REGISTRATION_CLIENT_OPENSSL: 'false' } });
    warm.push(second.readyMs);
    await second.stop();
  }
  const median = (values: number[]): number => percentile(sortNumbers(values), 50);
  row('startup', `ready, fresh DATA_DIR ms (median of ${STARTS})`, fmt(median(fresh)), fmt(median(bare)), median(fresh) / median(bare), {
    text: '≤ 1500 ms',
    ok: Math.max(...fresh) <= 1500,
  });
  row('startup', `ready, existing DATA_DIR ms (median of ${STARTS})`, fmt(median(warm)), fmt(median(bare)), median(warm) / median(bare), {
    text: '≤ 1500 ms',
    ok: Math.max(...warm) <= 1500,
  });
}

// ---- main ------------------------------------------------------------------------------------

function printTable(): void {
  const header: Row = {
    suite: 'suite',
    metric: 'metric',
    value: 'value',
    baseline: 'baseline',
    ratio: 'ratio',
    target: 'target',
    met: 'met',
  };
  const keys = Object.keys(header) as Array<keyof Row>;
  const widths = keys.map((k) => Math.max(...[header, ...rows].map((r) => r[k].length)));
  const line = (r: Row): string => `| ${keys.map((k, i) => r[k].padEnd(widths[i])).join(' | ')} |`;
  const out = [line(header), `|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`, ...rows.map(line)];
  process.stdout.write(`${out.join('\n')}\n`);
}

async function main(): Promise<void> {
  const [l1, l5, l15] = loadavg();
  progress(
    `node ${process.version}, ${cpus().length} CPUs, ${fmt(totalmem() / 2 ** 30, 1)} GiB (${fmt(freemem() / 2 ** 30, 1)} free), ` +
      `load ${l1.toFixed(2)} ${l5.toFixed(2)} ${l15.toFixed(2)}; suites: ${suites.join(' ')}${QUICK ? ' (quick)' : ''}`,
  );
  const deadline = setTimeout(
    () => {
      progress('bench: overall time limit reached');
      printTable();
      process.exit(1);
    },
    (QUICK ? 15 : 45) * 60_000,
  );
  for (const suite of suites) {
    switch (suite) {
      case 'http':
        await benchHttp();
        break;
      case 'fanout':
        await benchFanout();
        break;
      case 'ban':
        await benchBan();
        break;
      case 'registration':
        await benchRegistration();
        break;
      case 'startup':
        await benchStartup();
        break;
      case 'state':
        await benchState({ seconds: HTTP_SECONDS, deltas: QUICK ? 100 : 500, row, fmt });
        break;
      case 'eventsout':
        await benchEventsOut({ seconds: HTTP_SECONDS, rounds: QUICK ? 1 : 3, row, fmt });
        break;
      case 'history':
        await benchHistory({ seconds: HTTP_SECONDS, rounds: QUICK ? 1 : 3, row, fmt });
        break;
      case 'cluster':
        await benchCluster({ n: sizesArg ? SIZES[0] : QUICK ? 600 : 3000, burst: BURST_MESSAGES, paced: PACED_MESSAGES, bans: QUICK ? 20 : 100, row, fmt });
        break;
    }
  }
  clearTimeout(deadline);
  const [e1] = loadavg();
  progress(`done; load ${e1.toFixed(2)}`);
  printTable();
  process.exit(0);
}

main().catch((error: unknown) => {
  progress(`failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`);
  printTable();
  process.exit(1);
});
