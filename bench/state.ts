/**
 * The `state` suite: client state documents (API.md section 6).
 * - state updates/s: autocannon PATCH /v1/clients/{id}/state (service role) over 100 clients
 *   round-robin, each update a desired change (so each also publishes update/delta and
 *   update/documents on the embedded broker), against bare Fastify's JSON route;
 * - delta latency: one device connected over MQTT/WebSocket subscribed to its
 *   `$aws/things/{id}/shadow/update/delta`; paced PATCHes, each timed from the moment the
 *   request is sent to the moment the delta arrives (p50/p99).
 */
import autocannon from 'autocannon';
import mqtt from 'mqtt';
import { BareFastify, type BenchReport, inParallel, percentile, postJson, progress, Service, sleep, sortNumbers } from './lib';

export interface StateBenchOptions extends BenchReport {
  seconds: number;
  deltas: number;
}

const CLIENTS = 100;
const CONNECTIONS = 100;

export async function benchState({ seconds, deltas, row, fmt }: StateBenchOptions): Promise<void> {
  progress('state: starting bare Fastify and the service');
  const bare = await BareFastify.start();
  const service = await Service.start();
  try {
    const serviceToken = service.token('bench-service', ['service']);
    const ids = Array.from({ length: CLIENTS }, (_, i) => `bench-state-${i}`);
    await inParallel(ids, 16, (id) => postJson(`${service.url}/v1/registrations`, service.token(id), { connectionType: 'WEBSOCKET' }));
    const body = (n: number): string => JSON.stringify({ desired: { loadout: `kit-${n % 7}`, audio: { volume: n % 11 } } });
    let counter = 0;
    const run = (url: string, method: 'PATCH' | 'POST', headers: Record<string, string>, pathFor: () => string, duration: number) =>
      autocannon({
        url,
        connections: CONNECTIONS,
        duration,
        requests: [
          {
            method,
            headers: { 'content-type': 'application/json', ...headers },
            setupRequest: (request) => {
              counter += 1;
              return { ...request, path: pathFor(), body: body(counter) };
            },
          },
        ],
      });
    const servicePath = (): string => `/v1/clients/${ids[counter % CLIENTS]}/state`;
    progress('state: warm-up (1 s each)');
    await run(bare.url, 'POST', {}, () => '/bench', 1);
    await run(service.url, 'PATCH', { authorization: `Bearer ${serviceToken}` }, servicePath, 1);
    progress(`state: bare Fastify ${seconds} s`);
    const base = await run(bare.url, 'POST', {}, () => '/bench', seconds);
    progress(`state: updateClientState ${seconds} s`);
    const got = await run(service.url, 'PATCH', { authorization: `Bearer ${serviceToken}` }, servicePath, seconds);
    const ratio = got.requests.average / base.requests.average;
    row('state', 'updateClientState req/s', fmt(got.requests.average), fmt(base.requests.average), ratio, { text: '≥ 0.30×', ok: ratio >= 0.3 });
    row('state', 'updateClientState p50 / p99 ms', `${got.latency.p50} / ${got.latency.p99}`, `${base.latency.p50} / ${base.latency.p99}`, got.latency.p99 / base.latency.p99);
    if (got.non2xx + got.errors > 0) {
      row('state', 'updateClientState non-2xx / errors', `${got.non2xx} / ${got.errors}`, `${base.non2xx} / ${base.errors}`, NaN);
    }

    progress(`state: delta latency, ${deltas} paced updates`);
    const deviceId = 'bench-state-device';
    const reg = await postJson(`${service.url}/v1/registrations`, service.token(deviceId), { connectionType: 'WEBSOCKET' });
    const device = mqtt.connect(service.wsUrl, { clientId: deviceId, username: deviceId, password: String(reg.body.connectionToken), protocolVersion: 4, reconnectPeriod: 0 });
    await new Promise<void>((resolve, reject) => {
      device.once('connect', () => resolve());
      device.once('error', reject);
    });
    const waiting = new Map<number, (at: number) => void>();
    device.on('message', (_topic, payload) => {
      const { state } = JSON.parse(payload.toString('utf8')) as { state: { seq?: number } };
      if (state.seq !== undefined) {
        waiting.get(state.seq)?.(performance.now());
      }
    });
    await device.subscribeAsync(`$aws/things/${deviceId}/shadow/update/delta`);
    const latencies: number[] = [];
    for (let seq = 1; seq <= deltas; seq += 1) {
      const arrived = new Promise<number>((resolve) => waiting.set(seq, resolve));
      const sent = performance.now();
      const response = postJson(`${service.url}/v1/clients/${deviceId}/state`, serviceToken, { desired: { seq } }, 'PATCH');
      const at = await Promise.race([arrived, sleep(5000).then(() => NaN)]);
      await response;
      waiting.delete(seq);
      latencies.push(at - sent);
      await sleep(20);
    }
    await device.endAsync(true);
    const lost = latencies.filter((l) => Number.isNaN(l)).length;
    const sorted = sortNumbers(latencies.filter((l) => !Number.isNaN(l)));
    row('state', `delta end-to-end p50 / p99 ms (${deltas} updates${lost > 0 ? `, ${lost} lost` : ''})`, `${fmt(percentile(sorted, 50), 2)} / ${fmt(percentile(sorted, 99), 2)}`, '', NaN);
  } finally {
    await service.stop();
    await bare.stop();
  }
}
