import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createApp } from '../app.factory';
import { loadConfig } from '../config/app-config';
import { createOpenApiDocument, sortKeys } from '../openapi';

export const OPENAPI_FILE = join(__dirname, '..', '..', 'openapi', 'openapi.json');

/** The spec as the code produces it, key-sorted, as the committed file's text. */
export async function generateOpenApiText(): Promise<string> {
  const dataDir = mkdtempSync(join(tmpdir(), 'wc-openapi-'));
  try {
    const config = loadConfig({ DATA_DIR: dataDir, LOG_LEVEL: 'silent', EVENTS_TRANSPORT: 'none', PORT: '0', MQTT_TLS_PORT: '0' });
    const app = await createApp(config, { logger: false });
    try {
      return `${JSON.stringify(sortKeys(createOpenApiDocument(app)), null, 2)}\n`;
    } finally {
      await app.close();
    }
  } finally {
    rmSync(dataDir, { recursive: true, force: true });
  }
}

/** `npm run openapi` writes openapi/openapi.json; `--check` fails when it differs from the code. */
async function main(): Promise<void> {
  const text = await generateOpenApiText();
  if (process.argv.includes('--check')) {
    const committed = readFileSync(OPENAPI_FILE, 'utf8');
    if (committed !== text) {
      process.stderr.write('openapi/openapi.json is out of date: run npm run openapi\n');
      process.exit(1);
    }
    process.stdout.write('openapi/openapi.json is up to date\n');
    return;
  }
  writeFileSync(OPENAPI_FILE, text);
  process.stdout.write(`wrote ${OPENAPI_FILE}\n`);
}

if (require.main === module) {
  main().catch((error: unknown) => {
    process.stderr.write(`openapi: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
    process.exit(1);
  });
}
