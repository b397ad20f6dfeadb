// Channels: the list, and an editor whose problem+json `errors` show next to their fields.

import { $, clearErrors, h, showErrors } from './dom.js';

const INTEGER = /^\s*-?\d+\s*$/;

/** A number when the text is an integer; otherwise the text itself, for the API to refuse with a field error. */
function integerOrText(text) {
  return INTEGER.test(text) ? Number(text) : text;
}

export class ChannelsView {
  /** @param {import('./api.js').Api} api */
  constructor(api, onChannels, onAuthError) {
    this.api = api;
    this.onChannels = onChannels;
    this.onAuthError = onAuthError;
    this.channels = [];
    this.editing = undefined;
    this.table = $('#channels-table tbody');
    this.message = $('#channels-message');
    this.form = $('#channel-form');
    this.formTitle = $('#channel-form-title');
    this.name = $('#ch-name');
    this.comm = $('#ch-comm');
    this.clientSend = $('#ch-client-send');
    this.max = $('#ch-max');
    this.rateMessages = $('#ch-rate-messages');
    this.rateSeconds = $('#ch-rate-seconds');
    this.historySize = $('#ch-history-size');
    this.historyTtl = $('#ch-history-ttl');
    this.schema = $('#ch-schema');
    this.newButton = $('#channel-new');

    this.newButton.addEventListener('click', () => this.edit(undefined));
    $('#channel-cancel').addEventListener('click', () => this.closeEditor());
    this.form.addEventListener('submit', (event) => {
      event.preventDefault();
      void this.save();
    });
    this.form.addEventListener('keydown', (event) => {
      if (event.key === 'Escape') {
        this.closeEditor();
      }
    });
  }

  async load() {
    try {
      const { channels } = await this.api.listChannels();
      this.channels = channels;
      this.render();
      this.onChannels(channels);
    } catch (error) {
      if (error.status === 401) {
        this.onAuthError(error);
        return;
      }
      this.message.textContent = `Could not load channels: ${error.message}`;
    }
  }

  render() {
    this.table.replaceChildren(
      ...this.channels.map((channel) => {
        const edit = h('button', { type: 'button', className: 'secondary small', 'aria-label': `Edit ${channel.name}` }, 'Edit');
        const remove = h('button', { type: 'button', className: 'secondary small', 'aria-label': `Delete ${channel.name}` }, 'Delete');
        edit.addEventListener('click', () => this.edit(channel, edit));
        remove.addEventListener('click', () => void this.remove(channel, remove));
        return h(
          'tr',
          { dataset: { channel: channel.name } },
          h('th', { scope: 'row' }, h('code', {}, channel.name)),
          h('td', {}, channel.types.join(', ')),
          h('td', {}, channel.communicationChannel ?? ''),
          h('td', {}, channel.clientSend ? 'yes' : 'no'),
          h('td', {}, String(channel.maxMessageBytes)),
          h('td', {}, channel.rateLimit ? `${channel.rateLimit.messages} / ${channel.rateLimit.perSeconds} s` : ''),
          h('td', {}, channel.history ? `${channel.history.size} msgs, ${channel.history.ttlSeconds} s` : ''),
          h('td', {}, channel.messageSchema ? 'yes' : ''),
          h('td', { className: 'actions' }, edit, remove),
        );
      }),
    );
  }

