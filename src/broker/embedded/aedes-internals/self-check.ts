import type { IncomingMessage } from 'node:http';
import { Duplex } from 'node:stream';
import type { Aedes, Client } from 'aedes';
import { BufferList } from 'bl';
import { type WebSocket, WebSocketServer } from 'ws';
import { SessionPersistence } from './session-persistence';

/** The start-up self-check found an internal of Aedes, `ws` or mqtt-packet that a patch in this folder relies on changed. */
export class BrokerInternalsError extends Error {
  constructor(readonly internals: string[]) {
    super(
      `embedded broker refuses to start: ${internals.join('; ')}. ` +
        'The patches in src/broker/embedded/aedes-internals/ were written for the exact aedes, ws and mqtt-packet ' +
        'versions pinned in package.json; adapt them to the installed versions (or pin those back) before starting.',
    );
    this.name = 'BrokerInternalsError';
  }
}

/** Methods mqtt-packet's parser calls on its `_list` (slim-client.ts swaps it for a plain `bl` BufferList). */
const PARSER_LIST_METHODS = ['append', 'consume', 'readUInt8', 'readUInt16BE', 'readUInt32BE', 'slice', 'toString'] as const;

type Probe = Record<string, unknown>;

interface Expectation {
  /** Named in the error: where the internal lives and what is expected of it. */
  internal: string;
  holds(probe: Probe): boolean;
}

/** What every patch in this folder needs of an Aedes client, fresh from `aedes.handle()`. */
const CLIENT_EXPECTATIONS: Expectation[] = [
  {
    // inbound-limit.ts
    internal: "aedes Client._parser.parse (mqtt-packet Parser.parse returning the bytes it holds of an incomplete packet)",
    holds: (client) => {
      const parser = client._parser as { parse?: unknown } | undefined;
      if (typeof parser?.parse !== 'function') {
        return false;
      }
      const parse = (buffer: Buffer): unknown => (parser.parse as (b: Buffer) => unknown).call(parser, buffer);
      // A CONNECT fixed header announcing 127 bytes, then 10 of them: 10 bytes held.
      parse(Buffer.from([0x10, 0x7f]));
      return parse(Buffer.alloc(10)) === 10;
    },
  },
  {
    // slim-client.ts
    internal: "aedes Client._parser._list (mqtt-packet's empty bl list, replaceable by bl's BufferList)",
    holds: (client) => {
      const list = (client._parser as { _list?: { length?: unknown; append?: unknown } } | undefined)?._list;
      const plain = new BufferList() as unknown as Record<string, unknown>;
      return (
        typeof list?.append === 'function' &&
        typeof plain.length === 'number' &&
        PARSER_LIST_METHODS.every((method) => typeof plain[method] === 'function')
      );
    },
  },
  {
    // slim-client.ts, direct-delivery.ts
    internal: 'aedes Client.subscriptions and Client.duplicates (records without a prototype)',
    holds: (client) => [client.subscriptions, client.duplicates].every((r) => typeof r === 'object' && r !== null && Object.getPrototypeOf(r) === null),
  },
  {
    // direct-delivery.ts
    internal: 'aedes Client.deliver0 and Client.deliverQoS (per-client delivery functions)',
    holds: (client) => typeof client.deliver0 === 'function' && typeof client.deliverQoS === 'function',
  },
  {
    // direct-delivery.ts
    internal: 'aedes Client.broker.authorizeForward',
    holds: (client) => typeof (client.broker as { authorizeForward?: unknown } | undefined)?.authorizeForward === 'function',
  },
  {
    // direct-delivery.ts
    internal: 'aedes Client state flags (connected, closed, errored, clean, version)',
    holds: (client) =>
      ['connected', 'closed', 'errored', 'clean'].every((flag) => typeof client[flag] === 'boolean') && 'version' in client,
  },
];

/** What outlets.ts and websocket-stream.ts need of a `ws` server-side WebSocket, fresh from an upgrade. */
const WEBSOCKET_EXPECTATIONS: Expectation[] = [
  {
    internal: 'ws WebSocket._socket (the upgraded socket)',
    holds: (ws) => ws._socket instanceof Duplex,
  },
  {
    internal: 'ws WebSocket._sender (_state 0, empty _queue, _firstFragment true when idle)',
    holds: (ws) => {
      const sender = ws._sender as { _state?: unknown; _queue?: unknown; _firstFragment?: unknown } | undefined;
      return sender?._state === 0 && Array.isArray(sender._queue) && sender._queue.length === 0 && sender._firstFragment === true;
    },
  },
  {
    internal: 'ws WebSocket._extensions (negotiated extensions by name)',
    holds: (ws) => typeof ws._extensions === 'object' && ws._extensions !== null,
  },
];

