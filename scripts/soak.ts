/**
 * Load soak: `npm run soak` (builds first). SOAK_CLIENTS (2000), SOAK_SECONDS (60),
 * SOAK_BROADCAST_RATE (5/s), SOAK_DIRECT_RATE (50/s), SOAK_BANS (5), SOAK_NEW (20),
 * SOAK_SEED (20261125). Progress on stderr, summary table on stdout; exits 1 on any
 * lost message, a stable client dropped, or RSS not flat (end > after-warm-up × SOAK_RSS_FACTOR (1.25) + 32 MB).
 * Runs the built service on 127.0.0.1 only. See docs/reliability.md.
 */
import { runSoak, soakTable } from '../test/reliability/support/soak';

const num = (name: string, fallback: number): number => {
  const value = Number(process.env[name] ?? fallback);
  if (!Number.isFinite(value) || value < 0) {
    throw new Error(`${name} must be a non-negative number`);
  }
  return value;
};

async function main(): Promise<void> {
  const seconds = num('SOAK_SECONDS', 60);
  const factor = num('SOAK_RSS_FACTOR', 1.25);
  const result = await runSoak({
    clients: num('SOAK_CLIENTS', 2000),
    seconds,
    broadcastRate: num('SOAK_BROADCAST_RATE', 5),
    directRate: num('SOAK_DIRECT_RATE', 50),
    bans: num('SOAK_BANS', 5),
    newRegistrations: num('SOAK_NEW', 20),
    warmupSeconds: Math.min(10, Math.ceil(seconds / 6)),
    seed: num('SOAK_SEED', 20261125),
    drainMs: 30_000,
    log: (line) => process.stderr.write(`[soak] ${line}\n`),
  });
  const flat = result.rssMb.end <= result.rssMb.afterWarmup * factor + 32;
  process.stdout.write(`${soakTable(result, [[`RSS flat (end ≤ after warm-up × ${factor} + 32 MB)`, flat ? 'yes' : 'NO']])}\n`);
  if (result.lostSamples.length > 0) {
    process.stdout.write(`lost (sample): ${result.lostSamples.join(', ')}\n`);
  }
  const ok = result.lost === 0 && result.unexpectedDisconnects === 0 && result.broadcastsAccepted > 0 && result.bannedKicked === result.bans && flat;
  process.exit(ok ? 0 : 1);
}

main().catch((error: unknown) => {
  process.stderr.write(`[soak] failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  process.exit(2);
});
