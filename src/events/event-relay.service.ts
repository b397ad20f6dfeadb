import { Injectable, Logger, type OnModuleDestroy } from '@nestjs/common';
import { AppConfig } from '../config/app-config';
import { MetricsService } from '../metrics/metrics.service';
import { IdempotencyService, type IdempotencyBegin } from '../publishing/idempotency.service';
import { PublishingService } from '../publishing/publishing.service';
import { DedupeWindow } from './dedupe-window';
import { type DecodedEvent, type EventRejection, EventValidator, type ValidEvent } from './event-contract';
import { DomainError, ErrorCode, errorMessage } from '../domain/errors';

/** `senderId` of queue events in the publishing pipeline (events carry no `From`). */
export const EVENTS_SENDER_ID = 'events';

/** What became of one delivery. The transport acks, dead-letters or leaves it accordingly. */
export type RelayOutcome =
  | { kind: 'relayed'; messageId: string }
  /** Its id was relayed before: ack without publishing. */
  | { kind: 'duplicate'; id: string }
  /** Invalid: dead-letter it, never retry. */
  | { kind: 'rejected'; rejection: EventRejection }
  /** Given up on a transient failure because the delivery was lost or the app is stopping: leave it unacknowledged, it is redelivered. */
  | { kind: 'abandoned' };

export interface Delivery {
  /** False once this delivery can no longer be acknowledged (its channel closed): retrying is pointless, the queue redelivers it. */
  stillOwned(): boolean;
}

const FIRST_RETRY_MS = 200;
const MAX_RETRY_MS = 5_000;
/** An error we don't know is retried a few times (it may be a transient failure in disguise), then dead-lettered as INTERNAL_ERROR. */
const MAX_UNEXPECTED_FAILURES = 5;

/**
 * The transport-agnostic half of event consumption: validate the payload,
 * drop redeliveries of an id already relayed, and publish through the same
 * pipeline as HTTP. Transient failures (broker or store unavailable) are
 * retried in-process with backoff for as long as the delivery is held, so an
 * event is never acknowledged before the broker accepted its message. Memory
 * stays bounded because the transport holds at most `prefetch` deliveries.
 */
@Injectable()
export class EventRelay implements OnModuleDestroy {
  private readonly logger = new Logger(EventRelay.name);
  private readonly validator = new EventValidator();
  private readonly relayed: DedupeWindow;
  /** Ids being published right now: a second copy waits for the first's outcome. */
  private readonly inFlight = new Map<string, Promise<RelayOutcome>>();
  private readonly sleeping = new Set<() => void>();
  private stopping = false;

  constructor(
    config: AppConfig,
    private readonly publishing: PublishingService,
    private readonly metrics: MetricsService,
    private readonly idempotency: IdempotencyService,
  ) {
    this.relayed = new DedupeWindow(config.events.dedupeWindowSize);
  }

  /** Stop retrying: held deliveries are abandoned (left unacknowledged) so shutdown isn't held up by an outage. */
  onModuleDestroy(): void {
    this.stopping = true;
    for (const wake of this.sleeping) {
      wake();
    }
  }

  async relay(decoded: DecodedEvent, delivery: Delivery): Promise<RelayOutcome> {
    if (!decoded.ok) {
      return { kind: 'rejected', rejection: decoded.rejection };
    }
    const validated = this.validator.validate(decoded.pattern, decoded.data);
    if (!validated.ok) {
      return { kind: 'rejected', rejection: validated.rejection };
    }
    const event = validated.event;
    const id = event.payload.id;
    if (id === undefined) {
      return this.publish(event, delivery);
    }
    for (let first = this.inFlight.get(id); first !== undefined; first = this.inFlight.get(id)) {
      await first;
    }
    if (this.relayed.has(id)) {
      this.metrics.events.inc({ outcome: 'duplicate' });
      return { kind: 'duplicate', id };
    }
    // Recorded inside the promise the waiters await, so they see the id once they wake.
    const attempt = this.relayOnce(event, id, delivery).then((outcome) => {
      if (outcome.kind === 'relayed' || outcome.kind === 'duplicate') {
        this.relayed.add(id);
      }
      return outcome;
    });
    this.inFlight.set(id, attempt);
    try {
      return await attempt;
    } finally {
      if (this.inFlight.get(id) === attempt) {
        this.inFlight.delete(id);
      }
    }
  }

