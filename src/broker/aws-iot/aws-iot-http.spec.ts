/*
 * The real IoT and iot-data SDK clients, built by the driver's own factory
 * (retry settings included), send real SigV4-signed requests to a local HTTP
 * server standing in for AWS.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Logger } from '@nestjs/common';
import { AwsIotBroker } from './aws-iot-broker';
import { awsConfig, catalogOf, clientRecord, IDENTITY_ID } from '../../../test/support/aws-iot';
import { InMemoryClientRepository } from '../../../test/support/fakes';
import { createIotClients, type IotClients } from './iot-clients';
import { BrokerUnavailableError } from '../../domain/errors';

interface Received {
  method: string;
  path: string;
  query: URLSearchParams;
  headers: IncomingMessage['headers'];
  body: Buffer;
}

type Reply = (request: Received, response: ServerResponse) => void;

const credentials = { accessKeyId: 'AKIDTESTWEBCOMM', secretAccessKey: 'test-secret-key' };
const SIGNED =
  /^AWS4-HMAC-SHA256 Credential=AKIDTESTWEBCOMM\/\d{8}\/eu-west-1\/([a-z-]+)\/aws4_request, SignedHeaders=[a-z0-9;-]+, Signature=[0-9a-f]{64}$/;

function json(response: ServerResponse, status: number, body: unknown, errorType?: string): void {
  response.writeHead(status, { 'content-type': 'application/json', ...(errorType ? { 'x-amzn-errortype': errorType } : {}) });
  response.end(JSON.stringify(body));
}

describe('AwsIotBroker against an HTTP double of AWS IoT (real SDK clients)', () => {
  let server: Server;
  let url: string;
  let received: Received[];
  let replies: Reply[];
  let clients: IotClients[];

  beforeAll(async () => {
    Logger.overrideLogger(false);
    server = createServer((request, response) => {
      const chunks: Buffer[] = [];
      request.on('data', (chunk: Buffer) => chunks.push(chunk));
      request.on('end', () => {
        const parsed = new URL(request.url ?? '/', 'http://double');
        const entry: Received = {
          method: request.method ?? '',
          path: parsed.pathname,
          query: parsed.searchParams,
          headers: request.headers,
          body: Buffer.concat(chunks),
        };
        received.push(entry);
        const reply = replies.shift() ?? ((_r: Received, res: ServerResponse) => json(res, 200, {}));
        reply(entry, response);
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });

  afterAll(async () => {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  });

  beforeEach(() => {
    received = [];
    replies = [];
    clients = [];
  });

  afterEach(() => {
    for (const { iot, data } of clients) {
      iot.destroy();
      data.destroy();
    }
  });

  /** A broker whose SDK clients come from the production factory, pointed at the double. */
  function broker(env: Record<string, string> = {}, endpoints: 'override' | 'sdk-env' = 'override'): AwsIotBroker {
    const config = awsConfig({ IOT_MAX_ATTEMPTS: '3', ...env });
    const sdk =
      endpoints === 'override'
        ? createIotClients(config, { iot: { endpoint: url, credentials }, data: { endpoint: url, credentials } })
        : createIotClients(config, { iot: { credentials }, data: { credentials } });
    clients.push(sdk);
    return new AwsIotBroker(config, new InMemoryClientRepository(), catalogOf(), sdk);
  }

  it('Publish: POST /topics/{topic} with the qos, the payload bytes and a SigV4 signature', async () => {
    const topic = `mygame/prod/Game/client/${IDENTITY_ID}`;
    const payload = Buffer.from(JSON.stringify({ Channel: 'Game', Message: 'héllo \u0000 bytes', Id: '1', Time: '2025-01-01T00:00:00Z' }));

    await broker().publish(topic, payload);
    await broker().publish('mygame/prod/News', Buffer.from('{}'), { qos: 0 });

    expect(received).toHaveLength(2);
    const [first, second] = received;
    expect(first.method).toBe('POST');
    expect(decodeURIComponent(first.path)).toBe(`/topics/${topic}`);
    // One path segment: the topic's '/' are percent-encoded, never extra levels.
    expect(first.path.split('/')).toHaveLength(3);
    expect(first.query.get('qos')).toBe('1');
    expect(first.body.equals(payload)).toBe(true);
    expect(first.headers.authorization).toMatch(SIGNED);
    expect(SIGNED.exec(first.headers.authorization ?? '')?.[1]).toBe('iotdata');
    expect(first.headers['x-amz-date']).toMatch(/^\d{8}T\d{6}Z$/);
    expect(second.query.get('qos')).toBe('0');
  });

  it('DeleteConnection on ban: DELETE /connections/{clientId}?cleanSession=true, signed; not connected is fine', async () => {
    replies.push((_r, res) => json(res, 404, { message: 'No connection found' }, 'ResourceNotFoundException'));

    // A device id that is not a Cognito identity and holds no certificates: the ban is the disconnect alone.
    await broker().revoke(clientRecord({ clientId: 'device-42' }));

    expect(received).toHaveLength(1);
    expect(received[0].method).toBe('DELETE');
    expect(received[0].path).toBe('/connections/device-42');
    expect(received[0].query.get('cleanSession')).toBe('true');
    expect(received[0].headers.authorization).toMatch(SIGNED);
  });

  it('DeleteConnection percent-encodes a Cognito identity id', async () => {
    await broker().revoke(clientRecord());

    const disconnect = received.find((r) => r.path.startsWith('/connections/'));
    expect(disconnect && decodeURIComponent(disconnect.path)).toBe(`/connections/${IDENTITY_ID}`);
    // The detaches went to the control plane first, signed for the iot service.
    expect(received.at(-1)).toBe(disconnect);
    expect(SIGNED.exec(received[0].headers.authorization ?? '')?.[1]).toBe('iot');
  });

  it('a 503 from iot-data is retried, then ends in BrokerUnavailableError', async () => {
    for (let i = 0; i < 3; i++) {
      replies.push((_r, res) => json(res, 503, { message: 'Service Unavailable' }, 'ServiceUnavailableException'));
    }

    await expect(broker().publish('mygame/prod/News', Buffer.from('{}'))).rejects.toBeInstanceOf(BrokerUnavailableError);
    expect(received).toHaveLength(3);
    expect(received.every((r) => r.path === '/topics/mygame%2Fprod%2FNews')).toBe(true);
  });

  it('throttled publish: retried with backoff, then accepted', async () => {
    replies.push((_r, res) => json(res, 429, { message: 'Rate exceeded' }, 'ThrottlingException'));

    await broker().publish('mygame/prod/News', Buffer.from('{}'));

    expect(received).toHaveLength(2);
  });

  it('throttled control plane: DescribeEndpoint retried, then the endpoint is served', async () => {
    replies.push((_r, res) => json(res, 429, { message: 'Rate exceeded' }, 'ThrottlingException'));
    replies.push((_r, res) => json(res, 200, { endpointAddress: 'a1b2c3-ats.iot.eu-west-1.amazonaws.com' }));

    await expect(broker().endpoint('WEBSOCKET')).resolves.toEqual({
      endpoint: 'a1b2c3-ats.iot.eu-west-1.amazonaws.com',
      port: 443,
      url: 'wss://a1b2c3-ats.iot.eu-west-1.amazonaws.com:443/mqtt',
    });
    expect(received.map((r) => `${r.method} ${r.path}?${r.query.toString()}`)).toEqual([
      'GET /endpoint?endpointType=iot%3AData-ATS',
      'GET /endpoint?endpointType=iot%3AData-ATS',
    ]);
  });

  it('creating the policies at start: signed POSTs with the policy documents', async () => {
    for (let i = 0; i < 3; i++) {
      replies.push((_r, res) => json(res, 404, { message: 'Policy not found' }, 'ResourceNotFoundException'));
      replies.push((_r, res) => json(res, 200, { policyName: 'x', policyVersionId: '1' }));
    }

    await broker().onApplicationBootstrap();

    expect(received.map((r) => `${r.method} ${r.path}`)).toEqual([
      'GET /policies/WebComm-Player',
      'POST /policies/WebComm-Player',
      'GET /policies/WebComm-Device',
      'POST /policies/WebComm-Device',
      'GET /policies/WebComm-Portal',
      'POST /policies/WebComm-Portal',
    ]);
    const created = JSON.parse(received[1].body.toString()) as { policyDocument: string };
    expect(JSON.parse(created.policyDocument)).toMatchObject({ Version: '2012-10-17' });
  });

  describe('with the SDK endpoint variables', () => {
    const saved = { ...process.env };

    afterEach(() => {
      process.env = { ...saved };
    });

    it('the SDK itself reads AWS_ENDPOINT_URL_IOT_DATA_PLANE and AWS_ENDPOINT_URL_IOT, and the factory does not override them', async () => {
      process.env.AWS_ENDPOINT_URL_IOT_DATA_PLANE = url;
      process.env.AWS_ENDPOINT_URL_IOT = url;
      replies.push((_r, res) => json(res, 200, { endpointAddress: 'a1b2c3-ats.iot.eu-west-1.amazonaws.com' }));
      const subject = broker({ AWS_ENDPOINT_URL_IOT_DATA_PLANE: url, AWS_ENDPOINT_URL_IOT: url }, 'sdk-env');

      await subject.endpoint('OPENSSL');
      await subject.publish('mygame/prod/News', Buffer.from('{}'));

      expect(received.map((r) => `${r.method} ${r.path}`)).toEqual(['GET /endpoint', 'POST /topics/mygame%2Fprod%2FNews']);
    });
  });
});
