import { resolve } from 'node:path';

export type BrokerDriver = 'embedded' | 'aws-iot';
export type StoreDriver = 'embedded' | 'dynamodb';
export type EventsTransportKind = 'mqtt' | 'rmq' | 'none';

/**
 * The validated, typed configuration. Built once from the environment by
 * `loadConfig` and provided to the rest of the app as the `AppConfig` token.
 */
export class AppConfig {
  port: number;
  /** Interface the HTTP server binds to. */
  host: string;
  /** Host name put in registration results (what clients connect to). */
  publicHost: string;
  dataDir: string;
  logLevel: string;
  /** `auto`: human-readable lines on a terminal, JSON lines otherwise. */
  logFormat: 'auto' | 'json' | 'pretty';
  channelsFile: string;
  shutdownTimeoutMs: number;
  /** Largest HTTP request body accepted, in bytes. */
  bodyLimitBytes: number;

  broker: {
    driver: BrokerDriver;
    topicPrefix: string;
    /** Largest broker payload (the JSON envelope), in bytes. */
    maxPayloadBytes: number;
    connectionTokenTtlSeconds: number;
    /**
     * Embedded broker: the key that signs MQTT connection tokens (CONNECTION_TOKEN_SECRET). Unset: a
     * random key kept in `DATA_DIR/broker-token.secret` (one instance only: a cluster must share it).
     */
    connectionTokenSecret?: string;
    /** Embedded broker: data queued for one subscriber that doesn't read before it is dropped, in bytes. */
    maxClientBufferBytes: number;
    /** Embedded broker: QoS of messages the service publishes (API, events) when the caller names none. Subscribers get min(this, their subscription's QoS). */
    publishQos: 0 | 1;
    /** Embedded broker: persistent sessions (clean session off). */
    sessions: {
      /** Messages kept per offline client; the oldest goes first past this. */
      queueMax: number;
      /** How long a disconnected client's session is kept; 0: sessions are always clean. */
      expirySeconds: number;
    };
    ws: {
      /** Embedded broker: the MQTT-over-WebSocket URL clients are given when a proxy fronts the service (e.g. `wss://mqtt.example.com/mqtt`). */
      publicUrl?: string;
    };
    tls: {
      port: number;
      /** Bind address of the TLS listener. */
      host: string;
      caCertFile?: string;
      caKeyFile?: string;
    };
    iot: {
      dataEndpoint?: string;
      qos: 0 | 1;
      policyPrefix: string;
      /** Attempts per AWS IoT call (the SDK retries throttling and 5xx with backoff) before giving up. */
      maxAttempts: number;
      /** PEM file returned to OPENSSL registrations as `caCertificatePem` (e.g. Amazon Root CA 1); omitted when unset. */
      rootCaFile?: string;
      /** Subscribe to IoT Core's lifecycle events (presence, `client.connected` / `client.disconnected`). */
      lifecycleEvents: boolean;
      /**
       * Where the lifecycle subscription connects (MQTT over WebSocket), overriding
       * `wss://<data endpoint>/mqtt`; for a local IoT double (ws:) or a proxy.
       */
      mqttUrl?: string;
      /** Region the Cognito identity pool lives in (for WEBSOCKET policy attachment). */
    };
  };

  store: {
    driver: StoreDriver;
    endpoint?: string;
    tablePrefix: string;
    createTables: boolean;
  };

  aws: {
    region: string;
    /**
     * Endpoint overrides the AWS SDK itself reads from the environment
     * (AWS_ENDPOINT_URL, AWS_ENDPOINT_URL_<SERVICE>), recorded here only so
     * drivers know not to pass an `endpoint` that would override them. Empty
     * when AWS_IGNORE_CONFIGURED_ENDPOINT_URLS is true (the SDK ignores them then).
     */
    endpointUrls?: {
      default?: string;
      iot?: string;
      iotDataPlane?: string;
    };
  };

