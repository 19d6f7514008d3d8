// Drives the real Mattermost web client in headless Chromium against a server staged by tests/e2e/webclient
// (see run.sh and README.md): the logged-out page; the System Console page of the plugin as the admin; the connect
// prompt, the connect flow's outcomes and Settings > MS Teams as a user who is not connected (bob); the /msteams
// autocomplete; a DM with a Teams person as a connected user (alice); the connect flow when Microsoft's sign-in page
// sends Cross-Origin-Opener-Policy (carol); regenerating the encryption key for real; a dark theme. Writes
// screenshots and observations.json to OUT_DIR.
//
//   node shoot.mjs ENV_FILE OUT_DIR      (CHROMIUM_PATH defaults to /usr/bin/chromium)
import fs from 'node:fs';
import path from 'node:path';

import {chromium} from 'playwright-core';

const [envFile, outDir] = process.argv.slice(2);
if (!envFile || !outDir) {
    console.error('usage: node shoot.mjs ENV_FILE OUT_DIR');
    process.exit(2);
}
const env = Object.fromEntries(fs.readFileSync(envFile, 'utf8').split('\n').filter((l) => l.includes('=')).
    map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]));
const MM = env.MM_URL;
// The emulator's control API and the stage's switch use the emulator's test CA; this script only talks to loopback.
process.env.NODE_TLS_REJECT_UNAUTHORIZED = '0';
const PLUGIN = 'com.mattermost.msteams';
fs.mkdirSync(outDir, {recursive: true});

const observations = {steps: [], console: [], pageErrors: [], httpErrors: [], pluginRequests: []};
const note = (section, what, detail = '') => {
    observations.steps.push({section, what, detail});
    console.log(`[${section}] ${what}${detail ? ': ' + detail : ''}`);
};
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM_PATH || '/usr/bin/chromium',
    args: ['--no-sandbox', '--disable-dev-shm-usage'],
});

// A fresh context per person; every page of it (pop-ups too) reports console messages, page errors, HTTP errors
// and plugin requests under the section name.
async function newSession(section) {
    const context = await browser.newContext({viewport: {width: 1400, height: 900}, ignoreHTTPSErrors: true});
    // Granted, so that Mattermost's "We need your permission to show notifications" bar does not take the top.
    await context.grantPermissions(['notifications'], {origin: MM});
    const watch = (page) => {
        page.on('console', (m) => {
            if (m.type() === 'error' || m.type() === 'warning') {
                observations.console.push({section, type: m.type(), text: m.text().slice(0, 600),
                    url: m.location()?.url ?? '', page: page.url()});
            }
        });
        page.on('pageerror', (e) => observations.pageErrors.push({section, text: String(e).slice(0, 600), page: page.url()}));
        page.on('response', (r) => {
            const u = r.url();
            if (u.includes(`/plugins/${PLUGIN}/`) || u.includes(`/static/plugins/${PLUGIN}/`)) {
                observations.pluginRequests.push({section, method: r.request().method(), url: u.replace(MM, ''), status: r.status(), page: page.url().replace(MM, '')});
            }
            if (r.status() >= 400) {
                observations.httpErrors.push({section, method: r.request().method(), url: u.replace(MM, ''), status: r.status(), page: page.url().replace(MM, '')});
            }
        });
    };
    context.on('page', watch);
    const page = await context.newPage();
    return {context, page};
}

// The System Console scrolls inside an element, so a "full page" screenshot shows one screen: make the window as
// tall as the content for one shot.
async function tallShot(page, name) {
    const size = page.viewportSize();
    const extra = await page.evaluate(() => {
        let best = null;
        for (const el of document.querySelectorAll('*')) {
            const style = getComputedStyle(el);
            if (/(auto|scroll)/.test(style.overflowY) && el.scrollHeight > el.clientHeight + 50 &&
                (!best || el.scrollHeight > best.scrollHeight)) {
                best = el;
            }
        }
        return best ? best.scrollHeight - best.clientHeight : 0;
    });
    await page.setViewportSize({width: size.width, height: Math.min(size.height + extra + 40, 20000)});
    await sleep(800);
    await shot(page, name);
    await page.setViewportSize(size);
    await sleep(300);
}

async function shot(page, name, opts = {}) {
    const file = path.join(outDir, `${name}.png`);
    await page.screenshot({path: file, ...opts});
    note('shot', name);
}