  edit(channel, invoker) {
    this.editing = channel?.name;
    this.returnFocus = invoker ?? this.newButton;
    clearErrors(this.form);
    this.formTitle.textContent = channel ? `Edit ${channel.name}` : 'New channel';
    this.name.value = channel?.name ?? '';
    this.name.readOnly = channel !== undefined;
    for (const box of this.form.querySelectorAll('input[name="ch-types"]')) {
      box.checked = channel ? channel.types.includes(box.value) : box.value === 'BROADCAST';
    }
    this.comm.replaceChildren(
      h('option', { value: '' }, 'its own topics'),
      ...this.channels
        .filter((c) => c.name !== channel?.name && !c.communicationChannel)
        .map((c) => h('option', { value: c.name }, c.name)),
    );
    this.comm.value = channel?.communicationChannel ?? '';
    this.clientSend.checked = channel?.clientSend ?? false;
    this.max.value = channel ? String(channel.maxMessageBytes) : '';
    this.rateMessages.value = channel?.rateLimit ? String(channel.rateLimit.messages) : '';
    this.rateSeconds.value = channel?.rateLimit ? String(channel.rateLimit.perSeconds) : '';
    this.historySize.value = channel?.history ? String(channel.history.size) : '';
    this.historyTtl.value = channel?.history ? String(channel.history.ttlSeconds) : '';
    this.schema.value = channel?.messageSchema ? JSON.stringify(channel.messageSchema, null, 2) : '';
    this.form.hidden = false;
    (channel ? this.formTitle : this.name).focus();
  }

  closeEditor() {
    this.form.hidden = true;
    this.editing = undefined;
    this.returnFocus?.focus();
  }

  /** The form as a PutChannel body; undefined (with inline errors shown) when it can't be sent. */
  read() {
    const name = this.name.value.trim();
    const errors = [];
    if (name === '') {
      errors.push({ field: '/name', message: 'a channel needs a name' });
    }
    const body = {
      types: [...this.form.querySelectorAll('input[name="ch-types"]:checked')].map((box) => box.value),
      clientSend: this.clientSend.checked,
    };
    if (this.comm.value) {
      body.communicationChannel = this.comm.value;
    }
    if (this.max.value.trim() !== '') {
      body.maxMessageBytes = integerOrText(this.max.value);
    }
    if (this.rateMessages.value.trim() !== '' || this.rateSeconds.value.trim() !== '') {
      body.rateLimit = { messages: integerOrText(this.rateMessages.value), perSeconds: integerOrText(this.rateSeconds.value) };
    }
    // Both or neither: the API names the missing one.
    if (this.historySize.value.trim() !== '' || this.historyTtl.value.trim() !== '') {
      body.history = {};
      // An empty half is left out, so the API names it as missing.
      if (this.historySize.value.trim() !== '') {
        body.history.size = integerOrText(this.historySize.value);
      }
      if (this.historyTtl.value.trim() !== '') {
        body.history.ttlSeconds = integerOrText(this.historyTtl.value);
      }
    }
    if (this.schema.value.trim() !== '') {
      try {
        body.messageSchema = JSON.parse(this.schema.value);
      } catch (error) {
        errors.push({ field: '/messageSchema', message: `is not valid JSON (${error.message})` });
      }
    }
    if (errors.length > 0) {
      showErrors(this.form, { message: 'Fix the highlighted fields.', errors });
      return undefined;
    }
    return { name, body };
  }

  async save() {
    const input = this.read();
    if (input === undefined) {
      return;
    }
    const submit = this.form.querySelector('button[type="submit"]');
    submit.disabled = true;
    try {
      const saved = await this.api.putChannel(input.name, input.body);
      clearErrors(this.form);
      this.form.hidden = true;
      this.message.textContent = `Saved channel ${saved.name}.`;
      await this.load();
      const row = this.table.querySelector(`tr[data-channel="${CSS.escape(saved.name)}"] button`);
      (row ?? this.newButton).focus();
    } catch (error) {
      if (error.status === 401) {
        this.onAuthError(error);
        return;
      }
      // The path parameter is the name field.
      showErrors(this.form, error, { '/channel': '/name' });
    } finally {
      submit.disabled = false;
    }
  }

  async remove(channel, invoker) {
    if (!window.confirm(`Delete channel ${channel.name}? Clients stop receiving its messages.`)) {
      invoker.focus();
      return;
    }
    try {
      await this.api.deleteChannel(channel.name);
      this.message.textContent = `Deleted channel ${channel.name}.`;
      await this.load();
      this.newButton.focus();
    } catch (error) {
      this.message.textContent = `Could not delete ${channel.name}: ${error.message} (${error.code})`;
      invoker.focus();
    }
  }
}
