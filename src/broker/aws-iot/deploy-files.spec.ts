/*
 * Keeps deploy/ honest against the code: the IAM policy grants every IoT call
 * the driver makes, the ECS task definition carries a valid AWS-mode
 * configuration, and the table file matches what the store creates itself.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadConfig } from '../../config/app-config';
import type { DynamoConnection } from '../../store/dynamodb/dynamo-connection';
import { STATUS_INDEX, tableDefinitions } from '../../store/dynamodb/tables';
import { LIFECYCLE_CLIENT_PREFIX } from './aws-iot-broker';
import { LIFECYCLE_TOPICS } from './lifecycle-events';

const ROOT = join(__dirname, '..', '..', '..');
const DRIVER_DIR = __dirname;

interface IamStatement {
  Sid?: string;
  Effect: 'Allow' | 'Deny';
  Action: string | string[];
  Resource: string | string[];
}

interface TaskDefinition {
  requiresCompatibilities: string[];
  containerDefinitions: {
    name: string;
    environment: { name: string; value: string }[];
    secrets?: { name: string; valueFrom: string }[];
    healthCheck: { command: string[] };
    stopTimeout: number;
    logConfiguration: { logDriver: string };
  }[];
}

function readJson<T>(...path: string[]): T {
  return JSON.parse(readFileSync(join(ROOT, ...path), 'utf8')) as T;
}

const list = (value: string | string[]): string[] => (Array.isArray(value) ? value : [value]);

/** Stand-ins for the `${...}` placeholders of the deploy files. */
function fill(text: string): string {
  return text
    .replaceAll('${AWS::Region}', 'eu-west-1')
    .replaceAll('${AWS::AccountId}', '123456789012')
    .replaceAll('${TopicPrefix}', 'mygame/prod')
    .replaceAll('${TablePrefix}', 'WebCommunicator-')
    .replace(/\$\{[A-Za-z]+\}/g, 'placeholder');
}

/** Sample values for what ECS injects from Secrets Manager / SSM. */
const SECRET_SAMPLES: Record<string, string> = {
  EVENTS_URL: 'amqps://webcomm:secret@mq.example.com:5671',
  AUTH_JWT_SECRET: 'x'.repeat(48),
};

