// Where the user reads Mattermost: Mattermost, or Microsoft Teams (Mattermost's notifications then go to their Teams
// activity feed, and Mattermost's email and push notifications are off). The same choice as /msteams primary.
import React from 'react';

import type {Client, PrimaryPlatform, PrimaryState} from '../../client';
import * as styles from '../common/styles';

export interface PrimaryPlatformViewProps {
    state: PrimaryState | null;
    saving: boolean;
    error: string;
    onChoose: (primary: PrimaryPlatform) => void;
}

function explanation(state: PrimaryState): string {
    if (state.primary === 'mattermost') {
        return 'Mattermost notifies you as usual.';
    }
    if (!state.feed) {
        return 'Chats with people who also use Teams are read in Teams.';
    }
    return 'Mattermost’s notifications (mentions, direct and group messages, replies to your threads) go to your ' +
        'Teams activity feed, and Mattermost’s email and push notifications are off. Nothing is sent for what you ' +
        'have already read, or while you are using Mattermost.';
}

export function PrimaryPlatformView(props: PrimaryPlatformViewProps): React.ReactElement {
    const {state} = props;
    if (!state) {
        return <p style={styles.paragraph}>{props.error || 'Loading…'}</p>;
    }
    const option = (value: PrimaryPlatform, label: string) => (
        <label style={{display: 'block', margin: '4px 0'}}>
            <input
                type='radio'
                name='msteams-primary'
                value={value}
                checked={state.primary === value}
                disabled={props.saving}
                onChange={() => props.onChoose(value)}
            />
            {' ' + label}
        </label>
    );
    return (
        <div
            role='radiogroup'
            aria-label='Primary platform'
            data-testid='msteams-primary'
            style={{marginTop: 16}}
        >
            <p style={{...styles.paragraph, fontWeight: 600}}>{'Primary platform'}</p>
            {option('mattermost', 'Mattermost')}
            {option('teams', 'Microsoft Teams')}
            <p style={styles.hint}>{explanation(state)}</p>
            {state.primary === 'teams' && state.feed && state.blocked && (
                <p
                    style={styles.notice}
                    role='status'
                >
                    {'Teams cannot show Mattermost’s notifications to you yet: in Teams, select Apps, search for ' +
                        'Mattermost and select Add (or ask your Microsoft 365 administrator). Meanwhile Mattermost ' +
                        'emails and push notifications stay on.'}
                </p>
            )}
            {!state.notifications_changed && (
                <p
                    style={styles.notice}
                    role='status'
                >
                    {'Your Mattermost email and push notification settings could not be changed just now; check ' +
                        'them in Settings > Notifications.'}
                </p>
            )}
            {props.error && (
                <p
                    style={styles.error}
                    role='alert'
                >
                    {props.error}
                </p>
            )}
        </div>
    );
}

// Loads the choice and saves changes through the plugin's /api/v1/primary.
export function PrimaryPlatformSetting({client}: {client: Client}): React.ReactElement {
    const [state, setState] = React.useState<PrimaryState | null>(null);
    const [saving, setSaving] = React.useState(false);
    const [error, setError] = React.useState('');
    React.useEffect(() => {
        let live = true;
        client.getPrimary().then((s) => live && setState(s), (err: Error) => live && setError(err.message));
        return () => {
            live = false;
        };
    }, [client]);
    const onChoose = (primary: PrimaryPlatform) => {
        setSaving(true);
        setError('');
        client.setPrimary(primary).then(
            (s) => {
                setState(s);
                setSaving(false);
            },
            (err: Error) => {
                setError(err.message);
                setSaving(false);
            },
        );
    };
    return (
        <PrimaryPlatformView
            state={state}
            saving={saving}
            error={error}
            onChoose={onChoose}
        />
    );
}
