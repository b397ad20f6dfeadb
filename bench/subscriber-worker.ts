/**
 * Fan-out load generator: one process holding thousands of MQTT-over-WebSocket
 * subscribers (raw `ws` + a minimal MQTT reader; mqtt-packet only encodes
 * CONNECT and SUBSCRIBE). Driven by bench/run.ts over IPC. Each delivery costs
 * one header parse; the paced phase also reads the send timestamp at the start
 * of the payload (`performance.timeOrigin + performance.now()`, in ms, ASCII).
 */
import mqttPacket from 'mqtt-packet';
import WebSocket from 'ws';

export interface SubscriberSpec {
  clientId: string;
  username?: string;
  password?: string;
}

export type WorkerCommand =
  | { type: 'connect'; url: string; topic: string; clients: SubscriberSpec[]; concurrency: number }
  | { type: 'expect'; messages: number; latency: boolean }
  | { type: 'report' }
  | { type: 'close' };

export type WorkerReply =
  | { type: 'connected'; connected: number; failed: number; firstError?: string }
  | { type: 'armed' }
  | { type: 'done'; received: number; lastAtMs: number; cpuMs: number; latencies?: number[]; sentAts?: number[] }
  | { type: 'closed' };

const sockets: WebSocket[] = [];
let expected = 0;
let received = 0;
let lastAtMs = 0;
let collectLatency = false;
let latencies: number[] = [];
/** Which message each latency belongs to (its send stamp), so the harness can take a p99 per message. */
let sentAts: number[] = [];
let cpuAtStart = process.cpuUsage();
let reported = true;

function send(reply: WorkerReply): void {
  process.send!(reply);
}

function report(): void {
  reported = true;
  const cpu = process.cpuUsage(cpuAtStart);
  send({ type: 'done', received, lastAtMs, cpuMs: (cpu.user + cpu.system) / 1000, latencies: collectLatency ? latencies : undefined, sentAts: collectLatency ? sentAts : undefined });
}

/** Reads whole MQTT packets out of `buffer`; returns what is left of an incomplete one. */
function readPackets(buffer: Buffer, onPacket: (type: number, packet: Buffer, bodyStart: number) => void): Buffer {
  let offset = 0;
  while (offset + 2 <= buffer.length) {
    let length = 0;
    let multiplier = 1;
    let position = offset + 1;
    let complete = false;
    while (position < buffer.length) {
      const byte = buffer[position++];
      length += (byte & 0x7f) * multiplier;
      multiplier *= 128;
      if ((byte & 0x80) === 0) {
        complete = true;
        break;
      }
    }
    if (!complete || position + length > buffer.length) {
      break;
    }
    onPacket(buffer[offset] >> 4, buffer.subarray(offset, position + length), position - offset);
    offset = position + length;
  }
  return offset === buffer.length ? Buffer.alloc(0) : buffer.subarray(offset);
}

function onPublish(packet: Buffer, bodyStart: number): void {
  received += 1;
  if (collectLatency) {
    const now = performance.timeOrigin + performance.now();
    const topicLength = packet.readUInt16BE(bodyStart);
    const payloadStart = bodyStart + 2 + topicLength;
    const sentAt = Number(packet.toString('latin1', payloadStart, payloadStart + 20));
    latencies.push(now - sentAt);
    sentAts.push(sentAt);
  }
  if (received === expected && !reported) {
    lastAtMs = performance.timeOrigin + performance.now();
    report();
  }
}

function connectOne(url: string, topic: string, spec: SubscriberSpec): Promise<void> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, 'mqtt', { perMessageDeflate: false });
    let pending: Buffer = Buffer.alloc(0);
    let settled = false;
    const fail = (reason: string): void => {
      if (!settled) {
        settled = true;
        ws.terminate();
        reject(new Error(`${spec.clientId}: ${reason}`));
      }
    };
    const timer = setTimeout(() => fail('timeout'), 30_000);
    ws.on('open', () => {
      ws.send(
        mqttPacket.generate({
          cmd: 'connect',
          protocolId: 'MQTT',
          protocolVersion: 4,
          clean: true,
          keepalive: 0,
          clientId: spec.clientId,
          username: spec.username,
          password: spec.password === undefined ? undefined : Buffer.from(spec.password),
        }),
      );
    });
    ws.on('message', (data: Buffer) => {
      const buffer = pending.length === 0 ? data : Buffer.concat([pending, data]);
      pending = readPackets(buffer, (type, packet, bodyStart) => {
        if (type === 3) {
          onPublish(packet, bodyStart);
        } else if (type === 2) {
          if (packet[bodyStart + 1] !== 0) {
            fail(`CONNACK ${packet[bodyStart + 1]}`);
            return;
          }
          ws.send(mqttPacket.generate({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic, qos: 0 }] }));
        } else if (type === 9) {
          if (packet[bodyStart + 2] === 0x80) {
            fail('SUBACK refused');
            return;
          }
          clearTimeout(timer);
          settled = true;
          sockets.push(ws);
          resolve();
        }
      });
    });
    ws.on('error', (error) => fail(error.message));
    ws.on('close', () => fail('closed'));
  });
}

async function connectAll(command: Extract<WorkerCommand, { type: 'connect' }>): Promise<void> {
  let connected = 0;
  let failed = 0;
  let firstError: string | undefined;
  let next = 0;
  const lanes = Array.from({ length: Math.min(command.concurrency, command.clients.length) }, async () => {
    while (next < command.clients.length) {
      const spec = command.clients[next++];
      try {
        await connectOne(command.url, command.topic, spec);
        connected += 1;
      } catch (error) {
        failed += 1;
        firstError ??= error instanceof Error ? error.message : String(error);
      }
    }
  });
  await Promise.all(lanes);
  send({ type: 'connected', connected, failed, firstError });
}

process.on('message', (command: WorkerCommand) => {
  switch (command.type) {
    case 'connect':
      void connectAll(command);
      break;
    case 'expect':
      expected = command.messages * sockets.length;
      received = 0;
      lastAtMs = 0;
      latencies = [];
      sentAts = [];
      collectLatency = command.latency;
      cpuAtStart = process.cpuUsage();
      reported = false;
      send({ type: 'armed' });
      if (expected === 0) {
        report();
      }
      break;
    case 'report':
      if (!reported) {
        report();
      }
      break;
    case 'close': {
      const closing = sockets.splice(0).map(
        (ws) =>
          new Promise<void>((resolve) => {
            ws.removeAllListeners('close');
            ws.once('close', () => resolve());
            ws.terminate();
          }),
      );
      void Promise.all(closing).then(() => send({ type: 'closed' }));
      break;
    }
  }
});
