import { parseArgs } from 'node:util';
import jwt from 'jsonwebtoken';
import { resolveJwtSecret } from '../common/auth/auth-keys';
import { isClientId } from '../domain/ids';
import { ConfigError, loadConfig } from '../config/app-config';
import { errorMessage } from '../domain/errors';

/**
 * Mints a bearer token for trying the service: signed with AUTH_JWT_SECRET or,
 * on the embedded default, the secret generated under DATA_DIR.
 *   npm run token -- --sub alice [--role admin|service] [--ttl 3600]
 */
const USAGE = `Mints a bearer token for trying Web Communicator.

Usage: npm run -s token -- [--sub ID] [--role admin|service]... [--ttl SECONDS]

  --sub ID        the caller's client id (default: alice)
  --role ROLE     admin (portal, everything) or service (publishing backends); repeat for several;
                  none = a plain client
  --ttl SECONDS   lifetime, 1 to 2592000 (default: 3600)
  -h, --help      this text

Signs with AUTH_JWT_SECRET or, on the embedded default, the secret generated under DATA_DIR
(the same DATA_DIR as the running service, ./data by default). With AUTH_JWKS_URI tokens come
from your identity provider instead.

Example: ADMIN=$(npm run -s token -- --sub root --role admin)
`;

function main(): void {
  const { values } = parseArgs({
    options: {
      sub: { type: 'string', default: 'alice' },
      role: { type: 'string', multiple: true, default: [] },
      ttl: { type: 'string', default: '3600' },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  if (values.help) {
    process.stdout.write(USAGE);
    return;
  }
  const config = loadConfig(process.env);
  const sub = values.sub;
  const ttl = Number(values.ttl);
  if (!isClientId(sub)) {
    throw new Error('--sub must match ^[A-Za-z0-9:._-]{1,128}$');
  }
  if (!Number.isInteger(ttl) || ttl < 1 || ttl > 30 * 86_400) {
    throw new Error('--ttl must be a number of seconds from 1 to 2592000');
  }
  const secret = resolveJwtSecret(config);
  if (secret === undefined) {
    throw new Error('AUTH_JWKS_URI is set: tokens come from your identity provider, not from this command');
  }
  const roles = values.role ?? [];
  const options: jwt.SignOptions = { algorithm: 'HS256', expiresIn: ttl };
  if (config.auth.issuer !== undefined) {
    options.issuer = config.auth.issuer;
  }
  if (config.auth.audience !== undefined) {
    options.audience = config.auth.audience;
  }
  const token = jwt.sign({ [config.auth.clientIdClaim]: sub, [config.auth.rolesClaim]: roles }, secret, options);
  process.stdout.write(`${token}\n`);
}

try {
  main();
} catch (error) {
  const message = error instanceof ConfigError ? error.problems.join('\n') : errorMessage(error);
  process.stderr.write(`token: ${message}\n(npm run -s token -- --help for usage)\n`);
  process.exit(1);
}
