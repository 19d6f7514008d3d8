// Headless-Chromium check of the built bundle (dist/main.js) on a harness page that imitates Mattermost's plugin
// host. A node:http server on 127.0.0.1 serves the page, React's UMD builds and stubs of the plugin's routes;
// playwright-core drives Debian's Chromium. Prints "browser: N passed, N failed" and exits non-zero on failure.
//
//   node build.mjs && node tests/browser/run.mjs        (npm run test:browser does both)
import {createHash} from 'node:crypto';
import zlib from 'node:zlib';
import {existsSync, readFileSync} from 'node:fs';
import {mkdir, mkdtemp, readFile, rm} from 'node:fs/promises';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import {fileURLToPath} from 'node:url';

import {chromium} from 'playwright-core';

const here = path.dirname(fileURLToPath(import.meta.url));
const webapp = path.resolve(here, '../..');
const outDir = path.join(here, 'out');
const chromiumPath = process.env.CHROMIUM_PATH || '/usr/bin/chromium';

const PLUGIN = '/plugins/com.mattermost.msteams';
const CSRF = 'csrf-token-7f3a';
const SESSION = 'session-token-1b2c';

const staticFiles = {
    '/': ['harness/index.html', 'text/html'],
    '/harness.js': ['harness/harness.js', 'text/javascript'],
    '/vendor/react.js': ['../../node_modules/react/umd/react.development.js', 'text/javascript'],
    '/vendor/react-dom.js': ['../../node_modules/react-dom/umd/react-dom.development.js', 'text/javascript'],
    '/static/main.js': ['../../dist/main.js', 'text/javascript'],
    '/static/main.js.map': ['../../dist/main.js.map', 'application/json'],
};

// The script of the core's connect result page, read from its source (core/web/pages.cpp), so these tests drive the
// real thing: the stub serves it with the same data attributes and the same hash-based CSP.
function coreResultScript() {
    const source = readFileSync(path.resolve(webapp, '../core/web/pages.cpp'), 'utf8');
    const m = source.match(/k_result_script\s*=\s*((?:"(?:[^"\\]|\\.)*"\s*)+);/);
    if (!m) {
        throw new Error('k_result_script not found in core/web/pages.cpp');
    }
    return [...m[1].matchAll(/"((?:[^"\\]|\\.)*)"/g)].map((q) => JSON.parse(`"${q[1]}"`)).join('');
}
const RESULT_SCRIPT = coreResultScript();
const RESULT_SCRIPT_HASH = createHash('sha256').update(RESULT_SCRIPT).digest('base64');

function escapeHTML(text) {
    return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;').replace(/'/g, '&#39;');
}

// As core/web/pages.cpp connect_result_page builds it.
function resultPage(res, status, outcome, title, text) {
    res.writeHead(status, {
        'Content-Type': 'text/html; charset=utf-8',
        'Cache-Control': 'no-store',
        'Content-Security-Policy': `default-src 'none'; style-src 'unsafe-inline'; script-src 'sha256-${RESULT_SCRIPT_HASH}'`,
    });
    res.end(`<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>${escapeHTML(title)}</title></head>` +
        `<body data-outcome="${outcome}" data-message="${escapeHTML(text)}"><h1>${escapeHTML(title)}</h1>` +
        `<p>${escapeHTML(text)}</p><p><a href="../../">Back to Mattermost</a></p><script>${RESULT_SCRIPT}</script></body></html>`);
}

// What the stubbed server answers; each test sets it before loading the page.
let stub;
let requests;

function resetStub(overrides = {}) {
    stub = {
        enforce: true,
        allowSkip: true,
        connected: false,
        canConnect: true,
        displayName: 'Ada Lovelace',
        email: 'ada@contoso.com',
        disconnectError: null,
        // What the sign-in window ends on: 'connected', 'refused', 'cancelled', or 'stay' (a page that waits).
        connectOutcome: 'stay',
        coop: false,  // the waiting page sends Cross-Origin-Opener-Policy: same-origin, as Microsoft's does
        refuseReason: '',
        bridged: [],
        teamsApp: null,  // the package route's answer: {status, body, headers}
        ...overrides,
    };
    requests = [];
}

function cookies(req) {
    const out = {};
    for (const part of (req.headers.cookie || '').split(';')) {
        const eq = part.indexOf('=');
        if (eq > 0) {
            out[part.slice(0, eq).trim()] = part.slice(eq + 1).trim();
        }
    }
    return out;
}

function sendJSON(res, status, body) {
    res.writeHead(status, {'Content-Type': 'application/json', 'Cache-Control': 'no-store'});
    res.end(JSON.stringify(body));
}

function apiError(res, status, id, message) {
    sendJSON(res, status, {id, message, status_code: status});
}

