// A client's state document (device shadow): desired, reported and the delta, and an editor for
// `desired` (a JSON merge patch: null removes a key), applied only on top of the version shown.

import { $ } from './dom.js';

export class StateDialog {
  /** @param {import('./api.js').Api} api */
  constructor(api) {
    this.api = api;
    this.dialog = $('#state-dialog');
    this.form = $('#state-form');
    this.title = $('#state-dialog-title');
    this.version = $('#state-version');
    this.desired = $('#state-desired');
    this.reported = $('#state-reported');
    this.delta = $('#state-delta');
    this.patch = $('#state-patch');
    this.error = $('#state-error');
    this.apply = $('#state-apply');
    this.close = $('#state-close');
    this.clientId = undefined;
    this.current = undefined;
    this.invoker = undefined;

    this.close.addEventListener('click', () => this.dialog.close('close'));
    this.form.addEventListener('submit', (event) => {
      event.preventDefault();
      void this.submit();
    });
    this.dialog.addEventListener('close', () => this.invoker?.focus());
  }

  async open(clientId, invoker) {
    this.clientId = clientId;
    this.invoker = invoker;
    this.title.textContent = `State of ${clientId}`;
    this.patch.value = '';
    this.error.textContent = '';
    this.show(undefined);
    this.dialog.showModal();
    try {
      this.show(await this.api.getClientState(clientId));
    } catch (error) {
      this.error.textContent = describe(error);
    }
    this.patch.focus();
  }

  show(state) {
    this.current = state;
    const json = (value) => (value === undefined ? '—' : JSON.stringify(value, null, 2));
    this.version.textContent = state === undefined ? '…' : String(state.version);
    this.desired.textContent = json(state?.state.desired);
    this.reported.textContent = json(state?.state.reported);
    this.delta.textContent = state === undefined ? '—' : json(state.state.delta ?? {});
    this.apply.disabled = state === undefined;
  }

  async submit() {
    let desired;
    try {
      desired = JSON.parse(this.patch.value);
    } catch {
      this.error.textContent = 'The desired change must be valid JSON, e.g. {"volume": 7} ("null" removes a key).';
      this.patch.focus();
      return;
    }
    if (desired === null || typeof desired !== 'object' || Array.isArray(desired)) {
      this.error.textContent = 'The desired change must be a JSON object.';
      this.patch.focus();
      return;
    }
    this.apply.disabled = true;
    this.error.textContent = '';
    try {
      this.show(await this.api.updateClientState(this.clientId, { desired, version: this.current.version }));
      this.patch.value = '';
    } catch (error) {
      this.error.textContent = describe(error);
      this.apply.disabled = false;
    }
    this.patch.focus();
  }
}

function describe(error) {
  return `${error.message}${error.code ? ` (${error.code})` : ''}`;
}
