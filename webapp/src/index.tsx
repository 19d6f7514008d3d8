// Registration only: wires the controller to Mattermost's registry, websocket events, the Redux store (site URL
// and current user) and window focus. Behaviour lives in controller.ts, the UI in components/.
import {Client, resolveSiteURL} from './client';
import {
    ENCRYPTION_KEY_KEY,
    EncryptionKeySetting,
    REDIRECT_URI_KEY,
    RedirectURISetting,
    SECTION_KEYS,
    SectionHeader,
} from './components/admin_console/admin_settings';
import {
    COLOR_ICON_KEY,
    ColorIconSetting,
    OUTLINE_ICON_KEY,
    OutlineIconSetting,
    TEAMS_APP_PACKAGE_KEY,
    TeamsAppPackageSetting,
} from './components/admin_console/teams_app_settings';
import {makeBridgedBannerRoot} from './components/bridged_banner/bridged_banner';
import {makeConnectPromptRoot} from './components/connect_prompt/connect_prompt';
import {makeSettingsDialogRoot, makeUserSettingsSection} from './components/user_settings/account_settings';
import {Controller} from './controller';
import {pluginId} from './manifest';
import type {MattermostPlugin, PluginRegistry, ReduxStore, WebSocketMessage} from './registry';
import {createStore} from './state';

// Events the server part publishes arrive as "custom_<plugin id>_<event>".

// The tab icon in Settings: the plugin's icon, inline, since the webapp has no URL of its own for it. A test keeps it
// identical to assets/icon.svg.
export const SETTINGS_ICON = 'data:image/svg+xml,' + encodeURIComponent(
    '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 64 64" width="64" height="64">' +
    '<rect width="64" height="64" rx="12" fill="#4B53BC"/><path d="M14 20h26v6h-10v22h-6V26H14z" fill="#fff"/>' +
    '<circle cx="47" cy="21" r="6" fill="#fff"/><path d="M40 30h14v12a7 7 0 0 1-14 0z" fill="#fff" opacity=".85"/></svg>');

export function eventName(event: string): string {
    return `custom_${pluginId}_${event}`;
}

function currentUserId(store: ReduxStore | undefined): string {
    const id = store?.getState()?.entities?.users?.currentUserId;
    return typeof id === 'string' ? id : '';
}

// Whether any of Mattermost's modals (opened through its openModal action, as Settings is) is open.
function anyModalOpen(store: ReduxStore | undefined): boolean {
    const modals = store?.getState()?.views?.modals?.modalState;
    if (!modals || typeof modals !== 'object') {
        return false;
    }
    return Object.values(modals).some((m) => Boolean(m && m.open));
}

// The channel being viewed: its id and whether it is a DM ('D') or GM ('G').
function currentChannel(store: ReduxStore | undefined): {id: string; directOrGroup: boolean} {
    const channels = store?.getState()?.entities?.channels;
    const id = typeof channels?.currentChannelId === 'string' ? channels.currentChannelId : '';
    const type = id ? channels?.channels?.[id]?.type : undefined;
    return {id, directOrGroup: type === 'D' || type === 'G'};
}

function browserWindow(): Window | undefined {
    return typeof window === 'undefined' ? undefined : window;
}

export class Plugin implements MattermostPlugin {
    controller: Controller | null = null;
    private cleanups: Array<() => void> = [];

