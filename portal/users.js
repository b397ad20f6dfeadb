// Users: a page at a time (cursor pagination), a status filter, look-up by client id, and
// ban (optionally until a given time) / un-ban through a confirmation dialog.

import { $, formatTime, h } from './dom.js';
import { StateDialog } from './state.js';

export class UsersView {
  /** @param {import('./api.js').Api} api */
  constructor(api, onAuthError) {
    this.api = api;
    this.onAuthError = onAuthError;
    this.table = $('#users-table tbody');
    this.message = $('#users-message');
    this.status = $('#users-status');
    this.limit = $('#users-limit');
    this.prev = $('#users-prev');
    this.next = $('#users-next');
    this.pageLabel = $('#users-page');
    this.searchForm = $('#users-search');
    this.searchInput = $('#users-search-id');
    // cursors[i] fetches page i (page 0 has none); `nextCursor` of the page shown, if any.
    this.cursors = [undefined];
    this.page = 0;
    this.nextCursor = undefined;
    this.searching = undefined;
    this.latest = 0;
    this.dialog = new StatusDialog(api, (clientId, status, expiresAt) => this.afterStatusChange(clientId, status, expiresAt));
    this.stateDialog = new StateDialog(api);
    // The signed-in admin's own client id: no Ban button on its own row (it would cut the portal's own live feed).
    this.self = undefined;
    // The Online dots follow presence (GET /v1/presence) every few seconds while the table is shown.
    this.presenceTimer = undefined;

    this.status.addEventListener('change', () => void this.reset());
    this.limit.addEventListener('change', () => void this.reset());
    $('#users-refresh').addEventListener('click', () => void this.refresh());
    this.prev.addEventListener('click', () => void this.go(this.page - 1));
    this.next.addEventListener('click', () => void this.go(this.page + 1));
    this.searchForm.addEventListener('submit', (event) => {
      event.preventDefault();
      void this.search(this.searchInput.value.trim());
    });
    this.searchInput.addEventListener('search', () => {
      if (this.searchInput.value === '') {
        void this.search('');
      }
    });
  }

  setSelf(clientId) {
    this.self = clientId;
  }

  /** Keeps the Online dots of the rows shown live (presence), until stop(). */
  startPresence() {
    this.stopPresence();
    this.presenceTimer = setInterval(() => void this.refreshPresence(), PRESENCE_REFRESH_MS);
  }

  stopPresence() {
    clearInterval(this.presenceTimer);
    this.presenceTimer = undefined;
  }

  async refreshPresence() {
    const cells = [...this.table.querySelectorAll('td.presence')];
    if (cells.length === 0) {
      return;
    }
    try {
      const { clients } = await this.api.getPresence(cells.map((cell) => cell.dataset.clientId));
      const byId = new Map(clients.map((client) => [client.clientId, client]));
      for (const cell of cells) {
        const presence = byId.get(cell.dataset.clientId);
        if (presence !== undefined && cell.isConnected) {
          cell.replaceChildren(...presenceDot(presence));
        }
      }
    } catch {
      // Informational: the dots keep their last state; the table reports its own errors.
    }
  }

  reset() {
    this.cursors = [undefined];
    this.searching = undefined;
    this.searchInput.value = '';
    return this.go(0);
  }

  refresh() {
    return this.searching ? this.search(this.searching) : this.go(this.page);
  }

  async go(page) {
    if (page < 0 || page >= this.cursors.length + (this.nextCursor ? 1 : 0)) {
      return;
    }
    const cursor = page === this.cursors.length ? this.nextCursor : this.cursors[page];
    const request = this.begin();
    try {
      const result = await this.api.listUsers({ status: this.status.value || undefined, limit: Number(this.limit.value), cursor });
      if (request !== this.latest) {
        return;
      }
      this.searching = undefined;
      this.page = page;
      this.cursors[page] = cursor;
      this.cursors.length = page + 1;
      this.nextCursor = result.nextCursor;
      this.render(result.users);
      this.message.textContent = result.users.length === 0 ? 'No users match.' : '';
    } catch (error) {
      if (request === this.latest) {
        this.fail(error);
      }
    } finally {
      this.end(request);
    }
  }

