/**
 * The HTTP baseline: bare Fastify (no logger, no Nest, no auth) with one JSON
 * route shaped like `broadcast`: parse the body, check its fields, answer 202
 * with a small JSON result; and `/stash`, which serves back the JSON last put
 * there (the history suite puts a page of the service's history). Run as its
 * own process by the bench suites.
 */
import { randomUUID } from 'node:crypto';
import Fastify from 'fastify';

const app = Fastify();
app.get('/health/ready', async () => ({ status: 'ok' }));
// Which Fastify the baseline really runs (the bench prints it next to the figures).
app.get('/version', async () => app.version);
app.post('/bench', async (request, reply) => {
  const body = request.body as { channel?: unknown; message?: unknown; connectionType?: unknown };
  if (body === null || typeof body !== 'object') {
    return reply.code(400).send({ error: 'bad body' });
  }
  const channel = typeof body.channel === 'string' ? body.channel : 'none';
  return reply.code(202).send({ messageId: randomUUID(), channel, topic: `webcommunicator/dev/${channel}` });
});
// The history suite's baseline for reads: the service's own answer, stored here and served back as it is.
let stashed = '{}';
app.put('/stash', async (request) => {
  stashed = JSON.stringify(request.body);
  return { bytes: Buffer.byteLength(stashed) };
});
app.get('/stash', async (_request, reply) => reply.header('content-type', 'application/json; charset=utf-8').send(stashed));
app.listen({ port: Number(process.env.PORT), host: process.env.HOST ?? '127.0.0.1' }).catch((error: unknown) => {
  process.stderr.write(`bare-fastify: ${String(error)}\n`);
  process.exit(1);
});
process.on('SIGTERM', () => {
  void app.close().then(() => process.exit(0));
});
