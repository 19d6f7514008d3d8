import {describe, expect, it, vi} from 'vitest';

import {
    Client,
    ClientError,
    errorFromResponse,
    parseConfig,
    parsePrimary,
    parseStatus,
    readCookie,
    requestHeaders,
    resolveSiteURL,
} from '../src/client';
import type {ReduxStore} from '../src/registry';

function reduxWith(siteURL?: string): ReduxStore {
    return {
        getState: () => ({entities: {general: {config: {SiteURL: siteURL}}}}),
        subscribe: () => () => undefined,
    };
}

function jsonResponse(status: number, body: unknown): Response {
    return new Response(typeof body === 'string' ? body : JSON.stringify(body), {
        status,
        headers: {'Content-Type': 'application/json'},
    });
}

function clientWith(fetchImpl: typeof fetch, cookie = 'MMCSRF=tok123; MMUSERID=u1', siteURL = 'https://mm.example.com') {
    return new Client({fetch: fetchImpl, cookie: () => cookie, siteURL: () => siteURL});
}

describe('site URL', () => {
    it('prefers window.basename on the current origin', () => {
        expect(resolveSiteURL({basename: '/chat', location: {origin: 'https://mm.example.com'} as Location}, reduxWith('https://other'))).
            toBe('https://mm.example.com/chat');
        expect(resolveSiteURL({basename: '', location: {origin: 'https://mm.example.com'} as Location})).toBe('https://mm.example.com');
        expect(resolveSiteURL({basename: '/', location: {origin: 'http://h'} as Location})).toBe('http://h');
    });

    it('falls back to the configured SiteURL, then to ""', () => {
        expect(resolveSiteURL({}, reduxWith('https://mm.example.com/sub/'))).toBe('https://mm.example.com/sub');
        expect(resolveSiteURL({}, reduxWith(''))).toBe('');
        expect(resolveSiteURL(undefined, undefined)).toBe('');
        expect(resolveSiteURL({}, {getState: () => ({}), subscribe: () => () => undefined})).toBe('');
    });
});

describe('headers and CSRF', () => {
    it('reads the MMCSRF cookie among others', () => {
        expect(readCookie('a=1; MMCSRF=abc%3D; b=2', 'MMCSRF')).toBe('abc=');
        expect(readCookie('XMMCSRF=no; MMCSRFX=no', 'MMCSRF')).toBe('');
        expect(readCookie('', 'MMCSRF')).toBe('');
    });

    it('always sends X-Requested-With, and X-CSRF-Token when the cookie exists', () => {
        expect(requestHeaders('MMCSRF=t', false)).toEqual({
            Accept: 'application/json',
            'X-Requested-With': 'XMLHttpRequest',
            'X-CSRF-Token': 't',
        });
        const noCookie = requestHeaders('', true);
        expect(noCookie['X-CSRF-Token']).toBeUndefined();
        expect(noCookie['Content-Type']).toBe('application/json');
    });

    it('GET config: same-origin credentials, plugin path under the site URL', async () => {
        const fetchMock = vi.fn(async () => jsonResponse(200, {
            enforce_connected_accounts: true,
            allow_skip_connect_accounts: false,
            chat_sync: 'notifications',
        }));
        const config = await clientWith(fetchMock as unknown as typeof fetch).getConfig();
        expect(config).toEqual({
            enforce_connected_accounts: true,
            allow_skip_connect_accounts: false,
            chat_sync: 'notifications',
        });
        const [url, init] = fetchMock.mock.calls[0] as unknown as [string, RequestInit];
        expect(url).toBe('https://mm.example.com/plugins/com.mattermost.msteams/api/v1/config');
        expect(init.method).toBe('GET');
        expect(init.credentials).toBe('same-origin');
        expect(init.headers).toMatchObject({'X-Requested-With': 'XMLHttpRequest', 'X-CSRF-Token': 'tok123'});
    });

    it('POST disconnect carries the CSRF token', async () => {
        const fetchMock = vi.fn(async () => jsonResponse(200, {connected: false}));
        expect(await clientWith(fetchMock as unknown as typeof fetch).disconnect()).toEqual({connected: false});
        const [url, init] = fetchMock.mock.calls[0] as unknown as [string, RequestInit];
        expect(url).toBe('https://mm.example.com/plugins/com.mattermost.msteams/api/v1/disconnect');
        expect(init.method).toBe('POST');
        expect(init.headers).toMatchObject({'X-CSRF-Token': 'tok123', 'X-Requested-With': 'XMLHttpRequest'});
    });

    it('connect URL is the plugin connect route', () => {
        expect(clientWith(vi.fn() as unknown as typeof fetch, '', '').connectURL()).toBe('/plugins/com.mattermost.msteams/connect');
    });
});

