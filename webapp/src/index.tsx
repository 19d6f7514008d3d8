// Registration only: wires the controller to Mattermost's registry, websocket events, the Redux store (site URL
// and current user) and window focus. Behaviour lives in controller.ts, the UI in components/.
import {Client, resolveSiteURL} from './client';
import {makeConnectPromptRoot} from './components/connect_prompt/connect_prompt';
import {makeSettingsDialogRoot, makeUserSettingsSection} from './components/user_settings/account_settings';
import {Controller} from './controller';
import {pluginId} from './manifest';
import type {MattermostPlugin, PluginRegistry, ReduxStore, WebSocketMessage} from './registry';
import {createStore} from './state';

// Events the server part publishes arrive as "custom_<plugin id>_<event>".
export function eventName(event: string): string {
    return `custom_${pluginId}_${event}`;
}

function currentUserId(store: ReduxStore | undefined): string {
    const id = store?.getState()?.entities?.users?.currentUserId;
    return typeof id === 'string' ? id : '';
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
        if (!this.registerUserSettings(registry, reduxStore, controller)) {
            registry.registerRootComponent?.(makeSettingsDialogRoot(controller));
            registry.registerMainMenuAction?.('MS Teams account', () => controller.openSettings());
        }

        // After a login (or a switch of user without a reload) ask again, skip included.
        if (reduxStore && typeof reduxStore.subscribe === 'function') {
            this.cleanups.push(reduxStore.subscribe(() => controller.onUserChanged(currentUserId(reduxStore))));
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
