import type { Channel } from 'amqplib';

const watched = new WeakSet<Channel>();
const closed = new WeakSet<Channel>();

/** Starts tracking a channel's closure (call while it is open, e.g. at setup). */
export function watchChannel(channel: Channel): void {
  if (!watched.has(channel)) {
    watched.add(channel);
    channel.once('close', () => closed.add(channel));
  }
}

/**
 * Whether deliveries of this channel can still be acknowledged. amqplib has no
 * public flag for it; once a channel closes, its unacked deliveries go back to
 * the queue and a new channel gets them again.
 */
export function isChannelOpen(channel: Channel): boolean {
  return watched.has(channel) && !closed.has(channel);
}