async function handle(req, res) {
    const url = new URL(req.url, 'http://127.0.0.1');
    if (url.pathname.startsWith(PLUGIN)) {
        const route = url.pathname.slice(PLUGIN.length);
        requests.push({method: req.method, route, headers: {...req.headers}});

        // Like Mattermost in front of a plugin: no session cookie, no user; a cookie-authenticated non-GET needs
        // the CSRF token (X-Requested-With alone would pass only with strict enforcement off).
        const jar = cookies(req);
        if (jar.MMAUTHTOKEN !== SESSION) {
            return apiError(res, 401, 'api.context.session_expired.app_error', 'Not logged in.');
        }
        if (req.method !== 'GET' && req.headers['x-csrf-token'] !== jar.MMCSRF) {
            return apiError(res, 401, 'api.context.csrf', 'CSRF token missing or wrong.');
        }
        if (req.method === 'GET' && route === '/api/v1/config') {
            return sendJSON(res, 200, {
                enforce_connected_accounts: stub.enforce,
                allow_skip_connect_accounts: stub.allowSkip,
                chat_sync: 'mirror',
            });
        }
        if (req.method === 'GET' && route === '/api/v1/connection-status') {
            return sendJSON(res, 200, {
                connected: stub.connected,
                teams_user_id: stub.connected ? 'teams-ada' : '',
                teams_email: stub.connected ? stub.email : '',
                teams_display_name: stub.connected ? stub.displayName : '',
                can_connect: stub.canConnect,
            });
        }
        if (req.method === 'POST' && route === '/api/v1/disconnect') {
            if (stub.disconnectError) {
                return apiError(res, 500, 'msteams.disconnect', stub.disconnectError);
            }
            stub.connected = false;
            return sendJSON(res, 200, {connected: false});
        }
        if (route === '/api/v1/primary' && (req.method === 'GET' || req.method === 'POST')) {
            return sendJSON(res, 200, {primary: 'mattermost', feed: true, blocked: false, notifications_changed: true});
        }
        if (req.method === 'GET' && route === '/api/v1/channel-bridged') {
            return sendJSON(res, 200, {bridged: stub.bridged.includes(url.searchParams.get('channel_id'))});
        }
        if (req.method === 'GET' && route === '/admin/teams-app.zip' && stub.teamsApp) {
            res.writeHead(stub.teamsApp.status, stub.teamsApp.headers);
            return res.end(stub.teamsApp.body);
        }
        if (req.method === 'GET' && route === '/connect') {
            switch (stub.connectOutcome) {
            case 'connected':
                stub.connected = true;
                return resultPage(res, 200, 'connected', 'Microsoft Teams connected',
                    'Your Mattermost account is now connected to Microsoft Teams as Ada Lovelace (ada@contoso.com).');
            case 'refused':
                return resultPage(res, 403, 'refused', 'Could not connect to Microsoft Teams', stub.refuseReason);
            case 'cancelled':
                return resultPage(res, 400, 'cancelled', 'Microsoft Teams was not connected',
                    'The sign-in was cancelled or permission was not granted.');
            default:
                // Microsoft's sign-in pages send COOP same-origin, which cuts the window off from its opener.
                res.writeHead(200, {'Content-Type': 'text/html',
                    ...(stub.coop ? {'Cross-Origin-Opener-Policy': 'same-origin'} : {})});
                return res.end('<!doctype html><title>Sign in</title><p>Signing in with Microsoft…</p>');
            }
        }
        return apiError(res, 404, 'not_found', 'Not found.');
    }

    // A page of another origin (the tests load it as http://localhost:<port>) that posts a forged outcome.
    if (url.pathname === '/forge') {
        res.writeHead(200, {'Content-Type': 'text/html'});
        return res.end('<!doctype html><script>parent.postMessage({type: "com.mattermost.msteams:connect-result", ' +
            'outcome: "refused", message: "forged by another site"}, "*");</script>');
    }
    if (url.pathname === '/favicon.ico') {
        res.writeHead(204);
        return res.end();
    }
    const file = staticFiles[url.pathname];
    if (!file || req.method !== 'GET') {
        res.writeHead(404);
        return res.end();
    }
    const headers = {'Content-Type': file[1], 'Cache-Control': 'no-store'};
    if (url.pathname === '/') {
        headers['Set-Cookie'] = [`MMAUTHTOKEN=${SESSION}; Path=/; HttpOnly`, `MMCSRF=${CSRF}; Path=/`];
    }
    res.writeHead(200, headers);
    res.end(await readFile(path.join(here, file[0])));
}

// ---- a minimal test runner ----

const tests = [];
function test(name, fn) {
    tests.push({name, fn});
}

function assert(cond, message) {
    if (!cond) {
        throw new Error(message);
    }
}

function assertEqual(actual, expected, what) {
    if (actual !== expected) {
        throw new Error(`${what}: expected ${JSON.stringify(expected)}, got ${JSON.stringify(actual)}`);
    }
}

let context;
let base;

