import {beforeEach, describe, expect, it, vi} from 'vitest';

import manifest from '../../plugin.json';

describe('webapp registration', () => {
    beforeEach(() => {
        vi.resetModules();
    });

    it('registers itself under the manifest id when loaded', async () => {
        const registerPlugin = vi.fn();
        vi.stubGlobal('window', {registerPlugin});
        await import('../src/index');
        expect(registerPlugin).toHaveBeenCalledTimes(1);
        expect(registerPlugin.mock.calls[0][0]).toBe('com.mattermost.msteams');
        expect(registerPlugin.mock.calls[0][0]).toBe(manifest.id);
    });

    it('initialize registers its websocket handler under the plugin-prefixed name', async () => {
        vi.stubGlobal('window', {registerPlugin: vi.fn()});
        const {Plugin, eventName} = await import('../src/index');
        const registry = {registerWebSocketEventHandler: vi.fn()};
        new Plugin().initialize(registry);
        expect(eventName('config_changed')).toBe('custom_com.mattermost.msteams_config_changed');
        expect(registry.registerWebSocketEventHandler).toHaveBeenCalledWith(
            'custom_com.mattermost.msteams_config_changed',
            expect.any(Function),
        );
    });
});
