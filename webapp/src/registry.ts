// The part of Mattermost's plugin registry this plugin uses.
export interface PluginRegistry {
    registerWebSocketEventHandler(event: string, handler: (msg: {data: unknown}) => void): void;
    registerReducer?(reducer: unknown): void;
}

export interface MattermostPlugin {
    initialize(registry: PluginRegistry, store: unknown): void | Promise<void>;
    uninitialize?(): void;
}

declare global {
    interface Window {
        registerPlugin(id: string, plugin: MattermostPlugin): void;
    }
}
