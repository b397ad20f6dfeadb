/**
 * The `eventsout` suite: what outbound events (API.md section 7) cost a client send.
 * autocannon POST /v1/channels/{bench}/messages (each accepted send emits `client.message`)
 * against the same service started with EVENTS_TRANSPORT=none, in the same invocation, rounds
 * interleaved (off, on, off, on, ...), median ratio reported. Two transports:
 * - rmq: RabbitMQ (TEST_RABBITMQ_URL, default amqp://guest:guest@127.0.0.1:5672), a fresh
 *   exchange with one durable queue bound to it (capped, deleted at the end), so RabbitMQ
 *   persists and confirms every event;
 * - mqtt: the embedded broker's internal namespace (the embedded default).
 * Targets (< 10 % cost): the events-on rate is at least 0.9× the events-off rate, and the service's event
 * loop (its main thread: the one that answers clients) spends at most 1.1× the CPU per send. The rate ratio
 * also carries RabbitMQ's own work and the publisher thread, which share this machine's 2 cores with the
 * service and the load generator; both CPU figures are reported beside it.
 */
import { execFileSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import amqp from 'amqplib';
import autocannon from 'autocannon';
import { BENCH_CHANNEL, type BenchReport, cpuSeconds, mainThreadCpuSeconds, postJson, progress, Service } from './lib';

export interface EventsOutBenchOptions extends BenchReport {
  seconds: number;
  rounds: number;
}

const CONNECTIONS = 100;
const TARGET = 0.9;
/** The same < 10 % as CPU on the event loop per send. */
const LOOP_TARGET = 1.1;
const RABBITMQ_URL = process.env.TEST_RABBITMQ_URL ?? 'amqp://guest:guest@127.0.0.1:5672';

/** RabbitMQ's own process on this machine (it shares the 2 cores with the service and the load generator), if found. */
function rabbitPid(): number | undefined {
  try {
    const pid = Number(execFileSync('pgrep', ['-o', '-f', 'beam.smp'], { encoding: 'utf8' }).trim().split('\n')[0]);
    return Number.isInteger(pid) && pid > 0 ? pid : undefined;
  } catch {
    return undefined;
  }
}

/** CPU seconds `pids` use while `task` runs; `main` is the first pid's main thread (the service's event loop). */
async function cpuDuring<T>(pids: Array<number | undefined>, task: () => Promise<T>): Promise<{ result: T; cpu: number[]; main: number }> {
  const read = (): number[] => [...pids.map((pid) => (pid === undefined ? NaN : cpuSeconds(pid))), pids[0] === undefined ? NaN : mainThreadCpuSeconds(pids[0])];
  const before = read();
  const result = await task();
  const used = read().map((after, i) => after - before[i]);
  return { result, cpu: used.slice(0, pids.length), main: used[pids.length] };
}

async function sendRate(service: Service, seconds: number): Promise<{ rps: number; non2xx: number; total: number }> {
  const token = service.token('bench-sender');
  const result = await autocannon({
    url: `${service.url}/v1/channels/${BENCH_CHANNEL}/messages`,
    method: 'POST',
    connections: CONNECTIONS,
    duration: seconds,
    headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
    body: JSON.stringify({ message: JSON.stringify({ kind: 'bench', text: 'x'.repeat(100) }) }),
  });
  return { rps: result.requests.average, non2xx: result.non2xx + result.errors + result.timeouts, total: result.requests.total };
}

async function started(env: Record<string, string>): Promise<Service> {
  const service = await Service.start({ env });
  await postJson(`${service.url}/v1/registrations`, service.token('bench-sender'), { connectionType: 'WEBSOCKET' });
  // Warm-up.
  await sendRate(service, 1);
  return service;
}

export async function benchEventsOut({ seconds, rounds, row, fmt }: EventsOutBenchOptions): Promise<void> {
  const exchange = `bench-events-out-${randomUUID().slice(0, 8)}`;
  const queue = `${exchange}.all`;
  const connection = await amqp.connect(RABBITMQ_URL);
  const channel = await connection.createChannel();
  await channel.assertExchange(exchange, 'topic', { durable: true });
  await channel.assertQueue(queue, { durable: true, arguments: { 'x-max-length': 200_000 } });
  await channel.bindQueue(queue, exchange, '#');
  let received = 0;
  try {
    const variants: Array<{ name: string; env: Record<string, string> }> = [
      { name: 'rmq', env: { EVENTS_TRANSPORT: 'rmq', EVENTS_URL: RABBITMQ_URL, EVENTS_QUEUE: `${exchange}.in`, EVENTS_EXCHANGE: exchange } },
      { name: 'mqtt', env: { EVENTS_TRANSPORT: 'mqtt' } },
    ];
    progress('eventsout: starting the service with events off');
    const off = await started({ EVENTS_TRANSPORT: 'none' });
    try {
      for (const variant of variants) {
        progress(`eventsout: starting the service with EVENTS_TRANSPORT=${variant.name}`);
        const on = await started(variant.env);
        try {
          const pairs: Array<{ on: number; off: number; non2xx: number; onCpuUs: number; offCpuUs: number; onMainUs: number; offMainUs: number; rabbitCpu: number }> = [];
          const rabbit = variant.name === 'rmq' ? rabbitPid() : undefined;
          for (let round = 1; round <= rounds; round += 1) {
            const { result: base, cpu: [offCpu], main: offMain } = await cpuDuring([off.pid], () => sendRate(off, seconds));
            // The bound queue starts each round empty, as under a consumer that keeps up: at its cap (x-max-length)
            // RabbitMQ would also drop a persisted message for every one it takes, work no consumer's queue does.
            received += (await channel.purgeQueue(queue)).messageCount;
            const { result: got, cpu: [onCpu, rabbitCpu], main: onMain } = await cpuDuring([on.pid, rabbit], () => sendRate(on, seconds));
            progress(`eventsout: ${variant.name} round ${round}/${rounds}: ${fmt(got.rps)} (on) vs ${fmt(base.rps)} (off) req/s`);
            pairs.push({
              on: got.rps,
              off: base.rps,
              non2xx: got.non2xx + base.non2xx,
              onCpuUs: (onCpu * 1e6) / got.total,
              offCpuUs: (offCpu * 1e6) / base.total,
              onMainUs: (onMain * 1e6) / got.total,
              offMainUs: (offMain * 1e6) / base.total,
              rabbitCpu,
            });
          }
          const median = pairs.sort((a, b) => a.on / a.off - b.on / b.off)[Math.floor(pairs.length / 2)];
          const ratio = median.on / median.off;
          row('eventsout', `sendClientMessage req/s, events on (${variant.name}) vs off${rounds > 1 ? ` (median of ${rounds})` : ''}`, fmt(median.on), fmt(median.off), ratio, {
            text: `≥ ${fmt(TARGET, 2)}×`,
            ok: ratio >= TARGET,
          });
          // What the service's own process spends per send, and RabbitMQ's CPU beside it: the rate ratio above also
          // carries the broker's work, which takes cores from the service and the load generator on this machine.
          row('eventsout', `${variant.name}: service CPU µs per send, events on vs off`, fmt(median.onCpuUs, 1), fmt(median.offCpuUs, 1), median.onCpuUs / median.offCpuUs);
          // The event loop alone (the thread that answers clients; rmq publishes from a thread of its own), as the
          // median of the rounds' ratios: what emitting costs the client-send path itself.
          const loopRatio = (p: (typeof pairs)[number]): number => p.onMainUs / p.offMainUs;
          const loopPair = [...pairs].sort((a, b) => loopRatio(a) - loopRatio(b))[Math.floor(pairs.length / 2)];
          const loop = loopRatio(loopPair);
          row('eventsout', `${variant.name}: event-loop CPU µs per send, events on vs off`, fmt(loopPair.onMainUs, 1), fmt(loopPair.offMainUs, 1), loop, {
            text: `≤ ${fmt(LOOP_TARGET, 2)}×`,
            ok: loop <= LOOP_TARGET,
          });
          if (variant.name === 'rmq' && !Number.isNaN(median.rabbitCpu)) {
            row('eventsout', `rmq: RabbitMQ CPU s during the events-on run (${seconds} s)`, fmt(median.rabbitCpu, 2), '', NaN);
          }
          const errors = pairs.reduce((sum, p) => sum + p.non2xx, 0);
          if (errors > 0) {
            row('eventsout', `${variant.name}: non-2xx / errors`, String(errors), '', NaN);
          }
        } finally {
          await on.stop();
        }
      }
    } finally {
      await off.stop();
    }
    received += (await channel.checkQueue(queue)).messageCount;
    progress(`eventsout: the bound queue took ${fmt(received)} client.message events`);
  } finally {
    await channel.deleteQueue(queue).catch(() => undefined);
    await channel.deleteQueue(`${exchange}.in`).catch(() => undefined);
    await channel.deleteQueue(`${exchange}.in.dlq`).catch(() => undefined);
    await channel.deleteExchange(exchange).catch(() => undefined);
    await connection.close().catch(() => undefined);
  }
}
