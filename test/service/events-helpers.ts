import request from 'supertest';
import { MetricsService } from '../../src/metrics/metrics.service';
import { TestMqttClient } from '../support/mqtt';
import type { TestApp } from '../support/test-app';

export const PREFIX = 'webcommunicator/dev';

/** Registers a WEBSOCKET client over HTTP and connects it with mqtt.js, subscribed to the given topics. */
export async function subscriber(t: TestApp, clientId: string, topics: string[]): Promise<TestMqttClient> {
  const registration = await request(t.url).post('/v1/registrations').set(t.auth(clientId)).send({ connectionType: 'WEBSOCKET' });
  expect(registration.status).toBe(201);
  const client = await TestMqttClient.ws(registration.body.url, clientId, registration.body.connectionToken);
  expect(await client.subscribe(...topics)).toEqual(topics.map(() => 0));
  return client;
}

/** The `webcommunicator_events_total` counter by outcome. */
export async function eventCounts(t: TestApp): Promise<Record<string, number>> {
  const metric = await t.app.get(MetricsService).events.get();
  return Object.fromEntries(metric.values.map((v) => [String(v.labels.outcome), v.value]));
}

/** Waits until `predicate` holds, polling. */
export async function eventually(predicate: () => boolean | Promise<boolean>, timeoutMs = 30_000, what = 'condition'): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await predicate())) {
    if (Date.now() > deadline) {
      throw new Error(`timed out waiting for ${what}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

/** Envelope ids a subscriber received, with how many times each. */
export function idCounts(client: TestMqttClient): Map<string, number> {
  const counts = new Map<string, number>();
  for (const { payload } of client.received) {
    const id = String(payload.Id);
    counts.set(id, (counts.get(id) ?? 0) + 1);
  }
  return counts;
}
