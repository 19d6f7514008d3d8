// Headless-Chromium check of the built bundle (dist/main.js) on a harness page that imitates Mattermost's plugin
// host. A node:http server on 127.0.0.1 serves the page, React's UMD builds and stubs of the plugin's routes;
// playwright-core drives Debian's Chromium. Prints "browser: N passed, N failed" and exits non-zero on failure.
//
//   node build.mjs && node tests/browser/run.mjs        (npm run test:browser does both)
import {existsSync} from 'node:fs';
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
                linked_channels: false,
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
        if (req.method === 'GET' && route === '/connect') {
            res.writeHead(200, {'Content-Type': 'text/html'});
            return res.end('<!doctype html><title>Sign in</title><p>Redirecting to Microsoft…</p>');
        }
        return apiError(res, 404, 'not_found', 'Not found.');
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
    assertEqual(h.ws.join(','), 'custom_com.mattermost.msteams_config_changed,custom_com.mattermost.msteams_connection_changed', 'websocket events');
    assertEqual(h.roots, 1, 'root components with registerUserSettings');
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
    await section.getByRole('alert').getByText('Could not reach Microsoft Teams; try again later.').waitFor();
    await section.getByText('Connected as Ada Lovelace').waitFor();
    page.problems = page.problems.filter((p) => !p.includes('500')); // the browser logs the failed request
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
