// The Teams tab (the page /plugins/com.mattermost.msteams/tab, framed by Microsoft Teams). It asks Teams for a
// single sign-on token with Microsoft's Teams JavaScript client library, posts it to the plugin, which signs the user
// in to Mattermost with cookies that work inside Teams' frame, shows who was signed in and their channels (read from
// Mattermost's API with those cookies), then opens Mattermost: the post a notification linked to, or its start page.
// Outside Teams, or when Teams cannot give a token, it sends the user to Mattermost's own sign-in page.
import {app, authentication} from '@microsoft/teams-js';

// The page is served at <site>/plugins/<id>/tab: "../../" is the site root, on a subpath too.
const siteRoot = new URL('../../', window.location.href);
const postIdPattern = /^[a-z0-9]{26}$/;
// How long the signed-in summary stays before Mattermost opens (the user sees who they were signed in as).
const openAfterMs = 1500;

type Link = {text: string; href: string};

function render(state: string, title: string, lines: string[], links: Link[] = []): HTMLElement {
    const main = document.getElementById('tab') ?? document.body;
    main.setAttribute('data-state', state);
    main.replaceChildren();
    const h1 = document.createElement('h1');
    h1.textContent = title;
    main.appendChild(h1);
    for (const line of lines) {
        const p = document.createElement('p');
        p.textContent = line;
        main.appendChild(p);
    }
    for (const link of links) {
        const p = document.createElement('p');
        const a = document.createElement('a');
        a.href = link.href;
        a.textContent = link.text;
        a.target = '_top';
        p.appendChild(a);
        main.appendChild(p);
    }
    return main;
}

function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
    return new Promise<T>((resolve, reject) => {
        const timer = window.setTimeout(() => reject(new Error(`${what} timed out`)), ms);
        promise.then(
            (v) => {
                window.clearTimeout(timer);
                resolve(v);
            },
            (e) => {
                window.clearTimeout(timer);
                reject(e);
            },
        );
    });
}

// Where Mattermost opens: the linked post, or the start page.
function target(postId: string): URL {
    return postIdPattern.test(postId) ? new URL(`_redirect/pl/${postId}`, siteRoot) : siteRoot;
}

function loginUrl(postId: string): string {
    const login = new URL('login', siteRoot);
    login.searchParams.set('redirect_to', target(postId).pathname);
    return login.toString();
}

// Mattermost's own sign-in: the tab is not in Teams, or Teams gave no token.
function signInNormally(postId: string, why: string): void {
    render('fallback', 'Sign in to Mattermost', [why], [{text: 'Sign in to Mattermost', href: loginUrl(postId)}]);
    window.location.replace(loginUrl(postId));
}

async function api<T>(path: string): Promise<T> {
    const res = await fetch(new URL(`api/v4/${path}`, siteRoot), {
        credentials: 'same-origin',
        headers: {'X-Requested-With': 'XMLHttpRequest'},
    });
    if (!res.ok) {
        throw new Error(`Mattermost answered ${res.status}`);
    }
    return (await res.json()) as T;
}

type User = {id: string; username: string};
type Team = {id: string; display_name: string};
type Channel = {id: string; display_name: string; name: string; type: string};

// Who is signed in and their channels, from Mattermost's API with the new session's cookies.
async function showHome(postId: string): Promise<void> {
    const me = await api<User>('users/me');
    const teams = await api<Team[]>('users/me/teams');
    const main = render('reading', 'Mattermost', [`Signed in as @${me.username}.`], [
        {text: 'Open Mattermost', href: target(postId).toString()},
    ]);
    for (const team of teams.slice(0, 10)) {
        const channels = await api<Channel[]>(`users/me/teams/${encodeURIComponent(team.id)}/channels`);
        const h2 = document.createElement('h2');
        h2.textContent = team.display_name;
        main.appendChild(h2);
        const ul = document.createElement('ul');
        ul.className = 'channels';
        for (const c of channels.filter((c) => c.type === 'O' || c.type === 'P').slice(0, 50)) {
            const li = document.createElement('li');
            li.textContent = c.display_name || c.name;
            ul.appendChild(li);
        }
        main.appendChild(ul);
    }
    main.setAttribute('data-state', 'signed-in');
    window.setTimeout(() => window.location.assign(target(postId).toString()), openAfterMs);
}

async function main(): Promise<void> {
    let postId = new URLSearchParams(window.location.search).get('post') ?? '';
    if (window.parent === window) {
        signInNormally(postId, 'This page is meant to open inside Microsoft Teams.');
        return;
    }
    try {
        await within(app.initialize(), 10_000, 'Teams');
    } catch {
        signInNormally(postId, 'Microsoft Teams did not answer.');
        return;
    }
    try {
        const context = await within(app.getContext(), 10_000, 'Teams context');
        // A deep link from a notification names the post in subEntityId.
        postId = postId || context.page.subPageId || '';
    } catch {
        // no context: open the start page
    }
    let token: string;
    try {
        token = await within(authentication.getAuthToken(), 30_000, 'Teams sign-in');
    } catch {
        signInNormally(postId, 'Microsoft Teams could not sign you in here.');
        return;
    }
    const res = await fetch('tab/sso', {
        method: 'POST',
        credentials: 'same-origin',
        headers: {'Content-Type': 'application/json', 'X-Requested-With': 'XMLHttpRequest'},
        body: JSON.stringify({token}),
    });
    if (!res.ok) {
        const body = (await res.json().catch(() => ({}))) as {id?: string; message?: string};
        const page = render('refused', 'You are not signed in', [body.message ?? `The sign-in failed (${res.status}).`],
            [{text: 'Sign in to Mattermost with your Mattermost account', href: loginUrl(postId)}]);
        page.setAttribute('data-reason', body.id ?? String(res.status));
        app.notifySuccess();
        return;
    }
    app.notifySuccess();
    try {
        await showHome(postId);
    } catch (e) {
        render('signed-in', 'Mattermost', [`Signed in, but Mattermost could not be read: ${String(e)}`], [
            {text: 'Open Mattermost', href: target(postId).toString()},
        ]);
    }
}

main().catch((e) => render('error', 'Something went wrong', [String(e)], [{text: 'Sign in to Mattermost', href: loginUrl('')}]));
