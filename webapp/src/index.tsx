import {pluginId} from './manifest';
import type {MattermostPlugin, PluginRegistry} from './registry';

// Events the server part publishes arrive as "custom_<plugin id>_<event>".
export function eventName(event: string): string {
    return `custom_${pluginId}_${event}`;
}

export class Plugin implements MattermostPlugin {
    initialize(registry: PluginRegistry): void {
        // Later features register their components and handlers here; the bundle must load and register cleanly
        // in every supported Mattermost version.
        registry.registerWebSocketEventHandler(eventName('config_changed'), () => {
            // The connect prompt (which depends on the configuration) re-reads it when it is shown.
        });
    }
}

window.registerPlugin(pluginId, new Plugin());
