import { ConfigError, loadConfig } from './app-config';

describe('loadConfig', () => {
  it('runs on zero variables: the embedded default', () => {
    const config = loadConfig({});
    expect(config.port).toBe(3000);
    expect(config.publicHost).toBe('localhost');
    expect(config.dataDir).toMatch(/\/data$/);
    expect(config.broker).toEqual(expect.objectContaining({ driver: 'embedded', topicPrefix: 'webcommunicator/dev' }));
    expect(config.broker.tls.port).toBe(8883);
    expect(config.store).toEqual(expect.objectContaining({ driver: 'embedded', createTables: true }));
    expect(config.auth).toEqual(expect.objectContaining({ generateSecret: true, clientIdClaim: 'sub', rolesClaim: 'roles' }));
    expect(config.registration.clientOpenssl).toBe(false);
    expect(config.events).toEqual(expect.objectContaining({ transport: 'mqtt', queue: 'webcommunicator-events' }));
  });

  it('names every bad variable, one line each', () => {
    let caught: unknown;
    try {
      loadConfig({ PORT: 'abc', BROKER: 'mosquitto', TOPIC_PREFIX: 'a/#', REGISTRATION_CLIENT_OPENSSL: 'maybe', AUTH_JWT_SECRET: 'short' });
    } catch (error) {
      caught = error;
    }
    expect(caught).toBeInstanceOf(ConfigError);
    const problems = (caught as ConfigError).problems;
    expect(problems).toHaveLength(5);
    for (const name of ['PORT', 'BROKER', 'TOPIC_PREFIX', 'REGISTRATION_CLIENT_OPENSSL', 'AUTH_JWT_SECRET']) {
      expect(problems.some((p) => p.startsWith(name))).toBe(true);
    }
  });

  it('requires auth outside the embedded default, and EVENTS_URL for rmq', () => {
    expect(() => loadConfig({ BROKER: 'aws-iot', STORE: 'dynamodb' })).toThrow(/AUTH_JWT_SECRET or AUTH_JWKS_URI/);
    expect(() => loadConfig({ EVENTS_TRANSPORT: 'rmq' })).toThrow(/EVENTS_URL is required/);
    expect(() => loadConfig({ AUTH_JWKS_URI: 'ftp://x' })).toThrow(/AUTH_JWKS_URI/);
  });

  it('requires both AUTH_ISSUER and AUTH_AUDIENCE with AUTH_JWKS_URI, in one line', () => {
    const jwks = 'https://idp.example.com/.well-known/jwks.json';
    for (const env of [{}, { AUTH_ISSUER: 'https://idp.example.com/' }, { AUTH_AUDIENCE: 'app' }]) {
      let caught: unknown;
      try {
        loadConfig({ AUTH_JWKS_URI: jwks, ...env });
      } catch (error) {
        caught = error;
      }
      expect((caught as ConfigError).problems).toEqual(['AUTH_ISSUER and AUTH_AUDIENCE are required with AUTH_JWKS_URI']);
    }
    expect(loadConfig({ AUTH_JWKS_URI: jwks, AUTH_ISSUER: 'https://idp.example.com/', AUTH_AUDIENCE: 'app' }).auth.jwksUri).toBe(jwks);
  });

  it('reads the production example', () => {
    const config = loadConfig({
      BROKER: 'aws-iot',
      STORE: 'dynamodb',
      AWS_REGION: 'eu-west-1',
      AUTH_JWKS_URI: 'https://cognito-idp.eu-west-1.amazonaws.com/pool/.well-known/jwks.json',
      AUTH_ISSUER: 'https://cognito-idp.eu-west-1.amazonaws.com/pool',
      AUTH_AUDIENCE: 'app-client-id',
      EVENTS_TRANSPORT: 'rmq',
      EVENTS_URL: 'amqp://guest:guest@127.0.0.1:5672',
      DYNAMODB_CREATE_TABLES: 'false',
    });
    expect(config.auth.generateSecret).toBe(false);
    expect(config.store.createTables).toBe(false);
    expect(config.store.tablePrefix).toBe('WebCommunicator-');
    expect(config.aws.region).toBe('eu-west-1');
  });

  describe('REDIS_URL (API.md section 9)', () => {
    const secret = 'x'.repeat(32);
    const problemsOf = (env: Record<string, string>): string[] => {
      try {
        loadConfig(env);
        return [];
      } catch (error) {
        return (error as ConfigError).problems;
      }
    };

    it('stops with one line on the embedded store', () => {
      expect(problemsOf({ REDIS_URL: 'redis://127.0.0.1:6379' })).toEqual([
        'REDIS_URL needs a store shared by every instance: set STORE=dynamodb (the embedded store lives in one process)',
      ]);
    });

    it('stops with one line naming the missing broker keys of an embedded cluster', () => {
      const problems = problemsOf({ REDIS_URL: 'redis://127.0.0.1:6379', STORE: 'dynamodb', AUTH_JWT_SECRET: secret, MQTT_CA_CERT_FILE: '/ca.pem' });
      expect(problems).toEqual(['REDIS_URL with BROKER=embedded makes a cluster, whose instances must share broker keys: set CONNECTION_TOKEN_SECRET, MQTT_CA_KEY_FILE']);
    });

    it('makes a cluster with the shared keys; AWS mode needs none of them', () => {
      const cluster = loadConfig({
        REDIS_URL: 'redis://127.0.0.1:6379/2',
        STORE: 'dynamodb',
        AUTH_JWT_SECRET: secret,
        CONNECTION_TOKEN_SECRET: secret,
        MQTT_CA_CERT_FILE: '/ca.pem',
        MQTT_CA_KEY_FILE: '/ca.key',
      });
      expect(cluster.cluster).toEqual(expect.objectContaining({ redisUrl: 'redis://127.0.0.1:6379/2', keyPrefix: 'webcommunicator:', confirmTimeoutMs: 2000 }));
      expect(cluster.broker.connectionTokenSecret).toBe(secret);
      expect(loadConfig({ REDIS_URL: 'redis://r:6379', BROKER: 'aws-iot', STORE: 'dynamodb', AUTH_JWT_SECRET: secret }).cluster.redisUrl).toBe('redis://r:6379');
      expect(problemsOf({ REDIS_URL: 'http://r' })[0]).toMatch(/^REDIS_URL is invalid/);
      expect(loadConfig({}).cluster.redisUrl).toBeUndefined();
    });
  });
});