// The landing page asks once per browser whether to use the desktop app.
async function gotoLogin(page) {
    await page.goto(`${MM}/login`);
    const inBrowser = page.getByRole('link', {name: 'View in Browser'}).or(page.getByRole('button', {name: 'View in Browser'}));
    await Promise.race([
        inBrowser.first().waitFor({timeout: 30000}),
        page.locator('input[name="loginId"]').waitFor({timeout: 30000}),
    ]).catch(() => {});
    if (await inBrowser.count()) {
        await shot(page, '00-landing-page');
        await inBrowser.first().click();
    }
    await page.locator('input[name="loginId"]').waitFor({timeout: 30000});
}

async function login(page, user, password) {
    await gotoLogin(page);
    await page.locator('input[name="loginId"]').fill(user);
    await page.locator('input[type="password"]').fill(password);
    await page.getByRole('button', {name: 'Log in'}).click();
    await page.waitForURL((u) => !u.pathname.startsWith('/login'), {timeout: 60000});
    await page.locator('#channel-header, #adminConsoleWrapper, .admin-console').first().waitFor({timeout: 60000}).catch(() => {});
    await sleep(1500);
}

// Closes Mattermost's own first-run tours and tips, which would cover what is being looked at.
async function dismissTours(page) {
    for (const name of [/^Skip tour$/, /^Not now$/, /^No thanks/]) {
        const b = page.getByRole('button', {name}).or(page.getByRole('link', {name}));
        if (await b.count()) {
            await b.first().click({timeout: 3000}).catch(() => {});
            await sleep(300);
        }
    }
}

const prompt = (page) => page.locator('#msteams-connect-prompt');

// What the prompt or the settings section says, as text.
async function textOf(locator) {
    return (await locator.innerText().catch(() => '')).replace(/\s+/g, ' ').trim();
}

// Runs one connect attempt from a button: opens the sign-in pop-up and lets `act` play Microsoft's side.
async function connectAttempt(page, button, label, act) {
    const popupPromise = page.waitForEvent('popup', {timeout: 15000});
    await button.click();
    const popup = await popupPromise;
    await popup.waitForLoadState('domcontentloaded').catch(() => {});
    note('connect', `${label}: pop-up opened`, popup.url().replace(/(state|code_challenge)=[^&]+/g, '$1=…'));
    await act(popup);
    await sleep(2500);
}

// ---------------------------------------------------------------- 1. logged out
{
    const section = 'logged-out';
    const {context, page} = await newSession(section);
    await gotoLogin(page);
    await sleep(4000);
    await shot(page, '01-login-page');
    const bundle = await page.evaluate(() => Array.from(document.scripts).map((s) => s.src).filter((s) => s.includes('/static/plugins/')));
    note(section, 'plugin scripts on the login page', JSON.stringify(bundle));
    await context.close();
}

