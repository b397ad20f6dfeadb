import mqtt, { type IClientOptions, type MqttClient } from 'mqtt';

export interface Received {
  topic: string;
  payload: Record<string, unknown>;
}

/** A real mqtt.js client plus a buffer of what it received. */
export class TestMqttClient {
  readonly received: Received[] = [];
  /** The CONNACK's session-present flag (a resumed persistent session). */
  sessionPresent = false;
  private waiters: Array<() => void> = [];

  private constructor(readonly client: MqttClient) {
    client.on('message', (topic, payload) => {
      this.received.push({ topic, payload: JSON.parse(payload.toString('utf8')) as Record<string, unknown> });
      for (const wake of this.waiters.splice(0)) {
        wake();
      }
    });
  }

  /** Connects; rejects with the CONNACK error when the broker refuses. */
  static async connect(url: string, options: IClientOptions): Promise<TestMqttClient> {
    const client = mqtt.connect(url, { reconnectPeriod: 0, connectTimeout: 30_000, protocolVersion: 4, ...options });
    // Listening before the CONNACK: a resumed session's queued messages follow it at once.
    const test = new TestMqttClient(client);
    await new Promise<void>((resolve, reject) => {
      client.once('connect', (connack) => {
        test.sessionPresent = connack.sessionPresent;
        resolve();
      });
      client.once('error', (error) => {
        client.end(true);
        reject(error);
      });
      client.once('close', () => reject(new Error('closed before CONNACK')));
    });
    return test;
  }

  static async ws(url: string, clientId: string, token: string, options: IClientOptions = {}): Promise<TestMqttClient> {
    return TestMqttClient.connect(url, { clientId, username: clientId, password: token, ...options });
  }

  /** Subscribes at QoS 0 and returns the granted QoS per topic (128 = refused). */
  async subscribe(...topics: string[]): Promise<number[]> {
    return this.subscribeAt(0, ...topics);
  }

  /** Subscribes at `qos` and returns the granted QoS per topic (128 = refused). */
  async subscribeAt(qos: 0 | 1, ...topics: string[]): Promise<number[]> {
    // mqtt.js rejects when any subscription is refused; the SUBACK's codes are on the error.
    const packet = await new Promise<{ granted: Array<number | { qos: number }> }>((resolve, reject) => {
      this.client.subscribe(topics, { qos }, (error, granted) => {
        const suback = (error as { packet?: { granted: number[] } } | null)?.packet;
        if (suback) {
          resolve(suback);
        } else if (error) {
          reject(error);
        } else {
          resolve({ granted: (granted ?? []).map((g) => g.qos) });
        }
      });
    });
    return packet.granted.map((g) => (typeof g === 'number' ? g : g.qos));
  }

  /** Waits until `count` messages arrived (or throws after timeoutMs). */
  async waitFor(count: number, timeoutMs = 30_000): Promise<Received[]> {
    const deadline = Date.now() + timeoutMs;
    while (this.received.length < count) {
      const left = deadline - Date.now();
      if (left <= 0) {
        throw new Error(`expected ${count} messages, got ${this.received.length}`);
      }
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
    return this.received;
  }

  /** Resolves when the connection closes (e.g. the broker kicked it). */
  closed(): Promise<void> {
    if (!this.client.connected && this.client.disconnected !== false) {
      return Promise.resolve();
    }
    return new Promise((resolve) => this.client.once('close', () => resolve()));
  }

  get connected(): boolean {
    return this.client.connected;
  }

  async end(): Promise<void> {
    await this.client.endAsync(true);
  }
}

export async function sleep(ms: number): Promise<void> {
  await new Promise((resolve) => setTimeout(resolve, ms));
}
