/**
 * The RabbitMQ publisher thread of the outbound events (started by RmqOutboundThread): the buffer
 * (OutboundQueue: order, the EVENTS_OUT_BUFFER bound, retries), the AMQP connection and every publish
 * and confirm live here, off the event loop that answers clients. It tells the service's thread what
 * went out, what was dropped and what it logs.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { OutboundQueue, type OutboundLog } from './outbound-queue';
import { eventLines, type FromPublisher, type RmqPublisherData, type ToPublisher } from './rmq-outbound.protocol';
import { RmqOutboundSink } from './rmq-outbound.sink';

const port = parentPort!;
const data = workerData as RmqPublisherData;
const post = (message: FromPublisher): void => port.postMessage(message);
const log: OutboundLog = (level, message) => post({ kind: 'log', level, message });

/** Stats go back once per turn of this thread's loop, together. */
const stats = { sent: 0, dropped: 0, size: 0, taken: 0 };
let reporting = false;
function report(): void {
  if (!reporting) {
    reporting = true;
    setImmediate(() => {
      reporting = false;
      post({ kind: 'stats', ...stats });
      stats.sent = 0;
      stats.dropped = 0;
    });
  }
}

const sink = new RmqOutboundSink(data, () => queue.wake(), log);
const queue = new OutboundQueue(sink, {
  capacity: data.capacity,
  window: data.window,
  retryMs: data.retryMs,
  onSent: (count) => {
    stats.sent += count;
    report();
  },
  onDropped: () => {
    stats.dropped += 1;
    report();
  },
  onSize: (size) => {
    stats.size = size;
    report();
  },
  log,
});

port.on('message', (message: ToPublisher) => {
  switch (message.kind) {
    case 'push':
      for (const event of eventLines(message.lines)) {
        stats.taken += 1;
        queue.push(event);
      }
      report();
      return;
    case 'drain':
      void queue.drain(message.timeoutMs).then((left) => post({ kind: 'drained', left }));
      return;
    case 'close':
      queue.stop();
      void sink.close().then(() => post({ kind: 'closed' }));
      return;
  }
});
