import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import mqtt, { type MqttClient } from 'mqtt';
import { ServiceProcess } from '../../support/service-process';

/**
 * Load soak against the built service (`node dist/main.js`): N clients registered and
 * connected over MQTT/WebSocket with QoS 1 subscriptions to a broadcast channel and
 * their private topic, a window of mixed HTTP publishing (broadcasts and direct
 * messages), bans and un-bans of a few clients and new registrations, then per-id
 * accounting: every accepted (202) message id must reach every client that was
 * connected and not banned for the whole window. RSS of the service sampled every second.
 *
 * Used by `npm run soak` (scripts/soak.ts) and test/reliability/soak.e2e-spec.ts.
 */
export interface SoakOptions {
  clients: number;
  seconds: number;
  /** Broadcasts per second over HTTP. */
  broadcastRate: number;
  /** Direct messages per second over HTTP (random stable or churned target). */
  directRate: number;
  /** Clients banned then un-banned during the window (each once). */
  bans: number;
  /** New registrations (and connections) during the window. */
  newRegistrations: number;
  /** Seconds after which the RSS baseline ("after warm-up") is taken. */
  warmupSeconds: number;
  /** Seed of the pseudo-random choices (targets, ban order). */
  seed: number;
  /** How long to wait for stragglers after the window, in ms. */
  drainMs: number;
  log?: (line: string) => void;
}

export interface SoakResult {
  clients: number;
  stableClients: number;
  seconds: number;
  broadcastsAccepted: number;
  directsAccepted: number;
  publishRejected: number;
  publishStatuses: Record<string, number>;
  expectedDeliveries: number;
  delivered: number;
  lost: number;
  duplicates: number;
  nonQos1Packets: number;
  unexpectedDisconnects: number;
  bans: number;
  unbans: number;
  bannedKicked: number;
  newRegistrations: number;
  rssMb: { start: number; afterWarmup: number; peak: number; end: number };
  /** end / afterWarmup. */
  rssGrowth: number;
  setupSeconds: number;
  lostSamples: string[];
}

const CHANNEL = 'soak';
const PREFIX = 'webcommunicator/dev';

interface SoakClient {
  id: string;
  mqtt?: MqttClient;
  /** Connected and never banned for the whole window. */
  stable: boolean;
  received: Map<string, number>;
  nonQos1: number;
  expectClose: boolean;
  droppedUnexpectedly: boolean;
}

