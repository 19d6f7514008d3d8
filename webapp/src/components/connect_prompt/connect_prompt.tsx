// The "connect your Microsoft Teams account" prompt, shown when the admin enforces connected accounts.
import React from 'react';

import {ConnectOutcomeNotice} from '../common/connect_outcome_notice';
import {PopupBlockedNotice} from '../common/popup_blocked_notice';

import type {Controller} from '../../controller';
import {shouldPrompt, useAppState, type ConnectOutcome} from '../../state';
import {Dialog} from '../common/dialog';
import * as styles from '../common/styles';

export const PROMPT_ID = 'msteams-connect-prompt';

export interface ConnectPromptProps {
    allowSkip: boolean;
    connecting: boolean;
    popupBlocked: boolean;
    connectURL: string;
    error: string;
    outcome?: ConnectOutcome | null;
    onConnect: () => void;
    onSkip: () => void;
}

// The dialog's content and buttons, without state: rendered by ConnectPromptRoot and by the unit tests.
export function ConnectPrompt(props: ConnectPromptProps): React.ReactElement {
    const descriptionId = `${PROMPT_ID}-description`;
    return (
        <Dialog
            id={PROMPT_ID}
            title='Connect your Microsoft Teams account'
            descriptionId={descriptionId}
            onEscape={props.allowSkip ? props.onSkip : undefined}
        >
            <p
                id={descriptionId}
                style={styles.paragraph}
            >
                {'Your organization links Mattermost with Microsoft Teams and asks everyone to connect their Teams ' +
                    'account. Once connected, what you write in linked chats and channels reaches your colleagues in ' +
                    'Teams under your own name, and their Teams messages to you show up here.'}
            </p>
            <p style={styles.hint}>
                {'You will sign in with Microsoft in a new window. Use the Microsoft account with the same email ' +
                    'address as your Mattermost account.'}
            </p>
            {props.connecting && !props.popupBlocked && props.outcome?.kind !== 'closed' && (
                <p
                    style={styles.notice}
                    role='status'
                >
                    {'Finish signing in in the new window. This message closes by itself once your account is ' +
                        'connected, and says what happened if it is not.'}
                </p>
            )}
            {props.outcome && (!props.connecting || props.outcome.kind === 'closed') && (
                <ConnectOutcomeNotice outcome={props.outcome}/>
            )}
            {props.popupBlocked && <PopupBlockedNotice connectURL={props.connectURL}/>}
            {props.error && (
                <p
                    style={styles.error}
                    role='alert'
                >
                    {props.error}
                </p>
            )}
            <div style={styles.actions}>
                {props.allowSkip && (
                    <button
                        type='button'
                        style={styles.tertiaryButton}
                        onClick={props.onSkip}
                    >
                        {'Skip for now'}
                    </button>
                )}
                <button
                    type='button'
                    style={styles.primaryButton}
                    onClick={props.onConnect}
                    data-autofocus={true}
                >
                    {'Connect account'}
                </button>
            </div>
        </Dialog>
    );
}

// The root component registered with Mattermost: renders nothing unless the prompt is due.
export function makeConnectPromptRoot(controller: Controller): React.ComponentType {
    function MSTeamsConnectPrompt(): React.ReactElement | null {
        const state = useAppState(controller.store);
        if (!shouldPrompt(state)) {
            return null;
        }
        return (
            <ConnectPrompt
                allowSkip={Boolean(state.config?.allow_skip_connect_accounts)}
                connecting={state.connecting}
                popupBlocked={state.popupBlocked}
                connectURL={controller.client.connectURL()}
                error={state.actionError}
                outcome={state.connectOutcome}
                onConnect={() => controller.connect()}
                onSkip={() => controller.skip()}
            />
        );
    }
    return MSTeamsConnectPrompt;
}
