/**
 * The ids of the last `capacity` relayed events, least recently seen evicted
 * first. In memory and per process: it catches redeliveries to this instance
 * (a lost ack, a reconnect), not copies consumed by another instance.
 */
export class DedupeWindow {
  // A Map iterates in insertion order; re-inserting on a hit makes it an LRU.
  private readonly ids = new Map<string, true>();

  constructor(readonly capacity: number) {}

  /** Whether the id is in the window; a hit makes it the most recent. */
  has(id: string): boolean {
    if (!this.ids.delete(id)) {
      return false;
    }
    this.ids.set(id, true);
    return true;
  }

  add(id: string): void {
    if (this.capacity <= 0) {
      return;
    }
    this.ids.delete(id);
    this.ids.set(id, true);
    while (this.ids.size > this.capacity) {
      this.ids.delete(this.ids.keys().next().value as string);
    }
  }

  get size(): number {
    return this.ids.size;
  }
}