// A fresh page with the harness loaded and the plugin registered; collects page errors and console errors.
async function openHarness(query = '') {
    const page = await context.newPage();
    page.setDefaultTimeout(5000);
    page.problems = [];
    page.on('pageerror', (err) => page.problems.push(`pageerror: ${err.message}`));
    page.on('console', (msg) => {
        if (msg.type() === 'error') {
            page.problems.push(`console.error: ${msg.text()}`);
        }
    });
    await page.goto(`${base}/${query}`);
    await page.waitForFunction(() => window.__harness && window.__harness.pluginId !== '');
    return page;
}

const prompt = (page) => page.getByRole('dialog', {name: 'Connect your Microsoft Teams account'});

async function expectGone(locator, what) {
    await locator.waitFor({state: 'detached', timeout: 3000}).catch(() => {
        throw new Error(`${what} is still shown`);
    });
}

// Gives the plugin time to act on something before checking that nothing changed.
async function settle(page) {
    await page.evaluate(() => new Promise((r) => setTimeout(r, 150)));
}

test('registers under the manifest id with its websocket handlers', async () => {
    resetStub({enforce: false});
    const page = await openHarness();
    const h = await page.evaluate(() => ({
        id: window.__harness.pluginId,
        ws: Object.keys(window.__harness.ws).sort(),
        roots: window.__harness.roots.length,
        menu: window.__harness.menu.length,
        settings: window.__harness.userSettings && window.__harness.userSettings.uiName,
    }));
    assertEqual(h.id, 'com.mattermost.msteams', 'plugin id');
    assertEqual(h.ws.join(','), 'custom_com.mattermost.msteams_config_changed,' +
        'custom_com.mattermost.msteams_connect_outcome,custom_com.mattermost.msteams_connection_changed',
    'websocket events');
    assertEqual(h.roots, 2, 'root components with registerUserSettings (the prompt and the bridged banner)');
    assertEqual(h.menu, 0, 'main-menu actions with registerUserSettings');
    assertEqual(h.settings, 'MS Teams', 'user settings tab');
    await page.close();
    return page;
});

test('prompt shows when enforced and not connected, focused and labelled', async () => {
    resetStub();
    const page = await openHarness();
    const dialog = prompt(page);
    await dialog.waitFor();
    assertEqual(await dialog.getAttribute('aria-modal'), 'true', 'aria-modal');
    assert((await dialog.textContent()).includes('same email address'), 'explains the same-email rule');
    await page.getByRole('button', {name: 'Skip for now'}).waitFor();
    const focused = await page.evaluate(() => document.activeElement && document.activeElement.textContent);
    assertEqual(focused, 'Connect account', 'focused element on open');
    // Tab stays inside the dialog.
    for (let i = 0; i < 3; i++) {
        await page.keyboard.press('Tab');
        const inside = await page.evaluate(() => Boolean(document.activeElement.closest('[role="dialog"]')));
        assert(inside, `focus left the dialog after ${i + 1} Tab presses`);
    }
    await mkdir(outDir, {recursive: true});
    await page.screenshot({path: path.join(outDir, 'prompt.png')});
    return page;
});

test('"Skip for now" hides the prompt and it is back after a reload', async () => {
    resetStub();
    const page = await openHarness();
    await prompt(page).waitFor();
    await page.getByRole('button', {name: 'Skip for now'}).click();
    await expectGone(prompt(page), 'prompt after skip');
    await page.reload();
    await page.waitForFunction(() => window.__harness && window.__harness.pluginId !== '');
    await prompt(page).waitFor();
    return page;
});

test('Escape skips when skipping is allowed', async () => {
    resetStub();
    const page = await openHarness();
    await prompt(page).waitFor();
    await page.keyboard.press('Escape');
    await expectGone(prompt(page), 'prompt after Escape');
    return page;
});

test('without skip: no skip button and Escape does not close it', async () => {
    resetStub({allowSkip: false});
    const page = await openHarness();
    await prompt(page).waitFor();
    assertEqual(await page.getByRole('button', {name: 'Skip for now'}).count(), 0, 'skip buttons');
    await page.keyboard.press('Escape');
    await settle(page);
    assert(await prompt(page).isVisible(), 'prompt closed by Escape');
    await mkdir(outDir, {recursive: true});
    await page.screenshot({path: path.join(outDir, 'prompt-no-skip.png')});
    return page;
});

test('a new login asks again after a skip', async () => {
    resetStub();
    const page = await openHarness();
    await prompt(page).waitFor();
    await page.getByRole('button', {name: 'Skip for now'}).click();
    await expectGone(prompt(page), 'prompt after skip');
    await page.evaluate(() => window.__harness.setUser(''));
    await settle(page);
    await page.evaluate(() => window.__harness.setUser('user-ada'));
    await prompt(page).waitFor();
    return page;
});

