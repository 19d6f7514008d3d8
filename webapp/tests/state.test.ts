import {describe, expect, it} from 'vitest';

import type {ConnectionStatus, PluginConfig} from '../src/client';
import {createStore, describeConnection, shouldPrompt} from '../src/state';

const config = (enforce: boolean, allowSkip: boolean): PluginConfig => ({
    enforce_connected_accounts: enforce,
    allow_skip_connect_accounts: allowSkip,
    chat_sync: 'mirror',
});

const status = (connected: boolean, canConnect = true): ConnectionStatus => ({
    connected,
    teams_user_id: connected ? 't1' : '',
    teams_email: connected ? 'ada@contoso.com' : '',
    teams_display_name: connected ? 'Ada Lovelace' : '',
    can_connect: canConnect,
});

describe('shouldPrompt', () => {
    const cases: Array<[string, Parameters<typeof shouldPrompt>[0], boolean]> = [
        ['enforced, not connected', {config: config(true, true), status: status(false), skipped: false, userId: 'u'}, true],
        ['enforced, connected', {config: config(true, true), status: status(true), skipped: false, userId: 'u'}, false],
        ['not enforced', {config: config(false, true), status: status(false), skipped: false, userId: 'u'}, false],
        ['skipped where allowed', {config: config(true, true), status: status(false), skipped: true, userId: 'u'}, false],
        ['skipped, then skipping disallowed', {config: config(true, false), status: status(false), skipped: true, userId: 'u'}, true],
        ['limit reached: connecting impossible', {config: config(true, false), status: status(false, false), skipped: false, userId: 'u'}, false],
        ['config unknown (load failed)', {config: null, status: status(false), skipped: false, userId: 'u'}, false],
        ['status unknown (load failed)', {config: config(true, false), status: null, skipped: false, userId: 'u'}, false],
        ['a Mattermost modal (Settings) is open', {config: config(true, false), status: status(false), skipped: false, userId: 'u', modalOpen: true}, false],
        ['the plugin\'s settings dialog is open', {config: config(true, false), status: status(false), skipped: false, userId: 'u', settingsOpen: true}, false],
    ];
    for (const [name, input, expected] of cases) {
        it(`${name} → ${expected}`, () => {
            expect(shouldPrompt(input)).toBe(expected);
        });
    }
});

describe('describeConnection', () => {
    it('names the Teams account', () => {
        expect(describeConnection(status(true))).toBe('Connected as Ada Lovelace (ada@contoso.com)');
        expect(describeConnection({...status(true), teams_display_name: ''})).toBe('Connected as ada@contoso.com');
        expect(describeConnection({...status(true), teams_display_name: '', teams_email: ''})).toBe('Connected');
        expect(describeConnection(status(false))).toBe('Not connected');
        expect(describeConnection(null)).toBe('Not connected');
    });
});

describe('store', () => {
    it('merges patches and notifies until unsubscribed', () => {
        const store = createStore({userId: 'u1'});
        let calls = 0;
        const off = store.subscribe(() => calls++);
        store.setState({skipped: true});
        store.setState((s) => ({busy: !s.busy}));
        expect(store.getState()).toMatchObject({userId: 'u1', skipped: true, busy: true});
        off();
        store.setState({skipped: false});
        expect(calls).toBe(2);
    });
});
