import { chmodSync, mkdirSync } from 'node:fs';
import { Logger } from '@nestjs/common';

/**
 * Creates DATA_DIR (and its parents) as 0700 and makes an existing one 0700: it holds the CA key, the
 * token secret and the store, readable by this user only. A directory we don't own (chmod refused)
 * is left as it is, with a warning.
 */
export function prepareDataDir(dataDir: string): void {
  mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  try {
    chmodSync(dataDir, 0o700);
  } catch (error) {
    new Logger('DataDir').warn(`could not make ${dataDir} private (0700): ${(error as Error).message}`);
  }
}
