// What the user reads after a connect attempt that did not connect, and what to do next. The reason comes from the
// server's result page and is rendered as text only.
import React from 'react';

import type {ConnectOutcome} from '../../state';

import * as styles from './styles';

export function describeOutcome(outcome: ConnectOutcome): {text: string; next: string; alert: boolean} {
    const reason = outcome.message.trim();
    switch (outcome.kind) {
        case 'refused':
            return {
                text: reason ? `Your account was not connected: ${reason}` : 'Your account was not connected.',
                next: 'Select Connect account to try again.',
                alert: true,
            };
        case 'failed':
            return {
                text: reason || 'Connecting your account failed.',
                next: 'Select Connect account to try again.',
                alert: true,
            };
        case 'cancelled':
            return {
                text: 'Signing in with Microsoft was cancelled, so your account is not connected.',
                next: 'Select Connect account when you are ready.',
                alert: false,
            };
        case 'closed':
        default:
            return {
                text: 'The Microsoft sign-in window is closed, or no longer reports back to this page (Microsoft\'s ' +
                    'sign-in pages can cut that link). If you finish signing in there, this updates by itself.',
                next: 'If you closed it, select Connect account to start again.',
                alert: false,
            };
    }
}

export function ConnectOutcomeNotice(props: {outcome: ConnectOutcome}): React.ReactElement {
    const {text, next, alert} = describeOutcome(props.outcome);
    return (
        <p
            style={alert ? styles.error : styles.notice}
            role={alert ? 'alert' : 'status'}
            data-testid='msteams-connect-outcome'
            data-outcome={props.outcome.kind}
        >
            {text}
            {' '}
            {next}
        </p>
    );
}