// ---------------------------------------------------------------- 2. admin: System Console
{
    const section = 'admin';
    const {context, page} = await newSession(section);
    await login(page, env.MM_ADMIN_USER, env.MM_ADMIN_PASSWORD);
    await dismissTours(page);
    if (await prompt(page).isVisible().catch(() => false)) {
        note(section, 'the connect prompt shows for the admin too (not connected)');
        await shot(page, '02-admin-connect-prompt');
        await prompt(page).getByRole('button', {name: 'Skip for now'}).click();
    }
    // The admin's /msteams autocomplete.
    await page.locator('#post_textbox').click();
    await page.keyboard.type('/msteams ', {delay: 60});
    await sleep(2000);
    await shot(page, '02b-admin-msteams-autocomplete');
    note(section, 'autocomplete (admin)', await textOf(page.locator('#suggestionList').first()));
    await page.locator('#post_textbox').fill('');

    await page.goto(`${MM}/admin_console/plugins/plugin_${PLUGIN}`);
    await page.getByText('Connection to Microsoft').first().waitFor({timeout: 30000}).catch(() => note(section, 'no "Connection to Microsoft" header'));
    await sleep(1500);
    if (await prompt(page).isVisible().catch(() => false)) {
        note(section, 'the connect prompt shows again over the System Console after navigating');
        await shot(page, '03a-admin-console-prompt-again');
        await prompt(page).getByRole('button', {name: 'Skip for now'}).click();
    }
    await dismissTours(page);
    await shot(page, '03-admin-console-top');
    await tallShot(page, '03-admin-console-full');
    const labels = await page.locator('.form-group .control-label, .form-group label.control-label').allInnerTexts();
    note(section, 'setting labels', JSON.stringify(labels.map((l) => l.trim()).filter(Boolean)));
    const headers = await page.locator('.msteams-settings-section h3').allInnerTexts();
    note(section, 'section headers', JSON.stringify(headers));
    const redirect = await textOf(page.locator('[data-testid="msteams-redirect-uri"] code'));
    note(section, 'redirect URI shown', redirect);
    // Secrets: neither the client secret, nor the webhook secret, nor the encryption key may be in the page.
    const stored = JSON.parse(fs.readFileSync(path.join(env.MM_RUN_DIR, 'config.json'), 'utf8')).PluginSettings.Plugins[PLUGIN] || {};
    const secrets = {clientsecret: env.M365_CLIENT_SECRET, webhooksecret: stored.webhooksecret, encryptionkey: stored.encryptionkey};
    const html = await page.content();
    const values = await page.evaluate(() => Array.from(document.querySelectorAll('input, textarea')).map((i) => `${i.id || i.name}=${i.value}`));
    for (const [k, v] of Object.entries(secrets)) {
        if (!v) {
            note(section, `secret ${k}`, 'not found in the stored config');
            continue;
        }
        const inPage = html.includes(v) || values.some((x) => x.includes(v));
        note(section, `secret ${k} in the page`, inPage ? 'YES (shown in clear)' : 'no');
    }
    note(section, 'inputs', JSON.stringify(values.filter((x) => !x.startsWith('=')).map((x) => x.slice(0, 120))));
    const key = page.locator('[data-testid="msteams-encryption-key"]');
    await key.scrollIntoViewIfNeeded();
    await sleep(300);
    await shot(page, '04-admin-encryption-key');
    note(section, 'encryption key setting', await textOf(key));
    await key.getByRole('button', {name: 'Regenerate…'}).click();
    await sleep(500);
    await key.scrollIntoViewIfNeeded();
    await shot(page, '05-admin-encryption-key-confirm');
    note(section, 'after Regenerate…', await textOf(key));
    await key.getByRole('button', {name: 'Regenerate and disconnect everyone'}).click();
    await sleep(500);
    await shot(page, '06-admin-encryption-key-replaced');
    note(section, 'after confirming', await textOf(key));
    const save = page.getByRole('button', {name: 'Save', exact: true});
    note(section, 'Save button enabled after regenerating', String(await save.isEnabled().catch(() => 'n/a')));
    // Leave without saving (saving would disconnect alice).
    await context.close();
}

