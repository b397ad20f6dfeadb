/**
 * `npm run demo [-- --once] [-- --client-id demo-player]`: a demo game client against a running
 * service (WC_URL, or http://localhost:$PORT with the service's PORT, default 3000). It registers, connects, subscribes, has a
 * backend "service" broadcast a message and send it a direct one, and prints what arrives. Then
 * it keeps running so you can watch it in the portal (/portal) and ban it there; --once exits
 * after the two messages arrived.
 *
 * On a channel that keeps history (the default CloudGemWebCommunicator does) it then shows recovery:
 * the client goes offline, the service broadcasts three messages, the client comes back and gets
 * exactly those, in Seq order, from history (marked "recovered"), before anything new.
 *
 * Tokens: WC_TOKEN (the player) and WC_SERVICE_TOKEN (role service) when set; otherwise it mints
 * its own with the service's token command (`node dist/bin/token.js`, which signs with the same
 * AUTH_JWT_SECRET or the secret the embedded default keeps under DATA_DIR: run the demo with the
 * same environment as the service, e.g. from the same checkout).
 */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs, promisify } from 'node:util';
import { type ChannelMessage, GameClient, type Subscription } from './game-client';

const run = promisify(execFile);
const TOKEN_COMMAND = join(__dirname, '..', '..', '..', 'dist', 'bin', 'token.js');
const ONCE_TIMEOUT_MS = 20_000;

let lastLine = '';
let repeats = 0;

/** Prints a line; the same line again (a retry loop while banned or while the service is down) is counted, not repeated. */
function say(line: string): void {
  if (line === lastLine) {
    repeats += 1;
    return;
  }
  if (repeats > 0) {
    process.stdout.write(`  (the line above ${repeats} more time${repeats === 1 ? '' : 's'})\n`);
  }
  lastLine = line;
  repeats = 0;
  process.stdout.write(`${line}\n`);
}

/** A sentence from the service, without its closing full stop (we add our own punctuation). */
function sentence(text: string): string {
  return text.replace(/[.\s]+$/, '');
}

async function mint(sub: string, role?: string): Promise<string> {
  if (!existsSync(TOKEN_COMMAND)) {
    throw new Error(`no ${TOKEN_COMMAND}: build the service first (npm run build), or set WC_TOKEN and WC_SERVICE_TOKEN`);
  }
  const args = [TOKEN_COMMAND, '--sub', sub, '--ttl', '86400', ...(role ? ['--role', role] : [])];
  try {
    const { stdout } = await run(process.execPath, args, { env: process.env });
    return stdout.trim();
  } catch (error) {
    const stderr = (error as { stderr?: string }).stderr?.trim();
    throw new Error(`could not mint a token (${stderr || (error as Error).message}); set WC_TOKEN and WC_SERVICE_TOKEN instead`);
  }
}

async function post(url: string, token: string, body: unknown): Promise<{ messageId: string; topic: string }> {
  const response = await fetch(url, {
    method: 'POST',
    headers: { Authorization: `Bearer ${token}`, 'Content-Type': 'application/json' },
    body: JSON.stringify(body),
  });
  const data = (await response.json()) as { messageId: string; topic: string; code?: string; detail?: string };
  if (!response.ok) {
    throw new Error(`${url}: ${response.status} ${data.code}: ${data.detail}`);
  }
  return data;
}

/** Whether the channel keeps history (listChannelMessages answers instead of 409 HISTORY_DISABLED). */
async function keepsHistory(baseUrl: string, token: string, channel: string): Promise<boolean> {
  const response = await fetch(`${baseUrl}/v1/channels/${encodeURIComponent(channel)}/messages?limit=1`, { headers: { Authorization: `Bearer ${token}` } });
  return response.ok;
}

function pick(subscriptions: Subscription[], type: Subscription['type']): string | undefined {
  const names = subscriptions.filter((s) => s.type === type).map((s) => s.channel);
  // The original gem's channel first, when the service has it.
  return names.find((n) => n === 'CloudGemWebCommunicator') ?? names[0];
}

