// Typed access to the plugin's HTTP routes (served by the server part under /plugins/<id>/).
//
// Mattermost authenticates browser calls to plugin routes with the session cookie; for anything but GET it also
// wants the CSRF token (the MMCSRF cookie echoed in X-CSRF-Token) or, leniently, X-Requested-With. Every call sends
// both, like Mattermost's own client does.
import {pluginId} from './manifest';
import type {ReduxStore} from './registry';

export type ChatSync = 'mirror' | 'notifications' | 'off';

export interface PluginConfig {
    enforce_connected_accounts: boolean;
    allow_skip_connect_accounts: boolean;
    chat_sync: ChatSync;
}

export type PrimaryPlatform = 'mattermost' | 'teams';

// Where the user reads Mattermost (/api/v1/primary): with Teams, Mattermost's notifications go to their Teams
// activity feed (when the server has it on: feed), unless Microsoft refuses to notify them (blocked).
export interface PrimaryState {
    primary: PrimaryPlatform;
    feed: boolean;
    blocked: boolean;

    // False when the choice was saved but Mattermost's notification settings could not be changed.
    notifications_changed: boolean;
}

export interface ConnectionStatus {
    connected: boolean;
    teams_user_id: string;
    teams_email: string;
    teams_display_name: string;
    can_connect: boolean;
}

// An error answered by the server ({id, message, status_code}) or a failure to reach it (status 0).
export class ClientError extends Error {
    readonly status: number;
    readonly id: string;

    constructor(message: string, status: number, id = '') {
        super(message);
        this.name = 'ClientError';
        this.status = status;
        this.id = id;
    }
}

export interface ClientEnv {
    fetch: typeof fetch;
    cookie: () => string;
    siteURL: () => string;
}

function stripTrailingSlash(url: string): string {
    return url.replace(/\/+$/, '');
}

// The address Mattermost is served from: window.basename (set by Mattermost's webapp, a path such as "" or
// "/chat") on the current origin, else the configured SiteURL from the Redux store, else "" (same origin, root).
export function resolveSiteURL(win: Partial<Pick<Window, 'basename' | 'location'>> | undefined, store?: ReduxStore): string {
    if (win && typeof win.basename === 'string') {
        const origin = win.location?.origin ?? '';
        return stripTrailingSlash(origin + win.basename);
    }
    const configured = store?.getState()?.entities?.general?.config?.SiteURL;
    if (typeof configured === 'string' && configured) {
        return stripTrailingSlash(configured);
    }
    return '';
}

// The value of one cookie from a document.cookie string, or "" when absent.
export function readCookie(cookies: string, name: string): string {
    for (const part of cookies.split(';')) {
        const eq = part.indexOf('=');
        if (eq < 0) {
            continue;
        }
        if (part.slice(0, eq).trim() === name) {
            const raw = part.slice(eq + 1).trim();
            try {
                return decodeURIComponent(raw);
            } catch {
                return raw;
            }
        }
    }
    return '';
}

export function requestHeaders(cookies: string, json: boolean): Record<string, string> {
    const headers: Record<string, string> = {
        Accept: 'application/json',
        'X-Requested-With': 'XMLHttpRequest',
    };
    const csrf = readCookie(cookies, 'MMCSRF');
    if (csrf) {
        headers['X-CSRF-Token'] = csrf;
    }
    if (json) {
        headers['Content-Type'] = 'application/json';
    }
    return headers;
}

// Turns a non-2xx response body into a ClientError, preferring the server's own message.
export function errorFromResponse(status: number, body: string): ClientError {
    try {
        const parsed: unknown = JSON.parse(body);
        if (parsed && typeof parsed === 'object') {
            const {message, id} = parsed as {message?: unknown; id?: unknown};
            if (typeof message === 'string' && message) {
                return new ClientError(message, status, typeof id === 'string' ? id : '');
            }
        }
    } catch {
        // Not JSON: a proxy page or a plain-text error; fall through to a generic message.
    }
    if (status === 401) {
        return new ClientError('Your Mattermost session has expired. Please log in again.', status);
    }
    if (status === 404) {
        return new ClientError('The MS Teams plugin is not running on the server.', status);
    }
    return new ClientError(`The server answered with an error (HTTP ${status}).`, status);
}