test('logged out (login page): no plugin request, no console error; a login loads and prompts', async () => {
    resetStub();
    const page = await openHarness('?user=none');
    await page.evaluate(() => {
        window.__harness.fireReconnect();
        window.__harness.fireWebSocket('custom_com.mattermost.msteams_config_changed', {});
    });
    await settle(page);
    assertEqual(requests.length, 0, `plugin requests while logged out (${requests.map((r) => r.route).join(', ')})`);
    await page.evaluate(() => window.__harness.setUser('user-ada'));
    await prompt(page).waitFor();
    assertEqual([...new Set(requests.map((r) => r.route))].sort().join(','), '/api/v1/config,/api/v1/connection-status',
        'routes read after login');
    return page;
});

test('"Connect account" opens the connect page; connection_changed hides the prompt', async () => {
    resetStub();
    const page = await openHarness();
    await prompt(page).waitFor();
    await prompt(page).getByRole('button', {name: 'Connect account'}).click();
    const opened = await page.evaluate(() => window.__harness.opened);
    assertEqual(opened.length, 1, 'window.open calls');
    assertEqual(opened[0].url, `${base}${PLUGIN}/connect`, 'connect URL');
    await prompt(page).getByText('Finish signing in in the new window').waitFor();
    stub.connected = true;
    await page.evaluate(() => window.__harness.fireWebSocket('custom_com.mattermost.msteams_connection_changed',
        {connected: true, teams_display_name: 'Ada Lovelace', teams_email: 'ada@contoso.com'}));
    await expectGone(prompt(page), 'prompt after connection_changed');
    await page.getByTestId('msteams-connection').getByText('Connected as Ada Lovelace (ada@contoso.com)').waitFor();
    return page;
});

test('focus fallback: returning to the window re-reads the status', async () => {
    resetStub();
    const page = await openHarness();
    await prompt(page).waitFor();
    await prompt(page).getByRole('button', {name: 'Connect account'}).click();
    stub.connected = true; // the server finished the flow but the websocket event was lost
    await page.evaluate(() => window.dispatchEvent(new Event('focus')));
    await expectGone(prompt(page), 'prompt after focus');
    return page;
});

test('blocked popup: a plain link to the connect page is offered', async () => {
    resetStub();
    const page = await openHarness('?popup=blocked');
    await prompt(page).waitFor();
    await prompt(page).getByRole('button', {name: 'Connect account'}).click();
    const link = prompt(page).getByRole('link', {name: 'Open the Microsoft sign-in page'});
    await link.waitFor();
    assertEqual(await link.getAttribute('href'), `${base}${PLUGIN}/connect`, 'link href');
    return page;
});

test('no prompt when not enforced, when connected, or when connecting is impossible', async () => {
    for (const [label, overrides] of [
        ['not enforced', {enforce: false}],
        ['connected', {connected: true}],
        ['limit reached', {canConnect: false}],
    ]) {
        resetStub(overrides);
        const page = await openHarness();
        await page.getByTestId('msteams-connection').waitFor();
        await settle(page);
        assertEqual(await prompt(page).count(), 0, `prompts when ${label}`);
        assert(page.problems.length === 0, page.problems.join('; '));
        await page.close();
    }
    return null;
});

test('config_changed re-reads the configuration', async () => {
    resetStub({enforce: false});
    const page = await openHarness();
    await page.getByTestId('msteams-connection').waitFor();
    stub.enforce = true;
    await page.evaluate(() => window.__harness.fireWebSocket('custom_com.mattermost.msteams_config_changed', {}));
    await prompt(page).waitFor();
    return page;
});

test('user settings section: not connected, then connected, then limit reached', async () => {
    resetStub({enforce: false});
    let page = await openHarness();
    const section = page.locator('#user-settings');
    await section.getByText('Not connected').waitFor();
    await section.getByRole('button', {name: 'Connect account'}).click();
    assertEqual((await page.evaluate(() => window.__harness.opened))[0].url, `${base}${PLUGIN}/connect`, 'connect URL');
    await page.evaluate(() => window.__harness.fireWebSocket('custom_com.mattermost.msteams_connection_changed',
        {connected: true, teams_display_name: 'Ada Lovelace', teams_email: 'ada@contoso.com'}));
    await section.getByText('Connected as Ada Lovelace (ada@contoso.com)').waitFor();
    await page.close();

    resetStub({enforce: false, canConnect: false});
    page = await openHarness();
    await page.locator('#user-settings').getByText('maximum number of connected users').waitFor();
    assertEqual(await page.locator('#user-settings').getByRole('button', {name: 'Connect account'}).count(), 0,
        'connect buttons at the limit');
    return page;
});

