import React from 'react';
import {renderToStaticMarkup} from 'react-dom/server';
import {describe, expect, it, vi} from 'vitest';

import type {Client, ConnectionStatus} from '../src/client';
import {ConnectOutcomeNotice} from '../src/components/common/connect_outcome_notice';
import {ConnectPrompt, makeConnectPromptRoot} from '../src/components/connect_prompt/connect_prompt';
import {AccountSettings, type AccountSettingsProps, makeSettingsDialogRoot} from '../src/components/user_settings/account_settings';
import {PrimaryPlatformView} from '../src/components/user_settings/primary_platform';
import {Controller} from '../src/controller';
import {createStore} from '../src/state';

const noop = () => undefined;
const URL_ = 'https://mm/plugins/com.mattermost.msteams/connect';

function promptHTML(overrides: Partial<React.ComponentProps<typeof ConnectPrompt>> = {}) {
    return renderToStaticMarkup(
        <ConnectPrompt
            allowSkip={true}
            connecting={false}
            popupBlocked={false}
            connectURL={URL_}
            error=''
            onConnect={noop}
            onSkip={noop}
            {...overrides}
        />,
    );
}

const connected: ConnectionStatus = {connected: true, teams_user_id: 't', teams_email: 'ada@contoso.com', teams_display_name: 'Ada Lovelace', can_connect: true};
const notConnected: ConnectionStatus = {...connected, connected: false, teams_email: '', teams_display_name: ''};

function settingsHTML(overrides: Partial<AccountSettingsProps>) {
    return renderToStaticMarkup(
        <AccountSettings
            status={null}
            loadError=''
            actionError=''
            busy={false}
            connecting={false}
            popupBlocked={false}
            connectURL={URL_}
            onConnect={noop}
            onDisconnect={noop}
            onRetry={noop}
            {...overrides}
        />,
    );
}

describe('ConnectPrompt', () => {
    it('is a labelled modal dialog with both buttons when skipping is allowed', () => {
        const html = promptHTML();
        expect(html).toContain('role="dialog"');
        expect(html).toContain('aria-modal="true"');
        expect(html).toContain('aria-labelledby="msteams-connect-prompt-title"');
        expect(html).toContain('id="msteams-connect-prompt-title"');
        expect(html).toContain('Connect your Microsoft Teams account');
        expect(html).toContain('Skip for now');
        expect(html).toContain('Connect account');
        expect(html).toContain('var(--button-bg');
        expect(html).toContain('var(--center-channel-bg');
    });

    it('has no skip button when skipping is not allowed', () => {
        const html = promptHTML({allowSkip: false});
        expect(html).not.toContain('Skip for now');
        expect(html).toContain('Connect account');
    });

    it('explains the waiting state, offers a link when the popup was blocked, shows errors', () => {
        expect(promptHTML({connecting: true})).toContain('Finish signing in in the new window');
        const blocked = promptHTML({connecting: true, popupBlocked: true});
        expect(blocked).toContain(`href="${URL_}"`);
        expect(blocked).not.toContain('Finish signing in');
        expect(promptHTML({error: 'Boom.'})).toContain('role="alert"');
    });

    it('the root renders nothing until the prompt is due', () => {
        const client = {connectURL: () => URL_} as unknown as Client;
        const store = createStore();
        const Root = makeConnectPromptRoot(new Controller(client, vi.fn(), store));
        expect(renderToStaticMarkup(<Root/>)).toBe('');

        const due = createStore({
            config: {enforce_connected_accounts: true, allow_skip_connect_accounts: false, chat_sync: 'off'},
            status: notConnected,
        });
        const DueRoot = makeConnectPromptRoot(new Controller(client, vi.fn(), due));
        const html = renderToStaticMarkup(<DueRoot/>);
        expect(html).toContain('Connect your Microsoft Teams account');
        expect(html).not.toContain('Skip for now');
    });
});

