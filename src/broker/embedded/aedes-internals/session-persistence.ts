import type { Client } from 'aedes';
import MemoryPersistence from 'aedes-persistence/asyncPersistence.js';

type QueuedPacket = Parameters<MemoryPersistence['outgoingEnqueue']>[1];
type Subscriber = Parameters<MemoryPersistence['outgoingEnqueue']>[0];

export interface SessionPersistenceOptions {
  /** Messages one client's session may hold (MQTT_SESSION_QUEUE_MAX); the oldest goes first. */
  maxQueued: number;
  /** A message was dropped from `clientId`'s session queue to make room. */
  onDropped: (clientId: string) => void;
}

/** A client as the persistence reads it: by id only. */
function byId(clientId: string): Client {
  return { id: clientId } as Client;
}

/**
 * Replaces: Aedes' default persistence (`aedes-persistence`'s in-memory one,
 * what `Aedes.createBroker()` uses when given none) with that same class,
 * bounded.
 *
 * Why: the in-memory persistence keeps every QoS 1 message published to an
 * offline persistent session (clean session off) for as long as the process
 * lives, without limit, and has no way to drop a session but a clean CONNECT
 * with its client id. Here:
 * - each client's outgoing queue holds at most `maxQueued` messages: past that
 *   the oldest is dropped (and `onDropped` counts it), through the persistence's
 *   own `outgoingStream` and `outgoingClearMessageId` (which clears the first
 *   queued message with the given message id: a sent one's is unique, and one
 *   not sent yet has none, like every later unsent one);
 * - `discard` drops a whole session (subscriptions, queue, QoS 2 state, will),
 *   for expiry and bans;
 * - `outgoingUpdate` no longer fails when the message is not in the queue. The
 *   memory persistence throws "no such packet" then, and Aedes answers that by
 *   closing the client: it would happen to a message the bound dropped while it
 *   was on its way to an online client (Aedes updates the queued copy just
 *   before writing). The message is sent anyway, untracked.
 *
 * Everything else (subscriptions, the queue's order, replay on reconnect, PUBACK
 * handling) is Aedes' and aedes-persistence's own. self-check.ts verifies at
 * start that the memory persistence still drops the oldest message this way.
 */
export class SessionPersistence extends MemoryPersistence {
  /** Messages in each client's outgoing queue (sent and unacknowledged ones included). */
  private readonly queued = new Map<string, number>();

  constructor(private readonly options: SessionPersistenceOptions) {
    super();
  }

  /** Messages held for the client (for tests and the self-check). */
  queuedFor(clientId: string): number {
    return this.queued.get(clientId) ?? 0;
  }

  override async outgoingEnqueue(sub: Subscriber, packet: QueuedPacket): Promise<void> {
    await super.outgoingEnqueue(sub, packet);
    await this.counted(sub.clientId);
  }

  override async outgoingEnqueueCombi(subs: Subscriber[], packet: QueuedPacket): Promise<void> {
    await super.outgoingEnqueueCombi(subs, packet);
    for (const sub of subs) {
      await this.counted(sub.clientId);
    }
  }

  override async outgoingClearMessageId(client: Client, packet: QueuedPacket): Promise<QueuedPacket> {
    const cleared = await super.outgoingClearMessageId(client, packet);
    if (cleared !== undefined) {
      this.uncount(client.id);
    }
    return cleared;
  }

  override async outgoingUpdate(client: Client, packet: QueuedPacket): Promise<void> {
    try {
      await super.outgoingUpdate(client, packet);
    } catch {
      // Not queued (see the class comment): Aedes writes it anyway.
    }
  }

  /** Drops the client's whole session: subscriptions, queued messages, QoS 2 state and will. */
  async discard(clientId: string): Promise<void> {
    const client = byId(clientId);
    await super.cleanSubscriptions(client);
    for await (const packet of super.outgoingStream(client) as AsyncIterable<QueuedPacket>) {
      await super.outgoingClearMessageId(client, packet);
    }
    this.queued.delete(clientId);
    await super.cleanIncoming(client);
    await super.delWill(client);
  }

  private async counted(clientId: string): Promise<void> {
    const count = (this.queued.get(clientId) ?? 0) + 1;
    this.queued.set(clientId, count);
    if (count > this.options.maxQueued) {
      const client = byId(clientId);
      // The queue's first message is its oldest (sent and unacknowledged, or not sent yet); message ids are
      // unique among the sent ones, and the unsent ones have none, so clearing by its id clears it.
      for await (const oldest of super.outgoingStream(client) as AsyncIterable<QueuedPacket>) {
        if ((await super.outgoingClearMessageId(client, oldest)) !== undefined) {
          this.uncount(clientId);
          this.options.onDropped(clientId);
        }
        break;
      }
    }
  }

  private uncount(clientId: string): void {
    const count = (this.queued.get(clientId) ?? 0) - 1;
    if (count > 0) {
      this.queued.set(clientId, count);
    } else {
      this.queued.delete(clientId);
    }
  }
}