/** mulberry32: small, seedable. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function rssMb(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0);
  return Math.round((kb / 1024) * 10) / 10;
}

async function pool<T>(items: T[], concurrency: number, work: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const runners = Array.from({ length: Math.min(concurrency, items.length) }, async () => {
    while (next < items.length) {
      const item = items[next++];
      await work(item);
    }
  });
  await Promise.all(runners);
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

export async function runSoak(options: SoakOptions): Promise<SoakResult> {
  const log = options.log ?? (() => undefined);
  const random = rng(options.seed);
  const t0 = Date.now();
  const channelsFile = `/tmp/wc-soak-channels-${process.pid}.json`;
  writeFileSync(channelsFile, JSON.stringify({ channels: [{ name: CHANNEL, types: ['BROADCAST', 'PRIVATE'] }] }));
  const service = await ServiceProcess.start({ CHANNELS_FILE: channelsFile, LOG_LEVEL: 'warn', HTTP_BODY_LIMIT_BYTES: '262144' });
  const pid = service.child.pid!;
  const adminAuth = `Bearer ${service.token('soak-admin', ['admin'])}`;
  const serviceAuth = `Bearer ${service.token('soak-service', ['service'])}`;
  const rss: number[] = [];
  const rssStart = rssMb(pid);
  const all: SoakClient[] = [];
  try {
    const http = async (method: string, path: string, auth: string, body?: unknown): Promise<{ status: number; body: Record<string, unknown> }> => {
      const res = await fetch(`${service.url}${path}`, {
        method,
        headers: { authorization: auth, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
      const text = await res.text();
      return { status: res.status, body: text === '' ? {} : (JSON.parse(text) as Record<string, unknown>) };
    };

    const connectClient = async (client: SoakClient): Promise<void> => {
      const reg = await http('POST', '/v1/registrations', `Bearer ${service.token(client.id)}`, { connectionType: 'WEBSOCKET' });
      if (reg.status !== 201) {
        throw new Error(`registration of ${client.id}: ${reg.status} ${JSON.stringify(reg.body)}`);
      }
      const m = mqtt.connect(reg.body.url as string, {
        clientId: client.id,
        username: client.id,
        password: reg.body.connectionToken as string,
        protocolVersion: 4,
        reconnectPeriod: 0,
        connectTimeout: 30_000,
        keepalive: 120,
      });
      await new Promise<void>((resolve, reject) => {
        m.once('connect', () => resolve());
        m.once('error', reject);
        m.once('close', () => reject(new Error(`${client.id} closed before CONNACK`)));
      });
      m.on('message', (_topic, payload, packet) => {
        const id = (JSON.parse(payload.toString('utf8')) as { Id: string }).Id;
        client.received.set(id, (client.received.get(id) ?? 0) + 1);
        if (packet.qos !== 1) {
          client.nonQos1++;
        }
      });
      m.on('close', () => {
        if (!client.expectClose) {
          client.droppedUnexpectedly = true;
        }
      });
      const granted = await m.subscribeAsync([`${PREFIX}/${CHANNEL}`, `${PREFIX}/${CHANNEL}/client/${client.id}`], { qos: 1 });
      if (granted.some((g) => g.qos !== 1)) {
        throw new Error(`${client.id}: subscription not granted at QoS 1: ${JSON.stringify(granted)}`);
      }
      client.mqtt = m;
    };

    // ---- setup: register, connect, subscribe --------------------------------------------------
    for (let i = 0; i < options.clients; i++) {
      all.push({ id: `soak-${i}`, stable: true, received: new Map(), nonQos1: 0, expectClose: false, droppedUnexpectedly: false });
    }
    let connected = 0;
    await pool(all, 50, async (client) => {
      await connectClient(client);
      if (++connected % 250 === 0 || connected === all.length) {
        log(`connected ${connected}/${all.length} (${((Date.now() - t0) / 1000).toFixed(1)} s, service RSS ${rssMb(pid)} MB)`);
      }
    });
    const setupSeconds = (Date.now() - t0) / 1000;

    // Ban churn: a few clients are banned then un-banned; they are not "stable".
    const shuffled = [...all].sort(() => random() - 0.5);
    const churn = shuffled.slice(0, options.bans);
    for (const c of churn) {
      c.stable = false;
    }
    const stable = all.filter((c) => c.stable);

    // ---- the window ------------------------------------------------------------------------
    const broadcasts: string[] = [];
    const directs = new Map<string, string>();
    const statuses: Record<string, number> = {};
    let rejected = 0;
    const inFlight = new Set<Promise<void>>();
    const track = (p: Promise<void>): void => {
      inFlight.add(p);
      void p.finally(() => inFlight.delete(p));
    };
    const publish = (kind: 'broadcast' | 'direct'): void => {
      const target = kind === 'direct' ? all[Math.floor(random() * all.length)] : undefined;
      const body = target === undefined ? { channel: CHANNEL, message: `b ${Date.now()}` } : { channel: CHANNEL, clientId: target.id, message: `d ${Date.now()}` };
      track(
        http('POST', `/v1/messages/${kind}`, serviceAuth, body).then(
          (res) => {
            statuses[res.status] = (statuses[res.status] ?? 0) + 1;
            if (res.status === 202) {
              if (target === undefined) {
                broadcasts.push(res.body.messageId as string);
              } else {
                directs.set(res.body.messageId as string, target.id);
              }
            } else {
              rejected++;
            }
          },
          () => {
            statuses.network = (statuses.network ?? 0) + 1;
            rejected++;
          },
        ),
      );
    };

    let bans = 0;
    let unbans = 0;
    let bannedKicked = 0;
    let registered = 0;
    const windowStart = Date.now();
    const windowEnd = windowStart + options.seconds * 1000;
    let rssAfterWarmup = 0;
    const sampler = setInterval(() => {
      const value = rssMb(pid);
      rss.push(value);
      if (rssAfterWarmup === 0 && Date.now() - windowStart >= options.warmupSeconds * 1000) {
        rssAfterWarmup = value;
      }
    }, 1000);

    const churnTask = (async () => {
      // Spread bans, un-bans and new registrations over the window.
      const events = options.bans + options.newRegistrations;
      const gap = (options.seconds * 1000 * 0.8) / Math.max(1, events);
      let b = 0;
      let r = 0;
      // The window spreads the churn; it is not a deadline for it: on a busy machine the last events may fall
      // just after the window, and every one of them must still happen (bounded at 2 min past the window).
      while ((b < churn.length || r < options.newRegistrations) && Date.now() < windowEnd + 120_000) {
        if (b < churn.length && (r >= options.newRegistrations || b <= r)) {
          const victim = churn[b++];
          victim.expectClose = true;
          const ban = await http('PATCH', `/v1/admin/users/${victim.id}`, adminAuth, { status: 'BANNED', reason: 'soak' });
          bans += ban.status === 200 ? 1 : 0;
          // The ban returns once the broker closed the session; give the close a moment to reach us.
          const closeBy = Date.now() + 2000;
          while (victim.mqtt?.connected === true && Date.now() < closeBy) {
            await sleep(20);
          }
          if (victim.mqtt !== undefined && !victim.mqtt.connected) {
            bannedKicked++;
          }
          victim.mqtt?.end(true);
          const unban = await http('PATCH', `/v1/admin/users/${victim.id}`, adminAuth, { status: 'REGISTERED' });
          unbans += unban.status === 200 ? 1 : 0;
          victim.expectClose = false;
          await connectClient(victim);
        } else {
          const fresh: SoakClient = { id: `soak-new-${r++}`, stable: false, received: new Map(), nonQos1: 0, expectClose: false, droppedUnexpectedly: false };
          all.push(fresh);
          await connectClient(fresh);
          registered++;
        }
        await sleep(gap);
      }
    })();

    const publishTask = (async () => {
      const tickMs = 50;
      let broadcastCredit = 0;
      let directCredit = 0;
      let lastLog = Date.now();
      while (Date.now() < windowEnd) {
        broadcastCredit += (options.broadcastRate * tickMs) / 1000;
        directCredit += (options.directRate * tickMs) / 1000;
        for (; broadcastCredit >= 1; broadcastCredit--) {
          publish('broadcast');
        }
        for (; directCredit >= 1; directCredit--) {
          publish('direct');
        }
        if (Date.now() - lastLog >= 5000) {
          lastLog = Date.now();
          log(
            `t+${Math.round((Date.now() - windowStart) / 1000)} s: ${broadcasts.length} broadcasts, ${directs.size} directs accepted, ${rejected} rejected, ${bans} bans, ${registered} new, in flight ${inFlight.size}, RSS ${rss.at(-1) ?? '?'} MB`,
          );
        }
        await sleep(tickMs);
      }
    })();

    await Promise.all([publishTask, churnTask]);
    while (inFlight.size > 0) {
      await Promise.all([...inFlight]);
    }

    // ---- accounting --------------------------------------------------------------------------
    const directFor = new Map<string, string[]>();
    for (const [id, target] of directs) {
      const list = directFor.get(target) ?? [];
      list.push(id);
      directFor.set(target, list);
    }
    const missing = (c: SoakClient): string[] => [...broadcasts, ...(directFor.get(c.id) ?? [])].filter((id) => !c.received.has(id));
    const drainDeadline = Date.now() + options.drainMs;
    while (Date.now() < drainDeadline && stable.some((c) => missing(c).length > 0)) {
      await sleep(250);
    }
    clearInterval(sampler);
    const rssEnd = rssMb(pid);
    rss.push(rssEnd);

    let expected = 0;
    let delivered = 0;
    let duplicates = 0;
    let nonQos1 = 0;
    const lostSamples: string[] = [];
    for (const c of stable) {
      const want = [...broadcasts, ...(directFor.get(c.id) ?? [])];
      expected += want.length;
      for (const id of want) {
        const n = c.received.get(id) ?? 0;
        if (n > 0) {
          delivered++;
          duplicates += n - 1;
        } else if (lostSamples.length < 10) {
          lostSamples.push(`${c.id}:${id}`);
        }
      }
      nonQos1 += c.nonQos1;
    }
    const afterWarmup = rssAfterWarmup || rss[0] || rssStart;
    return {
      clients: options.clients,
      stableClients: stable.length,
      seconds: options.seconds,
      broadcastsAccepted: broadcasts.length,
      directsAccepted: directs.size,
      publishRejected: rejected,
      publishStatuses: statuses,
      expectedDeliveries: expected,
      delivered,
      lost: expected - delivered,
      duplicates,
      nonQos1Packets: nonQos1,
      unexpectedDisconnects: stable.filter((c) => c.droppedUnexpectedly).length,
      bans,
      unbans,
      bannedKicked,
      newRegistrations: registered,
      rssMb: { start: rssStart, afterWarmup, peak: Math.max(rssStart, ...rss), end: rssEnd },
      rssGrowth: Math.round((rssEnd / afterWarmup) * 100) / 100,
      setupSeconds: Math.round(setupSeconds * 10) / 10,
      lostSamples,
    };
  } finally {
    for (const c of all) {
      c.expectClose = true;
      c.mqtt?.end(true);
    }
    service.kill('SIGTERM');
    const timer = setTimeout(() => service.kill('SIGKILL'), 15_000);
    await service.exited;
    clearTimeout(timer);
    rmSync(channelsFile, { force: true });
    rmSync(service.config.dataDir, { recursive: true, force: true });
  }
}

/** The summary as a two-column table. */
export function soakTable(r: SoakResult, extra: Array<[string, string]> = []): string {
  const rows: Array<[string, string]> = [
    ['clients (stable / total at start)', `${r.stableClients} / ${r.clients}`],
    ['window', `${r.seconds} s (setup ${r.setupSeconds} s)`],
    ['broadcasts accepted (202)', String(r.broadcastsAccepted)],
    ['direct messages accepted (202)', String(r.directsAccepted)],
    ['publishes not accepted', `${r.publishRejected} ${JSON.stringify(r.publishStatuses)}`],
    ['bans / un-bans / new registrations', `${r.bans} / ${r.unbans} / ${r.newRegistrations}`],
    ['banned sessions closed by the ban', `${r.bannedKicked} / ${r.bans}`],
    ['expected deliveries (stable clients)', String(r.expectedDeliveries)],
    ['delivered', String(r.delivered)],
    ['LOST', String(r.lost)],
    ['duplicates (QoS 1 redelivery)', String(r.duplicates)],
    ['packets not at QoS 1', String(r.nonQos1Packets)],
    ['unexpected disconnects (stable)', String(r.unexpectedDisconnects)],
    ['service RSS start / after warm-up / peak / end (MB)', `${r.rssMb.start} / ${r.rssMb.afterWarmup} / ${r.rssMb.peak} / ${r.rssMb.end}`],
    ['RSS end ÷ after warm-up', String(r.rssGrowth)],
    ...extra,
  ];
  const width = Math.max(...rows.map(([k]) => k.length));
  return rows.map(([k, v]) => `${k.padEnd(width)}  ${v}`).join('\n');
}
