import type React from 'react';

// The part of Mattermost's plugin registry this plugin uses. Everything past the websocket handler is optional
// because the set of register* functions grows with the Mattermost version; callers feature-detect.
export interface WebSocketMessage {
    event?: string;
    data: unknown;
}

export interface UserSettingsCustomSection {
    title: string;
    component: React.ComponentType;
}

export interface UserSettingsAction {
    title: string;
    text: string;
    buttonText: string;
    onClick: () => void;
}

export interface UserSettingsConfiguration {
    id: string;
    uiName: string;
    icon?: string;
    action?: UserSettingsAction;
    sections: UserSettingsCustomSection[];
}

// What System Console passes to a custom plugin setting (the parts this plugin uses).
export interface AdminConsoleSettingProps {
    id: string;
    label?: React.ReactNode;
    helpText?: React.ReactNode;
    value?: unknown;
    disabled?: boolean;
    config?: {ServiceSettings?: {SiteURL?: string}};
    onChange?: (id: string, value: unknown) => void;
    setSaveNeeded?: () => void;
    // Called with work to do when the admin selects Save (after the configuration is saved).
    registerSaveAction?: (action: () => Promise<{error?: {message?: string}}>) => void;
    unRegisterSaveAction?: (action: () => Promise<{error?: {message?: string}}>) => void;
}

export interface PluginRegistry {
    registerWebSocketEventHandler(event: string, handler: (msg: WebSocketMessage) => void): void;
    registerReconnectHandler?(handler: () => void): void;
    registerRootComponent?(component: React.ComponentType): string;
    registerMainMenuAction?(text: React.ReactNode, action: () => void, mobileIcon?: React.ReactNode): string;
    registerUserSettings?(settings: UserSettingsConfiguration): void;
    registerReducer?(reducer: unknown): void;
    registerAdminConsoleCustomSetting?(key: string, component: React.ComponentType<AdminConsoleSettingProps>,
        options?: {showTitle?: boolean}): void;
}

// The slice of Mattermost's Redux store this plugin reads. Nothing is dispatched into it.
export interface ReduxState {
    entities?: {
        general?: {config?: {SiteURL?: string}};
        users?: {currentUserId?: string};
        channels?: {currentChannelId?: string; channels?: Record<string, {id?: string; type?: string} | undefined>};
    };
    views?: {modals?: {modalState?: Record<string, {open?: boolean} | undefined>}};
    plugins?: {userSettings?: Record<string, unknown>};
}

export interface ReduxStore {
    getState(): ReduxState;
    subscribe(listener: () => void): () => void;
}

export interface MattermostPlugin {
    initialize(registry: PluginRegistry, store?: ReduxStore): void | Promise<void>;
    uninitialize?(): void;
}

declare global {
    interface Window {
        registerPlugin(id: string, plugin: MattermostPlugin): void;
        basename?: string;
    }
}
