import { InMemoryChannelRepository } from '../../test/support/fakes';
import { CATALOG_FULL_RELOAD_MS, CATALOG_REFRESH_MS, ChannelCatalog } from './channel-catalog';
import type { ChannelDefinition } from '../domain/channel';

const news: ChannelDefinition = { name: 'news', types: ['BROADCAST'], clientSend: false, maxMessageBytes: 1024 };
const chat: ChannelDefinition = { name: 'chat', types: ['BROADCAST'], clientSend: true, maxMessageBytes: 64 };

/** The store another instance also writes to: counts reads, and has a revision marker like DynamoDB's (or none, like SQLite). */
class SharedChannels extends InMemoryChannelRepository {
  lists = 0;
  revisions = 0;
  marker?: number;

  override async list(): Promise<ChannelDefinition[]> {
    this.lists += 1;
    return super.list();
  }

  override async revision(): Promise<string | undefined> {
    this.revisions += 1;
    return this.marker === undefined ? undefined : String(this.marker);
  }

  /** An edit through another instance: the write, then the marker. */
  async editElsewhere(channel: ChannelDefinition): Promise<void> {
    await this.put(channel);
    if (this.marker !== undefined) {
      this.marker += 1;
    }
  }
}

describe('ChannelCatalog across instances (edits through another instance)', () => {
  let now: number;
  let spy: jest.SpyInstance<number, []>;

  beforeEach(() => {
    now = Date.UTC(2026, 0, 1);
    spy = jest.spyOn(Date, 'now').mockImplementation(() => now);
  });
  afterEach(() => spy.mockRestore());

  it.each([
    ['with a revision marker (DynamoDB)', 0],
    ['without one (SQLite)', undefined],
  ])('%s: answers from memory within the bound, and sees another instance’s edit once the bound has passed', async (_name, marker) => {
    const store = new SharedChannels([news]);
    store.marker = marker;
    const catalog = new ChannelCatalog(store);
    await expect(catalog.get('chat')).resolves.toBeUndefined();
    const reads = store.lists;

    await store.editElsewhere(chat);
    now += CATALOG_REFRESH_MS;
    await expect(catalog.get('chat')).resolves.toBeUndefined();
    expect(store.lists).toBe(reads);

    now += 1;
    await expect(catalog.get('chat')).resolves.toEqual(chat);
    expect(store.lists).toBe(reads + 1);
  });

  it('with a marker, a check that finds it unmoved reads one item and no table; the whole table is still re-read every CATALOG_FULL_RELOAD_MS', async () => {
    const store = new SharedChannels([news]);
    store.marker = 7;
    const catalog = new ChannelCatalog(store);
    await catalog.all();
    expect(store.lists).toBe(1);

    for (let i = 0; i < 5; i++) {
      now += CATALOG_REFRESH_MS + 1;
      await catalog.all();
    }
    expect(store.lists).toBe(1);
    expect(store.revisions).toBe(6);

    // A writer that died between its write and its marker bump: caught by the full reload.
    await store.put(chat);
    now += CATALOG_FULL_RELOAD_MS;
    await expect(catalog.get('chat')).resolves.toEqual(chat);
    expect(store.lists).toBe(2);
  });

  it('tells listeners about changes made elsewhere, not about the first load or an unchanged table', async () => {
    const store = new SharedChannels([news]);
    store.marker = 0;
    const catalog = new ChannelCatalog(store);
    const heard: string[][] = [];
    catalog.onChange((channels) => {
      heard.push(channels.map((c) => c.name));
    });

    await catalog.refresh();
    await catalog.refresh();
    expect(heard).toEqual([]);

    await store.editElsewhere(chat);
    now += CATALOG_REFRESH_MS + 1;
    await catalog.all();
    await new Promise((resolve) => setImmediate(resolve));
    expect(heard).toEqual([['news', 'chat']]);
  });

  it('an older, slower check finishing after a newer refresh does not put the old view back', async () => {
    const store = new SharedChannels([news]);
    const catalog = new ChannelCatalog(store);
    await catalog.all();
    now += CATALOG_REFRESH_MS + 1;
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    const slowList = jest.spyOn(store, 'list').mockImplementationOnce(async () => {
      await gate;
      return [news];
    });
    const stale = catalog.all();

    now += 10;
    await store.put(chat);
    slowList.mockRestore();
    await catalog.refresh();
    release();
    await stale;

    await expect(catalog.get('chat')).resolves.toEqual(chat);
  });
});
