import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import mqttPacket from 'mqtt-packet';
import { WebSocket, WebSocketServer } from 'ws';
import { mqttStreamFromWebSocket } from './websocket-stream';

/** One server-side bridge stream per client, and the binary messages each client received. */
async function pairs(count: number): Promise<{ streams: Duplex[]; received: Buffer[][]; close: () => Promise<void> }> {
  const wss = new WebSocketServer({ port: 0, host: '127.0.0.1', perMessageDeflate: false });
  await new Promise<void>((resolve) => wss.once('listening', () => resolve()));
  const { port } = wss.address() as AddressInfo;
  const streams: Duplex[] = [];
  const received: Buffer[][] = [];
  const clients: WebSocket[] = [];
  for (let i = 0; i < count; i++) {
    const accepted = new Promise<Duplex>((resolve) => wss.once('connection', (ws) => resolve(mqttStreamFromWebSocket(ws))));
    const client = new WebSocket(`ws://127.0.0.1:${port}`);
    const messages: Buffer[] = [];
    client.on('message', (data) => messages.push(data as Buffer));
    await new Promise<void>((resolve) => client.once('open', () => resolve()));
    streams.push(await accepted);
    received.push(messages);
    clients.push(client);
  }
  const close = async (): Promise<void> => {
    for (const client of clients) {client.terminate();}
    await new Promise<void>((resolve) => wss.close(() => resolve()));
  };
  return { streams, received, close };
}

async function until(check: () => boolean): Promise<void> {
  const deadline = Date.now() + 30_000;
  while (!check()) {
    if (Date.now() > deadline) {throw new Error('timed out');}
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

describe('mqttStreamFromWebSocket', () => {
  it('sends every client its bytes, one frame per packet written through the bridge', async () => {
    const { streams, received, close } = await pairs(3);
    try {
      const payload = Buffer.from('shared payload');
      const packets: mqttPacket.IPublishPacket[] = [
        { cmd: 'publish', topic: 'a/b', payload, qos: 0, retain: false, dup: false },
        { cmd: 'publish', topic: 'a/b', payload, qos: 0, retain: true, dup: false },
        { cmd: 'publish', topic: 'a/c', payload, qos: 0, retain: false, dup: false },
        { cmd: 'publish', topic: 'a/b', payload, qos: 1, messageId: 7, retain: false, dup: false },
        { cmd: 'publish', topic: 'a/b', payload: Buffer.alloc(70_000, 1), qos: 0, retain: false, dup: false },
      ];
      const expected: string[][] = streams.map(() => []);
      for (const packet of packets) {
        for (const [i, stream] of streams.entries()) {
          const perClient = packet.qos === 1 ? { ...packet, messageId: 7 + i } : { ...packet };
          expected[i].push(mqttPacket.generate(perClient).toString('hex'));
          mqttPacket.writeToStream(perClient, stream);
        }
        // A later packet must not be answered from the earlier one's frame once its bytes change.
        await new Promise((resolve) => setImmediate(resolve));
      }
      payload.write('SHARED');
      for (const [i, stream] of streams.entries()) {
        expected[i].push(mqttPacket.generate(packets[0]).toString('hex'));
        mqttPacket.writeToStream(packets[0], stream);
      }

      await until(() => received.every((messages) => messages.length === packets.length + 1));
      for (const [i, messages] of received.entries()) {
        expect(messages.map((m) => m.toString('hex'))).toEqual(expected[i]);
      }
      expect(received[0][received[0].length - 1].includes('SHARED')).toBe(true);
    } finally {
      await close();
    }
  });
});
