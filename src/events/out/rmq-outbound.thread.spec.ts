import { createServer, type Server, type Socket } from 'node:net';
import { RmqOutboundThread } from './rmq-outbound.thread';

/**
 * The publisher thread without a RabbitMQ (test/service/events-out-rmq.service-spec.ts has the real one):
 * its buffer's bound, and what it reports back to the service's thread.
 */
describe('RmqOutboundThread', () => {
  let server: Server;
  let port: number;
  const sockets = new Set<Socket>();
  let thread: RmqOutboundThread | undefined;

  beforeAll(async () => {
    // Takes connections and says nothing: the AMQP handshake never completes, so nothing goes out.
    server = createServer((socket) => {
      sockets.add(socket);
      socket.on('close', () => sockets.delete(socket));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    port = (server.address() as { port: number }).port;
  });

  afterEach(async () => {
    await thread?.close();
    thread = undefined;
  });

  afterAll(async () => {
    sockets.forEach((socket) => socket.destroy());
    await new Promise((resolve) => server.close(resolve));
  });

  const event = (i: number) => ({ id: `00000000-0000-4000-8000-${String(i).padStart(12, '0')}`, type: 'client.message', body: JSON.stringify({ i }) });

  it('holds up to its bound while the transport is away, counts every drop and reports its size', async () => {
    const reported = { sent: 0, dropped: 0, sizes: [] as number[] };
    thread = new RmqOutboundThread(
      { url: `amqp://guest:guest@127.0.0.1:${port}`, exchange: 'x', heartbeatSeconds: 10, reconnectSeconds: 1, capacity: 10, window: 4, retryMs: 50 },
      { onSent: (n) => (reported.sent += n), onDropped: () => (reported.dropped += 1), onSize: (size) => reported.sizes.push(size) },
    );
    for (let i = 0; i < 25; i++) {
      thread.push(event(i));
    }
    expect(thread.size).toBe(25); // not yet at the thread
    const deadline = Date.now() + 10_000;
    while (reported.dropped < 15 && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    expect(reported.dropped).toBe(15);
    expect(reported.sent).toBe(0);
    expect(thread.size).toBe(10);
    expect(reported.sizes.at(-1)).toBe(10);
    // A drain that cannot finish answers with what is left once its time is up.
    await expect(thread.drain(100)).resolves.toBe(10);
  });

  it('a publisher thread that dies is replaced after the reconnect delay (what it held is lost, said in the log); events emitted meanwhile wait for it', async () => {
    const sizes: number[] = [];
    thread = new RmqOutboundThread(
      { url: `amqp://guest:guest@127.0.0.1:${port}`, exchange: 'x', heartbeatSeconds: 10, reconnectSeconds: 1, capacity: 100, window: 4, retryMs: 50 },
      { onSent: () => undefined, onDropped: () => undefined, onSize: (size) => sizes.push(size) },
    );
    thread.push(event(1));
    await expect(thread.drain(50)).resolves.toBe(1);
    const first = (thread as unknown as { worker: { threadId: number; terminate(): Promise<number> } }).worker;
    await first.terminate();
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(thread.size).toBe(0); // what the dead thread held is gone (and said so)
    // Emitted while no thread runs: they wait for the next one.
    thread.push(event(2));
    thread.push(event(3));
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(thread.size).toBe(2);
    const deadline = Date.now() + 10_000;
    while ((thread as unknown as { worker: { threadId: number } }).worker.threadId === first.threadId && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    expect((thread as unknown as { worker: { threadId: number } }).worker.threadId).not.toBe(first.threadId);
    // The new thread holds them (no RabbitMQ to send them to).
    await expect(thread.drain(100)).resolves.toBe(2);
  });
});
