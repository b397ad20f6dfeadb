import { type BeforeApplicationShutdown, Injectable, Logger, type OnApplicationBootstrap } from '@nestjs/common';
import { AppConfig } from '../config/app-config';
import { ClientRepository } from '../store/client.repository';
import { UsersService } from './users.service';

/** Expired bans lifted per sweep; the rest wait for the next one. */
const SWEEP_BATCH = 100;

/**
 * Ends timed bans (`banExpiresAt`). The expiry lives in the store, and every
 * instance sweeps it every BAN_EXPIRY_SWEEP_MS (and once at start), so a ban
 * ends within about that long after its time, across restarts and with any
 * number of instances: the store's conditional write lets exactly one of them
 * lift each ban. The store is written before the broker, as for an admin's
 * un-ban: if the broker's grant then fails (AWS IoT down beyond the SDK's
 * retries), the error is logged and an admin's un-ban (PATCH REGISTERED)
 * repeats the grant.
 */
@Injectable()
export class BanExpiry implements OnApplicationBootstrap, BeforeApplicationShutdown {
  private readonly logger = new Logger(BanExpiry.name);
  private timer?: NodeJS.Timeout;
  private running?: Promise<void>;

  constructor(
    private readonly config: AppConfig,
    private readonly clients: ClientRepository,
    private readonly users: UsersService,
  ) {}

  onApplicationBootstrap(): void {
    this.timer = setInterval(() => void this.sweep(), this.config.users.banExpirySweepMs);
    this.timer.unref();
    void this.sweep();
  }

  async beforeApplicationShutdown(): Promise<void> {
    clearInterval(this.timer);
    this.timer = undefined;
    await this.running;
  }

  /** One pass; overlapping calls share the pass in progress. */
  sweep(): Promise<void> {
    this.running ??= this.pass().finally(() => (this.running = undefined));
    return this.running;
  }

  private async pass(): Promise<void> {
    try {
      const expired = await this.clients.listExpiredBans(new Date().toISOString(), SWEEP_BATCH);
      for (const record of expired) {
        try {
          await this.users.liftExpiredBan(record);
        } catch (error) {
          this.logger.error(`could not lift the expired ban of ${record.clientId}: ${errorMessage(error)}`);
        }
      }
    } catch (error) {
      // The store is down: the next sweep tries again.
      this.logger.warn(`ban expiry sweep failed: ${errorMessage(error)}`);
    }
  }
}

function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
