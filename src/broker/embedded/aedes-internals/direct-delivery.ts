import type { Client } from 'aedes';
import mqttPacket from 'mqtt-packet';

/** Where a client's QoS 0 PUBLISH bytes can be written straight away, bypassing Aedes' write path. */
export interface DirectOutlet {
  /** True when a write now would land after everything already written to this client, in order. */
  ready(): boolean;
  write(publish: EncodedPublish): void;
}

/** A QoS 0 PUBLISH encoded once and shared by every subscriber (MQTT 3.1 / 3.1.1 framing). */
export class EncodedPublish {
  private wsFrame?: Buffer;

  constructor(
    readonly topic: string,
    readonly retain: boolean,
    /** The complete MQTT packet. */
    readonly bytes: Buffer,
  ) {}

  /** The packet as one unmasked binary WebSocket frame, built on first use. */
  websocketFrame(): Buffer {
    this.wsFrame ??= websocketFrame(this.bytes);
    return this.wsFrame;
  }
}

/**
 * Encodings made in this event-loop turn, by payload. A fan-out runs in one synchronous loop
 * over the subscribers, so one turn is all an encoding is needed for; clearing it with the
 * turn's callbacks means a payload Buffer reused later with other bytes is never answered from
 * a stale entry.
 */
const encodings = new Map<Buffer, EncodedPublish>();

/** The fields of an Aedes packet on its way to one subscriber that the fast path reads. */
interface OutgoingPacket {
  cmd?: string;
  topic: string;
  payload: Buffer | string;
  qos?: number;
  retain?: boolean;
  brokerId?: string;
  brokerCounter?: number;
  properties?: unknown;
}

type Deliver = (packet: OutgoingPacket, callback: () => void) => void;

/** The parts of an Aedes 1.x Client this module relies on; self-check.ts verifies them at start. */
export interface AedesClientInternals {
  id: string | null;
  version: number | null;
  clean: boolean;
  connected: boolean;
  closed: boolean;
  errored: boolean;
  subscriptions: Record<string, { qos?: number } | undefined>;
  broker: { authorizeForward(client: Client, packet: OutgoingPacket): OutgoingPacket | null | undefined };
  deliver0: Deliver;
  deliverQoS: Deliver;
}

/**
 * Replaces: Aedes' per-client `deliver0` / `deliverQoS` (instance properties
 * set in Aedes' Client constructor), including their duplicate check.
 *
 * Delivers QoS 0 PUBLISH packets to one client without Aedes' per-subscriber
 * machinery, and mends Aedes' duplicate check.
 *
 * Why: in a fan-out, Aedes handles every subscriber's copy of a message on its
 * own: a `setImmediate` to write it, a new `Packet`, an mqtt-packet encode into
 * a Writable (four chunks, cork/uncork), and a second `setImmediate` for the
 * callback. At 10,000 subscribers that is the largest part of the broker's
 * CPU and, because every copy waits for its own turn of the event loop, of the
 * last subscriber's latency. Here the message is encoded once (per payload,
 * topic and retain flag), and each ready subscriber's socket gets those same
 * bytes in the same turn; the callbacks Aedes waits for run together in one
 * `setImmediate` (which also keeps the stack shallow, as Aedes' own did).
 *
 * A packet leaves by the fast path only when nothing this client was sent
 * earlier is still waiting in Aedes' deferred path (so order holds) and the
 * outlet says a direct write lands behind everything already written. Anything
 * else (QoS 1 delivery, a client mid-write) takes Aedes' own path. The
 * broker's `authorizeForward` applies on both.
 *
 * Duplicates: Aedes drops a packet whose per-broker counter is not above the
 * last one this client got, which loses messages whenever two publishes reach
 * the subscriber out of counter order; a QoS 1 publish always does, behind a
 * concurrent QoS 0 one (it waits for an extra persistence step after taking its
 * counter): stock Aedes 1.2 silently dropped the QoS 1 messages of a stream
 * interleaved with QoS 0 ones (direct-delivery.spec.ts). The check exists for
 * one message matching two of a client's subscriptions; those copies arrive in
 * the same synchronous fan-out loop, one after the other for this client, so
 * "same broker and counter as the previous delivery" is exact and never drops a
 * distinct message. The broker id counts in an embedded cluster: a message from
 * another instance carries that instance's id and counter (cluster-emitter.ts),
 * and two instances' counters run independently, so the counter alone would
 * drop another instance's message that happens to follow a local one with the
 * same number.
 *
 * The fields it relies on (AedesClientInternals) are checked once at start by
 * self-check.ts.
 */