function asBool(value: unknown): boolean {
    return value === true || value === 'true';
}

function asString(value: unknown): string {
    return typeof value === 'string' ? value : '';
}

export function parseConfig(raw: unknown): PluginConfig {
    const obj = (raw && typeof raw === 'object' ? raw : {}) as Record<string, unknown>;
    const chatSync = obj.chat_sync === 'mirror' || obj.chat_sync === 'notifications' ? obj.chat_sync : 'off';
    return {
        enforce_connected_accounts: asBool(obj.enforce_connected_accounts),
        allow_skip_connect_accounts: asBool(obj.allow_skip_connect_accounts),
        chat_sync: chatSync,
    };
}

export function parseStatus(raw: unknown): ConnectionStatus {
    const obj = (raw && typeof raw === 'object' ? raw : {}) as Record<string, unknown>;
    return {
        connected: asBool(obj.connected),
        teams_user_id: asString(obj.teams_user_id),
        teams_email: asString(obj.teams_email),
        teams_display_name: asString(obj.teams_display_name),

        // Absent means the server did not say it is impossible.
        can_connect: obj.can_connect === undefined ? true : asBool(obj.can_connect),
    };
}

export function parsePrimary(raw: unknown): PrimaryState {
    const obj = (raw && typeof raw === 'object' ? raw : {}) as Record<string, unknown>;
    return {
        primary: obj.primary === 'teams' ? 'teams' : 'mattermost',
        feed: asBool(obj.feed),
        blocked: asBool(obj.blocked),
        notifications_changed: obj.notifications_changed === undefined ? true : asBool(obj.notifications_changed),
    };
}

export class Client {
    private readonly env: ClientEnv;

    constructor(env: ClientEnv) {
        this.env = env;
    }

    pluginURL(path: string): string {
        return `${this.env.siteURL()}/plugins/${pluginId}${path}`;
    }

    // The page that starts the OAuth flow; opened in a new window, never fetched.
    connectURL(): string {
        return this.pluginURL('/connect');
    }

    private async request(method: 'GET' | 'POST', path: string, body?: unknown): Promise<unknown> {
        let response: Response;
        try {
            response = await this.env.fetch(this.pluginURL(path), {
                method,
                credentials: 'same-origin',
                headers: requestHeaders(this.env.cookie(), body !== undefined),
                body: body === undefined ? undefined : JSON.stringify(body),
            });
        } catch {
            throw new ClientError('Could not reach the Mattermost server. Check your connection and try again.', 0);
        }
        const text = await response.text();
        if (!response.ok) {
            throw errorFromResponse(response.status, text);
        }
        if (!text) {
            return {};
        }
        try {
            return JSON.parse(text);
        } catch {
            throw new ClientError('The server sent an answer that could not be read.', response.status);
        }
    }

    async getConfig(): Promise<PluginConfig> {
        return parseConfig(await this.request('GET', '/api/v1/config'));
    }

    async getConnectionStatus(): Promise<ConnectionStatus> {
        return parseStatus(await this.request('GET', '/api/v1/connection-status'));
    }

    // Whether a DM or GM the user is in is bridged to a Teams chat.
    async getChannelBridged(channelId: string): Promise<boolean> {
        const raw = (await this.request('GET', `/api/v1/channel-bridged?channel_id=${encodeURIComponent(channelId)}`)) as
            Record<string, unknown>;
        return asBool(raw?.bridged);
    }

    async getPrimary(): Promise<PrimaryState> {
        return parsePrimary(await this.request('GET', '/api/v1/primary'));
    }

    async setPrimary(primary: PrimaryPlatform): Promise<PrimaryState> {
        return parsePrimary(await this.request('POST', '/api/v1/primary', {primary}));
    }

    async disconnect(): Promise<{connected: boolean}> {
        const raw = (await this.request('POST', '/api/v1/disconnect', {})) as Record<string, unknown>;
        return {connected: asBool(raw?.connected)};
    }
}
