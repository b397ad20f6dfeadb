import { request } from 'node:http';
import { loadConfig } from '../config/app-config';

/**
 * Container health check (Dockerfile HEALTHCHECK, ECS healthCheck): exits 0
 * when GET /health/live answers 200 within the timeout, 1 otherwise. Node
 * rather than curl, so the runtime image needs nothing extra.
 */
const TIMEOUT_MS = 3_000;
const WILDCARD_HOSTS = new Set(['0.0.0.0', '::', '[::]']);

function probe(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const req = request({ host, port, path: '/health/live', method: 'GET', timeout: TIMEOUT_MS }, (res) => {
      res.resume();
      resolve(res.statusCode === 200);
    });
    req.on('timeout', () => req.destroy(new Error('timed out')));
    req.on('error', () => resolve(false));
    req.end();
  });
}

async function main(): Promise<void> {
  const config = loadConfig(process.env);
  const host = WILDCARD_HOSTS.has(config.host) ? '127.0.0.1' : config.host;
  const healthy = await probe(host, config.port);
  process.exit(healthy ? 0 : 1);
}

main().catch(() => process.exit(1));