/**
 * The one start-up self-check of this folder's patches: probes a real Aedes
 * client (on a stream that carries nothing) and a real `ws` upgrade (on a
 * socket that carries nothing) and throws BrokerInternalsError, naming each
 * internal that is not what a patch expects. A patch that silently switched
 * itself off (the inbound packet-size guard, say) would be worse than none.
 */
export async function checkInternals(aedes: Aedes): Promise<void> {
  const failed = [...probeClient(aedes), ...check(WEBSOCKET_EXPECTATIONS, await probeWebSocket()), ...(await probePersistence())];
  if (failed.length > 0) {
    throw new BrokerInternalsError(failed);
  }
}

function check(expectations: Expectation[], probe: Probe | Error): string[] {
  if (probe instanceof Error) {
    return [`probe failed (${probe.message})`];
  }
  return expectations
    .filter((expectation) => {
      try {
        return !expectation.holds(probe);
      } catch {
        return true;
      }
    })
    .map((expectation) => expectation.internal);
}

/** A socket that accepts and drops writes and never yields a byte. */
function silentSocket(): Duplex {
  return new Duplex({ read: () => undefined, write: (_chunk, _encoding, callback) => callback() });
}

function probeClient(aedes: Aedes): string[] {
  const conn = silentSocket();
  let client: Client;
  try {
    client = aedes.handle(conn);
  } catch (error) {
    conn.destroy();
    return [`probe failed (aedes.handle: ${error instanceof Error ? error.message : String(error)})`];
  }
  const failed = check(CLIENT_EXPECTATIONS, client as unknown as Probe);
  try {
    client.close();
  } catch {
    // A client whose internals changed may not close cleanly; its connect timer must not outlive the probe.
    clearTimeout((client as unknown as { _connectTimer?: NodeJS.Timeout })._connectTimer);
  }
  conn.destroy();
  return failed;
}

/**
 * session-persistence.ts: with room for one message, a second one queued for a client
 * drops the first (the oldest unsent), and updating a message that is not queued resolves.
 */
async function probePersistence(): Promise<string[]> {
  const internal = "aedes-persistence's memory persistence (outgoingStream in queue order, outgoingClearMessageId by message id)";
  try {
    let dropped = 0;
    const persistence = new SessionPersistence({ maxQueued: 1, onDropped: () => (dropped += 1) });
    const sub = { clientId: 'self-check' };
    const packet = (counter: number) =>
      ({ cmd: 'publish', topic: 't', payload: Buffer.from('x'), qos: 1, retain: false, dup: false, brokerId: 'b', brokerCounter: counter }) as never;
    await persistence.outgoingEnqueueCombi([sub], packet(1));
    // Sent (it has a message id now), so not the first unsent one: still the oldest.
    await persistence.outgoingUpdate({ id: 'self-check' } as Client, { ...(packet(1) as object), messageId: 7 } as never);
    await persistence.outgoingEnqueueCombi([sub], packet(2));
    await persistence.outgoingUpdate({ id: 'self-check' } as Client, packet(3));
    const left: Array<{ brokerCounter?: number }> = [];
    for await (const queued of persistence.outgoingStream({ id: 'self-check' } as Client) as AsyncIterable<{ brokerCounter?: number }>) {
      left.push(queued);
    }
    const holds = dropped === 1 && persistence.queuedFor('self-check') === 1 && left.length === 1 && left[0].brokerCounter === 2;
    return holds ? [] : [internal];
  } catch (error) {
    return [`${internal}: ${error instanceof Error ? error.message : String(error)}`];
  }
}

async function probeWebSocket(): Promise<Probe | Error> {
  const wss = new WebSocketServer({ noServer: true, clientTracking: false, perMessageDeflate: false });
  const request = {
    method: 'GET',
    headers: { upgrade: 'websocket', connection: 'Upgrade', 'sec-websocket-key': Buffer.alloc(16).toString('base64'), 'sec-websocket-version': '13' },
  } as unknown as IncomingMessage;
  try {
    const ws = await new Promise<WebSocket>((resolve, reject) => {
      const socket = silentSocket();
      socket.once('close', () => reject(new Error('the probe upgrade was refused')));
      wss.handleUpgrade(request, socket, Buffer.alloc(0), resolve);
    });
    ws.on('error', () => undefined);
    const probe = { ...(ws as unknown as Probe) };
    ws.terminate();
    return probe;
  } catch (error) {
    return new Error(`ws upgrade: ${error instanceof Error ? error.message : String(error)}`);
  } finally {
    wss.close();
  }
}
