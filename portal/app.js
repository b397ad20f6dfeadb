// The admin portal: sign in with an admin token (kept in sessionStorage only), then users,
// channels, sending and the live feed. Plain ES modules, no build step; see docs/portal.md.

import { Api } from './api.js';
import { ChannelsView } from './channels.js';
import { $ } from './dom.js';
import { LiveFeed } from './live.js';
import { SendView } from './send.js';
import { UsersView } from './users.js';

const TOKEN_KEY = 'webcommunicator.portal.token';

const signInSection = $('#sign-in');
const signInForm = $('#sign-in-form');
const tokenInput = $('#token');
const tokenError = $('#token-error');
const workspace = $('#workspace');
const whoami = $('#whoami');
const signOutButton = $('#sign-out');

const api = new Api(() => sessionStorage.getItem(TOKEN_KEY));
const users = new UsersView(api, expired);
const send = new SendView(api, expired);
const channels = new ChannelsView(api, (list) => send.setChannels(list), expired);
const feed = new LiveFeed(api, $('#live-feed'), $('#live-status'));
$('#live-clear').addEventListener('click', () => feed.clear());

/** The token's subject, for display only (the service verifies the token, not the page). */
function subjectOf(token) {
  try {
    const payload = JSON.parse(atob(token.split('.')[1].replace(/-/g, '+').replace(/_/g, '/')));
    return typeof payload.sub === 'string' ? payload.sub : undefined;
  } catch {
    return undefined;
  }
}

function showSignIn(message = '') {
  feed.stop();
  users.stopPresence();
  workspace.hidden = true;
  whoami.hidden = true;
  signOutButton.hidden = true;
  signInSection.hidden = false;
  tokenError.textContent = message;
  tokenInput.toggleAttribute('aria-invalid', message !== '');
  tokenInput.focus();
}

async function enter() {
  const token = sessionStorage.getItem(TOKEN_KEY);
  const subject = token ? subjectOf(token) : undefined;
  signInSection.hidden = true;
  workspace.hidden = false;
  whoami.hidden = false;
  whoami.textContent = subject ? `Signed in as ${subject}` : 'Signed in';
  users.setSelf(subject);
  signOutButton.hidden = false;
  $('#main').focus();
  await Promise.all([users.reset(), channels.load()]);
  users.startPresence();
  feed.start();
}

function expired(error) {
  sessionStorage.removeItem(TOKEN_KEY);
  showSignIn(`Signed out: ${error.message}`);
}

signInForm.addEventListener('submit', async (event) => {
  event.preventDefault();
  const token = tokenInput.value.trim().replace(/^Bearer\s+/i, '');
  if (token === '') {
    showSignIn('Paste an admin token first.');
    return;
  }
  sessionStorage.setItem(TOKEN_KEY, token);
  try {
    // An admin-only call: checks the token and the role at once.
    await api.listChannels();
  } catch (error) {
    sessionStorage.removeItem(TOKEN_KEY);
    const why = error.status === 403 ? 'this token has no admin role' : error.message;
    showSignIn(`Sign-in refused: ${why}${error.code ? ` (${error.code})` : ''}`);
    return;
  }
  tokenInput.value = '';
  tokenInput.removeAttribute('aria-invalid');
  tokenError.textContent = '';
  await enter();
});

signOutButton.addEventListener('click', () => {
  sessionStorage.removeItem(TOKEN_KEY);
  showSignIn();
});

if (sessionStorage.getItem(TOKEN_KEY)) {
  void enter();
} else {
  showSignIn();
}
