import { X509Certificate } from 'node:crypto';
import { WebSocket } from 'ws';
import { type BrokerHarness, closed, MqttClients, PREFIX, rawMqtt, startBroker, waitFor } from '../../../test/support/broker/harness';
import type { CloseReason, Session } from './session-registry';


describe('SessionRegistry (on a real EmbeddedBroker)', () => {
  let h: BrokerHarness;
  const mqtt = new MqttClients();
  const opened: Session[] = [];
  const ended: Array<{ session: Session; reason: CloseReason }> = [];
  const unsubscribe: Array<() => void> = [];
  const rawSockets: WebSocket[] = [];

  beforeAll(async () => {
    h = await startBroker();
  });

  beforeEach(() => {
    opened.length = 0;
    ended.length = 0;
    unsubscribe.push(
      h.broker.sessions.onOpened((session) => opened.push(session)),
      h.broker.sessions.onClosed((session, reason) => ended.push({ session, reason })),
    );
  });

  afterEach(async () => {
    rawSockets.splice(0).forEach((ws) => ws.terminate());
    await mqtt.endAll();
    await waitFor(() => h.broker.sessions.list().length === 0);
    unsubscribe.splice(0).forEach((off) => off());
  });

  afterAll(async () => {
    await h.close();
  });

  async function wsClient(clientId: string, portal = false) {
    const { connectionToken } = await h.broker.issueCredentials(h.clients.seed(clientId, { portal }), 'WEBSOCKET');
    return mqtt.ws(h, clientId, connectionToken);
  }

  function reasonsOf(clientId: string): CloseReason[] {
    return ended.filter((e) => e.session.clientId === clientId).map((e) => e.reason);
  }

  it('knows each session: client id, transport, portal flag and credential (token claims, certificate serial)', async () => {
    await wsClient('alice', true);
    const issued = await h.broker.issueCredentials(h.clients.seed('dev-1', { connectionType: 'OPENSSL' }), 'OPENSSL');
    // Stored with the client, as the registration service does: the TLS check requires a live certificate.
    await h.clients.addCertificate('dev-1', issued.certificateId!, undefined, new Date().toISOString());
    await mqtt.tls(h, 'dev-1', issued);

    const alice = opened.find((s) => s.clientId === 'alice');
    expect(alice).toMatchObject({ transport: 'websocket', portal: true, credential: { kind: 'token', claims: { sub: 'alice' } } });
    expect(alice?.credential.kind === 'token' && alice.credential.claims.exp * 1000).toBeGreaterThan(Date.now());
    const serial = new X509Certificate(issued.certificatePem!).serialNumber;
    expect(opened.find((s) => s.clientId === 'dev-1')).toEqual({
      clientId: 'dev-1',
      transport: 'tls',
      portal: false,
      credential: { kind: 'certificate', serialNumber: serial },
    });
    expect(h.broker.sessions.list('alice')).toEqual([alice]);
  });

  it('records why sessions closed: client, ban, takeover, error', async () => {
    const leaving = await wsClient('leaving');
    await leaving.endAsync();
    await waitFor(() => reasonsOf('leaving').length === 1);

    const banned = await wsClient('banned');
    h.clients.seed('banned', { status: 'BANNED' });
    await h.broker.revoke(h.clients.peek('banned')!);
    await closed(banned);

    const { connectionToken } = await h.broker.issueCredentials(h.clients.seed('twice'), 'WEBSOCKET');
    const first = await mqtt.ws(h, 'twice', connectionToken);
    await mqtt.ws(h, 'twice', connectionToken);
    await closed(first);

    // A plain client may not publish: Aedes closes the connection.
    const publisher = await wsClient('publisher');
    publisher.publish(`${PREFIX}/news`, 'hi');
    await closed(publisher);

    await waitFor(() => ['banned', 'twice', 'publisher'].every((id) => reasonsOf(id).length === 1));
    expect(reasonsOf('leaving')).toEqual(['client']);
    expect(reasonsOf('banned')).toEqual(['ban']);
    expect(reasonsOf('twice')).toEqual(['takeover']);
    expect(reasonsOf('publisher')).toEqual(['error']);
  });

  it('records a keep-alive timeout', async () => {
    const { connectionToken } = await h.broker.issueCredentials(h.clients.seed('silent'), 'WEBSOCKET');
    const ws = new WebSocket(h.wsUrl, 'mqtt');
    rawSockets.push(ws);
    ws.on('error', () => undefined);
    await new Promise<void>((resolve) => ws.once('open', () => resolve()));
    // Keep-alive of 1 s and never a PINGREQ: Aedes gives up after 1.5 s.
    ws.send(rawMqtt.connect('silent', { username: 'silent', password: connectionToken, keepAlive: 1 }));
    await waitFor(() => reasonsOf('silent').length === 1, 30_000);
    expect(reasonsOf('silent')).toEqual(['timeout']);
  });

  it('closes sessions picked by a predicate and resolves once they are closed', async () => {
    const portal = await wsClient('editor', true);
    const plain = await wsClient('player');

    await expect(h.broker.sessions.closeWhere((s) => s.portal, 'ban')).resolves.toBe(1);

    expect(h.broker.sessions.isConnected('editor')).toBe(false);
    await closed(portal);
    expect(reasonsOf('editor')).toEqual(['ban']);
    expect(plain.connected).toBe(true);
    expect(h.broker.sessions.isConnected('player')).toBe(true);
  });

  it('closes by client id with the given reason, and resolves with 0 when there is none', async () => {
    await wsClient('solo');
    await expect(h.broker.sessions.close('solo', 'error')).resolves.toBe(1);
    expect(reasonsOf('solo')).toEqual(['error']);
    await expect(h.broker.sessions.close('nobody', 'error')).resolves.toBe(0);
  });

  it('keeps a connection up when a listener throws, and stops calling a listener once unsubscribed', async () => {
    const calls: string[] = [];
    const off = h.broker.sessions.onOpened((session) => {
      calls.push(session.clientId);
      throw new Error('listener bug');
    });
    const client = await wsClient('robust');
    off();
    await wsClient('later');

    expect(client.connected).toBe(true);
    expect(calls).toEqual(['robust']);
    expect(opened.map((s) => s.clientId)).toEqual(['robust', 'later']);
  });
});

describe('SessionRegistry at shutdown', () => {
  it('closes every session with the reason shutdown', async () => {
    const h = await startBroker();
    const mqtt = new MqttClients();
    const ended: CloseReason[] = [];
    h.broker.sessions.onClosed((_session, reason) => ended.push(reason));
    const { connectionToken } = await h.broker.issueCredentials(h.clients.seed('alice'), 'WEBSOCKET');
    const issued = await h.broker.issueCredentials(h.clients.seed('dev-1', { connectionType: 'OPENSSL' }), 'OPENSSL');
    // Stored with the client, as the registration service does: the TLS check requires a live certificate.
    await h.clients.addCertificate('dev-1', issued.certificateId!, undefined, new Date().toISOString());
    await mqtt.ws(h, 'alice', connectionToken);
    await mqtt.tls(h, 'dev-1', issued);

    await h.close();
    await mqtt.endAll();

    expect(ended).toEqual(['shutdown', 'shutdown']);
  });
});
