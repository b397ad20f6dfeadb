import type { Writable } from 'node:stream';

/**
 * Replaces: Aedes waiting for 'drain' whenever a write to a client returns
 * false (`client._writeWithDrain`, bounded by `drainTimeout`).
 *
 * Why: Aedes' message emitter only moves on once every subscriber's write
 * completed, so one frozen subscriber would stall delivery to everyone for up
 * to `drainTimeout` while its buffer keeps growing. Here `write` always reports
 * success (so Aedes never waits), and a connection with more than `maxBytes`
 * waiting in its write buffer is handed to `onOverflow` (the caller drops it):
 * the fan-out path has no per-client waits, and memory stays bounded by
 * connections × maxBytes.
 *
 * Patches the stream Aedes writes to, not Aedes itself; that Aedes then never
 * waits is checked by the slow-reader tests (direct-delivery.spec.ts,
 * embedded-broker.spec.ts).
 */
export function capBufferedWrites(stream: Writable, maxBytes: number, onOverflow: () => void): void {
  const write = stream.write as (...args: unknown[]) => boolean;
  let overflowed = false;
  stream.write = function cappedWrite(this: Writable, ...args: unknown[]): boolean {
    write.apply(this, args);
    if (!overflowed && this.writableLength > maxBytes) {
      overflowed = true;
      onOverflow();
    }
    return true;
  } as Writable['write'];
}
