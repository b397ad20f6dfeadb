import { Injectable } from '@nestjs/common';

/**
 * Throws when the dependency can't serve (readiness is then 503). May resolve with details
 * reported alongside an `up` (a degraded but serving state, e.g. an instance cut off from its cluster).
 */
export type ReadinessCheck = () => Promise<void | Record<string, unknown>>;

/**
 * Named checks that readiness runs: the store and broker here, and any module
 * that adds a dependency (the events transport) registers its own.
 */
@Injectable()
export class Readiness {
  private readonly checks = new Map<string, ReadinessCheck>();

  register(name: string, check: ReadinessCheck): void {
    this.checks.set(name, check);
  }

  entries(): Array<[string, ReadinessCheck]> {
    return [...this.checks.entries()];
  }
}
