import { disconnectReasonOf, LifecycleTracker, type LifecycleMessage, parseLifecycleMessage, presignIotUrl } from './lifecycle-events';

const CLIENT = 'eu-west-1:0c1a8e2d-1111-4222-8333-444455556666';

function message(eventType: 'connected' | 'disconnected', versionNumber: number, disconnectReason?: string): LifecycleMessage {
  return { clientId: CLIENT, timestamp: 1_700_000_000_000 + versionNumber, eventType, sessionIdentifier: `s-${versionNumber}`, principalIdentifier: 'p', versionNumber, disconnectReason };
}

describe('AWS IoT lifecycle events', () => {
  it("maps IoT's disconnect reasons to the contract's", () => {
    expect(
      ['CLIENT_INITIATED_DISCONNECT', 'CONNECTION_LOST', 'MQTT_KEEP_ALIVE_TIMEOUT', 'DUPLICATE_CLIENTID', 'API_INITIATED_DISCONNECT', 'AUTH_ERROR', 'THROTTLED', undefined].map(
        disconnectReasonOf,
      ),
    ).toEqual(['client', 'client', 'timeout', 'takeover', 'ban', 'error', 'error', 'error']);
  });

  it('parses only a lifecycle message whose body matches its topic', () => {
    const body = Buffer.from(JSON.stringify(message('connected', 3)));
    expect(parseLifecycleMessage(`$aws/events/presence/connected/${CLIENT}`, body)).toEqual(expect.objectContaining({ clientId: CLIENT, versionNumber: 3 }));
    expect(parseLifecycleMessage(`$aws/events/presence/disconnected/${CLIENT}`, body)).toBeUndefined();
    expect(parseLifecycleMessage('$aws/events/presence/connected/someone-else', body)).toBeUndefined();
    expect(parseLifecycleMessage(`$aws/events/presence/connected/${CLIENT}`, Buffer.from('not json'))).toBeUndefined();
  });

  it('orders by versionNumber: an older session ending after a newer one began leaves the client connected', () => {
    const tracker = new LifecycleTracker();
    expect(tracker.toEvent(message('connected', 1))).toEqual(expect.objectContaining({ kind: 'connected', transport: 'aws-iot', time: new Date(1_700_000_000_001).toISOString() }));
    tracker.toEvent(message('connected', 2));
    expect(tracker.toEvent(message('disconnected', 1, 'DUPLICATE_CLIENTID'))).toEqual(expect.objectContaining({ kind: 'disconnected', reason: 'takeover', stillConnected: true }));
    expect(tracker.toEvent(message('disconnected', 2, 'CONNECTION_LOST'))).toEqual(expect.objectContaining({ reason: 'client', stillConnected: false }));
  });

  it('gives a repeated message the same event id, and different messages different ids', () => {
    const a = new LifecycleTracker().toEvent(message('connected', 1));
    const b = new LifecycleTracker().toEvent(message('connected', 1));
    const c = new LifecycleTracker().toEvent(message('connected', 2));
    expect(a?.eventId).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(b?.eventId).toBe(a?.eventId);
    expect(c?.eventId).not.toBe(a?.eventId);
  });

  it('presigns wss://host/mqtt for iotdevicegateway, appending a session token after signing', async () => {
    const credentials = { accessKeyId: 'AKIDEXAMPLE', secretAccessKey: 'secret' };
    const plain = new URL(await presignIotUrl('wss://abc-ats.iot.eu-west-1.amazonaws.com/mqtt', 'eu-west-1', credentials));
    const withToken = new URL(await presignIotUrl('wss://abc-ats.iot.eu-west-1.amazonaws.com/mqtt', 'eu-west-1', { ...credentials, sessionToken: 'tok/en+=' }));
    expect(plain.pathname).toBe('/mqtt');
    expect(plain.searchParams.get('X-Amz-Credential')).toMatch(/^AKIDEXAMPLE\/\d{8}\/eu-west-1\/iotdevicegateway\/aws4_request$/);
    expect(plain.searchParams.has('X-Amz-Security-Token')).toBe(false);
    expect(withToken.searchParams.get('X-Amz-Security-Token')).toBe('tok/en+=');
    // The token is not part of what was signed (IoT Core's rule for WebSocket URLs).
    expect(withToken.searchParams.get('X-Amz-SignedHeaders')).toBe('host');
    expect([...withToken.searchParams.keys()].at(-1)).toBe('X-Amz-Security-Token');
  });
});
