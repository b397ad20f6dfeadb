import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import request from 'supertest';
import { PORTAL_CSP } from '../src/portal-site/portal-site.module';
import { launchChromium } from './support/browser';
import { sleep, TestMqttClient } from './support/mqtt';
import { TestApp } from './support/test-app';

const PREFIX = 'webcommunicator/dev';

// The page.evaluate callbacks run in Chromium. The project compiles without the DOM lib (it is
// server code), so they see the few browser globals they use through these module-local types.
interface BrowserElement {
  dataset: Record<string, string | undefined>;
  open?: boolean;
}
declare const document: {
  activeElement: unknown;
  cookie: string;
  querySelector(selector: string): { textContent: string | null } | null;
  addEventListener(type: 'securitypolicyviolation', listener: (event: { violatedDirective: string; blockedURI: string }) => void): void;
};
declare const window: { violations?: string[]; scrollTo(x: number, y: number): void };
declare const localStorage: { length: number };
declare const sessionStorage: { length: number };
const SCREENSHOT = join(__dirname, '..', 'docs', 'portal.png');

/**
 * The admin portal in real headless Chromium against a real app: sign in, users
 * (filter, search, pagination), ban a live mqtt.js client, send a broadcast and
 * see it in the page's own live feed (MQTT over WebSocket), inline channel errors.
 * `UPDATE_PORTAL_SCREENSHOT=1` also writes docs/portal.png.
 */