    initialize(registry: PluginRegistry, reduxStore?: ReduxStore): void {
        const win = browserWindow();
        const client = new Client({
            fetch: (input, init) => fetch(input, init),
            cookie: () => (typeof document === 'undefined' ? '' : document.cookie),
            siteURL: () => resolveSiteURL(browserWindow(), reduxStore),
        });
        const controller = new Controller(
            client,
            (url) => (typeof win?.open === 'function' ? win.open(url, '_blank') : null),
            createStore({userId: currentUserId(reduxStore)}),
        );
        this.controller = controller;

        // Nothing is asked of the server without a logged-in user (the login and landing pages load plugins too,
        // and every plugin request there fails with 401).
        const loggedIn = () => currentUserId(reduxStore) !== '' || !reduxStore;
        registry.registerWebSocketEventHandler(eventName('connection_changed'), (msg: WebSocketMessage) => {
            controller.onConnectionChanged(msg?.data);
        });
        registry.registerWebSocketEventHandler(eventName('connect_outcome'), (msg: WebSocketMessage) => {
            controller.onConnectOutcome(msg?.data);
        });
        registry.registerWebSocketEventHandler(eventName('config_changed'), () => {
            if (loggedIn()) {
                controller.onConfigChanged();
            }
        });
        registry.registerReconnectHandler?.(() => {
            if (loggedIn()) {
                controller.onReconnect();
            }
        });

        registry.registerRootComponent?.(makeConnectPromptRoot(controller));
        registry.registerRootComponent?.(makeBridgedBannerRoot(controller));

        // System Console: section headers, the redirect URI, the encryption key and the Teams app package with its icons
        // (custom settings of plugin.json).
        if (typeof registry.registerAdminConsoleCustomSetting === 'function') {
            for (const key of SECTION_KEYS) {
                registry.registerAdminConsoleCustomSetting(key, SectionHeader, {showTitle: false});
            }
            registry.registerAdminConsoleCustomSetting(REDIRECT_URI_KEY, RedirectURISetting, {showTitle: true});
            registry.registerAdminConsoleCustomSetting(ENCRYPTION_KEY_KEY, EncryptionKeySetting, {showTitle: true});
            registry.registerAdminConsoleCustomSetting(TEAMS_APP_PACKAGE_KEY, TeamsAppPackageSetting, {showTitle: true});
            registry.registerAdminConsoleCustomSetting(COLOR_ICON_KEY, ColorIconSetting, {showTitle: true});
            registry.registerAdminConsoleCustomSetting(OUTLINE_ICON_KEY, OutlineIconSetting, {showTitle: true});
        }
        if (!this.registerUserSettings(registry, reduxStore, controller)) {
            registry.registerRootComponent?.(makeSettingsDialogRoot(controller));
            registry.registerMainMenuAction?.('MS Teams account', () => controller.openSettings());
        }

        // After a login (or a switch of user without a reload) ask again, skip included. Mattermost's modals hold
        // the prompt back; a DM or GM being viewed may get the "bridged" line.
        const onStoreChange = () => {
            controller.onUserChanged(currentUserId(reduxStore));
            controller.setModalOpen(anyModalOpen(reduxStore));
            if (loggedIn()) {
                const channel = currentChannel(reduxStore);
                controller.onChannelViewed(channel.id, channel.directOrGroup);
            }
        };
        if (reduxStore && typeof reduxStore.subscribe === 'function') {
            this.cleanups.push(reduxStore.subscribe(onStoreChange));
            controller.setModalOpen(anyModalOpen(reduxStore));
        }

        // The connect result page (the sign-in window) posts its outcome here; only Mattermost's own origin counts.
        if (win && typeof win.addEventListener === 'function') {
            const onMessage = (event: MessageEvent) => {
                let expected = '';
                try {
                    expected = new URL(client.connectURL(), win.location.href).origin;
                } catch {
                    return;
                }
                controller.onMessage({origin: event.origin, source: event.source, data: event.data}, expected);
            };
            win.addEventListener('message', onMessage);
            this.cleanups.push(() => win.removeEventListener('message', onMessage));
        }

        // The connect flow finishes in another window; coming back here re-reads the status in case the websocket
        // event was missed.
        if (win && typeof win.addEventListener === 'function') {
            const onFocus = () => controller.onWindowFocus();
            win.addEventListener('focus', onFocus);
            this.cleanups.push(() => win.removeEventListener('focus', onFocus));
        }

        if (loggedIn()) {
            void controller.refresh();
            const channel = currentChannel(reduxStore);
            controller.onChannelViewed(channel.id, channel.directOrGroup);
        }
    }

    // Uses Settings → MS Teams where this Mattermost has it. Older servers lack registerUserSettings, and some
    // accept it but drop custom (component) sections, which leaves no plugin tab; both get the main-menu dialog.
    private registerUserSettings(registry: PluginRegistry, reduxStore: ReduxStore | undefined, controller: Controller): boolean {
        if (typeof registry.registerUserSettings !== 'function') {
            return false;
        }
        try {
            registry.registerUserSettings({
                id: pluginId,
                uiName: 'MS Teams',
                icon: SETTINGS_ICON,
                sections: [{title: 'Microsoft Teams account', component: makeUserSettingsSection(controller)}],
            });
        } catch {
            return false;
        }
        const accepted = reduxStore?.getState()?.plugins?.userSettings;
        if (accepted && typeof accepted === 'object' && !(pluginId in accepted)) {
            return false;
        }
        return true;
    }

    uninitialize(): void {
        for (const cleanup of this.cleanups.splice(0)) {
            cleanup();
        }
        this.controller = null;
    }
}

window.registerPlugin(pluginId, new Plugin());
