/** Resolves when `promise` settles or after `ms`, whichever comes first. */
export async function withTimeout(promise: Promise<unknown>, ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([promise.then(() => undefined, () => undefined), new Promise((resolve) => (timer = setTimeout(resolve, ms)))]);
  clearTimeout(timer);
}

/** The events being handled right now, so a transport can let them finish before it closes. */
export class InFlight {
  private readonly pending = new Set<Promise<unknown>>();

  /** Tracks `handling` until it settles; returns it unchanged. */
  track<T>(handling: Promise<T>): Promise<T> {
    this.pending.add(handling);
    const done = (): void => {
      this.pending.delete(handling);
    };
    handling.then(done, done);
    return handling;
  }

  /** Waits for everything tracked now to settle, at most `ms`. */
  async drain(ms: number): Promise<void> {
    if (this.pending.size > 0) {
      await withTimeout(Promise.allSettled([...this.pending]), ms);
    }
  }
}
