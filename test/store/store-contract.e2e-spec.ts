/**
 * One repository contract, two engines: SQLite (STORE=embedded) and DynamoDB (STORE=dynamodb, here
 * dynalite in another process). A behaviour that differs between them fails here. A new table adds
 * its `xRepositoryContract(open)` in test/store/contract/ and one line below.
 */
import { channelRepositoryContract } from './contract/channel-repository.contract';
import { clientRepositoryContract } from './contract/client-repository.contract';
import { type ContractEngine, dynamoEngine, sqliteEngine } from './contract/engines';
import { historyRepositoryContract } from './contract/history-repository.contract';
import { idempotencyRepositoryContract } from './contract/idempotency-repository.contract';
import { stateRepositoryContract } from './contract/state-repository.contract';

describe.each<[string, ContractEngine]>([
  ['SQLite', sqliteEngine()],
  ['DynamoDB', dynamoEngine()],
])('store contract on %s', (_name, engine) => {
  beforeAll(() => engine.setup());
  afterAll(() => engine.teardown());

  clientRepositoryContract(() => engine.open());
  channelRepositoryContract(() => engine.open());
  stateRepositoryContract(() => engine.open());
  historyRepositoryContract(() => engine.open());
  idempotencyRepositoryContract(() => engine.open());
});