describe('deploy files', () => {
  const iam = readJson<{ Version: string; Statement: IamStatement[] }>('deploy', 'iam-policy.json');
  const allowed = iam.Statement.filter((s) => s.Effect === 'Allow');
  const actions = new Set(allowed.flatMap((s) => list(s.Action)));
  const task = readJson<TaskDefinition>('deploy', 'ecs', 'task-definition.json');
  const container = task.containerDefinitions[0];
  const taskEnv = Object.fromEntries([
    ...container.environment.map(({ name, value }) => [name, fill(value)]),
    ...(container.secrets ?? []).map(({ name }) => [name, SECRET_SAMPLES[name] ?? 'secret-value']),
  ]) as Record<string, string>;

  describe('IAM policy', () => {
    it('is a valid policy document', () => {
      expect(iam.Version).toBe('2012-10-17');
      for (const statement of iam.Statement) {
        expect(statement).toEqual(
          expect.objectContaining({
            Effect: expect.stringMatching(/^(Allow|Deny)$/),
            Action: expect.anything(),
            Resource: expect.anything(),
          }),
        );
      }
    });

    it('allows every AWS IoT call the driver makes (read from its source)', () => {
      const sources = readdirSync(DRIVER_DIR).filter((file) => file.endsWith('.ts') && !file.endsWith('.spec.ts'));
      const commands = new Set<string>();
      for (const file of sources) {
        for (const match of readFileSync(join(DRIVER_DIR, file), 'utf8').matchAll(/new (\w+)Command\(/g)) {
          commands.add(match[1]);
        }
      }

      // Guard against a regex that silently matches nothing.
      expect([...commands]).toEqual(expect.arrayContaining(['Publish', 'DeleteConnection', 'AttachPolicy', 'CreatePolicyVersion']));
      // Both IoT SDK clients map a command Xxx to the IAM action iot:Xxx.
      const missing = [...commands].map((command) => `iot:${command}`).filter((action) => !actions.has(action));
      expect(missing).toEqual([]);
    });

    it('scopes publishing to the topic prefix and policy management to the service policies', () => {
      const resourcesOf = (action: string): string[] =>
        allowed.filter((s) => list(s.Action).includes(action)).flatMap((s) => list(s.Resource));

      expect(resourcesOf('iot:Publish')).toEqual(['arn:aws:iot:${AWS::Region}:${AWS::AccountId}:topic/${TopicPrefix}/*']);
      expect(resourcesOf('iot:CreatePolicyVersion')).toEqual(['arn:aws:iot:${AWS::Region}:${AWS::AccountId}:policy/${IotPolicyPrefix}-*']);
      expect(resourcesOf('iot:DeleteConnection')).toEqual(['arn:aws:iot:${AWS::Region}:${AWS::AccountId}:client/*']);
      expect(actions.has('iot:*')).toBe(false);
    });

    it('lets the lifecycle subscription connect as its own client ids and read the two lifecycle topics, nothing more', () => {
      const resourcesOf = (action: string): string[] =>
        allowed.filter((s) => list(s.Action).includes(action)).flatMap((s) => list(s.Resource));
      const arn = 'arn:aws:iot:${AWS::Region}:${AWS::AccountId}';
      expect(resourcesOf('iot:Connect')).toEqual([`${arn}:client/${LIFECYCLE_CLIENT_PREFIX}*`]);
      expect(resourcesOf('iot:Subscribe')).toEqual(LIFECYCLE_TOPICS.map((t) => `${arn}:topicfilter/${t.replace('+', '*')}`));
      expect(resourcesOf('iot:Receive')).toEqual(LIFECYCLE_TOPICS.map((t) => `${arn}:topic/${t.replace('+', '*')}`));
    });

    it('allows the DynamoDB calls on the two tables and the ByStatus index only', () => {
      const dynamo = allowed.filter((s) => list(s.Action).some((a) => a.startsWith('dynamodb:')));
      const resources = dynamo.flatMap((s) => list(s.Resource)).map(fill);
      const tables = tableDefinitions(connectionWithPrefix('WebCommunicator-')).map(
        (t) => `arn:aws:dynamodb:eu-west-1:123456789012:table/${t.TableName}`,
      );

      expect(resources.sort()).toEqual([...tables, `${tables[0]}/index/${STATUS_INDEX}`].sort());
    });

    it('allows every DynamoDB call the store makes (read from its source), CreateTable aside', () => {
      // lib-dynamodb's document commands drop the "Item" of the API name.
      const documentCommands: Record<string, string> = {
        Get: 'GetItem',
        Put: 'PutItem',
        Update: 'UpdateItem',
        Delete: 'DeleteItem',
        BatchGet: 'BatchGetItem',
        BatchWrite: 'BatchWriteItem',
      };
      const storeDir = join(ROOT, 'src', 'store', 'dynamodb');
      const used = new Set<string>();
      for (const file of readdirSync(storeDir).filter((f) => f.endsWith('.ts') && !f.endsWith('.spec.ts'))) {
        for (const match of readFileSync(join(storeDir, file), 'utf8').matchAll(/new (\w+)Command\(/g)) {
          used.add(`dynamodb:${documentCommands[match[1]] ?? match[1]}`);
        }
      }
      // CreateTable and the TTL set-up run only with DYNAMODB_CREATE_TABLES=true, a one-off with broader rights (docs/deployment.md).
      for (const setup of ['CreateTable', 'DescribeTimeToLive', 'UpdateTimeToLive']) {
        used.delete(`dynamodb:${setup}`);
      }

      expect(used.size).toBeGreaterThan(3);
      expect([...used].filter((action) => !actions.has(action))).toEqual([]);
    });
  });

  describe('ECS task definition', () => {
    it('is a Fargate task', () => {
      expect(task.requiresCompatibilities).toEqual(['FARGATE']);
      expect(container.logConfiguration.logDriver).toBe('awslogs');
    });

    it('carries a configuration that loads in AWS mode (every required variable present)', () => {
      const config = loadConfig(taskEnv);

      expect(config.broker.driver).toBe('aws-iot');
      expect(config.store.driver).toBe('dynamodb');
      expect(config.events.transport).toBe('rmq');
      expect(config.auth.generateSecret).toBe(false);
      expect(config.store.createTables).toBe(false);
    });

    it('sets the variables an AWS deployment needs', () => {
      for (const name of [
        'BROKER',
        'STORE',
        'AWS_REGION',
        'TOPIC_PREFIX',
        'AUTH_JWKS_URI',
        'AUTH_ISSUER',
        'AUTH_AUDIENCE',
        'AUTH_CLIENT_ID_CLAIM',
        'EVENTS_TRANSPORT',
        'EVENTS_URL',
        'EVENTS_QUEUE',
        'DYNAMODB_TABLE_PREFIX',
        'PUBLIC_HOST',
        'LOG_LEVEL',
      ]) {
        expect(Object.keys(taskEnv)).toContain(name);
      }
    });

    it('names only variables the config reads (no typos)', () => {
      const configSource = readFileSync(join(ROOT, 'src', 'config', 'app-config.ts'), 'utf8');

      const unknown = Object.keys(taskEnv).filter((name) => !configSource.includes(`'${name}'`));
      expect(unknown).toEqual([]);
    });

    it('takes secrets from Secrets Manager or SSM, never inline', () => {
      for (const secret of container.secrets ?? []) {
        expect(secret.valueFrom).toMatch(/^arn:aws:(secretsmanager|ssm):/);
      }
      expect(container.environment.map((e) => e.name)).not.toEqual(expect.arrayContaining(['EVENTS_URL']));
      expect(container.environment.map((e) => e.name)).not.toEqual(expect.arrayContaining(['AUTH_JWT_SECRET']));
    });

    it('health-checks with the Node script and stops after the app had time to drain', () => {
      expect(container.healthCheck.command).toEqual(['CMD', 'node', '/app/dist/bin/healthcheck.js']);
      expect(existsSync(join(ROOT, 'src', 'bin', 'healthcheck.ts'))).toBe(true);
      expect(container.stopTimeout * 1000).toBeGreaterThan(loadConfig(taskEnv).shutdownTimeoutMs);
    });
  });

  describe('Dockerfile', () => {
    const dockerfile = readFileSync(join(ROOT, 'Dockerfile'), 'utf8');

    it('runs the same health check script, as a non-root user under tini', () => {
      expect(dockerfile).toMatch(/^HEALTHCHECK .*\n?.*dist\/bin\/healthcheck\.js/m);
      expect(dockerfile).toMatch(/^USER node$/m);
      expect(dockerfile).toMatch(/^ENTRYPOINT \["\/usr\/bin\/tini", "--"\]$/m);
      expect(dockerfile).toMatch(/^CMD \["node", "--experimental-async-context-frame", "dist\/main\.js"\]$/m);
    });
  });

  describe('DynamoDB table file', () => {
    it('matches the tables the store creates, with the deployed table prefix', () => {
      const file = readJson<{ tables: unknown[] }>('deploy', 'dynamodb-tables.json');
      const prefix = loadConfig(taskEnv).store.tablePrefix;

      expect(file.tables).toEqual(tableDefinitions(connectionWithPrefix(prefix)));
    });
  });
});

/** tableDefinitions only needs the connection's table naming. */
function connectionWithPrefix(prefix: string): DynamoConnection {
  return { table: (name: string) => `${prefix}${name}` } as unknown as DynamoConnection;
}