// ---------------------------------------------------------------- 3. bob: prompt, connect flow, settings, autocomplete
{
    const section = 'bob';
    const {context, page} = await newSession(section);
    await login(page, 'bob', env.MM_BOB_PASSWORD);
    await dismissTours(page);
    await prompt(page).waitFor({timeout: 20000}).catch(() => note(section, 'NO connect prompt within 20 s'));
    await shot(page, '07-bob-connect-prompt');
    note(section, 'prompt text', await textOf(prompt(page)));
    const promptConnect = () => prompt(page).getByRole('button', {name: 'Connect account'});

    // a) the sign-in window is closed without signing in
    await connectAttempt(page, promptConnect(), 'closed', async (popup) => {
        await popup.waitForSelector('button[name="emu_user"]', {timeout: 15000}).catch(() => {});
        await shot(popup, '08-popup-microsoft-sign-in');
        await shot(page, '08b-bob-prompt-while-signing-in');
        await popup.close();
    });
    await shot(page, '09-bob-prompt-window-closed');
    note(section, 'after closing the pop-up', await textOf(prompt(page)));

    // b) refused: signing in as someone else (alice's Teams account has another email address)
    await connectAttempt(page, promptConnect(), 'refused', async (popup) => {
        await popup.waitForSelector('button[name="emu_user"]', {timeout: 15000});
        const closed = popup.waitForEvent('close', {timeout: 15000}).catch(() => null);
        await popup.locator('button[name="emu_user"]', {hasText: 'Alice Teams'}).click();
        await popup.waitForLoadState('domcontentloaded').catch(() => {});
        await popup.screenshot({path: path.join(outDir, '10a-popup-refused-result.png')}).catch(() => note(section, 'the result page closed before a screenshot'));
        await closed;
    });
    await shot(page, '10-bob-prompt-refused');
    note(section, 'after signing in with another account', await textOf(prompt(page)));

    // c) cancelled: Microsoft sends the browser back with error=access_denied (what Cancel on its page does)
    await connectAttempt(page, promptConnect(), 'cancelled', async (popup) => {
        await popup.waitForSelector('button[name="emu_user"]', {timeout: 15000});
        const state = new URL(popup.url()).searchParams.get('state') ?? await popup.locator('input[name="state"]').inputValue();
        // From the page, as Microsoft's own Cancel does (a navigation typed into the address bar would cut the
        // pop-up off from its opener).
        const back = `${MM}/plugins/${PLUGIN}/oauth-redirect?error=access_denied&error_description=AADSTS65004%3A+User+declined+to+consent.&state=${encodeURIComponent(state)}`;
        await popup.evaluate((u) => window.location.assign(u), back);
        await popup.waitForURL((u) => u.href.startsWith(MM), {timeout: 15000}).catch(() => {});
        await popup.screenshot({path: path.join(outDir, '11a-popup-cancelled-result.png')}).catch(() => note(section, 'the result page closed before a screenshot'));
        await popup.waitForEvent('close', {timeout: 15000}).catch(() => note(section, 'cancelled result page did not close itself'));
    });
    await shot(page, '11-bob-prompt-cancelled');
    note(section, 'after cancelling', await textOf(prompt(page)));

    // d) failed: Microsoft's token endpoint answers 503
    const faults = async (method, body) => fetch(`${env.M365_CONTROL_URL}/faults`, {method, body: body && JSON.stringify(body),
        headers: {'Content-Type': 'application/json'}});
    const set = await faults('PUT', {errorShare: 1, errorStatus: 503, hosts: ['login'], routeContains: '/oauth2/v2.0/token'}).catch((e) => ({status: String(e)}));
    note(section, 'emulator fault on the token endpoint', String(set.status));
    await connectAttempt(page, promptConnect(), 'failed', async (popup) => {
        await popup.waitForSelector('button[name="emu_user"]', {timeout: 15000});
        const closed = popup.waitForEvent('close', {timeout: 30000}).catch(() => null);
        await popup.locator('button[name="emu_user"]', {hasText: 'Bob Teams'}).click();
        await popup.waitForLoadState('domcontentloaded').catch(() => {});
        await popup.screenshot({path: path.join(outDir, '12a-popup-failed-result.png')}).catch(() => note(section, 'the result page closed before a screenshot'));
        await closed;
    });
    await faults('DELETE').catch(() => {});
    await shot(page, '12-bob-prompt-failed');
    note(section, 'after a failure at Microsoft', await textOf(prompt(page)));

    // Skip for now, then the account settings.
    await prompt(page).getByRole('button', {name: 'Skip for now'}).click();
    await sleep(800);
    await shot(page, '13-bob-after-skip');
    note(section, 'prompt visible after Skip', String(await prompt(page).isVisible().catch(() => false)));

    await page.getByRole('button', {name: 'Settings'}).first().click();
    await sleep(1000);
    const tab = page.getByRole('tab', {name: /MS Teams/}).or(page.locator('button, a').filter({hasText: /^MS Teams$/})).first();
    if (await tab.count()) {
        await tab.click();
        await sleep(1500);
        await shot(page, '14-bob-settings-not-connected');
        const section2 = page.locator('.msteams-account-settings');
        note(section, 'Settings > MS Teams', await textOf(page.locator('.modal-content, [role="dialog"]').first()));
        note(section, 'prompt visible over Settings', String(await prompt(page).isVisible().catch(() => false)));
        // Connect from the settings: this time with the right account.
        await connectAttempt(page, section2.getByRole('button', {name: 'Connect account'}), 'connected', async (popup) => {
            await popup.waitForSelector('button[name="emu_user"]', {timeout: 15000});
            const closed = popup.waitForEvent('close', {timeout: 30000}).catch(() => null);
            await popup.locator('button[name="emu_user"]', {hasText: 'Bob Teams'}).click();
            await popup.waitForLoadState('domcontentloaded').catch(() => {});
            await popup.screenshot({path: path.join(outDir, '15a-popup-connected-result.png')}).catch(() => note(section, 'the result page closed before a screenshot'));
            await closed;
        });
        await sleep(1500);
        await shot(page, '15-bob-settings-connected');
        note(section, 'Settings > MS Teams after connecting', await textOf(section2));
        await section2.getByRole('button', {name: 'Disconnect'}).click();
        await sleep(500);
        await shot(page, '16-bob-settings-disconnect-confirm');
        note(section, 'Disconnect confirmation', await textOf(section2));
        await section2.getByRole('button', {name: 'Cancel'}).click();
        await page.keyboard.press('Escape');
        await sleep(800);
    } else {
        note(section, 'NO MS Teams tab in Settings', await textOf(page.locator('.modal-content, [role="dialog"]').first()));
        await shot(page, '14-bob-settings-no-tab');
        await page.keyboard.press('Escape');
    }

    // The main menu: the fallback entry must not be there when Settings has the tab.
    const teamMenu = page.locator('#sidebarTeamMenuButton, [aria-label*="team menu" i]').first();
    if (await teamMenu.count()) {
        await teamMenu.click().catch(() => {});
        await sleep(600);
        await shot(page, '17-bob-main-menu');
        note(section, 'main menu has "MS Teams account"', String(await page.getByText('MS Teams account').count() > 0));
        await page.keyboard.press('Escape');
    }

    // /msteams autocomplete in the message box.
    await page.goto(`${MM}/${env.MM_TEAM}/channels/bridge-ui`);
    await page.locator('#post_textbox').waitFor({timeout: 30000});
    await dismissTours(page);
    await page.locator('#post_textbox').click();
    await page.keyboard.type('/msteams ', {delay: 60});
    await sleep(2000);
    await shot(page, '18-bob-msteams-autocomplete');
    note(section, 'autocomplete', await textOf(page.locator('#suggestionList').first()));
    await page.locator('#post_textbox').fill('');
    await context.close();
}

