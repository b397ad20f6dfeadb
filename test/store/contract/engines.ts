import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig } from '../../../src/config/app-config';
import { DynamoStore } from '../../../src/store/dynamodb/dynamo-store';
import { SqliteStore } from '../../../src/store/sqlite/sqlite-store';
import type { StoreEngine } from '../../../src/store/store-engine';
import { DynaliteProcess, useFakeAwsCredentials } from '../../support/dynalite';

/** One engine under the contract: `open()` gives a fresh, empty store each time. */
export interface ContractEngine {
  readonly name: string;
  setup(): Promise<void>;
  open(): Promise<StoreEngine>;
  teardown(): Promise<void>;
}

const silent = { log: () => undefined, error: () => undefined, warn: () => undefined };

/** STORE=embedded: a new SQLite file in a new DATA_DIR per store. */
export function sqliteEngine(): ContractEngine {
  const dirs: string[] = [];
  return {
    name: 'SQLite (STORE=embedded)',
    async setup() {},
    async open() {
      const dataDir = mkdtempSync(join(tmpdir(), 'wc-contract-'));
      dirs.push(dataDir);
      return SqliteStore.open(loadConfig({ DATA_DIR: dataDir }), silent);
    },
    async teardown() {
      for (const dir of dirs) {
        rmSync(dir, { recursive: true, force: true });
      }
    },
  };
}

/** STORE=dynamodb against dynalite in another process: new tables (a new prefix) per store. */
export function dynamoEngine(): ContractEngine {
  let dynalite: DynaliteProcess | undefined;
  let restore: (() => void) | undefined;
  let next = 0;
  return {
    name: 'DynamoDB (STORE=dynamodb, dynalite out of process)',
    async setup() {
      restore = useFakeAwsCredentials();
      dynalite = await DynaliteProcess.start();
    },
    async open() {
      next += 1;
      const config = loadConfig({
        STORE: 'dynamodb',
        DYNAMODB_ENDPOINT: dynalite!.endpoint,
        DYNAMODB_CREATE_TABLES: 'true',
        DYNAMODB_TABLE_PREFIX: `contract${next}-`,
        AUTH_JWT_SECRET: 'a-contract-test-secret-of-32-characters',
        AWS_REGION: 'us-east-1',
      });
      return DynamoStore.open(config);
    },
    async teardown() {
      await dynalite?.stop();
      restore?.();
    },
  };
}