  async search(clientId) {
    if (clientId === '') {
      this.searching = undefined;
      await this.go(0);
      return;
    }
    const request = this.begin();
    try {
      const user = await this.api.getUser(clientId);
      if (request !== this.latest) {
        return;
      }
      this.searching = clientId;
      this.render([user]);
      this.message.textContent = `Showing ${clientId}. Clear the search to see every user.`;
    } catch (error) {
      if (request !== this.latest) {
        return;
      }
      if (error.status === 404 || error.status === 400) {
        this.searching = clientId;
        this.render([]);
        this.message.textContent = `No user ${clientId}: ${error.message}`;
      } else {
        this.fail(error);
      }
    } finally {
      this.end(request);
    }
  }

  /** Numbers each load: only the latest one may render (an older, slower answer is dropped). */
  begin() {
    this.latest += 1;
    this.busy(true);
    return this.latest;
  }

  end(request) {
    if (request === this.latest) {
      this.busy(false);
    }
  }

  busy(on) {
    this.table.closest('table').setAttribute('aria-busy', String(on));
    this.prev.disabled = on || this.searching !== undefined || this.page === 0;
    this.next.disabled = on || this.searching !== undefined || !this.nextCursor;
    this.pageLabel.textContent = this.searching ? 'Search result' : `Page ${this.page + 1}`;
  }

  fail(error) {
    if (error.status === 401) {
      this.onAuthError(error);
      return;
    }
    this.message.textContent = `Could not load users: ${error.message}`;
  }

  render(users) {
    // Presence is the source of the dots; the rows' own `connected` only fills them until it answers.
    queueMicrotask(() => void this.refreshPresence());
    this.table.replaceChildren(
      ...users.map((user) => {
        const banned = user.status === 'BANNED';
        const action = h(
          'button',
          {
            type: 'button',
            className: banned ? 'secondary small' : 'danger small',
            dataset: { clientId: user.clientId, action: banned ? 'unban' : 'ban' },
            'aria-label': `${banned ? 'Un-ban' : 'Ban'} ${user.clientId}`,
          },
          banned ? 'Un-ban' : 'Ban',
        );
        action.addEventListener('click', () => this.dialog.open(user, action));
        const state = h(
          'button',
          { type: 'button', className: 'secondary small', 'aria-label': `State of ${user.clientId}` },
          'State',
        );
        state.addEventListener('click', () => void this.stateDialog.open(user.clientId, state));
        const own = user.clientId === this.self;
        return h(
          'tr',
          { dataset: { clientId: user.clientId } },
          h('th', { scope: 'row' }, h('code', { title: user.clientId }, user.clientId)),
          h('td', {}, h('span', { className: `badge ${banned ? 'banned' : 'registered'}` }, user.status)),
          h('td', {}, user.connectionType, user.portalClient ? h('span', { className: 'muted' }, ' · portal') : null),
          h('td', { className: 'presence', dataset: { clientId: user.clientId } }, ...presenceDot(user)),
          h('td', {}, formatTime(user.registeredAt)),
          h(
            'td',
            { className: 'reason' },
            user.banReason ?? '',
            user.banExpiresAt
              ? h(
                  'span',
                  { className: 'muted ban-end' },
                  user.banReason ? ' · until ' : 'until ',
                  h('time', { dateTime: user.banExpiresAt, title: new Date(user.banExpiresAt).toLocaleString() }, formatTime(user.banExpiresAt)),
                )
              : null,
          ),
          h('td', {}, state, ' ', own ? h('span', { className: 'muted', title: 'The portal session you are signed in with' }, 'you') : action),
        );
      }),
    );
  }

  async afterStatusChange(clientId, status, expiresAt) {
    await this.refresh();
    // Said in the status line (a live region) as well as by the row, so it is noticed and announced.
    const until = expiresAt ? ` until ${new Date(expiresAt).toLocaleString()}` : '';
    this.message.textContent =
      status === 'BANNED' ? `Banned ${clientId}${until}: its live connections were closed.` : `Un-banned ${clientId}: it may register and connect again.`;
    // The row was re-rendered: put focus back on its (new) action button.
    const button = this.table.querySelector(`button[data-client-id="${CSS.escape(clientId)}"]`);
    (button ?? $('#users-title')).focus();
  }
}

