import { rmSync } from 'node:fs';
import { type ClientRequest, request as httpRequest } from 'node:http';
import { EVENT_PATTERNS } from '../../src/events/event-contract';
import { TestMqttClient } from '../support/mqtt';
import { RABBITMQ_URL, Rabbit, uniqueQueue } from '../support/rabbit';
import { ServiceProcess } from '../support/service-process';
import { eventually } from './events-helpers';

const CHANNEL = 'CloudGemWebCommunicator';
const TOPIC = `webcommunicator/dev/${CHANNEL}`;

/** A broadcast whose body is only half sent: the request stays in flight (HTTP drain waits for it) until `finish()`. */
function heldBroadcast(service: ServiceProcess): { finish: () => void; status: Promise<number> } {
  const body = JSON.stringify({ channel: CHANNEL, message: 'held during the drain' });
  let req: ClientRequest | undefined;
  const status = new Promise<number>((resolve, reject) => {
    req = httpRequest(
      `${service.url}/v1/messages/broadcast`,
      { method: 'POST', headers: { Authorization: `Bearer ${service.token('svc', ['service'])}`, 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(body) } },
      (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      },
    );
    req.on('error', reject);
    req.write(body.slice(0, 10));
  });
  return { finish: () => req!.end(body.slice(10)), status };
}

describe('events over RabbitMQ: graceful shutdown (the built service as a child process)', () => {
  const rabbit = new Rabbit();

  afterAll(async () => {
    await rabbit.close();
  });

  it('SIGTERM cancels the events consumer before HTTP drains: events sent after the signal stay queued for another instance', async () => {
    const queue = uniqueQueue('shutdown');
    rabbit.track(queue);
    // A long budget: the drain lasts exactly as long as the held request, whatever the machine's load.
    const service = await ServiceProcess.start({ EVENTS_TRANSPORT: 'rmq', EVENTS_URL: RABBITMQ_URL, EVENTS_QUEUE: queue, SHUTDOWN_TIMEOUT_MS: '120000' });
    let alice: TestMqttClient | undefined;
    let held: ReturnType<typeof heldBroadcast> | undefined;
    try {
      const registration = await fetch(`${service.url}/v1/registrations`, { method: 'POST', headers: { Authorization: `Bearer ${service.token('alice')}`, 'Content-Type': 'application/json' }, body: '{"connectionType":"WEBSOCKET"}' });
      const reg = (await registration.json()) as { url: string; connectionToken: string };
      alice = await TestMqttClient.ws(reg.url, 'alice', reg.connectionToken);
      await alice.subscribe(TOPIC);

      // Consuming before the signal.
      await rabbit.emit(queue, EVENT_PATTERNS.broadcast, { id: 'before-signal', channel: CHANNEL, message: 'before' });
      await alice.waitFor(1, 20_000);
      expect(alice.received.map((m) => m.payload.Id)).toEqual(['before-signal']);

      held = heldBroadcast(service);
      // A full round trip after the held request's headers were written: the server has seen them.
      expect((await fetch(`${service.url}/health/live`)).status).toBe(200);

      service.kill('SIGTERM');
      // HTTP is draining (new requests get 503) ...
      await eventually(async () => (await fetch(`${service.url}/health/live`)).status === 503, 20_000, 'HTTP refusing new requests');
      const after = Array.from({ length: 5 }, (_, i) => ({ pattern: EVENT_PATTERNS.broadcast, data: { id: `after-signal-${i}`, channel: CHANNEL, message: `after ${i}` } }));
      await rabbit.emitMany(queue, after);
      // ... and the stopping process no longer consumes: the events wait in the queue, no consumer on it.
      const ch = await rabbit.ch();
      await eventually(
        async () => {
          const { messageCount, consumerCount } = await ch.checkQueue(queue);
          return messageCount === after.length && consumerCount === 0;
        },
        20_000,
        'the events sent after SIGTERM waiting in the queue with no consumer',
      );

      // The request that was in flight at the signal still completes, and the process exits cleanly.
      held.finish();
      expect(await held.status).toBe(202);
      const code = await service.exited;
      expect({ code, logs: code === 0 ? '' : service.logs.slice(-3000) }).toEqual({ code: 0, logs: '' });
      expect(await rabbit.messageCount(queue)).toBe(after.length);
      expect(alice.received.map((m) => m.payload.Id).filter((id) => String(id).startsWith('after-signal'))).toEqual([]);
    } finally {
      // When the test failed midway, killing the service ends the held request with an error: not a second failure.
      held?.status.catch(() => undefined);
      await alice?.end();
      service.kill('SIGKILL');
      rmSync(service.config.dataDir, { recursive: true, force: true });
    }
  }, 120_000);
});
