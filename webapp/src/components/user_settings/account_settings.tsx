// Connection status with Connect / Disconnect: the body of the user-settings section and of the fallback dialog.
import React from 'react';

import {ConnectOutcomeNotice} from '../common/connect_outcome_notice';
import {PopupBlockedNotice} from '../common/popup_blocked_notice';

import type {ConnectionStatus} from '../../client';
import type {Controller} from '../../controller';
import {describeConnection, useAppState, type ConnectOutcome} from '../../state';
import {Dialog} from '../common/dialog';
import {PrimaryPlatformSetting} from './primary_platform';
import * as styles from '../common/styles';

export interface AccountSettingsProps {
    status: ConnectionStatus | null;
    loadError: string;
    actionError: string;
    busy: boolean;
    connecting: boolean;
    popupBlocked: boolean;
    connectURL: string;
    outcome?: ConnectOutcome | null;
    onConnect: () => void;
    onDisconnect: () => void;
    onRetry: () => void;

    // The primary-platform choice, shown while connected.
    primary?: React.ReactNode;
}

export function AccountSettings(props: AccountSettingsProps): React.ReactElement {
    const {status} = props;

    // Disconnecting asks first; the question goes away when the connection changes underneath.
    const [confirming, setConfirming] = React.useState(false);
    const connected = Boolean(status?.connected);
    React.useEffect(() => {
        if (!connected) {
            setConfirming(false);
        }
    }, [connected]);

    let body: React.ReactNode;
    if (!status) {
        body = props.loadError ? (
            <>
                <p
                    style={styles.error}
                    role='alert'
                >
                    {props.loadError}
                </p>
                <button
                    type='button'
                    style={styles.tertiaryButton}
                    onClick={props.onRetry}
                >
                    {'Try again'}
                </button>
            </>
        ) : (
            <p style={styles.paragraph}>{'Loading…'}</p>
        );
    } else if (status.connected) {
        body = (
            <>
                <p
                    style={styles.statusLine}
                    data-testid='msteams-connection'
                >
                    {describeConnection(status)}
                </p>
                <p style={styles.hint}>
                    {'Disconnecting stops your messages from reaching Teams under your name until you connect again.'}
                </p>
                {confirming ? (
                    <div
                        role='group'
                        aria-label='Confirm disconnecting'
                        style={styles.notice}
                    >
                        <p style={{...styles.paragraph, fontWeight: 600}}>{'Disconnect your Microsoft Teams account?'}</p>
                        <p style={styles.paragraph}>
                            {'Your Mattermost messages will stop reaching Teams under your name, and your Teams ' +
                                'chats will stop arriving here, until you connect again.'}
                        </p>
                        <div style={{display: 'flex', gap: 8}}>
                            <button
                                type='button'
                                style={props.busy ? {...styles.dangerButton, ...styles.disabled} : styles.dangerButton}
                                onClick={props.onDisconnect}
                                disabled={props.busy}
                            >
                                {props.busy ? 'Disconnecting…' : 'Yes, disconnect'}
                            </button>
                            <button
                                type='button'
                                style={styles.tertiaryButton}
                                onClick={() => setConfirming(false)}
                                disabled={props.busy}
                            >
                                {'Cancel'}
                            </button>
                        </div>
                    </div>
                ) : (
                    <button
                        type='button'
                        style={styles.dangerButton}
                        onClick={() => setConfirming(true)}
                    >
                        {'Disconnect'}
                    </button>
                )}
                {props.primary}
            </>
        );
    } else if (!status.can_connect) {
        body = (
            <>
                <p
                    style={styles.statusLine}
                    data-testid='msteams-connection'
                >
                    {'Not connected'}
                </p>
                <p style={styles.notice}>
                    {'Connecting your account isn’t possible right now: the maximum number of connected users has ' +
                        'been reached. Please ask your system administrator.'}
                </p>
            </>
        );
    } else {
        body = (
            <>
                <p
                    style={styles.statusLine}
                    data-testid='msteams-connection'
                >
                    {'Not connected'}
                </p>
                <p style={styles.hint}>
                    {'Connect to send and receive Microsoft Teams messages as yourself. You will sign in with ' +
                        'Microsoft in a new window, using the same email address as in Mattermost.'}
                </p>
                {props.connecting && !props.popupBlocked && props.outcome?.kind !== 'closed' && (
                    <p
                        style={styles.notice}
                        role='status'
                    >
                        {'Finish signing in in the new window; this updates by itself when you are done or close it.'}
                    </p>
                )}
                {props.outcome && (!props.connecting || props.outcome.kind === 'closed') && (
                    <ConnectOutcomeNotice outcome={props.outcome}/>
                )}
                {props.popupBlocked && <PopupBlockedNotice connectURL={props.connectURL}/>}
                <button
                    type='button'
                    style={styles.primaryButton}
                    onClick={props.onConnect}
                >
                    {'Connect account'}
                </button>
            </>
        );
    }

    return (
        <div
            className='msteams-account-settings'
            style={{padding: '4px 0'}}
        >
            {body}
            {props.actionError && (
                <p
                    style={{...styles.error, marginTop: 12}}
                    role='alert'
                >
                    {props.actionError}
                </p>
            )}
        </div>
    );
}

function useAccountSettingsProps(controller: Controller): AccountSettingsProps {
    const state = useAppState(controller.store);
    return {
        status: state.status,
        loadError: state.loadError,
        actionError: state.actionError,
        busy: state.busy,
        connecting: state.connecting,
        popupBlocked: state.popupBlocked,
        connectURL: controller.client.connectURL(),
        outcome: state.connectOutcome,
        onConnect: () => controller.connect(),
        onDisconnect: () => {
            void controller.disconnect();
        },
        onRetry: () => {
            void controller.refresh();
        },
        primary: <PrimaryPlatformSetting client={controller.client}/>,
    };
}

// The custom section given to registry.registerUserSettings (Settings → MS Teams).
export function makeUserSettingsSection(controller: Controller): React.ComponentType {
    function MSTeamsAccountSection(): React.ReactElement {
        // Opening the settings tab refreshes the status: it may have changed on another device.
        React.useEffect(() => {
            void controller.loadStatus();
        }, []);
        return <AccountSettings {...useAccountSettingsProps(controller)}/>;
    }
    return MSTeamsAccountSection;
}

export const SETTINGS_DIALOG_ID = 'msteams-settings-dialog';

// For Mattermost versions without registerUserSettings: a root component showing the same view in a dialog,
// opened from the main menu.
export function makeSettingsDialogRoot(controller: Controller): React.ComponentType {
    function MSTeamsSettingsDialog(): React.ReactElement | null {
        const open = useAppState(controller.store).settingsOpen;
        const props = useAccountSettingsProps(controller);
        if (!open) {
            return null;
        }
        return (
            <Dialog
                id={SETTINGS_DIALOG_ID}
                title='Microsoft Teams account'
                onEscape={() => controller.closeSettings()}
            >
                <AccountSettings {...props}/>
                <div style={styles.actions}>
                    <button
                        type='button'
                        style={styles.tertiaryButton}
                        onClick={() => controller.closeSettings()}
                        data-autofocus={true}
                    >
                        {'Close'}
                    </button>
                </div>
            </Dialog>
        );
    }
    return MSTeamsSettingsDialog;
}
