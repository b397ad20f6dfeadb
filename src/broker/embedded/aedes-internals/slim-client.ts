import type { Client } from 'aedes';
import { BufferList } from 'bl';

/**
 * A record with no inherited keys, like `Object.create(null)`, but in V8's fast
 * (non-dictionary) mode: `Object.create(null)` objects start as hash tables of
 * several hundred bytes each, and Aedes makes two per client.
 */
function KeyedRecord(this: object): void {}
KeyedRecord.prototype = Object.create(null) as object;

/** The per-client fields replaced below; self-check.ts verifies their shape at start. */
interface SlimmedInternals {
  _parser: { _list: unknown };
  subscriptions: object;
  duplicates: object;
}

/**
 * Replaces: objects Aedes 1.x and mqtt-packet allocate per connection in a
 * heavier form than this broker needs.
 *
 * Why: memory per connection at tens of thousands of connections
 * (docs/benchmarks.md has the heap snapshot):
 * - mqtt-packet keeps unparsed bytes in a `bl` BufferListStream, a full Duplex
 *   stream (two stream states, an event emitter) used only as a byte list; the
 *   plain BufferList of the same package has every method the parser calls
 *   (self-check.ts lists and checks them);
 * - `subscriptions` and `duplicates` are `Object.create(null)` hash tables;
 *   fast-mode records with no prototype keys behave the same for Aedes' reads
 *   and writes (an inherited name such as `constructor` still reads as absent).
 *
 * Must run right after `aedes.handle()`, before the first byte is parsed.
 */
export function slimAedesClient(client: Client): void {
  const internals = client as unknown as SlimmedInternals;
  internals._parser._list = new BufferList();
  internals.subscriptions = new (KeyedRecord as unknown as new () => object)();
  internals.duplicates = new (KeyedRecord as unknown as new () => object)();
}
