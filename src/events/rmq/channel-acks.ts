import type { Channel, Message } from 'amqplib';

/**
 * Acknowledgements of one channel's deliveries, coalesced: the acks of one turn of the event loop go
 * out as one `basic.ack` with `multiple` for every delivery below the oldest one still being handled,
 * plus a single ack for each finished one above it. A multiple ack never covers a delivery that is not
 * finished: every delivery is registered (`delivered`) as it arrives, before any handling, and stays
 * open until it is acked or settled otherwise (nack, or given up: it is left to the channel's close).
 */
class ChannelAcks {
  /** Delivery tags received and not finished. */
  private readonly open = new Set<number>();
  private finished: number[] = [];

  constructor(private readonly channel: Channel) {}

  delivered(tag: number): void {
    this.open.add(tag);
  }

  /** Settled without an ack from here (nacked): no longer holds the multiple ack back. */
  settled(tag: number): void {
    this.open.delete(tag);
  }

  ack(tag: number): void {
    this.open.delete(tag);
    this.finished.push(tag);
    if (this.finished.length === 1) {
      setImmediate(() => this.flush());
    }
  }

  private flush(): void {
    const tags = this.finished;
    this.finished = [];
    let oldestOpen = Infinity;
    for (const tag of this.open) {
      oldestOpen = Math.min(oldestOpen, tag);
    }
    let below = 0;
    for (const tag of tags) {
      if (tag < oldestOpen) {
        below = Math.max(below, tag);
      } else {
        send(this.channel, tag, false);
      }
    }
    if (below > 0) {
      send(this.channel, below, true);
    }
  }
}

function send(channel: Channel, deliveryTag: number, allUpTo: boolean): void {
  try {
    channel.ack({ fields: { deliveryTag } } as Message, allUpTo);
  } catch {
    // The channel closed since: RabbitMQ redelivers the events and the dedupe drops the copies.
  }
}

const byChannel = new WeakMap<Channel, ChannelAcks>();

function of(channel: Channel): ChannelAcks {
  let acks = byChannel.get(channel);
  if (acks === undefined) {
    acks = new ChannelAcks(channel);
    byChannel.set(channel, acks);
  }
  return acks;
}

/** Registers a delivery as it arrives (synchronously, before it is handled). */
export function deliveryReceived(channel: Channel, message: Message): void {
  of(channel).delivered(message.fields.deliveryTag);
}

/** Acks a delivery (coalesced with the other acks of this turn). */
export function ackDelivery(channel: Channel, message: Message): void {
  of(channel).ack(message.fields.deliveryTag);
}

/** A delivery settled by a nack: it must not hold back the acks of those after it. */
export function deliverySettled(channel: Channel, message: Message): void {
  of(channel).settled(message.fields.deliveryTag);
}