// ---------------------------------------------------------------- 4. alice: DM with a Teams person
{
    const section = 'alice';
    const {context, page} = await newSession(section);
    await login(page, 'alice', env.MM_ALICE_PASSWORD);
    await dismissTours(page);
    note(section, 'prompt visible for a connected user', String(await prompt(page).isVisible().catch(() => false)));
    await page.goto(`${MM}/${env.MM_TEAM}/channels/town-square`);
    await page.locator('#channel-header').waitFor({timeout: 30000});
    await sleep(1500);
    const marker = observations.httpErrors.length;
    const markerConsole = observations.console.length;
    // Open the DM the way a person does: from the sidebar.
    const dmLink = page.locator(`a[href$="/messages/@${env.MM_GHOST_USERNAME}"]`).first();
    if (await dmLink.count()) {
        await dmLink.click();
    } else {
        note(section, 'no sidebar link to the DM; opening its URL');
        await page.goto(`${MM}/${env.MM_TEAM}/messages/@${env.MM_GHOST_USERNAME}`);
    }
    await page.locator('#channel-header').waitFor({timeout: 30000});
    await page.locator('[data-testid="msteams-bridged"]').waitFor({timeout: 10000}).catch(() => note(section, 'NO bridged banner within 10 s'));
    await sleep(2500);
    await shot(page, '19-alice-dm-bridged-banner');
    note(section, 'banner', await textOf(page.locator('#msteams-bridged-banner')));
    note(section, 'HTTP errors while opening the DM', JSON.stringify(observations.httpErrors.slice(marker)));
    note(section, 'console errors while opening the DM', JSON.stringify(observations.console.slice(markerConsole)));

    // The profile popover from the author of the Teams message.
    const markerPopover = observations.httpErrors.length;
    const author = page.locator('.post__header .user-popover, .post__header button').first();
    await author.click();
    await sleep(1500);
    await shot(page, '20-alice-ghost-profile-popover');
    note(section, 'HTTP errors while opening the profile popover', JSON.stringify(observations.httpErrors.slice(markerPopover)));
    const popover = page.locator('[role="dialog"], .user-profile-popover, #user-profile-popover').first();
    note(section, 'profile popover', await textOf(popover));
    const avatar = await page.locator('[role="dialog"] img, .user-profile-popover img').first().getAttribute('src').catch(() => '');
    note(section, 'popover avatar src', avatar || '(none)');
    await page.keyboard.press('Escape');
    await sleep(500);

    // Reload directly on the DM: the banner must come back.
    await page.reload();
    await page.locator('#channel-header').waitFor({timeout: 30000});
    await page.locator('[data-testid="msteams-bridged"]').waitFor({timeout: 10000}).catch(() => note(section, 'NO bridged banner after a reload'));
    await sleep(1500);
    await shot(page, '21-alice-dm-after-reload');

    // A DM that is not bridged (alice and bob): no banner.
    await page.goto(`${MM}/${env.MM_TEAM}/messages/@bob`);
    await page.locator('#channel-header').waitFor({timeout: 30000});
    await sleep(2500);
    note(section, 'banner in the DM with bob (not bridged)', String(await page.locator('[data-testid="msteams-bridged"]').count() > 0));
    await shot(page, '22-alice-dm-with-bob');
    await context.close();
}