async function main(): Promise<number> {
  const { values } = parseArgs({
    options: {
      once: { type: 'boolean', default: false },
      'client-id': { type: 'string', default: 'demo-player' },
      url: { type: 'string' },
    },
  });
  // The same PORT the service was started with (npm start and npm run demo in the same environment).
  const baseUrl = (values.url ?? process.env.WC_URL ?? `http://localhost:${process.env.PORT ?? '3000'}`).replace(/\/+$/, '');
  const clientId = values['client-id'];
  say(`Web Communicator demo: ${baseUrl}`);

  try {
    const status = (await (await fetch(`${baseUrl}/v1/status`)).json()) as { status: string; version: string; broker: string };
    say(`  service ${status.status}, version ${status.version}, broker ${status.broker}`);
  } catch (error) {
    say(`  the service does not answer at ${baseUrl} (${(error as Error).message}). Start it with: npm start (or point WC_URL, or PORT, at it)`);
    return 1;
  }

  const playerToken = process.env.WC_TOKEN ?? (await mint(clientId));
  const serviceToken = process.env.WC_SERVICE_TOKEN ?? (await mint('demo-service', 'service'));

  const client = new GameClient({ baseUrl, token: playerToken, backoff: { initialMs: 1000, maxMs: 15_000 } });
  client.events.on('registered', (r) => say(`  registered ${r.clientId}: ${r.url} (token until ${r.connectionTokenExpiresAt ?? '?'})`));
  client.events.on('connected', ({ topics }) => say(`  connected, subscribed to ${topics.join(', ')}`));
  client.events.on('disconnected', () => say('  disconnected'));
  client.events.on('refused', (e) => say(`  the broker refused the connection (${sentence(e.message)}); registering again`));
  client.events.on('banned', (e) => say(`  banned: ${sentence(e.message)}. Un-ban ${clientId} in the portal to let it back in.`));
  client.events.on('retrying', ({ delayMs, error }) => {
    if (delayMs > 0) {
      say(`  retrying with backoff (${sentence(error.message)})`);
    }
  });

  // A message can arrive before its POST has answered: remember what arrived, compare at the end.
  const received = new Set<string>();
  const sent: string[] = [];
  client.on('*', (m: ChannelMessage) => {
    const seq = m.seq === undefined ? '' : ` #${m.seq}`;
    say(`  << [${m.channel}${m.direct ? ', direct' : ''}${seq}] ${m.message}${m.from ? ` (from ${m.from})` : ''}${m.recovered ? ' (recovered)' : ''}`);
    received.add(m.id);
  });

  await client.start();
  const subscriptions = await client.listSubscriptions();
  const broadcastChannel = pick(subscriptions, 'BROADCAST');
  const directChannel = pick(subscriptions, 'PRIVATE');
  if (broadcastChannel === undefined && directChannel === undefined) {
    say('  the service has no channels: add some to config/channels.json or in the portal');
    await client.stop();
    return 1;
  }
  const time = new Date().toLocaleTimeString();
  if (broadcastChannel !== undefined) {
    say(`  >> a backend service broadcasts on ${broadcastChannel}`);
    const result = await post(`${baseUrl}/v1/messages/broadcast`, serviceToken, {
      channel: broadcastChannel,
      message: `Hello from the demo service (${time})`,
    });
    sent.push(result.messageId);
  }
  if (directChannel !== undefined) {
    say(`  >> and sends ${clientId} a direct message on ${directChannel}`);
    const result = await post(`${baseUrl}/v1/messages/direct`, serviceToken, {
      channel: directChannel,
      clientId,
      message: `Just for you, ${clientId} (${time})`,
    });
    sent.push(result.messageId);
  }

  const arrived = async (): Promise<void> => {
    const deadline = Date.now() + ONCE_TIMEOUT_MS;
    while (!sent.every((id) => received.has(id)) && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  };
  if (broadcastChannel !== undefined && (await keepsHistory(baseUrl, playerToken, broadcastChannel))) {
    await arrived();
    client.events.on('recovered', ({ count, complete, topic }) => say(`  recovered ${count} missed message(s) on ${topic}${complete ? '' : ' (some were already dropped)'}`));
    say(`  -- ${clientId} goes offline (a dropped connection); ${broadcastChannel} keeps history`);
    await client.stop();
    for (const n of [1, 2, 3]) {
      const result = await post(`${baseUrl}/v1/messages/broadcast`, serviceToken, { channel: broadcastChannel, message: `Missed while offline #${n} (${time})` });
      sent.push(result.messageId);
    }
    say(`  >> the service broadcast 3 messages meanwhile; ${clientId} reconnects`);
    await client.start();
  }

  if (values.once) {
    await arrived();
    await client.stop();
    const missing = sent.filter((id) => !received.has(id)).length;
    say(missing === 0 ? 'done: every message arrived' : `timed out: ${missing} message(s) did not arrive`);
    return missing === 0 ? 0 : 1;
  }

  say(`\nRunning. Watch ${clientId} in the portal: ${baseUrl}/portal/ (ban it there and see what happens). Ctrl-C to quit.`);
  await new Promise<void>((resolve) => {
    process.once('SIGINT', resolve);
    process.once('SIGTERM', resolve);
  });
  await client.stop();
  return 0;
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    process.stderr.write(`demo: ${error instanceof Error ? error.message : String(error)}\n`);
    process.exit(1);
  },
);