describe('admin portal (/portal) in headless Chromium', () => {
  let t: TestApp;
  let browser: Browser;
  let page: Page;
  let player: TestMqttClient;
  const pageErrors: string[] = [];
  const tmp = mkdtempSync(join(tmpdir(), 'wc-portal-'));

  async function register(clientId: string): Promise<{ url: string; connectionToken: string }> {
    const res = await request(t.url).post('/v1/registrations').set(t.auth(clientId)).send({ connectionType: 'WEBSOCKET' });
    expect(res.status).toBe(201);
    return res.body;
  }

  async function signIn(token: string): Promise<void> {
    await page.fill('#token', token);
    await page.click('#sign-in-form button[type="submit"]');
  }

  /** Waits until the users table has settled on `label` with `count` rows; returns their client ids. */
  async function showing(label: string, count: number): Promise<string[]> {
    let ids: Array<string | undefined> = [];
    let text: string | null = null;
    const deadline = Date.now() + 30_000;
    for (;;) {
      if ((await page.getAttribute('#users-table', 'aria-busy')) === 'false') {
        ids = await page
          .locator('#users-table tbody tr')
          .evaluateAll((rows) => rows.map((r) => (r as unknown as BrowserElement).dataset.clientId));
        text = await page.textContent('#users-page');
        if (ids.length === count && text === label) {
          return ids as string[];
        }
      }
      if (Date.now() > deadline) {
        throw new Error(`users table: expected ${label} with ${count} rows, shows ${String(text)} with ${ids.join(', ')}`);
      }
      await sleep(50);
    }
  }

  function row(clientId: string) {
    return page.locator(`#users-table tbody tr[data-client-id="${clientId}"]`);
  }

  beforeAll(async () => {
    t = await TestApp.start({
      channels: [
        { name: 'news', types: ['BROADCAST', 'PRIVATE'] },
        { name: 'chat', types: ['BROADCAST'], clientSend: true, maxMessageBytes: 256, rateLimit: { messages: 5, perSeconds: 10 } },
        { name: 'patches', types: ['BROADCAST'], communicationChannel: 'news' },
      ],
    });
    for (let i = 1; i <= 11; i += 1) {
      await register(`player-${String(i).padStart(2, '0')}`);
    }
    const reg = await register('player-live');
    player = await TestMqttClient.ws(reg.url, 'player-live', reg.connectionToken);
    expect(await player.subscribe(`${PREFIX}/news`)).toEqual([0]);

    browser = await launchChromium();
    const context = await browser.newContext({ viewport: { width: 1440, height: 1000 }, reducedMotion: 'reduce' });
    page = await context.newPage();
    // Fail a step with its own message rather than at the test's timeout.
    page.setDefaultTimeout(10_000);
    // Reported by the page itself: a CSP violation would mean the page breaks its own policy.
    await page.addInitScript(() => {
      document.addEventListener('securitypolicyviolation', (event) => {
        window.violations ??= [];
        window.violations.push(`${event.violatedDirective} ${event.blockedURI}`);
      });
    });
    page.on('pageerror', (error) => pageErrors.push(error.message));
    page.on('console', (message) => {
      // Refused API calls (4xx) are part of the scenarios; the page shows them inline.
      if (message.type() === 'error' && !/^Failed to load resource: the server responded with a status of 4\d\d/.test(message.text())) {
        pageErrors.push(message.text());
      }
    });
  });

  afterAll(async () => {
    await browser?.close();
    await player?.end();
    await t?.stop();
    rmSync(tmp, { recursive: true, force: true });
  });

  it('is served from the service itself: public, strict CSP, outside the OpenAPI document', async () => {
    const redirect = await request(t.url).get('/portal');
    expect(redirect.status).toBe(301);
    expect(redirect.headers.location).toBe('/portal/');
    const index = await request(t.url).get('/portal/');
    expect(index.status).toBe(200);
    expect(index.headers['content-type']).toMatch(/^text\/html/);
    expect(index.headers['content-security-policy']).toBe(PORTAL_CSP);
    expect(PORTAL_CSP).toContain("default-src 'self'");
    expect(PORTAL_CSP).toContain("connect-src 'self' ws: wss:");
    expect(PORTAL_CSP).not.toContain('unsafe-inline');
    expect(index.text).not.toMatch(/<script>(?!<\/script>)|<script(?![^>]*\bsrc=)[^>]*>|\son[a-z]+=|style=/i);
    const bundle = await request(t.url).get('/portal/vendor/mqtt.min.js');
    expect(bundle.status).toBe(200);
    expect(bundle.headers['content-type']).toMatch(/javascript/);
    expect(bundle.text.length).toBeGreaterThan(100_000);
    const missing = await request(t.url).get('/portal/nope.js');
    expect(missing.status).toBe(404);
    expect(missing.headers['content-type']).toMatch(/^application\/problem\+json/);
    const traversal = await request(t.url).get('/portal/..%2f..%2fpackage.json');
    expect([400, 403, 404]).toContain(traversal.status);
    // Registering the portal's plugin must not take the API's routes away from Nest's error handling.
    const malformed = await request(t.url)
      .post('/v1/messages/broadcast')
      .set(t.auth('svc', 'service'))
      .set('Content-Type', 'application/json')
      .send('{"channel":');
    expect([malformed.status, malformed.headers['content-type'], malformed.body.code]).toEqual([
      400,
      expect.stringMatching(/^application\/problem\+json/),
      'MALFORMED_JSON',
    ]);
    const spec = (await request(t.url).get('/openapi.json')).body as { paths: Record<string, unknown> };
    expect(Object.keys(spec.paths).filter((p) => p.startsWith('/portal'))).toEqual([]);
  });

  it('signs in with a pasted admin token; refuses other tokens inline', async () => {
    await page.goto(`${t.url}/portal/`);
    await expect(page.locator('#token')).toBeFocusedSoon();

    await signIn('not-a-jwt');
    await page.locator('#token-error').filter({ hasText: 'Sign-in refused' }).waitFor();
    expect(await page.getAttribute('#token', 'aria-invalid')).not.toBeNull();

    await signIn(t.token('player-01'));
    await page.locator('#token-error').filter({ hasText: 'no admin role' }).waitFor();

    await signIn(t.token('root', 'admin'));
    await page.locator('#workspace').waitFor();
    expect(await page.textContent('#whoami')).toBe('Signed in as root');
    await row('player-live').waitFor();
    // The page registered itself as a portal client and subscribed.
    await page.locator('#live-status[data-state="live"]').waitFor({ timeout: 10_000 });
    // sessionStorage only: nothing in localStorage or cookies.
    expect(await page.evaluate(() => [localStorage.length, document.cookie, sessionStorage.length])).toEqual([0, '', 1]);
  });

  it('pages through users with Next / Previous, filters by status and finds one by id', async () => {
    await page.selectOption('#users-limit', '10');
    const firstPage = await showing('Page 1', 10);
    expect(await page.isEnabled('#users-next')).toBe(true);
    expect(await page.isDisabled('#users-prev')).toBe(true);

    await page.click('#users-next');
    // 12 players + the portal's own registration (root) = 13 users: 10 + 3, no overlap.
    const secondPage = await showing('Page 2', 3);
    expect(new Set([...firstPage, ...secondPage]).size).toBe(13);
    expect(await page.isDisabled('#users-next')).toBe(true);

    await page.click('#users-prev');
    expect(await showing('Page 1', 10)).toEqual(firstPage);

    await page.fill('#users-search-id', 'player-07');
    await page.press('#users-search-id', 'Enter');
    expect(await showing('Search result', 1)).toEqual(['player-07']);

    await page.fill('#users-search-id', 'nobody-here');
    await page.press('#users-search-id', 'Enter');
    await page.locator('#users-message').filter({ hasText: 'No user nobody-here' }).waitFor();
    await showing('Search result', 0);

    await page.selectOption('#users-limit', '25');
    expect(await showing('Page 1', 13)).toContain('player-live');
  });

  it('bans a connected client from a confirmation dialog: its live connection drops and the table says BANNED', async () => {
    expect(player.connected).toBe(true);
    // The Online column follows presence (GET /v1/presence): a green dot for the live client.
    await row('player-live').locator('td.presence .dot.online').waitFor();
    expect(await row('player-live').locator('td.presence').textContent()).toBe('online');
    expect(await row('player-01').locator('td.presence').textContent()).toBe('offline');
    const closed = player.closed();
    const banButton = page.getByRole('button', { name: 'Ban player-live', exact: true });
    await banButton.click();
    const dialog = page.locator('#status-dialog');
    await dialog.waitFor();
    expect(await dialog.evaluate((d) => (d as unknown as BrowserElement).open)).toBe(true);
    expect(await page.textContent('#status-dialog-title')).toBe('Ban player-live?');
    // Focus moves into the dialog.
    await expect(page.locator('#status-reason')).toBeFocusedSoon();
    await page.keyboard.type('griefing in lobby 3');
    await page.click('#status-confirm');

    // The mqtt.js client sees its connection closed by the broker.
    await within(closed, 5000, 'the banned client is still connected');
    expect(player.connected).toBe(false);

    const banned = row('player-live');
    await banned.locator('.badge.banned').waitFor();
    expect(await banned.locator('.badge').textContent()).toBe('BANNED');
    expect(await banned.locator('td.reason').textContent()).toBe('griefing in lobby 3');
    await banned.locator('td.presence .dot.offline').waitFor();
    expect(await dialog.evaluate((d) => (d as unknown as BrowserElement).open)).toBe(false);
    // Focus returns to the row's (new) action button, and the status line says what happened.
    await expect(page.getByRole('button', { name: 'Un-ban player-live', exact: true })).toBeFocusedSoon();
    expect(await page.textContent('#users-message')).toBe('Banned player-live: its live connections were closed.');

    // The service agrees, and the broker refuses the client now.
    const user = await request(t.url).get('/v1/admin/users/player-live').set(t.auth('root', 'admin'));
    expect(user.body).toEqual(expect.objectContaining({ status: 'BANNED', banReason: 'griefing in lobby 3', connected: false }));

    // Status filter: only the banned one.
    await page.selectOption('#users-status', 'BANNED');
    expect(await showing('Page 1', 1)).toEqual(['player-live']);

    // Escape cancels the dialog and gives focus back to the button that opened it.
    await page.getByRole('button', { name: 'Un-ban player-live', exact: true }).click();
    await page.keyboard.press('Escape');
    await expect(page.getByRole('button', { name: 'Un-ban player-live', exact: true })).toBeFocusedSoon();
    expect((await request(t.url).get('/v1/admin/users/player-live').set(t.auth('root', 'admin'))).body.status).toBe('BANNED');
    await page.selectOption('#users-status', '');
  });

  it('bans until a chosen time: refuses a past end inline, sends expiresAt, shows the end in the row', async () => {
    await page.selectOption('#users-status', '');
    await page.getByRole('button', { name: 'Ban player-02', exact: true }).click();
    await expect(page.locator('#status-reason')).toBeFocusedSoon();
    expect(await page.isVisible('#status-expires')).toBe(true);

    // A time in the past never reaches the API.
    await page.fill('#status-expires', '2001-01-01T10:00');
    await page.click('#status-confirm');
    expect(await page.textContent('#status-error')).toBe('The end of the ban must be a time in the future.');
    await expect(page.locator('#status-expires')).toBeFocusedSoon();
    expect((await request(t.url).get('/v1/admin/users/player-02').set(t.auth('root', 'admin'))).body.status).toBe('REGISTERED');

    // Tomorrow, to the minute, in the browser's own time zone.
    const [local, iso] = await page.evaluate(() => {
      const end = new Date(Date.now() + 86_400_000);
      end.setSeconds(0, 0);
      const pad = (n: number): string => String(n).padStart(2, '0');
      return [`${end.getFullYear()}-${pad(end.getMonth() + 1)}-${pad(end.getDate())}T${pad(end.getHours())}:${pad(end.getMinutes())}`, end.toISOString()];
    });
    await page.fill('#status-reason', 'spam, one day');
    await page.fill('#status-expires', local);
    await page.click('#status-confirm');

    const banned = row('player-02');
    await banned.locator('.badge.banned').waitFor();
    expect(await banned.locator('td.reason time').getAttribute('datetime')).toBe(iso);
    expect(await banned.locator('td.reason').textContent()).toMatch(/^spam, one day · until .+/);
    expect(await page.textContent('#users-message')).toMatch(/^Banned player-02 until .+: its live connections were closed\.$/);
    const user = await request(t.url).get('/v1/admin/users/player-02').set(t.auth('root', 'admin'));
    expect(user.body).toEqual(expect.objectContaining({ status: 'BANNED', banReason: 'spam, one day', banExpiresAt: iso }));

    // An un-ban has no end to set; afterwards the row has none either.
    await page.getByRole('button', { name: 'Un-ban player-02', exact: true }).click();
    expect(await page.isVisible('#status-expires')).toBe(false);
    await page.click('#status-confirm');
    await row('player-02').locator('.badge.registered').waitFor();
    expect(await row('player-02').locator('td.reason').textContent()).toBe('');
  });

  it("shows a client's state document and edits desired (merge patch, version-checked)", async () => {
    const service = t.auth('svc', 'service');
    await request(t.url).patch('/v1/clients/player-03/state').set(service).send({ desired: { volume: 3 }, reported: { volume: 1, fps: 60 } });
    await page.fill('#users-search-id', 'player-03');
    await page.press('#users-search-id', 'Enter');
    await showing('Search result', 1);
    await page.getByRole('button', { name: 'State of player-03', exact: true }).click();
    await page.locator('#state-version').filter({ hasText: '1' }).waitFor();
    expect(JSON.parse((await page.textContent('#state-desired'))!)).toEqual({ volume: 3 });
    expect(JSON.parse((await page.textContent('#state-reported'))!)).toEqual({ volume: 1, fps: 60 });
    expect(JSON.parse((await page.textContent('#state-delta'))!)).toEqual({ volume: 3 });
    await expect(page.locator('#state-patch')).toBeFocusedSoon();

    // Not JSON: refused in the page, nothing sent.
    await page.fill('#state-patch', '{volume: 7');
    await page.click('#state-apply');
    await page.locator('#state-error').filter({ hasText: 'valid JSON' }).waitFor();

    await page.fill('#state-patch', '{"volume": 7, "mode": "ranked"}');
    await page.click('#state-apply');
    await page.locator('#state-version').filter({ hasText: '2' }).waitFor();
    expect(JSON.parse((await page.textContent('#state-delta'))!)).toEqual({ volume: 7, mode: 'ranked' });
    const stored = await request(t.url).get('/v1/clients/player-03/state').set(service);
    expect(stored.body).toEqual(expect.objectContaining({ version: 2, state: expect.objectContaining({ desired: { volume: 7, mode: 'ranked' } }) }));

    // Someone else changed it meanwhile: the page's version is stale, the API's 409 is shown.
    await request(t.url).patch('/v1/clients/player-03/state').set(service).send({ desired: { mode: 'casual' } });
    await page.fill('#state-patch', '{"mode": null}');
    await page.click('#state-apply');
    await page.locator('#state-error').filter({ hasText: 'VERSION_CONFLICT' }).waitFor();
    expect((await request(t.url).get('/v1/clients/player-03/state').set(service)).body.state.desired).toEqual({ volume: 7, mode: 'casual' });

    await page.click('#state-close');
    await expect(page.getByRole('button', { name: 'State of player-03', exact: true })).toBeFocusedSoon();
    await page.fill('#users-search-id', '');
    await page.press('#users-search-id', 'Enter');
  });

  it('sends a broadcast from the page and sees it in its live feed (MQTT over WebSocket)', async () => {
    await page.locator('#live-status[data-state="live"]').waitFor({ timeout: 10_000 });
    expect(await page.textContent('#live-status')).toBe(`Live: ${PREFIX}/#`);

    // A message published by someone else shows up too.
    await request(t.url)
      .post('/v1/messages/broadcast')
      .set(t.auth('content-service', 'service'))
      .send({ channel: 'patches', message: 'patch 1.2 is out' });
    await page.locator('#live-feed li').filter({ hasText: 'patch 1.2 is out' }).waitFor();

    await page.check('input[name="kind"][value="broadcast"]');
    await page.selectOption('#send-channel', 'news');
    await page.fill('#send-message', 'hello from the portal <b>not bold</b>');
    await page.click('#send-form button[type="submit"]');
    await page
      .locator('#send-result')
      .filter({ hasText: `on ${PREFIX}/news` })
      .waitFor();
    const item = page.locator('#live-feed li').filter({ hasText: 'hello from the portal' });
    await item.waitFor();
    // Shown as text, never as HTML.
    expect(await item.locator('pre').textContent()).toBe('hello from the portal <b>not bold</b>');
    expect(await item.locator('b').count()).toBe(0);
    expect(await page.getAttribute('#live-feed', 'aria-live')).toBe('polite');

    // A direct message to an unknown client: the problem's detail and code, inline.
    await page.check('input[name="kind"][value="direct"]');
    await page.fill('#send-client', 'ghost');
    await page.fill('#send-message', 'boo');
    await page.click('#send-form button[type="submit"]');
    await page.locator('#send-form-error').filter({ hasText: 'USER_NOT_FOUND' }).waitFor();
    await page.fill('#send-client', 'player-01');
    await page.click('#send-form button[type="submit"]');
    await page
      .locator('#send-result')
      .filter({ hasText: `${PREFIX}/news/client/player-01` })
      .waitFor();
    await page.locator('#live-feed li').filter({ hasText: 'to player-01' }).waitFor();
    await page.check('input[name="kind"][value="broadcast"]');
    await page.fill('#send-message', 'new pak available');
  });

  it('shows the API validation errors next to the channel editor fields', async () => {
    await page.click('#channel-new');
    await expect(page.locator('#ch-name')).toBeFocusedSoon();
    await page.fill('#ch-name', 'tournament');
    await page.fill('#ch-max', '999999');
    await page.fill('#ch-rate-messages', '0');
    await page.fill('#ch-rate-seconds', '10');
    await page.fill('#ch-schema', '{"type": 12}');
    await page.click('#channel-form button[type="submit"]');

    await page.locator('#ch-max-error').filter({ hasText: /./ }).waitFor();
    expect(await page.textContent('#ch-max-error')).toMatch(/131072/);
    // Messages say the field's label, not its JSON name.
    expect(await page.textContent('#ch-max-error')).toMatch(/^Largest client message \(bytes\) /);
    expect(await page.textContent('#channel-form')).not.toContain('maxMessageBytes');
    expect(await page.getAttribute('#ch-max', 'aria-invalid')).toBe('true');
    expect(await page.textContent('#ch-rate-error')).toContain('Messages must not be less than 1');
    expect(await page.getAttribute('#ch-rate-messages', 'aria-invalid')).toBe('true');
    // The schema (JSON, but not a JSON Schema) is reported in the same answer, on its own field.
    expect(await page.textContent('#ch-schema-error')).toMatch(/schema is invalid/);
    expect(await page.getAttribute('#ch-schema', 'aria-invalid')).toBe('true');
    expect(await page.textContent('#channel-form-error')).toContain('VALIDATION_FAILED');
    // The first invalid field gets the focus.
    expect(await page.evaluate(() => (document.activeElement as { id?: string } | null)?.id)).toBe('ch-max');

    // The other fields fixed: only the schema is left.
    await page.fill('#ch-max', '512');
    await page.fill('#ch-rate-messages', '3');
    await page.click('#channel-form button[type="submit"]');
    await page.waitForFunction(() => document.querySelector('#ch-max-error')?.textContent === '');
    expect(await page.textContent('#ch-schema-error')).toMatch(/schema is invalid/);
    expect(await page.textContent('#ch-rate-error')).toBe('');
    // Not JSON at all: caught in the page, no request.
    await page.fill('#ch-schema', '{"type": ');
    await page.click('#channel-form button[type="submit"]');
    await page.locator('#ch-schema-error').filter({ hasText: 'not valid JSON' }).waitFor();

    // Fixed: saved, listed, offered for sending.
    await page.fill('#ch-schema', '{"type": "object", "required": ["round"]}');
    await page.check('#ch-client-send');
    await page.click('#channel-form button[type="submit"]');
    await page.locator('#channels-table tr[data-channel="tournament"]').waitFor();
    expect(await page.isHidden('#channel-form')).toBe(true);
    const saved = await request(t.url).get('/v1/admin/channels').set(t.auth('root', 'admin'));
    expect(saved.body.channels).toContainEqual(
      expect.objectContaining({
        name: 'tournament',
        types: ['BROADCAST'],
        clientSend: true,
        maxMessageBytes: 512,
        rateLimit: { messages: 3, perSeconds: 10 },
        messageSchema: { type: 'object', required: ['round'] },
      }),
    );
    await page.locator('#send-channel option[value="tournament"]').waitFor({ state: 'attached' });
  });

  it('offers no Ban button on the admin\'s own portal session', async () => {
    await page.fill('#users-search-id', 'root');
    await page.click('#users-search button[type="submit"]');
    const own = row('root');
    await own.waitFor();
    expect(await own.getByRole('button', { name: /^(Ban|Un-ban) / }).count()).toBe(0);
    expect(await own.locator('td').last().textContent()).toMatch(/\byou$/);
    await page.fill('#users-search-id', '');
    await page.click('#users-search button[type="submit"]');
  });

  it('fits a laptop (1366 px: no wrapped ids or buttons, toolbar on one row) and a phone (420 px: no sideways scrolling, actions on screen)', async () => {
    await register('eu-west-1:1234abcd-5678-90ef-1234-567890abcdef');
    await page.click('#users-refresh');
    await row('eu-west-1:1234abcd-5678-90ef-1234-567890abcdef').waitFor();
    for (const width of [1366, 420]) {
      await page.setViewportSize({ width, height: 900 });
      await page.evaluate(() => window.scrollTo(0, 0));
      // Evaluated in the page (a string: this file compiles without the DOM library).
      const layout = await page.evaluate<{ overflow: number; toolbarRows: number; wrappedIds: number; wrappedButtons: number; actionsOffScreen: number }>(`(() => {
        const doc = document.documentElement;
        // The toolbar aligns its items at the bottom: one row = one bottom edge.
        const bottoms = (selector) => [...document.querySelectorAll(selector)].map((e) => Math.round(e.getBoundingClientRect().bottom));
        const lineCount = (e) => Math.round(e.getBoundingClientRect().height / parseFloat(getComputedStyle(e).lineHeight || '20'));
        return {
          overflow: doc.scrollWidth - doc.clientWidth,
          toolbarRows: new Set(bottoms('#users .toolbar > *')).size,
          wrappedIds: [...document.querySelectorAll('#users-table tbody th code')].filter((e) => lineCount(e) > 1).length,
          wrappedButtons: [...document.querySelectorAll('#users-table button, #users .toolbar button')].filter((e) => e.getBoundingClientRect().height > 40).length,
          actionsOffScreen: [...document.querySelectorAll('#users-table tbody button, #channels-table tbody button')].filter((e) => e.getBoundingClientRect().right > doc.clientWidth).length,
        };
      })()`);
      expect({ width, overflow: layout.overflow, actionsOffScreen: layout.actionsOffScreen, wrappedButtons: layout.wrappedButtons }).toEqual({ width, overflow: 0, actionsOffScreen: 0, wrappedButtons: 0 });
      if (width === 1366) {
        expect(layout.toolbarRows).toBe(1);
        expect(layout.wrappedIds).toBe(0);
      }
      const file = join(tmp, `portal-${width}.png`);
      await page.screenshot({ path: file, fullPage: true });
      if (process.env.UPDATE_PORTAL_SCREENSHOT === '1') {
        writeFileSync(join(__dirname, '..', 'docs', `portal-${width}.png`), readFileSync(file));
      }
    }
    await page.setViewportSize({ width: 1440, height: 1000 });
  });

  it('keeps to its own CSP and throws no errors; takes the screenshot', async () => {
    await page.click('#channel-new');
    await page.fill('#ch-name', 'lobby');
    await page.fill('#ch-max', 'lots');
    await page.click('#channel-form button[type="submit"]');
    await page.locator('#ch-max-error').filter({ hasText: /./ }).waitFor();
    await page.evaluate(() => window.scrollTo(0, 0));

    const file = join(tmp, 'portal.png');
    await page.screenshot({ path: file, fullPage: true });
    const png = readFileSync(file);
    expect(png.subarray(1, 4).toString('latin1')).toBe('PNG');
    if (process.env.UPDATE_PORTAL_SCREENSHOT === '1') {
      writeFileSync(SCREENSHOT, png);
    }
    expect(await page.evaluate(() => window.violations ?? [])).toEqual([]);
    expect(pageErrors).toEqual([]);
  });

  it('signs out: the token leaves sessionStorage and the feed disconnects', async () => {
    await page.click('#sign-out');
    await page.locator('#sign-in').waitFor();
    expect(await page.evaluate(() => sessionStorage.length)).toBe(0);
    expect(await page.textContent('#live-status')).toBe('Not connected');
    await eventually(async () => (await request(t.url).get('/v1/admin/users/root').set(t.auth('root', 'admin'))).body.connected, false);
  });
});

