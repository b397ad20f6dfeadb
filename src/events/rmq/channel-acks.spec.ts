import type { Channel, Message } from 'amqplib';
import { ackDelivery, deliveryReceived, deliverySettled } from './channel-acks';

const message = (deliveryTag: number): Message => ({ fields: { deliveryTag } }) as Message;
const turn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

describe('coalesced acks (channel-acks)', () => {
  let acks: Array<[number, boolean]>;
  let channel: Channel;

  beforeEach(() => {
    acks = [];
    channel = { ack: (m: Message, allUpTo?: boolean) => acks.push([m.fields.deliveryTag, allUpTo === true]) } as unknown as Channel;
  });

  it('the acks of one turn below every open delivery go as one multiple ack, after the turn', async () => {
    [1, 2, 3].forEach((tag) => deliveryReceived(channel, message(tag)));
    ackDelivery(channel, message(2));
    ackDelivery(channel, message(1));
    expect(acks).toEqual([]);
    await turn();
    expect(acks).toEqual([[2, true]]);
  });

  it('never covers a delivery still being handled: a finished one above it is acked alone', async () => {
    [1, 2, 3, 4].forEach((tag) => deliveryReceived(channel, message(tag)));
    ackDelivery(channel, message(1));
    ackDelivery(channel, message(3));
    ackDelivery(channel, message(4));
    await turn();
    // 2 is open: 1 by a multiple ack (nothing below it is open), 3 and 4 one by one.
    expect(acks).toEqual([
      [3, false],
      [4, false],
      [1, true],
    ]);
    acks.length = 0;
    ackDelivery(channel, message(2));
    await turn();
    expect(acks).toEqual([[2, true]]);
  });

  it('a nacked delivery no longer holds the ones after it back', async () => {
    [1, 2, 3].forEach((tag) => deliveryReceived(channel, message(tag)));
    deliverySettled(channel, message(1));
    ackDelivery(channel, message(3));
    await turn();
    expect(acks).toEqual([[3, false]]);
    acks.length = 0;
    ackDelivery(channel, message(2));
    await turn();
    expect(acks).toEqual([[2, true]]);
  });

  it('an ack on a channel that closed meanwhile is dropped without a throw', async () => {
    const closed = {
      ack: () => {
        throw new Error('Channel closed');
      },
    } as unknown as Channel;
    deliveryReceived(closed, message(1));
    ackDelivery(closed, message(1));
    await expect(turn()).resolves.toBeUndefined();
  });
});
