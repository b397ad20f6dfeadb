/** msgpack-lite (the encoding mqemitter-redis puts on the wire) ships no typings; only what the cluster emitter uses. */
declare module 'msgpack-lite' {
  export function encode(value: unknown): Buffer;
  export function decode(buffer: Buffer): unknown;
}