describe('AccountSettings', () => {
    it('connected: names the account and offers Disconnect', () => {
        const html = settingsHTML({status: connected});
        expect(html).toContain('Connected as Ada Lovelace (ada@contoso.com)');
        expect(html).toContain('Disconnect');
        expect(html).not.toContain('Connect account');
    });

    it('not connected: offers Connect', () => {
        const html = settingsHTML({status: notConnected});
        expect(html).toContain('Not connected');
        expect(html).toContain('Connect account');
        expect(html).not.toContain('Disconnect');
    });

    it('limit reached: says so, no Connect button', () => {
        const html = settingsHTML({status: {...notConnected, can_connect: false}});
        expect(html).toContain('Not connected');
        expect(html).toContain('maximum number of connected users');
        expect(html).not.toContain('Connect account');
    });

    it('loading, load errors, busy and action errors', () => {
        expect(settingsHTML({})).toContain('Loading…');
        const failed = settingsHTML({loadError: 'Not logged in.'});
        expect(failed).toContain('Not logged in.');
        expect(failed).toContain('Try again');
        // Disconnect asks first (the question, and its busy state, are driven by clicks: see the browser tests).
        const idle = settingsHTML({status: connected});
        expect(idle).toContain('>Disconnect<');
        expect(idle).not.toContain('Yes, disconnect');
        expect(settingsHTML({status: connected, actionError: 'Teams is unreachable.'})).toContain('Teams is unreachable.');
    });

    it('the fallback dialog root renders only when opened', () => {
        const client = {connectURL: () => URL_} as unknown as Client;
        const Closed = makeSettingsDialogRoot(new Controller(client, vi.fn(), createStore({status: connected})));
        expect(renderToStaticMarkup(<Closed/>)).toBe('');
        const Open = makeSettingsDialogRoot(new Controller(client, vi.fn(), createStore({status: connected, settingsOpen: true})));
        const html = renderToStaticMarkup(<Open/>);
        expect(html).toContain('role="dialog"');
        expect(html).toContain('Microsoft Teams account');
        expect(html).toContain('Connected as Ada Lovelace');
        expect(html).toContain('Close');
    });
});

describe('ConnectOutcomeNotice', () => {
    it('says what happened and what to do next, the reason as text only', () => {
        const refused = renderToStaticMarkup(
            <ConnectOutcomeNotice outcome={{kind: 'refused', message: 'Use <img src=x onerror=alert(1)> instead.'}}/>);
        expect(refused).toContain('role="alert"');
        expect(refused).toContain('Your account was not connected: Use &lt;img src=x onerror=alert(1)&gt; instead.');
        expect(refused).toContain('Select Connect account to try again.');
        expect(refused).not.toContain('<img');
        const cancelled = renderToStaticMarkup(<ConnectOutcomeNotice outcome={{kind: 'cancelled', message: ''}}/>);
        expect(cancelled).toContain('role="status"');
        expect(cancelled).toContain('was cancelled');
        const closed = renderToStaticMarkup(<ConnectOutcomeNotice outcome={{kind: 'closed', message: ''}}/>);
        expect(closed).toContain('The Microsoft sign-in window is closed, or no longer reports back');
        expect(closed).toContain('If you closed it, select Connect account to start again.');
    });

    it('the prompt shows an outcome once no attempt is under way; a lost window while it still waits', () => {
        const refused = {kind: 'refused' as const, message: 'Wrong account.'};
        expect(promptHTML({outcome: refused})).toContain('Wrong account.');
        expect(promptHTML({outcome: refused, connecting: true})).not.toContain('Wrong account.');
        const closed = {kind: 'closed' as const, message: ''};
        const waiting = promptHTML({outcome: closed, connecting: true});
        expect(waiting).toContain('If you closed it, select Connect account to start again.');
        expect(waiting).not.toContain('Finish signing in in the new window');
    });
});

describe('PrimaryPlatformView', () => {
    const teams = {primary: 'teams' as const, feed: true, blocked: false, notifications_changed: true};
    const view = (overrides: Partial<React.ComponentProps<typeof PrimaryPlatformView>>) => renderToStaticMarkup(
        <PrimaryPlatformView
            state={teams}
            saving={false}
            error=''
            onChoose={noop}
            {...overrides}
        />,
    );

    it('offers both platforms and says what Teams as primary changes', () => {
        const html = view({});
        expect(html).toContain('role="radiogroup"');
        expect(html).toMatch(/checked="" value="teams"/);
        expect(html).toContain('Teams activity feed');
        expect(html).toContain('email and push notifications are off');
        expect(html).not.toContain('select Apps');
    });

    it('tells a user Teams refuses to notify what to click', () => {
        expect(view({state: {...teams, blocked: true}})).toContain('select Apps, search for Mattermost and select Add');
    });

    it('says Mattermost notifies as usual when it is primary, and disables the choice while saving', () => {
        const html = view({state: {...teams, primary: 'mattermost'}, saving: true});
        expect(html).toMatch(/checked=""[^>]*value="mattermost"/);
        expect(html).toContain('Mattermost notifies you as usual');
        expect(html).toContain('disabled=""');
    });

    it('warns when the notification settings could not be changed', () => {
        expect(view({state: {...teams, notifications_changed: false}})).toContain('could not be changed just now');
    });
});
