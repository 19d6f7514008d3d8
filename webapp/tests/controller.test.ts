import {describe, expect, it, vi} from 'vitest';

import {ClientError, type Client, type ConnectionStatus, type PluginConfig} from '../src/client';
import {CONNECT_RESULT_MESSAGE, Controller, POPUP_POLL_MS} from '../src/controller';
import {createStore, shouldPrompt} from '../src/state';

const notConnected: ConnectionStatus = {connected: false, teams_user_id: '', teams_email: '', teams_display_name: '', can_connect: true};
const enforced: PluginConfig = {enforce_connected_accounts: true, allow_skip_connect_accounts: true, chat_sync: 'mirror'};

function deferred<T>() {
    let resolve!: (v: T) => void;
    const promise = new Promise<T>((r) => {
        resolve = r;
    });
    return {promise, resolve};
}

function fakeClient(overrides: Partial<Record<keyof Client, unknown>> = {}) {
    const client = {
        getConfig: vi.fn(async () => enforced),
        getConnectionStatus: vi.fn(async () => notConnected),
        disconnect: vi.fn(async () => ({connected: false})),
        connectURL: () => 'https://mm/plugins/com.mattermost.msteams/connect',
        ...overrides,
    };
    return client as unknown as Client & typeof client;
}

describe('Controller', () => {
    it('loads config and status, then the prompt is due', async () => {
        const c = new Controller(fakeClient(), vi.fn());
        await c.refresh();
        expect(shouldPrompt(c.store.getState())).toBe(true);
    });

    it('skip hides the prompt only when skipping is allowed', async () => {
        const c = new Controller(fakeClient({getConfig: vi.fn(async () => ({...enforced, allow_skip_connect_accounts: false}))}), vi.fn());
        await c.refresh();
        c.skip();
        expect(c.store.getState().skipped).toBe(false);
        expect(shouldPrompt(c.store.getState())).toBe(true);

        const allowed = new Controller(fakeClient(), vi.fn());
        await allowed.refresh();
        allowed.skip();
        expect(shouldPrompt(allowed.store.getState())).toBe(false);
    });

    it('connect opens the connect URL and notes a blocked popup', () => {
        const open = vi.fn(() => null);
        const c = new Controller(fakeClient(), open);
        c.connect();
        expect(open).toHaveBeenCalledWith('https://mm/plugins/com.mattermost.msteams/connect');
        expect(c.store.getState()).toMatchObject({connecting: true, popupBlocked: true});
    });

    it('connection_changed sets the status and wins over an older in-flight load', async () => {
        const slow = deferred<ConnectionStatus>();
        const client = fakeClient({getConnectionStatus: vi.fn(() => slow.promise)});
        const c = new Controller(client, vi.fn(() => ({})), createStore({config: enforced}));
        const loading = c.loadStatus();
        c.connect();
        c.onConnectionChanged({connected: true, teams_display_name: 'Ada', teams_email: 'ada@contoso.com'});
        slow.resolve(notConnected); // stale answer arrives late
        await loading;
        const s = c.store.getState();
        expect(s.status).toMatchObject({connected: true, teams_display_name: 'Ada', teams_email: 'ada@contoso.com'});
        expect(s.connecting).toBe(false);
        expect(shouldPrompt(s)).toBe(false);
    });

    it('connection_changed to disconnected re-reads the status (for can_connect)', async () => {
        const client = fakeClient();
        const c = new Controller(client, vi.fn(), createStore({config: enforced}));
        c.onConnectionChanged({connected: false});
        expect(c.store.getState().status?.connected).toBe(false);
        expect(client.getConnectionStatus).toHaveBeenCalledTimes(1);
    });

    it('config_changed re-reads the config only', async () => {
        const client = fakeClient();
        const c = new Controller(client, vi.fn());
        c.onConfigChanged();
        await vi.waitFor(() => expect(c.store.getState().config).toEqual(enforced));
        expect(client.getConnectionStatus).not.toHaveBeenCalled();
    });

    it('window focus re-reads the status only while connecting', async () => {
        const client = fakeClient();
        const c = new Controller(client, vi.fn(() => ({})));
        c.onWindowFocus();
        expect(client.getConnectionStatus).not.toHaveBeenCalled();
        c.connect();
        c.onWindowFocus();
        expect(client.getConnectionStatus).toHaveBeenCalledTimes(1);
    });

    it('a new user resets the skip and reloads', async () => {
        const client = fakeClient();
        const c = new Controller(client, vi.fn(), createStore({userId: 'u1'}));
        await c.refresh();
        c.skip();
        expect(shouldPrompt(c.store.getState())).toBe(false);
        c.onUserChanged('');
        expect(c.store.getState().status).toBeNull();
        c.onUserChanged('u1');
        await vi.waitFor(() => expect(shouldPrompt(c.store.getState())).toBe(true));
        expect(client.getConfig).toHaveBeenCalledTimes(2);
    });

    it('disconnect updates the status; a failure keeps it and shows the message', async () => {
        const connected = {...notConnected, connected: true, teams_display_name: 'Ada'};
        const ok = new Controller(fakeClient({getConnectionStatus: vi.fn(async () => notConnected)}), vi.fn(),
            createStore({status: connected}));
        await ok.disconnect();
        expect(ok.store.getState()).toMatchObject({busy: false, status: {connected: false, teams_display_name: ''}});

        const failing = new Controller(
            fakeClient({disconnect: vi.fn(async () => {
                throw new ClientError('Teams is unreachable.', 500);
            })}),
            vi.fn(),
            createStore({status: connected}),
        );
        await failing.disconnect();
        expect(failing.store.getState()).toMatchObject({busy: false, actionError: 'Teams is unreachable.', status: {connected: true}});
    });

    it('a failed load never prompts and reports the error', async () => {
        const c = new Controller(fakeClient({getConnectionStatus: vi.fn(async () => {
            throw new ClientError('Not logged in.', 401);
        })}), vi.fn());
        await c.refresh();
        expect(c.store.getState().loadError).toBe('Not logged in.');
        expect(shouldPrompt(c.store.getState())).toBe(false);
    });
});

