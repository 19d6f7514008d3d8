import {readFileSync} from 'node:fs';
import {afterEach, beforeEach, describe, expect, it, vi} from 'vitest';

import manifest from '../../plugin.json';
import type {ReduxState, UserSettingsConfiguration, WebSocketMessage} from '../src/registry';

function fakeRedux(initial: ReduxState) {
    let state = initial;
    const listeners = new Set<() => void>();
    return {
        getState: () => state,
        subscribe: (fn: () => void) => {
            listeners.add(fn);
            return () => {
                listeners.delete(fn);
            };
        },
        set(next: ReduxState) {
            state = next;
            listeners.forEach((fn) => fn());
        },
    };
}

function fakeRegistry(withUserSettings: boolean, accept = true, redux?: ReturnType<typeof fakeRedux>) {
    type UserSettingsFn = (setting: UserSettingsConfiguration) => void;
    const registry = {
        registerWebSocketEventHandler: vi.fn<(event: string, handler: (msg: WebSocketMessage) => void) => void>(),
        registerReconnectHandler: vi.fn<(handler: () => void) => void>(),
        registerRootComponent: vi.fn<(component: unknown) => string>(() => 'root'),
        registerMainMenuAction: vi.fn<(text: unknown, action: () => void) => string>(() => 'menu'),
        registerUserSettings: undefined as undefined | ReturnType<typeof vi.fn<UserSettingsFn>>,
    };
    if (withUserSettings) {
        registry.registerUserSettings = vi.fn<UserSettingsFn>((setting) => {
            if (accept && redux) {
                redux.set({...redux.getState(), plugins: {userSettings: {[manifest.id]: setting}}});
            }
        });
    }
    return registry;
}

function jsonFetch(routes: Record<string, unknown>) {
    return vi.fn(async (url: string) => {
        const path = String(url).replace(/^.*\/plugins\/com\.mattermost\.msteams/, '');
        if (path in routes) {
            return new Response(JSON.stringify(routes[path]), {status: 200});
        }
        return new Response('{"message":"nope"}', {status: 404});
    });
}

const routes = {
    '/api/v1/config': {enforce_connected_accounts: true, allow_skip_connect_accounts: true, chat_sync: 'mirror'},
    '/api/v1/connection-status': {connected: false, teams_user_id: '', teams_email: '', teams_display_name: '', can_connect: true},
};