test('main-menu fallback: dialog shows the account, Disconnect sends the CSRF header', async () => {
    resetStub({enforce: false, connected: true});
    const page = await openHarness('?settings=menu');
    const item = page.getByRole('button', {name: 'MS Teams account'});
    await item.click();
    const dialog = page.getByRole('dialog', {name: 'Microsoft Teams account'});
    await dialog.getByText('Connected as Ada Lovelace (ada@contoso.com)').waitFor();
    await mkdir(outDir, {recursive: true});
    await page.screenshot({path: path.join(outDir, 'settings-dialog.png')});
    await dialog.getByRole('button', {name: 'Disconnect'}).click();
    await dialog.getByRole('button', {name: 'Yes, disconnect'}).click();
    await dialog.getByText('Not connected').waitFor();
    await dialog.getByRole('button', {name: 'Connect account'}).waitFor();
    const posts = requests.filter((r) => r.method === 'POST' && r.route === '/api/v1/disconnect');
    assertEqual(posts.length, 1, 'disconnect requests');
    assertEqual(posts[0].headers['x-csrf-token'], CSRF, 'X-CSRF-Token');
    assertEqual(posts[0].headers['x-requested-with'], 'XMLHttpRequest', 'X-Requested-With');
    const gets = requests.filter((r) => r.method === 'GET');
    assert(gets.length > 0 && gets.every((r) => r.headers['x-requested-with'] === 'XMLHttpRequest'),
        'every GET carries X-Requested-With');
    await page.keyboard.press('Escape');
    await expectGone(dialog, 'settings dialog after Escape');
    return page;
});

test('registerUserSettings present but configuration dropped: main-menu fallback', async () => {
    resetStub({enforce: false});
    const page = await openHarness('?settings=reject');
    await page.getByRole('button', {name: 'MS Teams account'}).waitFor();
    assertEqual(await page.locator('#user-settings').count(), 0, 'settings sections');
    return page;
});

test('a failed disconnect shows the server\'s message', async () => {
    resetStub({enforce: false, connected: true, disconnectError: 'Could not reach Microsoft Teams; try again later.'});
    const page = await openHarness();
    const section = page.locator('#user-settings');
    await section.getByRole('button', {name: 'Disconnect'}).click();
    await section.getByRole('button', {name: 'Yes, disconnect'}).click();
    await section.getByRole('alert').getByText('Could not reach Microsoft Teams; try again later.').waitFor();
    await section.getByText('Connected as Ada Lovelace').waitFor();
    page.problems = page.problems.filter((p) => !p.includes('500')); // the browser logs the failed request
    return page;
});


// ---- the outcome of "Connect account" (a real pop-up on the core's result page) ----

async function connectInPopup(page) {
    const [popup] = await Promise.all([
        context.waitForEvent('page'),
        prompt(page).getByRole('button', {name: 'Connect account'}).click(),
    ]);
    return popup;
}

async function expectClosed(popup, what) {
    if (!popup.isClosed()) {
        await popup.waitForEvent('close', {timeout: 3000}).catch(() => {
            throw new Error(`${what}: the sign-in window did not close itself`);
        });
    }
}

test('connect outcome: connected — the window closes itself and the prompt goes away', async () => {
    resetStub({connectOutcome: 'connected'});
    const page = await openHarness('?popup=real');
    await prompt(page).waitFor();
    const popup = await connectInPopup(page);
    await expectClosed(popup, 'connected');
    await expectGone(prompt(page), 'prompt after connecting');
    await page.locator('#user-settings').getByText('Connected as Ada Lovelace (ada@contoso.com)').waitFor();
    return page;
});

test('connect outcome: refused — the reason is shown as text, with what to do next', async () => {
    resetStub({connectOutcome: 'refused',
        refuseReason: 'The Microsoft account eve@fabrikam.com <img src=x onerror="window.__xss=1"> does not have your email.'});
    const page = await openHarness('?popup=real');
    await prompt(page).waitFor();
    const popup = await connectInPopup(page);
    await expectClosed(popup, 'refused');
    const alert = prompt(page).getByTestId('msteams-connect-outcome');
    await alert.waitFor();
    const text = await alert.textContent();
    assert(text.includes('Your account was not connected: The Microsoft account eve@fabrikam.com <img src=x'),
        `reason shown: ${text}`);
    assert(text.includes('Select Connect account to try again.'), `next step: ${text}`);
    assertEqual(await prompt(page).locator('img').count(), 0, 'images from the reason');
    assertEqual(await page.evaluate(() => window.__xss), undefined, 'script from the reason ran');
    await mkdir(outDir, {recursive: true});
    await page.screenshot({path: path.join(outDir, 'connect-refused.png')});
    return page;
});

test('connect outcome: cancelled at Microsoft', async () => {
    resetStub({connectOutcome: 'cancelled'});
    const page = await openHarness('?popup=real');
    await prompt(page).waitFor();
    const popup = await connectInPopup(page);
    await expectClosed(popup, 'cancelled');
    await prompt(page).getByText('Signing in with Microsoft was cancelled').waitFor();
    assert(await prompt(page).getByRole('button', {name: 'Connect account'}).isEnabled(), 'connect again');
    return page;
});

test('connect outcome: the window closed before finishing', async () => {
    resetStub({connectOutcome: 'stay'});
    const page = await openHarness('?popup=real');
    await prompt(page).waitFor();
    const popup = await connectInPopup(page);
    await prompt(page).getByText('Finish signing in in the new window').waitFor();
    await popup.close();
    await prompt(page).getByText('If you closed it, select Connect account to start again.').waitFor();
    assertEqual(await prompt(page).getByText('Finish signing in in the new window').count(), 0,
        '"finish signing in" after closing');
    return page;
});

