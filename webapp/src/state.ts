// The webapp's own state: a tiny observable store plus the pure rules derived from it. No Redux: Mattermost's
// store is only read (site URL, current user), never written.
import React from 'react';

import type {ConnectionStatus, PluginConfig} from './client';

// How the last connect attempt ended when it did not connect: refused (with the server's reason), failed, cancelled
// at Microsoft, or the sign-in window closed before anything came back.
export type ConnectOutcomeKind = 'refused' | 'failed' | 'cancelled' | 'closed';

export interface ConnectOutcome {
    kind: ConnectOutcomeKind;
    message: string;
}

export interface AppState {
    // The Mattermost user the state below belongs to ('' before it is known or after logout).
    userId: string;
    config: PluginConfig | null;
    status: ConnectionStatus | null;

    // Why config or status could not be loaded (shown in the settings view; the prompt stays hidden then).
    loadError: string;

    // "Skip for now" was pressed. In memory only, so a reload or a new login asks again.
    skipped: boolean;

    // A connect window was opened and no result has arrived yet.
    connecting: boolean;

    // window.open was refused (popup blocker); the UI offers a plain link instead.
    popupBlocked: boolean;

    // A disconnect request is in flight.
    busy: boolean;

    // The last connect/disconnect failure, shown next to the buttons.
    actionError: string;

    // The settings dialog opened from the main menu (only used where registerUserSettings is missing).
    settingsOpen: boolean;

    // Why the last connect attempt did not connect; cleared by the next attempt or a connection.
    connectOutcome: ConnectOutcome | null;

    // One of Mattermost's modals (Settings, for one) is open: the prompt waits until it closes.
    modalOpen: boolean;

    // The channel being viewed, when it is a DM or GM ('' otherwise), and what the server said about DMs/GMs so far:
    // true when the conversation is bridged to a Teams chat.
    currentChannelId: string;
    bridgedChannels: Record<string, boolean>;
}

export const initialState: AppState = {
    userId: '',
    config: null,
    status: null,
    loadError: '',
    skipped: false,
    connecting: false,
    popupBlocked: false,
    busy: false,
    actionError: '',
    settingsOpen: false,
    connectOutcome: null,
    modalOpen: false,
    currentChannelId: '',
    bridgedChannels: {},
};

export interface Store {
    getState(): AppState;
    setState(patch: Partial<AppState> | ((s: AppState) => Partial<AppState>)): void;
    subscribe(listener: () => void): () => void;
}

export function createStore(initial: Partial<AppState> = {}): Store {
    let state: AppState = {...initialState, ...initial};
    const listeners = new Set<() => void>();
    return {
        getState: () => state,
        setState(patch) {
            const delta = typeof patch === 'function' ? patch(state) : patch;
            state = {...state, ...delta};
            for (const listener of Array.from(listeners)) {
                listener();
            }
        },
        subscribe(listener) {
            listeners.add(listener);
            return () => {
                listeners.delete(listener);
            };
        },
    };
}

// Subscribes a component to the store. Written with useState/useEffect rather than useSyncExternalStore so the
// bundle also runs on Mattermost releases that still ship React 17.
export function useAppState(store: Store): AppState {
    const [state, setLocal] = React.useState(store.getState());
    React.useEffect(() => {
        const update = () => setLocal(store.getState());
        const unsubscribe = store.subscribe(update);
        update(); // catch changes made between the first render and this effect
        return unsubscribe;
    }, [store]);
    return state;
}

// Whether the "connect your account" prompt is due. It is shown only when the admin enforces connected accounts,
// both config and status are known, the user is not connected, connecting is possible at all (a user over the
// connected-users limit could never satisfy the prompt), and the user has not skipped it where skipping is allowed.
// A failed load never prompts: a broken server must not lock users out of Mattermost.
// It never opens over another dialog (Mattermost's or this plugin's settings): it waits until that one is closed.
export function shouldPrompt(
    state: Pick<AppState, 'config' | 'status' | 'skipped' | 'userId'> & Partial<Pick<AppState, 'modalOpen' | 'settingsOpen'>>,
): boolean {
    const {config, status} = state;
    if (!config || !status || state.modalOpen || state.settingsOpen) {
        return false;
    }
    if (!config.enforce_connected_accounts || status.connected || !status.can_connect) {
        return false;
    }
    if (state.skipped && config.allow_skip_connect_accounts) {
        return false;
    }
    return true;
}

// "Connected as Ada Lovelace (ada@contoso.com)", with whichever parts the server gave.
export function describeConnection(status: ConnectionStatus | null): string {
    if (!status || !status.connected) {
        return 'Not connected';
    }
    const name = status.teams_display_name.trim();
    const email = status.teams_email.trim();
    if (name && email) {
        return `Connected as ${name} (${email})`;
    }
    if (name || email) {
        return `Connected as ${name || email}`;
    }
    return 'Connected';
}