describe('Controller: the outcome of a connect attempt', () => {
    const ORIGIN = 'https://mm';
    const result = (outcome: string, message = '') => ({type: CONNECT_RESULT_MESSAGE, outcome, message});

    function started() {
        const popup = {closed: false};
        const client = fakeClient();
        const c = new Controller(client, vi.fn(() => popup), createStore({config: enforced, status: notConnected, userId: 'u'}));
        c.connect();
        return {c, popup, client};
    }

    it('a refusal from the result page is shown with its reason; connecting ends', () => {
        const {c, popup} = started();
        c.onMessage({origin: ORIGIN, source: popup, data: result('refused', 'Use your work account.')}, ORIGIN);
        expect(c.store.getState().connecting).toBe(false);
        expect(c.store.getState().connectOutcome).toEqual({kind: 'refused', message: 'Use your work account.'});
    });

    it('ignores messages from another origin, another window, or of another type', () => {
        const {c, popup} = started();
        c.onMessage({origin: 'https://evil.example', source: popup, data: result('refused', 'forged')}, ORIGIN);
        c.onMessage({origin: ORIGIN, source: {}, data: result('refused', 'forged')}, ORIGIN);
        c.onMessage({origin: ORIGIN, source: popup, data: {type: 'other', outcome: 'refused'}}, ORIGIN);
        c.onMessage({origin: ORIGIN, source: popup, data: 'refused'}, ORIGIN);
        expect(c.store.getState().connecting).toBe(true);
        expect(c.store.getState().connectOutcome).toBeNull();
    });

    it('"connected" is checked with the server, not believed', async () => {
        const {c, popup, client} = started();
        c.onMessage({origin: ORIGIN, source: popup, data: result('connected')}, ORIGIN);
        await vi.waitFor(() => expect(c.store.getState().connecting).toBe(false));
        expect(client.getConnectionStatus).toHaveBeenCalled();
        expect(c.store.getState().status?.connected).toBe(false);
    });

    it('a window that looks closed says what to do, keeps waiting; with the account connected it says nothing', async () => {
        vi.useFakeTimers();
        try {
            const {c, popup} = started();
            popup.closed = true;  // closed, or cut off by Microsoft's Cross-Origin-Opener-Policy: the same to this page
            await vi.advanceTimersByTimeAsync(POPUP_POLL_MS + 10);
            await vi.waitFor(() => expect(c.store.getState().connectOutcome).toEqual({kind: 'closed', message: ''}));
            expect(c.store.getState().connecting).toBe(true);
            // The sign-in went on in the cut-off window and was refused: the server says so over the websocket.
            c.onConnectOutcome({outcome: 'refused', message: 'Use the account with your Mattermost email.'});
            expect(c.store.getState().connecting).toBe(false);
            expect(c.store.getState().connectOutcome).toEqual({kind: 'refused',
                message: 'Use the account with your Mattermost email.'});
            c.onConnectOutcome({outcome: 'connected'});  // not an outcome this event carries: ignored
            c.onConnectOutcome('nonsense');
            expect(c.store.getState().connectOutcome?.kind).toBe('refused');

            const connected = {...notConnected, connected: true};
            const second = started();
            vi.mocked(second.client.getConnectionStatus).mockResolvedValue(connected);
            second.popup.closed = true;
            await vi.advanceTimersByTimeAsync(POPUP_POLL_MS + 10);
            await vi.waitFor(() => expect(second.c.store.getState().status?.connected).toBe(true));
            expect(second.c.store.getState().connectOutcome).toBeNull();
        } finally {
            vi.useRealTimers();
        }
    });

    it('a new attempt clears the last outcome', () => {
        const {c, popup} = started();
        c.onMessage({origin: ORIGIN, source: popup, data: result('cancelled')}, ORIGIN);
        expect(c.store.getState().connectOutcome?.kind).toBe('cancelled');
        c.connect();
        expect(c.store.getState().connectOutcome).toBeNull();
        expect(c.store.getState().connecting).toBe(true);
    });
});

describe('Controller: bridged DMs and GMs', () => {
    it('asks once per DM or GM, caches the answer, never asks for other channels', async () => {
        const getChannelBridged = vi.fn(async (id: string) => id === 'dm1');
        const c = new Controller(fakeClient({getChannelBridged}), vi.fn(), createStore({userId: 'u'}));
        c.onChannelViewed('town', false);
        c.onChannelViewed('dm1', true);
        c.onChannelViewed('dm1', true);
        await vi.waitFor(() => expect(c.store.getState().bridgedChannels).toEqual({dm1: true}));
        c.onChannelViewed('gm2', true);
        await vi.waitFor(() => expect(c.store.getState().bridgedChannels).toEqual({dm1: true, gm2: false}));
        c.onChannelViewed('dm1', true);
        expect(getChannelBridged.mock.calls.map((call) => call[0])).toEqual(['dm1', 'gm2']);
        expect(c.store.getState().currentChannelId).toBe('dm1');
        c.onChannelViewed('town', false);
        expect(c.store.getState().currentChannelId).toBe('');
    });
});