describe('webapp registration', () => {
    beforeEach(() => {
        vi.resetModules();
        vi.stubGlobal('fetch', jsonFetch(routes));
    });
    afterEach(() => {
        vi.unstubAllGlobals();
    });

    it('registers itself under the manifest id when loaded', async () => {
        const registerPlugin = vi.fn();
        vi.stubGlobal('window', {registerPlugin});
        await import('../src/index');
        expect(registerPlugin).toHaveBeenCalledTimes(1);
        expect(registerPlugin.mock.calls[0][0]).toBe('com.mattermost.msteams');
        expect(registerPlugin.mock.calls[0][0]).toBe(manifest.id);
    });

    it('registers websocket handlers under the plugin-prefixed names', async () => {
        vi.stubGlobal('window', {registerPlugin: vi.fn()});
        const {Plugin, eventName} = await import('../src/index');
        const registry = fakeRegistry(false);
        new Plugin().initialize(registry);
        expect(eventName('config_changed')).toBe('custom_com.mattermost.msteams_config_changed');
        const events = registry.registerWebSocketEventHandler.mock.calls.map((c) => c[0]);
        expect(events).toEqual([
            'custom_com.mattermost.msteams_connection_changed',
            'custom_com.mattermost.msteams_connect_outcome',
            'custom_com.mattermost.msteams_config_changed',
        ]);
        expect(registry.registerReconnectHandler).toHaveBeenCalledTimes(1);
    });

    it('uses registerUserSettings when Mattermost has it and keeps the configuration', async () => {
        vi.stubGlobal('window', {registerPlugin: vi.fn()});
        const {Plugin} = await import('../src/index');
        const redux = fakeRedux({entities: {general: {config: {SiteURL: 'https://mm'}}, users: {currentUserId: 'u1'}}, plugins: {userSettings: {}}});
        const registry = fakeRegistry(true, true, redux);
        new Plugin().initialize(registry, redux);
        expect(registry.registerUserSettings).toHaveBeenCalledTimes(1);
        const setting = registry.registerUserSettings!.mock.calls[0][0];
        expect(setting).toMatchObject({id: manifest.id, uiName: 'MS Teams', sections: [{title: 'Microsoft Teams account'}]});
        expect(typeof setting.sections[0].component).toBe('function');
        // The tab shows the plugin's own icon, the same as the bundle's assets/icon.svg.
        const {SETTINGS_ICON} = await import('../src/index');
        expect(setting.icon).toBe(SETTINGS_ICON);
        const svg = readFileSync(new URL('../../assets/icon.svg', import.meta.url), 'utf8').trim();
        expect(decodeURIComponent(SETTINGS_ICON.replace('data:image/svg+xml,', ''))).toBe(svg);
        expect(registry.registerRootComponent).toHaveBeenCalledTimes(2); // the prompt and the bridged banner
        expect(registry.registerMainMenuAction).not.toHaveBeenCalled();
    });

    it('falls back to a main-menu dialog without registerUserSettings, or when the configuration is dropped', async () => {
        vi.stubGlobal('window', {registerPlugin: vi.fn()});
        const {Plugin} = await import('../src/index');
        const dropping = fakeRedux({plugins: {userSettings: {}}});
        for (const [registry, redux] of [
            [fakeRegistry(false), undefined],
            [fakeRegistry(true, false, dropping), dropping],
        ] as const) {
            const plugin = new Plugin();
            plugin.initialize(registry, redux);
            expect(registry.registerRootComponent).toHaveBeenCalledTimes(3); // prompt, banner, settings dialog
            expect(registry.registerMainMenuAction).toHaveBeenCalledWith('MS Teams account', expect.any(Function));
            const open = registry.registerMainMenuAction.mock.calls[0][1];
            open();
            expect(plugin.controller!.store.getState().settingsOpen).toBe(true);
        }
    });

    it('loads config and status from the site URL, and websocket events update the state', async () => {
        vi.stubGlobal('window', {registerPlugin: vi.fn()});
        const {Plugin} = await import('../src/index');
        const redux = fakeRedux({entities: {general: {config: {SiteURL: 'https://mm.example.com'}}, users: {currentUserId: 'u1'}}});
        const registry = fakeRegistry(false);
        const plugin = new Plugin();
        plugin.initialize(registry, redux);
        const store = plugin.controller!.store;
        await vi.waitFor(() => expect(store.getState().status).not.toBeNull());
        expect(vi.mocked(fetch).mock.calls.map((c) => c[0])).toEqual([
            'https://mm.example.com/plugins/com.mattermost.msteams/api/v1/config',
            'https://mm.example.com/plugins/com.mattermost.msteams/api/v1/connection-status',
        ]);
        expect(store.getState().config?.enforce_connected_accounts).toBe(true);

        const handler = registry.registerWebSocketEventHandler.mock.calls[0][1];
        handler({data: {connected: true, teams_display_name: 'Ada', teams_email: 'ada@contoso.com'}});
        expect(store.getState().status).toMatchObject({connected: true, teams_display_name: 'Ada'});
    });

    it('a login as another user resets the skip; uninitialize stops listening', async () => {
        vi.stubGlobal('window', {registerPlugin: vi.fn()});
        const {Plugin} = await import('../src/index');
        const redux = fakeRedux({entities: {users: {currentUserId: 'u1'}}});
        const plugin = new Plugin();
        plugin.initialize(fakeRegistry(false), redux);
        const controller = plugin.controller!;
        await vi.waitFor(() => expect(controller.store.getState().config).not.toBeNull());
        controller.skip();
        expect(controller.store.getState().skipped).toBe(true);
        redux.set({entities: {users: {currentUserId: 'u2'}}});
        expect(controller.store.getState()).toMatchObject({userId: 'u2', skipped: false});
        plugin.uninitialize();
        redux.set({entities: {users: {currentUserId: 'u3'}}});
        expect(controller.store.getState().userId).toBe('u2');
    });

    it('makes no plugin request while logged out, and loads once a user logs in', async () => {
        vi.stubGlobal('window', {registerPlugin: vi.fn()});
        const {Plugin} = await import('../src/index');
        const redux = fakeRedux({entities: {general: {config: {SiteURL: 'https://mm.example.com'}}, users: {currentUserId: ''}}});
        const registry = fakeRegistry(false);
        const plugin = new Plugin();
        plugin.initialize(registry, redux);
        const store = plugin.controller!.store;
        // The login page: a reconnect or a configuration event changes nothing either.
        registry.registerReconnectHandler.mock.calls[0][0]();
        registry.registerWebSocketEventHandler.mock.calls[1][1]({data: {}});
        plugin.controller!.onWindowFocus();
        await new Promise((resolve) => setTimeout(resolve, 20));
        expect(fetch).not.toHaveBeenCalled();

        redux.set({entities: {general: {config: {SiteURL: 'https://mm.example.com'}}, users: {currentUserId: 'u1'}}});
        await vi.waitFor(() => expect(store.getState().status).not.toBeNull());
        expect(vi.mocked(fetch).mock.calls.map((c) => c[0])).toEqual([
            'https://mm.example.com/plugins/com.mattermost.msteams/api/v1/config',
            'https://mm.example.com/plugins/com.mattermost.msteams/api/v1/connection-status',
        ]);
        plugin.uninitialize();
    });
});
