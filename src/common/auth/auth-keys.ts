import { join } from 'node:path';
import type { AppConfig } from '../../config/app-config';
import { loadOrCreateSecret } from '../secrets';

export const GENERATED_SECRET_FILE = 'auth-jwt.secret';

/** The HS256 secret in force: AUTH_JWT_SECRET, or the embedded default's generated one; undefined with JWKS. */
export function resolveJwtSecret(config: AppConfig): string | undefined {
  if (config.auth.jwtSecret !== undefined) {
    return config.auth.jwtSecret;
  }
  if (config.auth.generateSecret) {
    return loadOrCreateSecret(join(config.dataDir, GENERATED_SECRET_FILE));
  }
  return undefined;
}
