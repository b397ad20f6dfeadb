import { mkdirSync } from 'node:fs';
import type { Server } from 'node:http';
import { join } from 'node:path';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import dynalite from 'dynalite';
import type { AppConfig } from '../../config/app-config';
import { StoreUnavailableError } from '../store-unavailable.error';

/** Errors that describe the request (conditions, missing tables, bad input) pass through; the rest mean "can't serve now". */
const REQUEST_ERRORS = new Set([
  'ConditionalCheckFailedException',
  'TransactionCanceledException',
  'ValidationException',
  'ResourceNotFoundException',
  'ResourceInUseException',
]);

function toStoreError(error: unknown): unknown {
  if (error instanceof Error && REQUEST_ERRORS.has(error.name)) {
    return error;
  }
  const message = error instanceof Error ? error.message : String(error);
  return new StoreUnavailableError(`store unavailable: ${message}`, { cause: error });
}

/** A fixed, well-formed SigV4 header for the in-process engine (never sent anywhere else). */
interface SignableRequest {
  headers: Record<string, string>;
}

function withEmbeddedAuthorization<T extends SignableRequest>(request: T): T {
  request.headers['x-amz-date'] = '20260101T000000Z';
  request.headers.authorization = 'AWS4-HMAC-SHA256 Credential=embedded/20260101/local/dynamodb/aws4_request, SignedHeaders=host, Signature=0';
  return request;
}

/**
 * The DynamoDB client the repositories share. In embedded mode it first starts
 * dynalite in-process on a loopback port, with its LevelDB files under DATA_DIR,
 * so the same repository code runs on a laptop, in tests and against AWS.
 */
export class DynamoConnection {
  private constructor(
    readonly client: DynamoDBClient,
    readonly doc: DynamoDBDocumentClient,
    readonly tablePrefix: string,
    private readonly inflight: { count: number },
    private readonly embedded?: Server,
  ) {}

  static async open(config: AppConfig): Promise<DynamoConnection> {
    let endpoint = config.store.endpoint;
    let server: Server | undefined;
    if (config.store.driver === 'embedded' && endpoint === undefined) {
      const path = join(config.dataDir, 'dynamodb');
      mkdirSync(path, { recursive: true });
      server = dynalite({ path, createTableMs: 0, deleteTableMs: 0, updateTableMs: 0 });
      await new Promise<void>((resolve, reject) => {
        server!.once('error', reject);
        server!.listen(0, '127.0.0.1', () => resolve());
      });
      const address = server.address();
      if (address === null || typeof address === 'string') {
        throw new Error('embedded DynamoDB did not bind a TCP port');
      }
      endpoint = `http://127.0.0.1:${address.port}`;
    }
    const client = new DynamoDBClient({
      region: config.aws.region,
      endpoint,
      // The embedded engine accepts any credentials; elsewhere the default chain (ECS task role, env, profile) applies.
      credentials: server ? { accessKeyId: 'embedded', secretAccessKey: 'embedded' } : undefined,
      // The embedded engine wants a SigV4-shaped Authorization header but checks no signature:
      // computing one (a body hash and an HMAC chain per request) was pure cost on every store call.
      signer: server ? { sign: async <T extends SignableRequest>(request: T) => withEmbeddedAuthorization(request) } : undefined,
      maxAttempts: 2,
      // Without timeouts a stalled endpoint hangs requests forever; this turns it into a prompt 503.
      requestHandler: { connectionTimeout: 1_000, requestTimeout: 2_000, throwOnRequestTimeout: true },
    });
    const inflight = { count: 0 };
    client.middlewareStack.add(
      (next) => async (args) => {
        inflight.count += 1;
        try {
          return await next(args);
        } catch (error) {
          throw toStoreError(error);
        } finally {
          inflight.count -= 1;
        }
      },
      { step: 'initialize', name: 'webCommunicatorStoreErrors', override: true },
    );
    const doc = DynamoDBDocumentClient.from(client, {
      marshallOptions: { removeUndefinedValues: true },
    });
    return new DynamoConnection(client, doc, config.store.tablePrefix, inflight, server);
  }

  table(name: 'ClientRegistry' | 'ChannelData' | 'ClientState'): string {
    return `${this.tablePrefix}${name}`;
  }

  async close(): Promise<void> {
    // Let writes already sent (e.g. a last-seen time from a closing session) finish: the embedded
    // engine fails requests that reach it after its database closed.
    const deadline = Date.now() + 2_000;
    while (this.inflight.count > 0 && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    this.client.destroy();
    const server = this.embedded;
    if (server) {
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  }
}
