import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { connect as netConnect, createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect as tlsConnect } from 'node:tls';
import type { HttpAdapterHost } from '@nestjs/core';
import { ChannelCatalog } from '../../store/channel-catalog';
import { loadConfig } from '../../config/app-config';
import { MetricsService } from '../../metrics/metrics.service';
import { EmbeddedBroker } from './embedded-broker';
import { InMemoryChannelRepository, InMemoryClientRepository } from '../../../test/support/fakes';
import { runMosquitto, tlsArgs as mosquittoTlsArgs } from '../../../test/support/mosquitto';
import {
  type BrokerHarness,
  collect,
  MqttClients,
  PREFIX,
  refusalCode,
  startBroker,
  suback,
  TEST_CHANNELS,
  waitForCount,
} from '../../../test/support/broker/harness';
import { BrokerUnavailableError } from '../../domain/errors';


const news = `${PREFIX}/news`;

describe('EmbeddedBroker lifecycle', () => {
  const mqtt = new MqttClients();
  const dirs: string[] = [];
  const harnesses: BrokerHarness[] = [];

  function tempDir(): string {
    const dir = mkdtempSync(join(tmpdir(), 'wc-broker-life-'));
    dirs.push(dir);
    return dir;
  }

  async function start(options: Parameters<typeof startBroker>[0] = {}): Promise<BrokerHarness> {
    const h = await startBroker(options);
    harnesses.push(h);
    return h;
  }

  async function stop(h: BrokerHarness): Promise<void> {
    harnesses.splice(harnesses.indexOf(h), 1);
    await h.close();
  }

  afterEach(async () => {
    await mqtt.endAll();
    for (const h of harnesses.splice(0)) {
      await h.close();
    }
    for (const dir of dirs.splice(0)) {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('keeps its CA and token key across a restart: credentials issued before still connect', async () => {
    const dataDir = tempDir();
    const first = await start({ dataDir });
    const device = await first.broker.issueCredentials(first.clients.seed('dev-1', { connectionType: 'OPENSSL' }), 'OPENSSL');
    // Stored with the client, as the registration service does: the TLS check requires a live certificate.
    await first.clients.addCertificate('dev-1', device.certificateId!, undefined, new Date().toISOString());
    const { connectionToken } = await first.broker.issueCredentials(first.clients.seed('alice'), 'WEBSOCKET');
    const caBefore = readFileSync(join(dataDir, 'ca', 'ca.pem'), 'utf8');
    expect(statSync(join(dataDir, 'ca', 'ca-key.pem')).mode & 0o777).toBe(0o600);
    expect(statSync(join(dataDir, 'ca')).mode & 0o777).toBe(0o700);
    expect(statSync(join(dataDir, 'broker-token.secret')).mode & 0o777).toBe(0o600);
    await stop(first);

    const second = await start({ dataDir });
    second.clients.seed('dev-1', { connectionType: 'OPENSSL' });
    await second.clients.addCertificate('dev-1', device.certificateId!, undefined, new Date().toISOString());
    second.clients.seed('alice');

    expect(readFileSync(join(dataDir, 'ca', 'ca.pem'), 'utf8')).toBe(caBefore);
    const tls = await mqtt.tls(second, 'dev-1', device);
    expect(tls.connected).toBe(true);
    const ws = await mqtt.ws(second, 'alice', connectionToken);
    expect(ws.connected).toBe(true);
  });

  it('stops serving cleanly: listeners closed, publish and health fail with BrokerUnavailableError', async () => {
    const h = await start();
    const { connectionToken } = await h.broker.issueCredentials(h.clients.seed('alice'), 'WEBSOCKET');
    const alice = await mqtt.ws(h, 'alice', connectionToken);
    const aliceClosed = new Promise<void>((resolve) => alice.once('close', () => resolve()));
    const internal = h.broker.internalConnection();
    const tlsPort = h.tlsPort;

    await stop(h);

    await aliceClosed;
    await expect(h.broker.publish(news, Buffer.from('x'))).rejects.toBeInstanceOf(BrokerUnavailableError);
    await expect(h.broker.checkHealth()).rejects.toBeInstanceOf(BrokerUnavailableError);
    expect(() => h.broker.internalConnection()).toThrow(BrokerUnavailableError);
    await expect(portOpen(tlsPort)).resolves.toBe(false);
    await expect(portOpen(Number(new URL(internal.url).port))).resolves.toBe(false);
  });

  it('fails to start with a clear message when the TLS port is taken, leaving nothing open', async () => {
    const blocker = await listenOn(0);
    const port = (blocker.address() as { port: number }).port;
    try {
      await expect(startBroker({ env: { MQTT_TLS_PORT: String(port) } })).rejects.toThrow(
        new RegExp(`MQTT_TLS_PORT: cannot listen on 127.0.0.1:${port}: EADDRINUSE`),
      );
    } finally {
      await new Promise((resolve) => blocker.close(resolve));
    }
  });

  it('publishes the proxy URL from MQTT_WS_PUBLIC_URL and covers PUBLIC_HOST in the server certificate', async () => {
    const h = await start({ env: { MQTT_WS_PUBLIC_URL: 'wss://mqtt.example.test/mqtt', PUBLIC_HOST: 'broker.example.test' } });

    await expect(h.broker.endpoint('WEBSOCKET')).resolves.toEqual({
      endpoint: 'mqtt.example.test',
      port: 443,
      url: 'wss://mqtt.example.test/mqtt',
    });
    await expect(h.broker.endpoint('OPENSSL')).resolves.toEqual({
      endpoint: 'broker.example.test',
      port: h.tlsPort,
      url: `mqtts://broker.example.test:${h.tlsPort}`,
    });
    const { certificatePem, privateKeyPem, caCertificatePem, certificateId } = await h.broker.issueCredentials(h.clients.seed('dev-1'), 'OPENSSL');
    await h.clients.addCertificate('dev-1', certificateId!, undefined, new Date().toISOString());
    // Node checks the server certificate against `servername`, as a device dialing broker.example.test would.
    const authorized = await new Promise<boolean>((resolve) => {
      const socket = tlsConnect(
        {
          host: '127.0.0.1',
          port: h.tlsPort,
          servername: 'broker.example.test',
          ca: caCertificatePem,
          cert: certificatePem,
          key: privateKeyPem,
        },
        () => {
          resolve(socket.authorized);
          socket.destroy();
        },
      );
      socket.on('error', () => resolve(false));
    });
    expect(authorized).toBe(true);
  });

  it('uses a CA from MQTT_CA_CERT_FILE / MQTT_CA_KEY_FILE', async () => {
    const dir = tempDir();
    const cert = join(dir, 'ca.pem');
    const key = join(dir, 'ca-key.pem');
    execFileSync(
      'openssl',
      [
        'req',
        '-x509',
        '-nodes',
        '-newkey',
        'ec',
        '-pkeyopt',
        'ec_paramgen_curve:P-256',
        '-keyout',
        key,
        '-out',
        cert,
        '-days',
        '30',
        '-subj',
        '/CN=Ops CA',
        '-addext',
        'basicConstraints=critical,CA:TRUE',
        '-addext',
        'keyUsage=critical,keyCertSign,cRLSign',
      ],
      { stdio: 'ignore' },
    );
    const h = await start({ env: { MQTT_CA_CERT_FILE: cert, MQTT_CA_KEY_FILE: key } });

    const device = await h.broker.issueCredentials(h.clients.seed('dev-1', { connectionType: 'OPENSSL' }), 'OPENSSL');
    // Stored with the client, as the registration service does: the TLS check requires a live certificate.
    await h.clients.addCertificate('dev-1', device.certificateId!, undefined, new Date().toISOString());

    expect(device.caCertificatePem!.replace(/\s/g, '')).toBe(readFileSync(cert, 'utf8').replace(/\s/g, ''));
    const client = await mqtt.tls(h, 'dev-1', device);
    expect(client.connected).toBe(true);
  });

  it('runs without an HTTP server (a plain application context): TLS only', async () => {
    const dataDir = tempDir();
    const config = loadConfig({ DATA_DIR: dataDir, PORT: '4321', MQTT_TLS_PORT: '0', MQTT_TLS_HOST: '127.0.0.1', TOPIC_PREFIX: PREFIX });
    const clients = new InMemoryClientRepository();
    const catalog = new ChannelCatalog(new InMemoryChannelRepository(TEST_CHANNELS));
    const broker = new EmbeddedBroker(config, clients, catalog, new MetricsService(), {} as HttpAdapterHost);
    await broker.onApplicationBootstrap();
    try {
      await expect(broker.checkHealth()).resolves.toBeUndefined();
      await expect(broker.endpoint('WEBSOCKET')).resolves.toEqual({ endpoint: 'localhost', port: 4321, url: 'ws://localhost:4321/mqtt' });
    } finally {
      await broker.beforeApplicationShutdown();
      await broker.onApplicationShutdown();
    }
  });

  describe('with mosquitto clients over mutual TLS', () => {
    let h: BrokerHarness;
    let files: { ca: string; cert: string; key: string };

    beforeEach(async () => {
      h = await start();
      const dir = tempDir();
      const issued = await h.broker.issueCredentials(h.clients.seed('dev-1', { connectionType: 'OPENSSL' }), 'OPENSSL');
      // Stored with the client, as the registration service does: the TLS check requires a live certificate.
      await h.clients.addCertificate('dev-1', issued.certificateId!, undefined, new Date().toISOString());
      files = { ca: join(dir, 'ca.pem'), cert: join(dir, 'dev-1.pem'), key: join(dir, 'dev-1-key.pem') };
      writeFileSync(files.ca, issued.caCertificatePem!);
      writeFileSync(files.cert, issued.certificatePem!);
      writeFileSync(files.key, issued.privateKeyPem!, { mode: 0o600 });
    });

    const tlsArgs = (clientId: string): string[] => mosquittoTlsArgs(h.tlsPort, clientId, files, 'localhost');

    it('mosquitto_sub receives a broadcast', async () => {
      const sub = runMosquitto('mosquitto_sub', [...tlsArgs('dev-1'), '-t', news, '-C', '1', '-W', '10', '-d']);
      await sub.waitFor(/Subscribed \(mid: \d+\): 0/);

      await h.broker.publish(news, Buffer.from('{"Channel":"news","Message":"hi"}'));

      const result = await sub.exit;
      expect(result.code).toBe(0);
      expect(result.stdout).toContain('{"Channel":"news","Message":"hi"}');
    });

    it('mosquitto_sub gets SUBACK 0x80 for a wildcard, and is refused under another client id', async () => {
      const wildcard = await runMosquitto('mosquitto_sub', [...tlsArgs('dev-1'), '-t', `${PREFIX}/#`, '-C', '1', '-W', '3', '-d']).exit;
      expect(wildcard.stdout).toMatch(/Subscribed \(mid: \d+\): 128/);

      h.clients.seed('dev-2', { connectionType: 'OPENSSL' });
      const borrowed = await runMosquitto('mosquitto_sub', [...tlsArgs('dev-2'), '-t', news, '-C', '1', '-W', '3']).exit;
      expect(borrowed.code).not.toBe(0);
      expect(borrowed.stderr).toMatch(/not authori[sz]ed/i);
    });

    it('mosquitto_pub from a device is dropped and not delivered', async () => {
      const { connectionToken } = await h.broker.issueCredentials(h.clients.seed('editor', { portal: true }), 'WEBSOCKET');
      const watcher = await mqtt.ws(h, 'editor', connectionToken);
      await expect(suback(watcher, `${PREFIX}/#`)).resolves.toEqual([0]);
      const seen = collect(watcher);

      await runMosquitto('mosquitto_pub', [...tlsArgs('dev-1'), '-t', news, '-m', 'forged', '-q', '1']).exit;
      await h.broker.publish(news, Buffer.from('marker'));

      await waitForCount(seen, 1);
      expect(seen.map((m) => m.payload)).toEqual(['marker']);
    });

    it('refuses a banned device', async () => {
      await h.clients.setStatus('dev-1', { status: 'BANNED', now: new Date().toISOString() });
      const result = await runMosquitto('mosquitto_sub', [...tlsArgs('dev-1'), '-t', news, '-C', '1', '-W', '3']).exit;
      expect(result.code).not.toBe(0);
      expect(result.stderr).toMatch(/not authori[sz]ed/i);
      await expect(
        refusalCode(
          mqtt.tls(h, 'dev-1', {
            certificatePem: readFileSync(files.cert, 'utf8'),
            privateKeyPem: readFileSync(files.key, 'utf8'),
            caCertificatePem: readFileSync(files.ca, 'utf8'),
          }),
        ),
      ).resolves.toBe(5);
    });
  });
});

function listenOn(port: number): Promise<Server> {
  return new Promise((resolve) => {
    const server = createServer();
    server.listen(port, '127.0.0.1', () => resolve(server));
  });
}

function portOpen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = netConnect({ host: '127.0.0.1', port });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}
