import { Injectable, Logger, type OnModuleDestroy, type OnModuleInit } from '@nestjs/common';
import { Broker, type ClientLifecycleEvent } from '../broker/broker';
import { errorMessage } from '../domain/errors';
import { OutboundEvents } from '../events/out/outbound-events';
import { type ClientPresence, ClientRepository } from '../store/client.repository';

/**
 * Presence (API.md section 7): keeps the store's `connected` / `lastSeenAt` in step with the
 * broker's sessions, and tells backends (`client.connected`, `client.disconnected`).
 *
 * Exactness: store writes for one client are applied one after the other, in the order the
 * broker reported its sessions, so a quick connect / disconnect can't end up reversed. A broker
 * whose sessions all live in this process (the embedded broker on its own) clears every mark at
 * start: after a kill -9, nobody is left marked connected.
 *
 * In an embedded cluster (REDIS_URL), `connected` comes from the broker's cluster-wide view
 * (Redis: each instance's clients, expiring with an instance that dies), and the store keeps
 * `lastSeenAt`; a session closing here leaves the store's mark alone while the client is still
 * connected on another instance (a takeover).
 */
@Injectable()
export class PresenceService implements OnModuleInit, OnModuleDestroy {
  private readonly logger = new Logger(PresenceService.name);
  /** The last pending store write of each client (writes of one client are chained). */
  private readonly writes = new Map<string, Promise<void>>();
  private unsubscribe?: () => void;

  constructor(
    private readonly broker: Broker,
    private readonly clients: ClientRepository,
    private readonly events: OutboundEvents,
  ) {}

  /** Before the broker starts (its onApplicationBootstrap): no session exists yet. */
  async onModuleInit(): Promise<void> {
    if (this.broker.sessionsAreLocal) {
      const cleared = await this.clients.clearConnected();
      if (cleared > 0) {
        this.logger.log(`${cleared} client(s) were still marked connected from the last run (no clean stop): marked disconnected`);
      }
    }
    this.unsubscribe ??= this.broker.onClientLifecycle((event) => this.lifecycle(event));
  }

  onModuleDestroy(): void {
    this.unsubscribe?.();
  }

  async get(clientIds: string[]): Promise<ClientPresence[]> {
    const unique = [...new Set(clientIds)];
    const [stored, live] = await Promise.all([this.clients.presence(unique), this.broker.clientsConnected(unique)]);
    const known = new Map(stored.map((p) => [p.clientId, live === undefined ? p : { ...p, connected: live.has(p.clientId) }]));
    return clientIds.map((clientId) => known.get(clientId) ?? { clientId, connected: false });
  }

  private lifecycle(event: ClientLifecycleEvent): void {
    switch (event.kind) {
      case 'connected':
        this.write(event.clientId, true, event.time);
        this.events.emit('client.connected', event.clientId, { transport: event.transport }, event.eventId);
        break;
      case 'disconnected':
        // A takeover's newer session is still there: the client stays connected.
        if (!event.stillConnected) {
          this.write(event.clientId, false, event.time);
        }
        this.events.emit('client.disconnected', event.clientId, { reason: event.reason }, event.eventId);
        break;
    }
  }

  /** Never delays or fails the connection it describes. */
  private write(clientId: string, connected: boolean, time: string): void {
    const previous = this.writes.get(clientId) ?? Promise.resolve();
    const next = previous
      .then(async () => {
        // A takeover on another instance of a cluster: the client is still connected there.
        if (!connected && (await this.broker.clientsConnected([clientId]))?.has(clientId) === true) {
          return;
        }
        await this.clients.setConnected(clientId, connected, time);
      })
      .catch((error: unknown) => this.logger.warn(`could not record presence of ${clientId}: ${errorMessage(error)}`))
      .finally(() => {
        if (this.writes.get(clientId) === next) {
          this.writes.delete(clientId);
        }
      });
    this.writes.set(clientId, next);
  }
}