  /**
   * Ids are remembered in the store (24 h), so a copy redelivered to another instance, or after a restart,
   * is not published twice; the in-memory window in front of it only saves a store read.
   */
  private async relayOnce(event: ValidEvent, id: string, delivery: Delivery): Promise<RelayOutcome> {
    let claim: IdempotencyBegin | undefined;
    for (let attempt = 1; claim === undefined; attempt += 1) {
      try {
        // Any copy with this id is the same event: no fingerprint to compare.
        claim = await this.idempotency.begin('event', id, '');
      } catch (error) {
        // The store is unavailable (or answered oddly): nothing was published yet; retry while the delivery is held.
        if (attempt === 1 || attempt % 10 === 0) {
          this.logger.warn({ eventId: id, attempt, reason: errorMessage(error) }, 'event id check failed; retrying');
        }
        if (this.stopping || !delivery.stillOwned()) {
          return { kind: 'abandoned' };
        }
        this.metrics.events.inc({ outcome: 'retried' });
        await this.sleep(backoff(attempt));
        if (this.stopping || !delivery.stillOwned()) {
          return { kind: 'abandoned' };
        }
      }
    }
    if (claim.kind === 'done') {
      this.metrics.events.inc({ outcome: 'duplicate' });
      return { kind: 'duplicate', id };
    }
    const outcome = await this.publish(event, delivery);
    if (outcome.kind === 'relayed') {
      await this.idempotency.finish(claim, 202, JSON.stringify({ messageId: outcome.messageId }));
    } else {
      await this.idempotency.abandon(claim);
    }
    return outcome;
  }

  private async publish(event: ValidEvent, delivery: Delivery): Promise<RelayOutcome> {
    const { payload } = event;
    let unexpected = 0;
    for (let attempt = 1; ; attempt += 1) {
      try {
        const result = await this.publishing.publish({
          source: 'event',
          senderId: EVENTS_SENDER_ID,
          channel: payload.channel,
          message: payload.message,
          targetClientId: 'clientId' in payload ? payload.clientId : undefined,
          id: payload.id,
        });
        this.metrics.events.inc({ outcome: 'relayed' });
        return { kind: 'relayed', messageId: result.messageId };
      } catch (error) {
        const failure = classify(error);
        if (failure.kind === 'invalid') {
          return { kind: 'rejected', rejection: failure.rejection };
        }
        if (failure.kind === 'unexpected') {
          unexpected += 1;
          this.logger.error(
            { err: error, pattern: event.pattern, eventId: payload.id, attempt },
            'unexpected error while relaying an event',
          );
          if (unexpected >= MAX_UNEXPECTED_FAILURES) {
            return {
              kind: 'rejected',
              rejection: {
                code: ErrorCode.INTERNAL_ERROR,
                detail: `Relaying failed ${unexpected} times with an unexpected error: ${errorMessage(error)}`,
              },
            };
          }
        }
        if (this.stopping || !delivery.stillOwned()) {
          return { kind: 'abandoned' };
        }
        const delay = backoff(attempt);
        if (failure.kind === 'transient') {
          const log = { pattern: event.pattern, eventId: payload.id, attempt, retryInMs: delay, reason: errorMessage(error) };
          if (attempt === 1 || attempt % 10 === 0) {
            this.logger.warn(log, 'event relay failed transiently; retrying');
          } else {
            this.logger.debug(log, 'event relay failed transiently; retrying');
          }
        }
        this.metrics.events.inc({ outcome: 'retried' });
        await this.sleep(delay);
        if (this.stopping || !delivery.stillOwned()) {
          return { kind: 'abandoned' };
        }
      }
    }
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const wake = (): void => {
        clearTimeout(timer);
        this.sleeping.delete(wake);
        resolve();
      };
      const timer = setTimeout(wake, ms);
      this.sleeping.add(wake);
    });
  }
}

type Failure = { kind: 'invalid'; rejection: EventRejection } | { kind: 'transient' } | { kind: 'unexpected' };

/** A retryable domain error (broker or store unavailable, rate limited) is retried; any other is dead-lettered with its code. */
function classify(error: unknown): Failure {
  if (!(error instanceof DomainError)) {
    return { kind: 'unexpected' };
  }
  if (error.retryable) {
    return { kind: 'transient' };
  }
  const errors = error.errors?.map((e) => `${e.field} ${e.message}`).join('; ');
  return { kind: 'invalid', rejection: { code: error.code, detail: errors ? `${error.message} ${errors}` : error.message } };
}

/** Exponential, capped, with ±20 % jitter so held deliveries don't retry in lockstep. */
function backoff(attempt: number): number {
  const base = Math.min(FIRST_RETRY_MS * 2 ** (attempt - 1), MAX_RETRY_MS);
  return Math.round(base * (0.8 + Math.random() * 0.4));
}