const PRESENCE_REFRESH_MS = 3000;

/** A green or grey dot, and the word (the colour is not the only cue). */
function presenceDot({ connected, lastSeenAt }) {
  if (connected === undefined) {
    return ['—'];
  }
  const title = lastSeenAt ? `last seen ${formatTime(lastSeenAt)}` : undefined;
  return [h('span', { className: `dot ${connected ? 'online' : 'offline'}`, title, 'aria-hidden': 'true' }), connected ? 'online' : 'offline'];
}

/** The ban / un-ban confirmation: a modal <dialog> (focus trapped, Escape cancels, focus restored). */
class StatusDialog {
  constructor(api, onDone) {
    this.api = api;
    this.onDone = onDone;
    this.dialog = $('#status-dialog');
    this.form = $('#status-form');
    this.title = $('#status-dialog-title');
    this.text = $('#status-dialog-text');
    this.reason = $('#status-reason');
    this.expires = $('#status-expires');
    this.expiresField = $('#status-expires-field');
    this.error = $('#status-error');
    this.confirm = $('#status-confirm');
    this.cancel = $('#status-cancel');
    this.user = undefined;
    this.invoker = undefined;
    this.done = false;

    this.cancel.addEventListener('click', () => this.dialog.close('cancel'));
    this.form.addEventListener('submit', (event) => {
      event.preventDefault();
      void this.submit();
    });
    this.dialog.addEventListener('close', () => {
      if (!this.done) {
        this.invoker?.focus();
      }
    });
  }

  open(user, invoker) {
    const ban = user.status !== 'BANNED';
    this.user = user;
    this.invoker = invoker;
    this.done = false;
    this.title.textContent = ban ? `Ban ${user.clientId}?` : `Un-ban ${user.clientId}?`;
    this.text.textContent = ban
      ? 'Its live connections close at once, and it can neither reconnect, register nor send until un-banned.'
      : 'It may register, connect and receive again.';
    this.confirm.textContent = ban ? 'Ban' : 'Un-ban';
    this.confirm.className = ban ? 'danger' : '';
    this.reason.value = '';
    // A ban may end by itself (expiresAt); an un-ban has no end to set.
    this.expiresField.hidden = !ban;
    this.expires.value = '';
    this.expires.min = localInputValue(new Date());
    this.error.textContent = '';
    this.setBusy(false);
    this.dialog.showModal();
    this.reason.focus();
  }

  setBusy(on) {
    this.confirm.disabled = on;
    this.cancel.disabled = on;
    this.form.setAttribute('aria-busy', String(on));
  }

  async submit() {
    const user = this.user;
    const status = user.status === 'BANNED' ? 'REGISTERED' : 'BANNED';
    let expiresAt;
    if (status === 'BANNED' && this.expires.value !== '') {
      const end = new Date(this.expires.value);
      if (Number.isNaN(end.getTime()) || end.getTime() <= Date.now()) {
        this.error.textContent = 'The end of the ban must be a time in the future.';
        this.expires.focus();
        return;
      }
      expiresAt = end.toISOString();
    }
    this.setBusy(true);
    this.error.textContent = '';
    try {
      await this.api.setUserStatus(user.clientId, status, this.reason.value.trim() || undefined, expiresAt);
      this.done = true;
      this.dialog.close('confirm');
      await this.onDone(user.clientId, status, expiresAt);
    } catch (error) {
      this.error.textContent = `${error.message}${error.code ? ` (${error.code})` : ''}`;
      this.setBusy(false);
      this.reason.focus();
    }
  }
}

/** A `datetime-local` input's value (local time, minutes) for a date. */
function localInputValue(date) {
  const pad = (n) => String(n).padStart(2, '0');
  return `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())}T${pad(date.getHours())}:${pad(date.getMinutes())}`;
}
