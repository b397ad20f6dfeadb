/** The store could not be reached or refused to serve (throttled, network, 5xx): HTTP 503, retry later. */
export class StoreUnavailableError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'StoreUnavailableError';
  }
}