// ---------------------------------------------------------------- 5. carol: the connect flow when Microsoft's sign-in page
// sends Cross-Origin-Opener-Policy: same-origin (as login.microsoftonline.com has been reported to since early 2026).
// The emulator does not send it: the stage's proxy in front of it adds it while switched on.
{
    const section = 'carol-coop';
    const sw = (on) => fetch(`${env.M365_COOP_SWITCH}?on=${on ? 1 : 0}`).then((r) => r.text()).catch((e) => String(e));
    note(section, 'COOP switch', (await sw(true)).trim());
    const {context, page} = await newSession(section);
    await login(page, 'carol', env.MM_CAROL_PASSWORD);
    await dismissTours(page);
    await prompt(page).waitFor({timeout: 20000}).catch(() => note(section, 'NO connect prompt within 20 s'));

    // First with an account of another email address: Microsoft's side and the refusal stay in the pop-up.
    let popupPromise = page.waitForEvent('popup', {timeout: 15000});
    await prompt(page).getByRole('button', {name: 'Connect account'}).click();
    let popup = await popupPromise;
    await popup.waitForSelector('button[name="emu_user"]', {timeout: 15000});
    await sleep(3000);
    note(section, 'opener as seen from the sign-in page', await popup.evaluate(() => (window.opener === null ? 'null' : 'present')));
    await shot(page, '23-carol-coop-prompt-while-signing-in');
    note(section, 'prompt 3 s after the sign-in window opened (window still open)', await textOf(prompt(page)));
    await popup.locator('button[name="emu_user"]', {hasText: 'Alice Teams'}).click();
    await popup.waitForURL((u) => u.href.startsWith(MM), {timeout: 15000}).catch(() => {});
    await sleep(3000);
    note(section, 'sign-in window after a refusal', popup.isClosed() ? 'closed itself' : 'still open');
    if (!popup.isClosed()) {
        await shot(popup, '24a-carol-coop-popup-refused');
        await popup.close();
    }
    await shot(page, '24-carol-coop-prompt-after-refusal');
    note(section, 'prompt after the refusal', await textOf(prompt(page)));

    // Then with her own account.
    popupPromise = page.waitForEvent('popup', {timeout: 15000});
    await prompt(page).getByRole('button', {name: 'Connect account'}).click();
    popup = await popupPromise;
    await popup.waitForSelector('button[name="emu_user"]', {timeout: 15000});
    await popup.locator('button[name="emu_user"]', {hasText: 'Carol Teams'}).click();
    await popup.waitForURL((u) => u.href.startsWith(MM), {timeout: 15000}).catch(() => {});
    await sleep(3000);
    note(section, 'sign-in window after connecting', popup.isClosed() ? 'closed itself' : 'still open');
    if (!popup.isClosed()) {
        await shot(popup, '25a-carol-coop-popup-connected');
    }
    await shot(page, '25-carol-coop-after-connecting');
    note(section, 'prompt after connecting', (await prompt(page).isVisible().catch(() => false)) ? await textOf(prompt(page)) : '(gone)');
    note(section, 'COOP switch', (await sw(false)).trim());
    await context.close();
}

