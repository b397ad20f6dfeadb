// The live feed: the page registers itself as a portal client (POST /v1/admin/registrations,
// WEBSOCKET, the admin's own id) and subscribes to `${prefix}/#` over MQTT/WebSocket with
// mqtt.js's browser bundle (window.mqtt, served from /portal/vendor/mqtt.min.js).

import { formatTime, h } from './dom.js';

const MAX_ITEMS = 200;
const MAX_BACKOFF_MS = 30_000;

/**
 * The topic prefix, from the caller's subscriptions: a broadcast topic is
 * `{prefix}/{channel}`, a private one `{prefix}/{channel}/client/{clientId}`.
 */
export function topicPrefix(subscriptions) {
  const broadcast = subscriptions.find((s) => s.type === 'BROADCAST');
  if (broadcast) {
    return broadcast.topic.split('/').slice(0, -1).join('/');
  }
  const direct = subscriptions.find((s) => s.type === 'PRIVATE');
  return direct ? direct.topic.split('/').slice(0, -3).join('/') : undefined;
}

export class LiveFeed {
  /**
   * @param {import('./api.js').Api} api
   * @param {HTMLOListElement} list
   * @param {HTMLElement} status
   */
  constructor(api, list, status) {
    this.api = api;
    this.list = list;
    this.status = status;
    this.client = undefined;
    this.timer = undefined;
    this.attempt = 0;
    this.stopped = true;
  }

  start() {
    this.stopped = false;
    void this.connect();
  }

  stop() {
    this.stopped = true;
    clearTimeout(this.timer);
    this.client?.end(true);
    this.client = undefined;
    this.setStatus('Not connected', 'off');
  }

  clear() {
    this.list.replaceChildren();
  }

  setStatus(text, state) {
    this.status.textContent = text;
    this.status.dataset.state = state;
  }

  async connect() {
    if (this.stopped) {
      return;
    }
    this.setStatus('Connecting…', 'connecting');
    let registration;
    let prefix;
    try {
      // Registering again each time gets a fresh connection token (they are short-lived).
      const [issued, listed] = await Promise.all([this.api.registerPortalClient(), this.api.listSubscriptions()]);
      registration = issued;
      prefix = topicPrefix(listed.subscriptions);
    } catch (error) {
      this.retry(`Live feed unavailable: ${error.message}`);
      return;
    }
    if (this.stopped) {
      return;
    }
    if (!registration.connectionToken || !window.mqtt) {
      this.setStatus('Live feed needs the embedded broker (no connection token was issued).', 'off');
      return;
    }
    if (prefix === undefined) {
      this.setStatus('No channels yet: create one to see its messages here.', 'off');
      return;
    }
    const client = window.mqtt.connect(registration.url, {
      clientId: registration.clientId,
      username: registration.clientId,
      password: registration.connectionToken,
      protocolVersion: 4,
      clean: true,
      // Reconnects are ours: each one re-registers for a fresh token.
      reconnectPeriod: 0,
      connectTimeout: 10_000,
      // mqtt.js's default timers run in a blob: worker, which the portal's CSP forbids. Native
      // timers may be throttled in a hidden tab; a missed keepalive then costs a reconnect.
      timerVariant: 'native',
    });
    this.client = client;
    client.on('connect', () => {
      client.subscribe(`${prefix}/#`, { qos: 0 }, (error) => {
        if (error) {
          this.setStatus(`Subscription refused: ${error.message}`, 'error');
          return;
        }
        this.attempt = 0;
        this.setStatus(`Live: ${prefix}/#`, 'live');
      });
    });
    client.on('message', (topic, payload) => this.add(topic, payload, prefix));
    client.on('error', (error) => this.setStatus(`Connection error: ${error.message}`, 'error'));
    client.on('close', () => {
      if (this.client === client) {
        this.client = undefined;
        client.end(true);
        this.retry('Disconnected');
      }
    });
  }

  retry(reason) {
    if (this.stopped) {
      return;
    }
    const delay = Math.min(MAX_BACKOFF_MS, 1000 * 2 ** this.attempt);
    this.attempt += 1;
    this.setStatus(`${reason}; retrying in ${Math.round(delay / 1000)} s`, 'error');
    clearTimeout(this.timer);
    this.timer = setTimeout(() => void this.connect(), delay);
  }

  add(topic, payload, prefix) {
    let envelope;
    try {
      envelope = JSON.parse(new TextDecoder().decode(payload));
    } catch {
      envelope = { Message: new TextDecoder().decode(payload) };
    }
    const rest = topic.slice(prefix.length + 1).split('/');
    const target = rest.length === 3 && rest[1] === 'client' ? rest[2] : undefined;
    const item = h(
      'li',
      { className: 'feed-item' },
      h(
        'div',
        { className: 'feed-meta' },
        h('time', { dateTime: envelope.Time ?? '' }, formatTime(envelope.Time ?? new Date().toISOString())),
        h('span', { className: 'badge' }, envelope.Channel ?? rest[0]),
        target ? h('span', { className: 'badge private' }, `to ${target}`) : h('span', { className: 'badge broadcast' }, 'broadcast'),
        envelope.From ? h('span', { className: 'muted' }, `from ${envelope.From}`) : null,
      ),
      h('pre', { className: 'feed-message' }, typeof envelope.Message === 'string' ? envelope.Message : JSON.stringify(envelope)),
    );
    this.list.prepend(item);
    while (this.list.childElementCount > MAX_ITEMS) {
      this.list.lastElementChild.remove();
    }
  }
}