export function installDirectDelivery(aedesClient: Client, outlet: DirectOutlet): void {
  const client = aedesClient as unknown as AedesClientInternals;
  const aedesDeliver0 = client.deliver0;
  const aedesDeliverQoS = client.deliverQoS;
  /** Deliveries handed to Aedes' own (deferred) path whose write has not happened yet. */
  let deferred = 0;
  let lastCounter: number | undefined;
  let lastBroker: string | undefined;

  const deliver = (aedesDeliver: Deliver, packet: OutgoingPacket, callback: () => void, directAllowed: boolean): void => {
    const counter = packet.brokerCounter;
    if (counter !== undefined && counter === lastCounter && packet.brokerId === lastBroker) {
      afterThisTurn(callback); // the same message through a second matching subscription
      return;
    }
    lastCounter = counter;
    lastBroker = packet.brokerId;
    if (
      directAllowed &&
      deferred === 0 &&
      client.connected &&
      !client.closed &&
      !client.errored &&
      (client.version === 4 || client.version === 3) &&
      (packet.cmd === undefined || packet.cmd === 'publish') &&
      packet.properties === undefined &&
      outlet.ready()
    ) {
      const forward = client.broker.authorizeForward(aedesClient, packet);
      if (forward) {
        // An authorizeForward may hand back a string payload: send it, don't drop it.
        const payload = Buffer.isBuffer(forward.payload) ? forward.payload : Buffer.from(forward.payload, 'utf8');
        outlet.write(encodedPublish(forward.topic, payload, forward.retain === true));
      }
      afterThisTurn(callback);
      return;
    }
    deferred += 1;
    // Without brokerId, Aedes' own counter check passes: ours above already decided.
    aedesDeliver({ ...packet, brokerId: undefined }, () => {
      deferred -= 1;
      callback();
    });
  };

  client.deliver0 = (packet, callback) => deliver(aedesDeliver0, packet, callback, true);
  client.deliverQoS = (packet, callback) => {
    if ((packet.qos ?? 0) === 0) {
      client.deliver0(packet, callback);
      return;
    }
    // A QoS 1/2 message to a QoS 0 subscription goes out as QoS 0 (Aedes downgrades it to the
    // subscription's QoS; our subscriptions are exact topics, so the lookup by topic is theirs).
    deliver(aedesDeliverQoS, packet, callback, client.clean && client.subscriptions[packet.topic]?.qos === 0);
  };
}

/** Only called on the way to afterThisTurn, which clears the cache. */
function encodedPublish(topic: string, payload: Buffer, retain: boolean): EncodedPublish {
  const cached = encodings.get(payload);
  if (cached !== undefined && cached.topic === topic && cached.retain === retain) {
    return cached;
  }
  const bytes = mqttPacket.generate({ cmd: 'publish', topic, payload, qos: 0, retain, dup: false, messageId: undefined }, { protocolVersion: 4 });
  const encoded = new EncodedPublish(topic, retain, bytes);
  encodings.set(payload, encoded);
  return encoded;
}

/** One final, unmasked binary frame (FIN + opcode 2), as `ws` builds it for a server (RFC 6455 section 5.2). */
export function websocketFrame(data: Buffer): Buffer {
  const length = data.length;
  const headerLength = length > 0xffff ? 10 : length > 125 ? 4 : 2;
  const frame = Buffer.allocUnsafe(headerLength + length);
  frame[0] = 0x82;
  if (headerLength === 2) {
    frame[1] = length;
  } else if (headerLength === 4) {
    frame[1] = 126;
    frame.writeUInt16BE(length, 2);
  } else {
    frame[1] = 127;
    frame.writeUInt32BE(Math.floor(length / 0x100000000), 2);
    frame.writeUInt32BE(length >>> 0, 6);
  }
  data.copy(frame, headerLength);
  return frame;
}

let callbacks: Array<() => void> = [];

/** Runs the callback in the next turn, with every other one queued in this turn: one setImmediate for a whole fan-out. */
function afterThisTurn(callback: () => void): void {
  if (callbacks.length === 0) {
    setImmediate(runCallbacks);
  }
  callbacks.push(callback);
}

function runCallbacks(): void {
  encodings.clear();
  const due = callbacks;
  callbacks = [];
  for (const callback of due) {
    callback();
  }
}
