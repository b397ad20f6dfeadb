import mqttPacket from 'mqtt-packet';
import request from 'supertest';
import { WebSocket } from 'ws';
import type { OutboundEvent } from '../../src/events/out/outbound-event';
import { TestMqttClient } from './mqtt';
import type { TestApp } from './test-app';

/** Outbound events a test received (API.md section 7), whatever the transport. */
export class EventLog {
  readonly events: OutboundEvent[] = [];
  private waiters: Array<() => void> = [];

  add(event: OutboundEvent): void {
    this.events.push(event);
    for (const wake of this.waiters.splice(0)) {
      wake();
    }
  }

  /** Events of one client, in arrival order, as `type` or `type:detail` (transport / reason). */
  of(clientId: string): string[] {
    return this.events.filter((e) => e.clientId === clientId).map(describe);
  }

  /** Waits until the client's events, described as by `of`, include `expected` in that order (other events may come between). */
  async waitFor(clientId: string, expected: string[], timeoutMs = 20_000): Promise<OutboundEvent[]> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      if (isSubsequence(expected, this.of(clientId))) {
        return this.events.filter((e) => e.clientId === clientId);
      }
      const left = deadline - Date.now();
      if (left <= 0) {
        throw new Error(`expected events ${JSON.stringify(expected)} of ${clientId}, got ${JSON.stringify(this.of(clientId))}`);
      }
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, Math.min(left, 250));
        this.waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  }
}

function describe(event: OutboundEvent): string {
  const detail = (event as { transport?: string }).transport ?? (event as { reason?: string }).reason;
  return event.type === 'client.connected' || event.type === 'client.disconnected' ? `${event.type}:${detail}` : event.type;
}

function isSubsequence(expected: string[], actual: string[]): boolean {
  let at = 0;
  for (const item of actual) {
    if (item === expected[at]) {
      at += 1;
    }
  }
  return at === expected.length;
}

export interface Registered {
  url: string;
  token: string;
}

/** Registers a WEBSOCKET client over HTTP. */
export async function register(t: TestApp, clientId: string): Promise<Registered> {
  const registration = await request(t.url).post('/v1/registrations').set(t.auth(clientId)).send({ connectionType: 'WEBSOCKET' });
  expect(registration.status).toBe(201);
  return { url: registration.body.url, token: registration.body.connectionToken };
}

export async function connect(registered: Registered, clientId: string): Promise<TestMqttClient> {
  return TestMqttClient.ws(registered.url, clientId, registered.token);
}

/** A bare MQTT-over-WebSocket client that CONNECTs with a 1 s keep-alive and then never sends a PINGREQ. */
export async function silentClient(registered: Registered, clientId: string): Promise<WebSocket> {
  const socket = new WebSocket(registered.url, 'mqtt');
  const frames: Buffer[] = [];
  socket.on('message', (data) => frames.push(data as Buffer));
  socket.on('error', () => undefined);
  await new Promise<void>((resolve, reject) => {
    socket.once('open', () => resolve());
    socket.once('error', reject);
  });
  socket.send(
    mqttPacket.generate({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 4, clientId, clean: true, keepalive: 1, username: clientId, password: Buffer.from(registered.token) }),
  );
  const deadline = Date.now() + 10_000;
  while (frames.length === 0 && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  expect(frames.length).toBeGreaterThan(0);
  return socket;
}

export async function setStatus(t: TestApp, clientId: string, body: Record<string, unknown>): Promise<void> {
  const response = await request(t.url).patch(`/v1/admin/users/${clientId}`).set(t.auth('root', 'admin')).send(body);
  expect(response.status).toBe(200);
}

/**
 * Drives every event of API.md section 7 once through a running app (channel `chat` open to
 * client sends), checking each arrives in `log`: register, connect, client send, disconnect by the
 * client, by a takeover, by a keep-alive timeout, by a ban; un-ban.
 */
export async function driveEveryEvent(t: TestApp, log: EventLog, tag: string): Promise<void> {
  // Register, connect, send, disconnect by the client.
  const alice = `${tag}-alice`;
  const aliceReg = await register(t, alice);
  await log.waitFor(alice, ['client.registered']);
  const aliceClient = await connect(aliceReg, alice);
  await log.waitFor(alice, ['client.connected:websocket']);
  const sent = await request(t.url).post('/v1/channels/chat/messages').set(t.auth(alice)).send({ message: 'gg' });
  expect(sent.status).toBe(202);
  const [message] = (await log.waitFor(alice, ['client.message'])).filter((e) => e.type === 'client.message');
  expect(message).toMatchObject({ type: 'client.message', clientId: alice, channel: 'chat', message: { Channel: 'chat', Message: 'gg', Id: sent.body.messageId, From: alice } });
  expect(typeof message.id).toBe('string');
  expect(Number.isNaN(Date.parse(message.time))).toBe(false);
  await aliceClient.end();
  await log.waitFor(alice, ['client.registered', 'client.connected:websocket', 'client.message', 'client.disconnected:client']);

  // A takeover: a second connection with the same id replaces the first.
  const bob = `${tag}-bob`;
  const bobReg = await register(t, bob);
  const first = await connect(bobReg, bob);
  const firstClosed = first.closed();
  const second = await connect(bobReg, bob);
  await firstClosed;
  await log.waitFor(bob, ['client.connected:websocket', 'client.connected:websocket', 'client.disconnected:takeover']);
  await second.end();
  await log.waitFor(bob, ['client.disconnected:takeover', 'client.disconnected:client']);

  // A keep-alive timeout.
  const carol = `${tag}-carol`;
  const silent = await silentClient(await register(t, carol), carol);
  await log.waitFor(carol, ['client.connected:websocket', 'client.disconnected:timeout']);
  silent.terminate();

  // A ban (with a reason and an end), then the un-ban.
  const dave = `${tag}-dave`;
  const daveClient = await connect(await register(t, dave), dave);
  await log.waitFor(dave, ['client.connected:websocket']);
  const expiresAt = new Date(Date.now() + 3_600_000).toISOString();
  await setStatus(t, dave, { status: 'BANNED', reason: 'cheating', expiresAt });
  await daveClient.closed();
  const daveEvents = await log.waitFor(dave, ['client.banned', 'client.disconnected:ban']);
  expect(daveEvents.find((e) => e.type === 'client.banned')).toMatchObject({ reason: 'cheating', expiresAt });
  await setStatus(t, dave, { status: 'REGISTERED' });
  await log.waitFor(dave, ['client.banned', 'client.disconnected:ban', 'client.unbanned']);
}
