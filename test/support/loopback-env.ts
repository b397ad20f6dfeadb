import { writeFileSync } from 'node:fs';
import { join } from 'node:path';

/**
 * Configuration of a service for tests and benchmarks: everything on 127.0.0.1 and free ports
 * (HTTP and the TLS listener), state under `dataDir`, with `channels` written there as its
 * CHANNELS_FILE (entries as that file takes them; the service validates them at start). Callers
 * add what they vary (log level, events transport, ...).
 */
export function loopbackEnv(dataDir: string, channels: readonly object[]): Record<string, string> {
  const channelsFile = join(dataDir, 'channels.json');
  writeFileSync(channelsFile, JSON.stringify({ channels }));
  return {
    DATA_DIR: dataDir,
    PORT: '0',
    HOST: '127.0.0.1',
    PUBLIC_HOST: '127.0.0.1',
    MQTT_TLS_PORT: '0',
    MQTT_TLS_HOST: '127.0.0.1',
    CHANNELS_FILE: channelsFile,
  };
}