describe('errors', () => {
    it('uses the server message from {id, message, status_code}', async () => {
        const fetchMock = vi.fn(async () => jsonResponse(403, {id: 'msteams.limit', message: 'The limit is reached.', status_code: 403}));
        const err = await clientWith(fetchMock as unknown as typeof fetch).getConnectionStatus().catch((e) => e);
        expect(err).toBeInstanceOf(ClientError);
        expect(err.message).toBe('The limit is reached.');
        expect(err.status).toBe(403);
        expect(err.id).toBe('msteams.limit');
    });

    it('falls back to a readable message for non-JSON bodies', () => {
        expect(errorFromResponse(502, '<html>Bad gateway</html>').message).toMatch(/HTTP 502/);
        expect(errorFromResponse(401, '').message).toMatch(/log in again/);
        expect(errorFromResponse(404, 'not found').message).toMatch(/not running/);
        expect(errorFromResponse(500, '{"message":""}').message).toMatch(/HTTP 500/);
    });

    it('a network failure becomes a ClientError with status 0', async () => {
        const fetchMock = vi.fn(async () => {
            throw new TypeError('Failed to fetch');
        });
        const err = await clientWith(fetchMock as unknown as typeof fetch).getConfig().catch((e) => e);
        expect(err).toBeInstanceOf(ClientError);
        expect(err.status).toBe(0);
    });

    it('an unreadable 200 body is an error, an empty one is {}', async () => {
        const bad = vi.fn(async () => new Response('not json', {status: 200}));
        await expect(clientWith(bad as unknown as typeof fetch).getConfig()).rejects.toBeInstanceOf(ClientError);
        const empty = vi.fn(async () => new Response('', {status: 200}));
        expect((await clientWith(empty as unknown as typeof fetch).getConfig()).enforce_connected_accounts).toBe(false);
    });
});

describe('response parsing', () => {
    it('normalizes config fields', () => {
        expect(parseConfig({enforce_connected_accounts: 'true', chat_sync: 'weird'})).toEqual({
            enforce_connected_accounts: true,
            allow_skip_connect_accounts: false,
            chat_sync: 'off',
        });
        expect(parseConfig(null).enforce_connected_accounts).toBe(false);
    });

    it('normalizes status; a missing can_connect means allowed', () => {
        expect(parseStatus({connected: true, teams_email: 'a@b', teams_display_name: 7})).toEqual({
            connected: true,
            teams_user_id: '',
            teams_email: 'a@b',
            teams_display_name: '',
            can_connect: true,
        });
        expect(parseStatus({connected: false, can_connect: false}).can_connect).toBe(false);
    });

    it('normalizes the primary platform; anything but teams is Mattermost', () => {
        expect(parsePrimary({primary: 'teams', feed: true, blocked: true, notifications_changed: false})).toEqual({
            primary: 'teams',
            feed: true,
            blocked: true,
            notifications_changed: false,
        });
        expect(parsePrimary({primary: 'slack'})).toEqual({
            primary: 'mattermost',
            feed: false,
            blocked: false,
            notifications_changed: true,
        });
    });
});
