// Send a broadcast or a direct message as the admin.

import { $, clearErrors, h, showErrors } from './dom.js';

export class SendView {
  /** @param {import('./api.js').Api} api */
  constructor(api, onAuthError) {
    this.api = api;
    this.onAuthError = onAuthError;
    this.channels = [];
    this.form = $('#send-form');
    this.channel = $('#send-channel');
    this.clientField = $('#send-client-field');
    this.client = $('#send-client');
    this.message = $('#send-message');
    this.result = $('#send-result');

    for (const radio of this.form.querySelectorAll('input[name="kind"]')) {
      radio.addEventListener('change', () => this.update());
    }
    this.form.addEventListener('submit', (event) => {
      event.preventDefault();
      void this.send();
    });
  }

  get kind() {
    return this.form.querySelector('input[name="kind"]:checked').value;
  }

  setChannels(channels) {
    this.channels = channels;
    this.update();
  }

  /** Offers the channels that have the chosen kind of delivery. */
  update() {
    const direct = this.kind === 'direct';
    this.clientField.hidden = !direct;
    const type = direct ? 'PRIVATE' : 'BROADCAST';
    const current = this.channel.value;
    const names = this.channels.filter((c) => c.types.includes(type)).map((c) => c.name);
    this.channel.replaceChildren(...names.map((name) => h('option', { value: name }, name)));
    if (names.includes(current)) {
      this.channel.value = current;
    }
  }

  async send() {
    clearErrors(this.form);
    this.result.textContent = '';
    const submit = this.form.querySelector('button[type="submit"]');
    submit.disabled = true;
    try {
      const channel = this.channel.value;
      const result =
        this.kind === 'direct'
          ? await this.api.sendDirect(channel, this.client.value.trim(), this.message.value)
          : await this.api.broadcast(channel, this.message.value);
      this.result.textContent = `Sent ${result.messageId} on ${result.topic}.`;
    } catch (error) {
      if (error.status === 401) {
        this.onAuthError(error);
        return;
      }
      showErrors(this.form, error);
    } finally {
      submit.disabled = false;
    }
  }
}
