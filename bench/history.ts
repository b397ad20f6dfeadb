/**
 * The `history` suite (API.md section 4):
 * - broadcast req/s on a channel that keeps history against the same broadcast on one without
 *   (interleaved pairs, median ratio; target ≥ 0.5×), both with a live MQTT subscriber;
 * - listChannelMessages of 100 messages (`limit=100`) at 50 concurrent readers: p99 latency
 *   (target ≤ 10 ms), and req/s and latency against bare Fastify serving the same answer (its bytes
 *   fetched from the service) at the same concurrency.
 */
import autocannon from 'autocannon';
import mqtt from 'mqtt';
import { BareFastify, BENCH_CHANNEL, BENCH_HISTORY_CHANNEL, type BenchReport, postJson, progress, Service, TOPIC_PREFIX } from './lib';

export interface HistoryBenchOptions extends BenchReport {
  seconds: number;
  rounds: number;
}

const CONNECTIONS = 100;
const READERS = 50;

export async function benchHistory({ seconds, rounds, row, fmt }: HistoryBenchOptions): Promise<void> {
  progress('history: starting bare Fastify and the service');
  const bare = await BareFastify.start();
  const service = await Service.start();
  try {
    const serviceToken = service.token('bench-service', ['service']);
    const reg = await postJson(`${service.url}/v1/registrations`, service.token('bench-history-sub'), { connectionType: 'WEBSOCKET' });
    const subscriber = mqtt.connect(service.wsUrl, {
      clientId: 'bench-history-sub',
      username: 'bench-history-sub',
      password: String(reg.body.connectionToken),
      protocolVersion: 4,
      reconnectPeriod: 0,
      keepalive: 0,
    });
    await new Promise<void>((resolve, reject) => {
      subscriber.once('connect', () => resolve());
      subscriber.once('error', reject);
    });
    await subscriber.subscribeAsync([`${TOPIC_PREFIX}/${BENCH_CHANNEL}`, `${TOPIC_PREFIX}/${BENCH_HISTORY_CHANNEL}`]);
    const message = JSON.stringify({ kind: 'bench', text: 'x'.repeat(100) });
    const broadcast = (channel: string, duration: number) =>
      autocannon({
        url: `${service.url}/v1/messages/broadcast`,
        method: 'POST',
        connections: CONNECTIONS,
        duration,
        headers: { 'content-type': 'application/json', authorization: `Bearer ${serviceToken}` },
        body: JSON.stringify({ channel, message }),
      });
    progress('history: warm-up (1 s each)');
    await broadcast(BENCH_CHANNEL, 1);
    await broadcast(BENCH_HISTORY_CHANNEL, 1);
    const pairs: Array<{ plain: autocannon.Result; kept: autocannon.Result }> = [];
    for (let round = 1; round <= rounds; round += 1) {
      progress(`history: broadcast without history ${seconds} s (${round}/${rounds})`);
      const plain = await broadcast(BENCH_CHANNEL, seconds);
      progress(`history: broadcast with history ${seconds} s (${round}/${rounds})`);
      const kept = await broadcast(BENCH_HISTORY_CHANNEL, seconds);
      pairs.push({ plain, kept });
    }
    const ratioOf = (p: { plain: autocannon.Result; kept: autocannon.Result }): number => p.kept.requests.average / p.plain.requests.average;
    const { plain, kept } = pairs.sort((a, b) => ratioOf(a) - ratioOf(b))[Math.floor(pairs.length / 2)];
    const ratio = ratioOf({ plain, kept });
    row('history', `broadcast with history req/s${rounds > 1 ? ` (median of ${rounds})` : ''}`, fmt(kept.requests.average), `${fmt(plain.requests.average)} without`, ratio, {
      text: '≥ 0.50×',
      ok: ratio >= 0.5,
    });
    row('history', 'broadcast with / without history p50 / p99 ms', `${kept.latency.p50} / ${kept.latency.p99}`, `${plain.latency.p50} / ${plain.latency.p99}`, kept.latency.p99 / plain.latency.p99);
    if (kept.non2xx + kept.errors > 0) {
      row('history', 'broadcast with history non-2xx / errors', `${kept.non2xx} / ${kept.errors}`, '', NaN);
    }

    const latest = (await (await fetch(`${service.url}/v1/channels/${BENCH_HISTORY_CHANNEL}/messages?limit=1`, { headers: { authorization: `Bearer ${serviceToken}` } })).json()) as { latestSeq: number };
    const after = Math.max(0, latest.latestSeq - 100);
    // The baseline: bare Fastify serving the very answer the readers get, at the same concurrency.
    const page = await (await fetch(`${service.url}/v1/channels/${BENCH_HISTORY_CHANNEL}/messages?after=${after}&limit=100`, { headers: { authorization: `Bearer ${serviceToken}` } })).text();
    await fetch(`${bare.url}/stash`, { method: 'PUT', headers: { 'content-type': 'application/json' }, body: page });
    progress(`history: bare Fastify serving the same ${Buffer.byteLength(page)}-byte page at ${READERS} readers, ${seconds} s`);
    const bareRead = await autocannon({ url: `${bare.url}/stash`, connections: READERS, duration: seconds });
    progress(`history: listChannelMessages limit=100 at ${READERS} readers, ${seconds} s`);
    const read = await autocannon({
      url: `${service.url}/v1/channels/${BENCH_HISTORY_CHANNEL}/messages?after=${after}&limit=100`,
      connections: READERS,
      duration: seconds,
      headers: { authorization: `Bearer ${serviceToken}` },
    });
    row('history', `listChannelMessages (100 msgs, ${READERS} readers) p50 / p99 ms`, `${read.latency.p50} / ${read.latency.p99}`, '≤ 10 ms p99', read.latency.p99 / 10, {
      text: 'p99 ≤ 10 ms',
      ok: read.latency.p99 <= 10 && read.non2xx === 0,
    });
    row('history', 'listChannelMessages req/s vs bare Fastify serving the same page', fmt(read.requests.average), fmt(bareRead.requests.average), read.requests.average / bareRead.requests.average);
    row('history', 'listChannelMessages p50 / p99 ms vs bare Fastify', `${read.latency.p50} / ${read.latency.p99}`, `${bareRead.latency.p50} / ${bareRead.latency.p99}`, read.latency.p99 / bareRead.latency.p99);
    await subscriber.endAsync(true);
  } finally {
    await service.stop();
    await bare.stop();
  }
}