  auth: {
    jwtSecret?: string;
    jwksUri?: string;
    issuer?: string;
    audience?: string;
    clientIdClaim: string;
    rolesClaim: string;
    /** No auth configured: the embedded default generates a secret under DATA_DIR. */
    generateSecret: boolean;
  };

  registration: {
    clientOpenssl: boolean;
    /** OPENSSL registrations one client may make per hour (each one makes a key pair and a certificate). */
    clientOpensslPerHour: number;
    /** Live (non-revoked) certificates per client; re-registering beyond it is 409 TOO_MANY_CERTIFICATES. */
    maxCertificatesPerClient: number;
  };

  /**
   * REDIS_URL, shared by every instance: channel rate limits across instances and, with the
   * embedded broker, the embedded cluster (docs/deployment.md). Undefined: one instance on its own.
   */
  cluster: {
    redisUrl?: string;
    /** Put before every Redis key and pub/sub channel of this deployment (REDIS_KEY_PREFIX), so several can share one Redis. */
    keyPrefix: string;
    /** This instance's name in the cluster (INSTANCE_ID; default: host name, process id and a random suffix). */
    instanceId?: string;
    /** How long a ban, revocation or demotion waits for every other instance to confirm it closed the sessions. */
    confirmTimeoutMs: number;
  };

  users: {
    /** How often each instance looks for timed bans that have ended. */
    banExpirySweepMs: number;
  };

  events: {
    transport: EventsTransportKind;
    url?: string;
    queue: string;
    prefetch: number;
    dedupeWindowSize: number;
    /** EVENTS_TRANSPORT=mqtt on an external broker (EVENTS_URL): topics live under `<root>/events/<pattern>`. The embedded broker always uses its internal namespace. */
    mqttTopicRoot: string;
    /** Outbound events (API.md section 7): the durable topic exchange they go to with EVENTS_TRANSPORT=rmq. */
    exchange: string;
    /** Outbound events held while the transport is down; beyond it, new events are dropped (counted, logged). */
    outBuffer: number;
  };
}

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(problems.join('\n'));
    this.name = 'ConfigError';
  }
}

type Env = Record<string, string | undefined>;

class EnvReader {
  readonly problems: string[] = [];

  constructor(private readonly env: Env) {}

  raw(name: string): string | undefined {
    const value = this.env[name];
    return value === undefined || value.trim() === '' ? undefined : value.trim();
  }

  string(name: string, fallback: string, pattern?: RegExp, hint?: string): string {
    const value = this.raw(name) ?? fallback;
    if (pattern && !pattern.test(value)) {
      this.problems.push(`${name}=${JSON.stringify(value)} is invalid: ${hint ?? `must match ${pattern}`}`);
    }
    return value;
  }

  optional(name: string): string | undefined {
    return this.raw(name);
  }

  oneOf<T extends string>(name: string, allowed: readonly T[], fallback: T): T {
    const value = this.raw(name) ?? fallback;
    if (!(allowed as readonly string[]).includes(value)) {
      this.problems.push(`${name}=${JSON.stringify(value)} is invalid: expected one of ${allowed.join(', ')}`);
      return fallback;
    }
    return value as T;
  }

  int(name: string, fallback: number, min: number, max: number): number {
    const value = this.raw(name);
    if (value === undefined) {
      return fallback;
    }
    const parsed = Number(value);
    if (!/^-?\d+$/.test(value) || !Number.isSafeInteger(parsed) || parsed < min || parsed > max) {
      this.problems.push(`${name}=${JSON.stringify(value)} is invalid: expected an integer from ${min} to ${max}`);
      return fallback;
    }
    return parsed;
  }

  bool(name: string, fallback: boolean): boolean {
    const value = this.raw(name)?.toLowerCase();
    if (value === undefined) {
      return fallback;
    }
    if (['true', '1', 'yes', 'on'].includes(value)) {
      return true;
    }
    if (['false', '0', 'no', 'off'].includes(value)) {
      return false;
    }
    this.problems.push(`${name}=${JSON.stringify(value)} is invalid: expected true or false`);
    return fallback;
  }