async function within(promise: Promise<unknown>, ms: number, failure: string): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([promise, new Promise((_, reject) => (timer = setTimeout(() => reject(new Error(failure)), ms)))]);
  } finally {
    clearTimeout(timer);
  }
}

/** Polls `read` until it returns `expected` (5 s). */
async function eventually<T>(read: () => Promise<T>, expected: T): Promise<void> {
  const deadline = Date.now() + 30_000;
  let last: T | undefined;
  while (Date.now() < deadline) {
    last = await read();
    if (last === expected) {
      return;
    }
    await sleep(50);
  }
  throw new Error(`expected ${String(expected)}, still ${String(last)}`);
}

declare global {
  // eslint-disable-next-line @typescript-eslint/no-namespace
  namespace jest {
    interface Matchers<R> {
      toBeFocusedSoon(): Promise<R>;
    }
  }
}

expect.extend({
  /** Polls (up to 5 s) until the Playwright locator is the focused element. */
  async toBeFocusedSoon(locator: import('playwright-core').Locator) {
    const deadline = Date.now() + 30_000;
    let focused = false;
    while (Date.now() < deadline) {
      focused = await locator.evaluate((el) => el === document.activeElement).catch(() => false);
      if (focused) {
        break;
      }
      await sleep(50);
    }
    return { pass: focused, message: () => `expected ${String(locator)} to be focused` };
  },
});
