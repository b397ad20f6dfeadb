import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import type { AppConfig } from '../../config/app-config';
import { errorMessage, StoreUnavailableError } from '../../domain/errors';

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
  return new StoreUnavailableError(`store unavailable: ${errorMessage(error)}`, { cause: error });
}

/**
 * The DynamoDB client the repositories share (STORE=dynamodb): Amazon DynamoDB, or any
 * DynamoDB-compatible engine at DYNAMODB_ENDPOINT.
 */
export class DynamoConnection {
  private constructor(
    readonly client: DynamoDBClient,
    readonly doc: DynamoDBDocumentClient,
    readonly tablePrefix: string,
    private readonly inflight: { count: number },
  ) {}

  static open(config: AppConfig): DynamoConnection {
    const endpoint = config.store.endpoint;
    const client = new DynamoDBClient({
      region: config.aws.region,
      endpoint,
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
    return new DynamoConnection(client, doc, config.store.tablePrefix, inflight);
  }

  table(name: 'ClientRegistry' | 'ChannelData' | 'ClientState' | 'History' | 'IdempotencyKeys'): string {
    return `${this.tablePrefix}${name}`;
  }

  async close(): Promise<void> {
    // Let writes already sent (e.g. a last-seen time from a closing session) finish.
    const deadline = Date.now() + 2_000;
    while (this.inflight.count > 0 && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    this.client.destroy();
  }
}