  url(name: string, protocols: string[]): string | undefined {
    const value = this.raw(name);
    if (value === undefined) {
      return undefined;
    }
    try {
      const parsed = new URL(value);
      if (!protocols.includes(parsed.protocol)) {
        throw new Error('protocol');
      }
    } catch {
      this.problems.push(`${name} is invalid: expected a ${protocols.join(' or ')} URL`);
    }
    return value;
  }
}

const TOPIC_PREFIX = /^[A-Za-z0-9_-]{1,64}(\/[A-Za-z0-9_-]{1,64}){0,3}$/;
const CLAIM = /^[A-Za-z0-9:._/-]{1,128}$/;
const HOST = /^[A-Za-z0-9.:[\]-]{1,253}$/;

/** Reads and validates every setting. Throws a ConfigError listing each bad variable. */
export function loadConfig(env: Env = process.env): AppConfig {
  const r = new EnvReader(env);
  const brokerDriver = r.oneOf<BrokerDriver>('BROKER', ['embedded', 'aws-iot'], 'embedded');
  const storeDriver = r.oneOf<StoreDriver>('STORE', ['embedded', 'dynamodb'], 'embedded');
  const embedded = brokerDriver === 'embedded' && storeDriver === 'embedded';
  const dataDir = resolve(r.string('DATA_DIR', './data'));

  const jwtSecret = r.optional('AUTH_JWT_SECRET');
  const jwksUri = r.url('AUTH_JWKS_URI', ['https:', 'http:']);
  if (jwtSecret !== undefined && jwtSecret.length < 32) {
    r.problems.push('AUTH_JWT_SECRET is invalid: use at least 32 characters');
  }
  if (jwtSecret !== undefined && jwksUri !== undefined) {
    r.problems.push('AUTH_JWT_SECRET and AUTH_JWKS_URI are both set: choose one');
  }
  if (jwksUri !== undefined && (r.optional('AUTH_ISSUER') === undefined || r.optional('AUTH_AUDIENCE') === undefined)) {
    // An identity provider signs tokens for many apps with the same keys: without both checks, any of them would do.
    r.problems.push('AUTH_ISSUER and AUTH_AUDIENCE are required with AUTH_JWKS_URI');
  }
  if (jwtSecret === undefined && jwksUri === undefined && !embedded) {
    r.problems.push('AUTH_JWT_SECRET or AUTH_JWKS_URI is required unless BROKER and STORE are both embedded');
  }

  const eventsTransport = r.oneOf<EventsTransportKind>('EVENTS_TRANSPORT', ['mqtt', 'rmq', 'none'], brokerDriver === 'embedded' ? 'mqtt' : 'none');
  const eventsUrl = r.url('EVENTS_URL', ['amqp:', 'amqps:', 'mqtt:', 'mqtts:', 'ws:', 'wss:']);
  if (eventsTransport === 'rmq' && eventsUrl === undefined) {
    r.problems.push('EVENTS_URL is required when EVENTS_TRANSPORT=rmq');
  }
  if (eventsTransport === 'mqtt' && brokerDriver !== 'embedded' && eventsUrl === undefined) {
    r.problems.push('EVENTS_URL is required when EVENTS_TRANSPORT=mqtt and BROKER is not embedded');
  }
  if (eventsUrl !== undefined && eventsTransport !== 'none') {
    const amqp = /^amqps?:/i.test(eventsUrl);
    if (amqp !== (eventsTransport === 'rmq')) {
      r.problems.push(`EVENTS_URL is invalid: EVENTS_TRANSPORT=${eventsTransport} needs ${eventsTransport === 'rmq' ? 'an amqp: or amqps:' : 'an mqtt:, mqtts:, ws: or wss:'} URL`);
    }
  }

  const dynamoEndpoint = r.url('DYNAMODB_ENDPOINT', ['http:', 'https:']);

  const redisUrl = r.url('REDIS_URL', ['redis:', 'rediss:']);
  const connectionTokenSecret = r.optional('CONNECTION_TOKEN_SECRET');
  if (connectionTokenSecret !== undefined && connectionTokenSecret.length < 32) {
    r.problems.push('CONNECTION_TOKEN_SECRET is invalid: use at least 32 characters');
  }
  if (redisUrl !== undefined && storeDriver === 'embedded') {
    r.problems.push('REDIS_URL needs a store shared by every instance: set STORE=dynamodb (the embedded store lives in one process)');
  } else if (redisUrl !== undefined && brokerDriver === 'embedded') {
    const missing = ['CONNECTION_TOKEN_SECRET', 'MQTT_CA_CERT_FILE', 'MQTT_CA_KEY_FILE'].filter((name) => r.optional(name) === undefined);
    if (missing.length > 0) {
      r.problems.push(`REDIS_URL with BROKER=embedded makes a cluster, whose instances must share broker keys: set ${missing.join(', ')}`);
    }
  }

  const config: AppConfig = {
    port: r.int('PORT', 3000, 0, 65535),
    host: r.string('HOST', '0.0.0.0', HOST, 'expected a host name or IP address'),
    publicHost: r.string('PUBLIC_HOST', 'localhost', HOST, 'expected a host name or IP address'),
    dataDir,
    logLevel: r.oneOf('LOG_LEVEL', ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'], 'info'),
    logFormat: r.oneOf('LOG_FORMAT', ['auto', 'json', 'pretty'], 'auto'),
    channelsFile: resolve(r.string('CHANNELS_FILE', 'config/channels.json')),
    shutdownTimeoutMs: r.int('SHUTDOWN_TIMEOUT_MS', 10_000, 0, 300_000),
    bodyLimitBytes: r.int('HTTP_BODY_LIMIT_BYTES', 262_144, 1024, 10_485_760),
    broker: {
      driver: brokerDriver,
      topicPrefix: r.string('TOPIC_PREFIX', 'webcommunicator/dev', TOPIC_PREFIX, 'expected 1 to 4 levels of [A-Za-z0-9_-] separated by /'),
      maxPayloadBytes: r.int('MAX_PAYLOAD_BYTES', 131_072, 256, 131_072),
      connectionTokenTtlSeconds: r.int('CONNECTION_TOKEN_TTL_SECONDS', 3600, 30, 86_400),
      connectionTokenSecret,
      maxClientBufferBytes: r.int('MQTT_MAX_CLIENT_BUFFER_BYTES', 1_048_576, 262_144, 67_108_864),
      publishQos: r.int('MQTT_PUBLISH_QOS', 1, 0, 1) as 0 | 1,
      sessions: {
        queueMax: r.int('MQTT_SESSION_QUEUE_MAX', 1000, 1, 100_000),
        expirySeconds: r.int('MQTT_SESSION_EXPIRY_SECONDS', 3600, 0, 604_800),
      },
      ws: {
        publicUrl: r.url('MQTT_WS_PUBLIC_URL', ['ws:', 'wss:']),
      },
      tls: {
        port: r.int('MQTT_TLS_PORT', 8883, 0, 65535),
        host: r.string('MQTT_TLS_HOST', '0.0.0.0', HOST, 'expected a host name or IP address'),
        caCertFile: r.optional('MQTT_CA_CERT_FILE'),
        caKeyFile: r.optional('MQTT_CA_KEY_FILE'),
      },
      iot: {
        dataEndpoint: r.optional('IOT_DATA_ENDPOINT'),
        qos: r.int('IOT_PUBLISH_QOS', 1, 0, 1) as 0 | 1,
        policyPrefix: r.string('IOT_POLICY_PREFIX', 'WebCommunicator', /^[A-Za-z0-9_-]{1,64}$/, 'expected [A-Za-z0-9_-]{1,64}'),
        maxAttempts: r.int('IOT_MAX_ATTEMPTS', 4, 1, 10),
        rootCaFile: r.optional('IOT_ROOT_CA_FILE'),
        lifecycleEvents: r.bool('IOT_LIFECYCLE_EVENTS', true),
        mqttUrl: r.url('IOT_MQTT_URL', ['ws:', 'wss:']),
      },
    },
    store: {
      driver: storeDriver,
      endpoint: dynamoEndpoint,
      tablePrefix: r.string('DYNAMODB_TABLE_PREFIX', storeDriver === 'embedded' ? '' : 'WebCommunicator-', /^[A-Za-z0-9_.-]{0,100}$/, 'expected [A-Za-z0-9_.-]{0,100}'),
      createTables: r.bool('DYNAMODB_CREATE_TABLES', storeDriver === 'embedded'),
    },
    aws: {
      region: r.string('AWS_REGION', env.AWS_DEFAULT_REGION?.trim() || 'us-east-1', /^[a-z]{2}(-[a-z]+)+-\d$/, 'expected an AWS region such as eu-west-1'),
      endpointUrls: r.bool('AWS_IGNORE_CONFIGURED_ENDPOINT_URLS', false)
        ? {}
        : {
            default: r.url('AWS_ENDPOINT_URL', ['http:', 'https:']),
            iot: r.url('AWS_ENDPOINT_URL_IOT', ['http:', 'https:']),
            iotDataPlane: r.url('AWS_ENDPOINT_URL_IOT_DATA_PLANE', ['http:', 'https:']),
          },
    },
    auth: {
      jwtSecret,
      jwksUri,
      issuer: r.optional('AUTH_ISSUER'),
      audience: r.optional('AUTH_AUDIENCE'),
      clientIdClaim: r.string('AUTH_CLIENT_ID_CLAIM', 'sub', CLAIM, 'expected a claim name'),
      rolesClaim: r.string('AUTH_ROLES_CLAIM', 'roles', CLAIM, 'expected a claim name'),
      generateSecret: jwtSecret === undefined && jwksUri === undefined,
    },
    registration: {
      clientOpenssl: r.bool('REGISTRATION_CLIENT_OPENSSL', false),
      clientOpensslPerHour: r.int('REGISTRATION_CLIENT_OPENSSL_PER_HOUR', 10, 1, 10_000),
      maxCertificatesPerClient: r.int('MAX_CERTIFICATES_PER_CLIENT', 5, 1, 100),
    },
    cluster: {
      redisUrl,
      keyPrefix: r.string('REDIS_KEY_PREFIX', 'webcommunicator:', /^[A-Za-z0-9:._-]{0,100}$/, 'expected [A-Za-z0-9:._-]{0,100}'),
      instanceId: r.string('INSTANCE_ID', '', /^[A-Za-z0-9:._-]{0,100}$/, 'expected [A-Za-z0-9:._-]{0,100}') || undefined,
      confirmTimeoutMs: r.int('CLUSTER_CONFIRM_TIMEOUT_MS', 2000, 100, 60_000),
    },
    users: {
      banExpirySweepMs: r.int('BAN_EXPIRY_SWEEP_MS', 2000, 100, 60_000),
    },
    events: {
      transport: eventsTransport,
      url: eventsUrl,
      queue: r.string('EVENTS_QUEUE', 'webcommunicator-events', /^[A-Za-z0-9_.:-]{1,200}$/, 'expected [A-Za-z0-9_.:-]{1,200}'),
      prefetch: r.int('EVENTS_PREFETCH', 50, 1, 1000),
      dedupeWindowSize: r.int('EVENTS_DEDUPE_WINDOW', 10_000, 0, 1_000_000),
      mqttTopicRoot: r.string('EVENTS_MQTT_TOPIC_ROOT', 'webcommunicator/internal', TOPIC_PREFIX, 'expected 1 to 4 levels of [A-Za-z0-9_-] separated by /'),
      exchange: r.string('EVENTS_EXCHANGE', 'webcommunicator.events', /^[A-Za-z0-9_.:-]{1,200}$/, 'expected [A-Za-z0-9_.:-]{1,200}'),
      outBuffer: r.int('EVENTS_OUT_BUFFER', 10_000, 1, 10_000_000),
    },
  };

  if (r.problems.length > 0) {
    throw new ConfigError(r.problems);
  }
  return config;
}
