// Plays Microsoft Teams for the Teams tab in real Chromium (tests/e2e/tab_test.go runs it).
//
//   node tests/tab/teams_host.mjs CASES.json RESULTS.json
//
// CASES.json: {"tabUrl": "<site>/plugins/com.mattermost.msteams/tab", "outDir": "...", "context": {...Teams context},
//              "cases": [{"name": "...", "token": "<JWT>", "subEntityId": "<a deep link's post id>"}]}
// For each case, a fresh browser context opens a host page at https://teams.microsoft.com (the origin Teams' client
// library trusts; Chromium is handed the page by request interception, nothing goes to the network) that frames the
// tab and answers the library's postMessage protocol as Teams does: `initialize` (frame context, client type, the
// runtime's capabilities), `getContext` (the Teams context, whose subEntityId carries a deep link) and
// `authentication.getAuthToken` (the case's token). It waits until the tab settles (its data-state), takes a
// screenshot, and reports the tab's text, the cookies the browser holds for Mattermost and, once signed in, what
// Mattermost's own API answers inside the tab's frame after the tab has opened Mattermost.
import {readFile, writeFile, mkdir} from 'node:fs/promises';
import path from 'node:path';

import {chromium} from 'playwright-core';

const [casesPath, resultsPath] = process.argv.slice(2);
const input = JSON.parse(await readFile(casesPath, 'utf8'));
const tabUrl = new URL(input.tabUrl);
const siteRoot = new URL('../../', tabUrl);
await mkdir(input.outDir, {recursive: true});

function hostPage(name, token, subEntityId) {
    const runtimeConfig = JSON.stringify({apiVersion: 4, supports: {app: {}, authentication: {}, pages: {}, teamsCore: {}}});
    const context = subEntityId ? {...input.context, subEntityId} : input.context;
    const settings = JSON.stringify({token, tabOrigin: tabUrl.origin, context, runtimeConfig});
    return `<!DOCTYPE html><html><head><meta charset="utf-8"><title>Microsoft Teams (test host)</title>
<style>body{margin:0;font-family:sans-serif}header{background:#464775;color:#fff;padding:10px 16px}
iframe{width:100%;height:640px;border:0}</style></head>
<body><header>Microsoft Teams (test host) &middot; ${name}</header><iframe id="tab" src="${tabUrl.href}"></iframe>
<script>
const s = ${settings};
window.teamsCalls = [];
window.addEventListener('message', (e) => {
  const m = e.data;
  if (e.origin !== s.tabOrigin || !m || typeof m.func !== 'string' || typeof m.id !== 'number') return;
  window.teamsCalls.push(m.func);
  let args;
  switch (m.func) {
    case 'initialize': args = ['content', 'web', s.runtimeConfig, '2.58.0']; break;
    case 'getContext': args = [s.context]; break;
    case 'authentication.getAuthToken': args = s.token ? [true, s.token] : [false, 'resourceDisabled']; break;
    default: return; // one-way notices (appInitialization.success ...) get no answer
  }
  e.source.postMessage({id: m.id, uuidAsString: m.uuidAsString, args}, e.origin);
});
</script></body></html>`;
}

const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM_PATH || '/usr/bin/chromium',
    headless: true,
    // The test's Mattermost listens on 127.0.0.1: Chromium's private-network checks would stop a public origin from
    // framing it, which a deployed Mattermost (on a public host) never meets.
    args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update',
        '--no-first-run', '--disable-features=PrivateNetworkAccessSendPreflights,PrivateNetworkAccessRespectPreflightResults,LocalNetworkAccessChecks,BlockInsecurePrivateNetworkRequests'],
});
const results = [];
try {
    for (const c of input.cases) {
        const context = await browser.newContext({viewport: {width: 1100, height: 720}});
        const result = {name: c.name, problems: []};
        try {
            await context.route('https://teams.microsoft.com/**', (route) =>
                route.fulfill({status: 200, contentType: 'text/html; charset=utf-8', body: hostPage(c.name, c.token, c.subEntityId)}));
            // Anything else on Microsoft's hosts (the client library's list of trusted origins) stays offline.
            await context.route(/^https:\/\/(?!teams\.microsoft\.com)[^/]*\.(office|microsoft|cloud\.microsoft)/,
                (route) => route.abort());
            const page = await context.newPage();
            page.on('console', (m) => m.type() === 'error' && result.problems.push(`console: ${m.text()}`));
            await page.goto(`https://teams.microsoft.com/_host/${encodeURIComponent(c.name)}`);
            const tabFrame = await (await page.locator('#tab').elementHandle()).contentFrame();
            // A tab that cannot sign in through Teams goes to Mattermost's own sign-in page.
            const loginPath = new URL('login', siteRoot).pathname;
            const toLogin = tabFrame.waitForURL((u) => u.pathname === loginPath, {timeout: 30_000})
                .then(() => ({state: 'login', text: ''}));
            toLogin.catch(() => {});
            // Otherwise read the settled tab in one step inside its frame (a signed-in tab opens Mattermost shortly
            // after); a frame that navigates away meanwhile is on its way to the sign-in page.
            const settled = tabFrame.waitForFunction(() => {
                const el = document.getElementById('tab');
                const state = el && el.getAttribute('data-state');
                return ['signed-in', 'refused', 'error'].includes(state) &&
                    {state, reason: el.getAttribute('data-reason'), text: el.innerText};
            }, null, {timeout: 30_000}).then((h) => h.jsonValue(), () => toLogin);
            Object.assign(result, await Promise.race([settled, toLogin]));
            result.url = tabFrame.url();
            result.teamsCalls = await page.evaluate(() => window.teamsCalls);
            result.screenshot = path.join(input.outDir, `${c.name}.png`);
            await page.screenshot({path: result.screenshot});
            if (result.state === 'signed-in') {
                // The tab opens Mattermost in its frame; there, Mattermost's API answers with the session's cookies.
                await tabFrame.waitForURL((u) => u.href !== tabUrl.href, {timeout: 15_000});
                result.openedUrl = tabFrame.url();
                result.me = await tabFrame.evaluate(async () => {
                    const res = await fetch('/api/v4/users/me', {headers: {'X-Requested-With': 'XMLHttpRequest'}});
                    return {status: res.status, body: res.ok ? await res.json() : await res.text()};
                });
                result.afterScreenshot = path.join(input.outDir, `${c.name}-opened.png`);
                await page.screenshot({path: result.afterScreenshot});
            }
            result.cookies = (await context.cookies(siteRoot.href)).map((k) => ({
                name: k.name, secure: k.secure, sameSite: k.sameSite, httpOnly: k.httpOnly,
                partitioned: Boolean(k.partitionKey),
            }));
        } catch (err) {
            result.problems.push(String(err && err.stack || err));
        } finally {
            await context.close();
        }
        results.push(result);
    }
} finally {
    await browser.close();
}
await writeFile(resultsPath, JSON.stringify(results, null, 2));