test('connect outcome: Microsoft cuts the window off (COOP) and the server still tells the outcome', async () => {
    resetStub({connectOutcome: 'stay', coop: true});
    const page = await openHarness('?popup=real');
    await prompt(page).waitFor();
    const popup = await connectInPopup(page);
    // The window is open, but to this page it looks closed: the prompt says what to do, without claiming it closed.
    await prompt(page).getByText('If you closed it, select Connect account to start again.').waitFor();
    assert(!popup.isClosed(), 'the sign-in window is still open');
    await page.evaluate(() => window.__harness.fireWebSocket('custom_com.mattermost.msteams_connect_outcome',
        {outcome: 'refused', message: 'Use the Microsoft account with your Mattermost email address.'}));
    await prompt(page).getByText('Use the Microsoft account with your Mattermost email address.').waitFor();
    assertEqual(await prompt(page).getByText('If you closed it').count(), 0, 'the waiting notice after the outcome');
    await popup.close();
    return page;
});

test('connect outcome: a message from another origin is ignored', async () => {
    resetStub();
    const page = await openHarness('?popup=blocked');
    await prompt(page).waitFor();
    await prompt(page).getByRole('button', {name: 'Connect account'}).click();
    const other = base.replace('127.0.0.1', 'localhost');
    await page.evaluate((src) => new Promise((resolve) => {
        const frame = document.createElement('iframe');
        frame.src = src;
        frame.onload = () => setTimeout(resolve, 100);
        document.body.appendChild(frame);
    }), `${other}/forge`);
    await settle(page);
    assertEqual(await page.getByTestId('msteams-connect-outcome').count(), 0, 'outcomes shown');
    assertEqual(await page.getByText('forged by another site').count(), 0, 'forged text shown');
    return page;
});

// ---- disconnecting ----

test('Disconnect asks first; Cancel keeps the connection', async () => {
    resetStub({enforce: false, connected: true});
    const page = await openHarness();
    const section = page.locator('#user-settings');
    await section.getByRole('button', {name: 'Disconnect'}).click();
    const question = section.getByRole('group', {name: 'Confirm disconnecting'});
    await question.getByText('Disconnect your Microsoft Teams account?').waitFor();
    await question.getByRole('button', {name: 'Cancel'}).click();
    await expectGone(question, 'the question after Cancel');
    await section.getByText('Connected as Ada Lovelace').waitFor();
    assertEqual(requests.filter((r) => r.route === '/api/v1/disconnect').length, 0, 'disconnect requests');
    return page;
});

test('enforced: disconnecting inside Settings does not put the prompt over it; it comes when Settings closes', async () => {
    resetStub({connected: true});
    const page = await openHarness();
    const section = page.locator('#user-settings');
    await section.getByText('Connected as Ada Lovelace').waitFor();
    await page.evaluate(() => window.__harness.setModal('user_settings', true));
    await section.getByRole('button', {name: 'Disconnect'}).click();
    await section.getByRole('button', {name: 'Yes, disconnect'}).click();
    await section.getByText('Not connected').waitFor();
    await settle(page);
    assertEqual(await prompt(page).count(), 0, 'prompts over the open Settings');
    await page.evaluate(() => window.__harness.setModal('user_settings', false));
    await prompt(page).waitFor();
    return page;
});

// ---- bridged DMs and GMs ----

test('a DM bridged to Teams gets a line under its header; other channels do not; one request per channel', async () => {
    resetStub({enforce: false, bridged: ['dm-megan']});
    const page = await openHarness();
    await page.getByTestId('msteams-connection').waitFor();
    const banner = page.getByTestId('msteams-bridged');
    await page.evaluate(() => window.__harness.viewChannel('dm-megan', 'D'));
    await banner.getByText('bridged to a Teams chat').waitFor();
    const placed = await page.evaluate(() => document.getElementById('channel-header').nextElementSibling.id);
    assertEqual(placed, 'msteams-bridged-banner', 'element after #channel-header');
    await page.evaluate(() => window.__harness.viewChannel('dm-bob', 'D'));
    await expectGone(banner, 'banner in a DM that is not bridged');
    await page.evaluate(() => window.__harness.viewChannel('town-square', 'O'));
    await page.evaluate(() => window.__harness.viewChannel('dm-megan', 'D'));
    await banner.waitFor();
    await settle(page);
    const asked = requests.filter((r) => r.route === '/api/v1/channel-bridged').length;
    assertEqual(asked, 2, 'channel-bridged requests (dm-megan and dm-bob, once each)');
    await mkdir(outDir, {recursive: true});
    await page.screenshot({path: path.join(outDir, 'bridged-dm.png')});
    return page;
});

// ---- System Console ----

