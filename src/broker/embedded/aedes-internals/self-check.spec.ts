import { Aedes, type Client } from 'aedes';
import { WebSocket } from 'ws';
import { startBroker } from '../../../../test/support/broker/harness';
import { BrokerInternalsError, checkInternals } from './self-check';


type Tamper = (client: Record<string, unknown>) => void;

/** A real Aedes whose clients come out of handle() changed the way a future release might change them. */
async function aedesWith(tamper: Tamper): Promise<Aedes> {
  const aedes = await Aedes.createBroker();
  const handle = aedes.handle.bind(aedes);
  aedes.handle = ((...args: Parameters<Aedes['handle']>): Client => {
    const client = handle(...args);
    tamper(client as unknown as Record<string, unknown>);
    return client;
  });
  return aedes;
}

async function failedInternals(aedes: Aedes): Promise<string[]> {
  try {
    await checkInternals(aedes);
  } catch (error) {
    expect(error).toBeInstanceOf(BrokerInternalsError);
    return (error as BrokerInternalsError).internals;
  } finally {
    await new Promise<void>((resolve) => aedes.close(() => resolve()));
  }
  return [];
}

describe('checkInternals (the start-up self-check of aedes-internals/)', () => {
  afterEach(() => jest.restoreAllMocks());

  it('passes on the pinned aedes, ws and mqtt-packet', async () => {
    await expect(failedInternals(await Aedes.createBroker())).resolves.toEqual([]);
  });

  it.each<[string, Tamper, RegExp]>([
    ['the parser is renamed', (c) => ((c._packetParser = c._parser), delete c._parser), /Client\._parser\.parse/],
    [
      'parse stops returning the bytes it holds',
      (c) => {
        const parser = c._parser as { parse: (b: Buffer) => number };
        const parse = parser.parse.bind(parser);
        parser.parse = (b) => (parse(b), 0);
      },
      /Client\._parser\.parse/,
    ],
    ['the parser keeps its bytes elsewhere', (c) => delete (c._parser as Record<string, unknown>)._list, /Client\._parser\._list/],
    ['deliver0 is gone', (c) => ((c.deliverQoS0 = c.deliver0), (c.deliver0 = undefined)), /Client\.deliver0/],
    ['subscriptions become a Map', (c) => (c.subscriptions = new Map()), /Client\.subscriptions/],
    ['authorizeForward moves', (c) => (c.broker = {}), /Client\.broker\.authorizeForward/],
  ])('names the internal when %s', async (_what, tamper, named) => {
    const failed = await failedInternals(await aedesWith(tamper));
    expect(failed).toContainEqual(expect.stringMatching(named));
  });

  it("names ws' sender when it changes shape", async () => {
    const setSocket = (WebSocket.prototype as unknown as { setSocket: (...args: unknown[]) => void }).setSocket;
    jest.spyOn(WebSocket.prototype as unknown as { setSocket: (...args: unknown[]) => void }, 'setSocket').mockImplementation(function (
      this: Record<string, unknown>,
      ...args: unknown[]
    ) {
      setSocket.apply(this, args);
      (this._sender as Record<string, unknown>)._queue = undefined;
    });
    const failed = await failedInternals(await Aedes.createBroker());
    expect(failed).toEqual([expect.stringMatching(/ws WebSocket\._sender/)]);
  });

  it('makes the broker refuse to start, naming the internal, instead of running without its packet-size guard', async () => {
    const createBroker = Aedes.createBroker.bind(Aedes);
    jest.spyOn(Aedes, 'createBroker').mockImplementation(async (options) => {
      const aedes = await createBroker(options);
      const handle = aedes.handle.bind(aedes);
      aedes.handle = ((...args: Parameters<Aedes['handle']>): Client => {
        const client = handle(...args) as unknown as Record<string, unknown>;
        delete client._parser;
        return client as unknown as Client;
      });
      return aedes;
    });

    const starting = startBroker();

    await expect(starting).rejects.toThrow(BrokerInternalsError);
    await expect(starting).rejects.toThrow(/refuses to start: aedes Client\._parser\.parse/);
  });
});