// ---------------------------------------------------------------- 6. admin regenerates the encryption key and saves
{
    const section = 'admin-save';
    const before = JSON.parse(fs.readFileSync(path.join(env.MM_RUN_DIR, 'config.json'), 'utf8')).PluginSettings.Plugins[PLUGIN].encryptionkey;
    const {context, page} = await newSession(section);
    await login(page, env.MM_ADMIN_USER, env.MM_ADMIN_PASSWORD);
    await page.goto(`${MM}/admin_console/plugins/plugin_${PLUGIN}`);
    const key = page.locator('[data-testid="msteams-encryption-key"]');
    await key.waitFor({timeout: 30000});
    await key.getByRole('button', {name: 'Regenerate…'}).click();
    await key.getByRole('button', {name: 'Regenerate and disconnect everyone'}).click();
    await page.getByRole('button', {name: 'Save', exact: true}).click();
    await sleep(3000);
    await shot(page, '26-admin-after-save');
    const errors = await page.locator('.has-error, .error-message, .admin-console-save .error-message').allInnerTexts();
    note(section, 'errors shown after Save', JSON.stringify(errors.filter((e) => e.trim())));
    const after = JSON.parse(fs.readFileSync(path.join(env.MM_RUN_DIR, 'config.json'), 'utf8')).PluginSettings.Plugins[PLUGIN].encryptionkey;
    note(section, 'stored key changed', String(Boolean(before) && Boolean(after) && before !== after));
    note(section, 'key after save', after === '********************************' ? 'the mask itself was stored!' : (after ? `${after.length} characters` : '(empty)'));
    await context.close();

    // What alice sees next.
    const s2 = await newSession('alice-after-key');
    await login(s2.page, 'alice', env.MM_ALICE_PASSWORD);
    await sleep(2000);
    await shot(s2.page, '27-alice-after-key-regenerated');
    note('alice-after-key', 'prompt', (await prompt(s2.page).isVisible().catch(() => false)) ? await textOf(prompt(s2.page)) : '(none)');
    await s2.context.close();
}

// ---------------------------------------------------------------- 7. alice with a dark theme (Onyx), not connected any more
{
    const section = 'alice-dark';
    const {context, page} = await newSession(section);
    await login(page, 'alice', env.MM_ALICE_PASSWORD);
    await dismissTours(page);
    if (await prompt(page).isVisible().catch(() => false)) {
        await prompt(page).getByRole('button', {name: 'Skip for now'}).click();
    }
    await page.getByRole('button', {name: 'Settings'}).first().click();
    await page.getByRole('tab', {name: /Display/}).or(page.locator('button').filter({hasText: /^Display$/})).first().click();
    await page.getByRole('button', {name: /Edit/}).first().click();
    await page.locator('#premadeThemeOnyx').click();
    await page.getByRole('button', {name: 'Save', exact: true}).click();
    await sleep(1000);
    await page.keyboard.press('Escape');
    await page.reload();
    await prompt(page).waitFor({timeout: 20000}).catch(() => note(section, 'NO connect prompt within 20 s'));
    await sleep(1000);
    await shot(page, '28-dark-connect-prompt');
    await prompt(page).getByRole('button', {name: 'Skip for now'}).click();
    await page.getByRole('button', {name: 'Settings'}).first().click();
    await page.getByRole('tab', {name: /MS Teams/}).or(page.locator('button, a').filter({hasText: /^MS Teams$/})).first().click();
    await sleep(1500);
    await shot(page, '29-dark-settings-ms-teams');
    await page.keyboard.press('Escape');
    await page.locator(`a[href$="/messages/@${env.MM_GHOST_USERNAME}"]`).first().click();
    await page.locator('#channel-header').waitFor({timeout: 30000});
    await sleep(2500);
    note(section, 'banner in the DM with the Teams person while alice is not connected',
        (await page.locator('[data-testid="msteams-bridged"]').count()) ? await textOf(page.locator('#msteams-bridged-banner')) : '(none)');
    await shot(page, '30-dark-dm-banner');
    await context.close();
}

await browser.close();
fs.writeFileSync(path.join(outDir, 'observations.json'), JSON.stringify(observations, null, 2));
const errors = observations.console.filter((c) => c.type === 'error');
const onPlugin = errors.filter((c) => c.url.includes(PLUGIN) || c.text.includes(PLUGIN));
console.log(`\n${errors.length} console errors (${onPlugin.length} on the plugin's URLs), ` +
    `${observations.pageErrors.length} page errors, ${observations.httpErrors.length} HTTP errors, ` +
    `${observations.pluginRequests.length} plugin requests; details in ${path.join(outDir, 'observations.json')}`);
