import { randomUUID } from 'node:crypto';
import { Logger } from '@nestjs/common';
import type { Redis } from 'ioredis';
import { errorMessage } from '../domain/errors';
import type { ClusterInstances } from './cluster-instances';
import type { RedisLink } from './redis-link';

/** What every other instance said to a request. */
export interface Confirmation {
  /** Instances that did it and said so in time. */
  confirmed: string[];
  /** Instances alive (or last seen alive, with Redis unreachable) that did not confirm in time. */
  missing: string[];
}

export type BusHandler = (body: unknown) => Promise<void>;

interface Request {
  kind: 'request';
  id: string;
  from: string;
  op: string;
  body: unknown;
}

interface Reply {
  kind: 'reply';
  id: string;
  from: string;
  ok: boolean;
  error?: string;
}

interface Waiting {
  waiting: Set<string>;
  confirmed: string[];
  done: () => void;
}

/**
 * Request / acknowledge between the instances over Redis pub/sub: a request goes to every
 * instance on one channel, each runs its handler and answers on the requester's own channel,
 * and `request` resolves once every instance alive has confirmed, or at the bound with the
 * ones that did not. Pub/sub delivers to those subscribed now, at most once: an instance that
 * does not hear a request is named in `missing`, never taken for done.
 */
export class ClusterBus {
  private readonly logger = new Logger('Cluster');
  private readonly handlers = new Map<string, BusHandler>();
  private readonly pending = new Map<string, Waiting>();
  private subscriber?: Redis;
  private subscribed = false;

  constructor(
    private readonly link: RedisLink,
    private readonly instances: ClusterInstances,
  ) {}

  private get requests(): string {
    return this.link.channel('bus');
  }

  private get replies(): string {
    return this.link.channel(`bus:${this.link.instanceId}`);
  }

  /** Whether this instance hears requests now. */
  get ready(): boolean {
    return this.subscribed && this.subscriber?.status === 'ready';
  }

  /** Runs `handler` for every request of `op` from another instance; it resolves once done. */
  handle(op: string, handler: BusHandler): void {
    this.handlers.set(op, handler);
  }

  /** Subscribes (resubscribing after every reconnect); resolves once subscribed or after `maxWaitMs`. */
  async start(maxWaitMs: number): Promise<void> {
    const subscriber = this.link.connect('bus', { maxRetriesPerRequest: null, autoResendUnfulfilledCommands: true });
    this.subscriber = subscriber;
    subscriber.on('messageBuffer', (channel: Buffer, message: Buffer) => this.received(channel.toString(), message));
    subscriber.on('close', () => (this.subscribed = false));
    const subscribe = async (): Promise<void> => {
      await subscriber.subscribe(this.requests, this.replies);
      this.subscribed = true;
    };
    subscriber.on('ready', () => {
      // ioredis resubscribes by itself on reconnect, right after emitting 'ready' in the same turn: a PING sent
      // in the next turn is answered behind those SUBSCRIBEs, so once it is, this instance hears requests again.
      setImmediate(() => {
        subscriber
          .ping()
          .then(() => (this.subscribed = subscriber.status === 'ready'))
          .catch(() => undefined);
      });
    });
    await Promise.race([subscribe().catch((error: unknown) => this.logger.warn(`cluster bus not subscribed yet: ${errorMessage(error)}`)), sleep(maxWaitMs)]);
  }

  /** Asks every other instance to run `op`; see Confirmation. Never throws. */
  async request(op: string, body: unknown, timeoutMs: number): Promise<Confirmation> {
    let peers: string[];
    try {
      peers = await this.instances.others();
    } catch {
      return { confirmed: [], missing: this.instances.lastKnown };
    }
    if (peers.length === 0) {
      return { confirmed: [], missing: [] };
    }
    const id = randomUUID();
    const entry: Waiting = { waiting: new Set(peers), confirmed: [], done: () => undefined };
    const finished = new Promise<void>((resolve) => (entry.done = resolve));
    this.pending.set(id, entry);
    const timer = setTimeout(entry.done, timeoutMs);
    try {
      const message: Request = { kind: 'request', id, from: this.link.instanceId, op, body };
      await this.link.client.publish(this.requests, JSON.stringify(message));
      await finished;
    } catch (error) {
      this.logger.debug(`cluster request ${op} not sent: ${errorMessage(error)}`);
    } finally {
      clearTimeout(timer);
      this.pending.delete(id);
    }
    return { confirmed: entry.confirmed, missing: [...entry.waiting] };
  }

  private received(channel: string, raw: Buffer): void {
    let message: Request | Reply;
    try {
      message = JSON.parse(raw.toString('utf8')) as Request | Reply;
    } catch {
      return;
    }
    if (channel === this.replies && message.kind === 'reply') {
      const entry = this.pending.get(message.id);
      if (entry?.waiting.delete(message.from) === true) {
        if (message.ok) {
          entry.confirmed.push(message.from);
        } else {
          this.logger.warn(`instance ${message.from} failed ${message.id}: ${message.error ?? 'unknown error'}`);
        }
        if (entry.waiting.size === 0) {
          entry.done();
        }
      }
    } else if (channel === this.requests && message.kind === 'request' && message.from !== this.link.instanceId) {
      void this.answer(message);
    }
  }

  private async answer(request: Request): Promise<void> {
    const handler = this.handlers.get(request.op);
    let reply: Reply = { kind: 'reply', id: request.id, from: this.link.instanceId, ok: true };
    try {
      if (handler === undefined) {
        throw new Error(`no handler for ${request.op}`);
      }
      await handler(request.body);
    } catch (error) {
      reply = { ...reply, ok: false, error: errorMessage(error) };
    }
    try {
      await this.link.client.publish(this.link.channel(`bus:${request.from}`), JSON.stringify(reply));
    } catch (error) {
      this.logger.warn(`could not confirm ${request.op} to ${request.from}: ${errorMessage(error)}`);
    }
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms).unref());
}