test('System Console: the redirect URI from the Site URL; regenerating the key asks first', async () => {
    resetStub({enforce: false});
    const page = await openHarness();
    const keys = await page.evaluate(() => Object.keys(window.__harness.adminSettings).sort().join(','));
    assertEqual(keys, 'encryptionkey,redirecturi,sectionadvanced,sectionconnection,sectionfeed,sectionfiles,sectionsync,' +
        'sectionteamsapp,sectionusers,teamsappcoloricon,teamsappoutlineicon,teamsapppackage',
        'custom settings');
    await page.evaluate(() => window.__harness.renderAdminSetting('redirectUri',
        {config: {ServiceSettings: {SiteURL: 'https://chat.contoso.com/'}}}));
    await page.getByTestId('msteams-redirect-uri')
        .getByText('https://chat.contoso.com/plugins/com.mattermost.msteams/oauth-redirect', {exact: true}).waitFor();

    await page.evaluate(() => window.__harness.renderAdminSetting('encryptionKey', {value: '********************************'}));
    const key = page.getByTestId('msteams-encryption-key');
    await key.getByText('A key is set.').waitFor();
    await key.getByRole('button', {name: 'Regenerate…'}).click();
    const question = key.getByRole('group', {name: 'Confirm regenerating the key'});
    await question.getByText('Every connected user is disconnected').waitFor();
    await question.getByRole('button', {name: 'Cancel'}).click();
    assertEqual(await page.evaluate(() => window.__harness.adminChanges.length), 0, 'changes after Cancel');
    await key.getByRole('button', {name: 'Regenerate…'}).click();
    await key.getByRole('button', {name: 'Regenerate and disconnect everyone'}).click();
    const changes = await page.evaluate(() => window.__harness.adminChanges);
    assertEqual(changes.length, 1, 'changes after confirming');
    assertEqual(changes[0].id, 'PluginSettings.Plugins.com.mattermost.msteams.encryptionkey', 'changed setting');
    assert(/^[A-Za-z0-9_-]{43}$/.test(changes[0].value), `new key ${changes[0].value}`);
    await key.getByText('A new key will be used once you select Save.').waitFor();
    // Saved: System Console hands back the masked value and the new key is simply set.
    await page.evaluate(() => window.__harness.saveAdmin('********************************'));
    await key.getByText('A key is set.').waitFor();
    return page;
});

// A PNG of side×side RGBA pixels, each from pixel(x, y) → [r, g, b, a].
function makePng(side, pixel) {
    const crcTable = Array.from({length: 256}, (_, n) => {
        let c = n;
        for (let k = 0; k < 8; k++) {
            c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
        }
        return c >>> 0;
    });
    const crc = (buf) => {
        let c = 0xffffffff;
        for (const b of buf) {
            c = crcTable[(c ^ b) & 0xff] ^ (c >>> 8);
        }
        return (c ^ 0xffffffff) >>> 0;
    };
    const chunk = (type, data) => {
        const head = Buffer.alloc(4);
        head.writeUInt32BE(data.length);
        const typed = Buffer.concat([Buffer.from(type, 'ascii'), data]);
        const tail = Buffer.alloc(4);
        tail.writeUInt32BE(crc(typed));
        return Buffer.concat([head, typed, tail]);
    };
    const ihdr = Buffer.alloc(13);
    ihdr.writeUInt32BE(side, 0);
    ihdr.writeUInt32BE(side, 4);
    ihdr.set([8, 6, 0, 0, 0], 8);
    const raw = [];
    for (let y = 0; y < side; y++) {
        raw.push(0);
        for (let x = 0; x < side; x++) {
            raw.push(...pixel(x, y));
        }
    }
    return Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), chunk('IHDR', ihdr),
        chunk('IDAT', zlib.deflateSync(Buffer.from(raw))), chunk('IEND', Buffer.alloc(0))]);
}

test('System Console: Teams app icons are checked before they are kept', async () => {
    resetStub({enforce: false});
    const page = await openHarness();
    await page.evaluate(() => window.__harness.renderAdminSetting('teamsAppOutlineIcon', {value: ''}));
    const icon = page.getByTestId('msteams-icon-outline');
    await icon.getByText('The default: the plugin\'s icon.').waitFor();
    const input = icon.getByLabel('Upload the outline icon');
    const inCircle = (x, y) => (x - 16) ** 2 + (y - 16) ** 2 < 100;
    // Red on transparent: not white.
    await input.setInputFiles({name: 'red.png', mimeType: 'image/png',
        buffer: makePng(32, (x, y) => (inCircle(x, y) ? [220, 0, 0, 255] : [0, 0, 0, 0]))});
    await icon.getByText('The image has pixels that are not white').waitFor();
    // The wrong size.
    await input.setInputFiles({name: 'big.png', mimeType: 'image/png', buffer: makePng(48, () => [255, 255, 255, 255])});
    await icon.getByText('The image is 48×48 pixels').waitFor();
    assertEqual(await page.evaluate(() => window.__harness.adminChanges.length), 0, 'changes after refused icons');
    // White on transparent: kept, as base64, and shown.
    const good = makePng(32, (x, y) => (inCircle(x, y) ? [255, 255, 255, 255] : [0, 0, 0, 0]));
    await input.setInputFiles({name: 'good.png', mimeType: 'image/png', buffer: good});
    await icon.getByRole('img', {name: 'Uploaded outline icon'}).waitFor();
    let changes = await page.evaluate(() => window.__harness.adminChanges);
    assertEqual(changes.length, 1, 'changes after a good icon');
    assertEqual(changes[0].id, 'PluginSettings.Plugins.com.mattermost.msteams.teamsappoutlineicon', 'changed setting');
    assertEqual(changes[0].value, good.toString('base64'), 'stored icon');
    await mkdir(outDir, {recursive: true});
    await page.screenshot({path: path.join(outDir, 'teams-app-icon.png')});
    await icon.getByRole('button', {name: 'Use the default'}).click();
    changes = await page.evaluate(() => window.__harness.adminChanges);
    assertEqual(changes[changes.length - 1].value, '', 'back to the default');
    return page;
});

