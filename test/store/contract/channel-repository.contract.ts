import type { ChannelRepository } from '../../../src/store/channel.repository';
import type { StoreEngine } from '../../../src/store/store-engine';
import type { ChannelDefinition } from '../../../src/domain/channel';

const full: ChannelDefinition = {
  name: 'chat',
  types: ['BROADCAST', 'PRIVATE'],
  communicationChannel: 'lobby',
  clientSend: true,
  maxMessageBytes: 2048,
  // Keys DynamoDB maps would refuse (an empty name) and nesting survive both engines.
  messageSchema: {
    type: 'object',
    properties: { '': { type: 'string' }, 'a.b': { type: 'array', items: { type: 'integer' } } },
    required: [''],
  },
  rateLimit: { messages: 5, perSeconds: 10 },
};

const minimal: ChannelDefinition = { name: 'news', types: ['BROADCAST'], clientSend: false, maxMessageBytes: 1024 };

/** The channel table's contract: every engine must pass it unchanged. */
export function channelRepositoryContract(open: () => Promise<StoreEngine>): void {
  describe('ChannelRepository', () => {
    let store: StoreEngine;
    let channels: ChannelRepository;

    beforeEach(async () => {
      store = await open();
      channels = store.channels;
    });

    afterEach(async () => {
      await store.close();
    });

    it('starts empty', async () => {
      await expect(channels.list()).resolves.toEqual([]);
      await expect(channels.get('chat')).resolves.toBeUndefined();
    });

    it('creates, reads back whole, and replaces', async () => {
      await expect(channels.put(full)).resolves.toBe(true);
      await expect(channels.put(minimal)).resolves.toBe(true);
      await expect(channels.get('chat')).resolves.toEqual(full);
      const read = await channels.get('news');
      expect(read).toEqual(minimal);
      expect(Object.keys(read!).sort()).toEqual(Object.keys(minimal).sort());
      const replaced: ChannelDefinition = { ...minimal, types: ['PRIVATE'], clientSend: true };
      await expect(channels.put(replaced)).resolves.toBe(false);
      await expect(channels.get('news')).resolves.toEqual(replaced);
    });

    it('lists every channel in name order', async () => {
      for (const name of ['gamma', 'Alpha', 'beta', 'alpha-2']) {
        await channels.put({ ...minimal, name });
      }
      expect((await channels.list()).map((c) => c.name)).toEqual(['Alpha', 'alpha-2', 'beta', 'gamma']);
    });

    it('deletes once', async () => {
      await channels.put(full);
      await expect(channels.delete('chat')).resolves.toBe(true);
      await expect(channels.delete('chat')).resolves.toBe(false);
      await expect(channels.get('chat')).resolves.toBeUndefined();
      await expect(channels.list()).resolves.toEqual([]);
    });

    it('a revision marker, where the engine has one, moves after every put and delete and is never listed as a channel', async () => {
      const first = await channels.revision();
      await channels.put(minimal);
      const second = await channels.revision();
      await channels.put({ ...minimal, clientSend: true });
      const third = await channels.revision();
      await channels.delete('news');
      const fourth = await channels.revision();
      await channels.delete('news');
      if (first === undefined) {
        // No marker (SQLite, one process): the channel catalog re-lists instead.
        expect([second, third, fourth]).toEqual([undefined, undefined, undefined]);
      } else {
        expect(new Set([first, second, third, fourth]).size).toBe(4);
        // Deleting nothing is no change.
        await expect(channels.revision()).resolves.toBe(fourth);
      }
      await expect(channels.list()).resolves.toEqual([]);
      await expect(channels.get('#revision')).resolves.toBeUndefined();
    });
  });
}