test('System Console: the Teams app package downloads, or says why it cannot', async () => {
    resetStub({enforce: false});
    const page = await openHarness();
    await page.evaluate(() => window.__harness.renderAdminSetting('teamsAppPackage', {}));
    const box = page.getByTestId('msteams-teams-app-package');
    stub.teamsApp = {status: 409, headers: {'Content-Type': 'application/json'}, body: JSON.stringify({id: 'teams_app',
        message: 'Enter the Client ID of the app registration first.', status_code: 409})};
    await box.getByRole('button', {name: 'Download the Teams app package'}).click();
    await box.getByRole('alert').getByText('Enter the Client ID of the app registration first.').waitFor();
    stub.teamsApp = {status: 200, body: Buffer.from('PK\x05\x06' + '\0'.repeat(18), 'binary'),
        headers: {'Content-Type': 'application/zip', 'Content-Disposition': 'attachment; filename="mattermost-1.0.0.zip"'}};
    const [download] = await Promise.all([page.waitForEvent('download'),
        box.getByRole('button', {name: 'Download the Teams app package'}).click()]);
    assertEqual(download.suggestedFilename(), 'mattermost-1.0.0.zip', 'downloaded file name');
    await box.getByRole('status').getByText('Downloaded mattermost-1.0.0.zip.').waitFor();
    const asked = requests.filter((r) => r.route === '/admin/teams-app.zip');
    assertEqual(asked.length, 2, 'package requests');
    assertEqual(asked[1].headers['x-requested-with'], 'XMLHttpRequest', 'sent like the other plugin calls');
    page.problems = page.problems.filter((p) => !p.includes('409')); // the browser logs the refused request
    return page;
});

// ---- main ----

async function main() {
    for (const rel of ['../../dist/main.js', '../../node_modules/react/umd/react.development.js']) {
        if (!existsSync(path.join(here, rel))) {
            console.error(`missing ${rel}: run "node build.mjs" (and npm ci) first`);
            process.exit(2);
        }
    }
    const started = Date.now();
    const server = http.createServer((req, res) => {
        handle(req, res).catch((err) => {
            res.writeHead(500);
            res.end(String(err));
        });
    });
    await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
    base = `http://127.0.0.1:${server.address().port}`;

    const profile = await mkdtemp(path.join(os.tmpdir(), 'msteams-chromium-'));
    try {
        context = await chromium.launchPersistentContext(profile, {
            executablePath: chromiumPath,
            headless: true,
            viewport: {width: 1280, height: 720},
            args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update',
                '--disable-sync', '--no-first-run', '--disable-quic'],
        });
    } catch (err) {
        server.close();
        await rm(profile, {recursive: true, force: true});
        throw err;
    }

    let passed = 0;
    let failed = 0;
    try {
        for (const t of tests) {
            let page = null;
            const t0 = Date.now();
            try {
                page = await t.fn();
                if (page && page.problems.length) {
                    throw new Error(page.problems.join('; '));
                }
                passed++;
                console.log(`  ok    ${t.name} (${Date.now() - t0} ms)`);
            } catch (err) {
                failed++;
                console.log(`  FAIL  ${t.name}\n        ${String(err && err.message ? err.message : err).split('\n')[0]}`);
            } finally {
                if (page && !page.isClosed()) {
                    await page.close();
                }
            }
        }
    } finally {
        await context.close();
        server.close();
        await rm(profile, {recursive: true, force: true});
    }
    console.log(`  (${((Date.now() - started) / 1000).toFixed(1)} s; screenshots in ${path.relative(webapp, outDir)}/)`);
    console.log(`browser: ${passed} passed, ${failed} failed`);
    process.exit(failed ? 1 : 0);
}

main().catch((err) => {
    console.error(err);
    console.log('browser: 0 passed, 1 failed');
    process.exit(1);
});
