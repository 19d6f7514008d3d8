// A slim line under the channel header of a DM or GM that is bridged to a Teams chat, so that people know their
// messages also go to (and come from) Microsoft Teams. Mattermost has no registry slot for this, so a root component
// places it, through a portal, in a container of its own right after Mattermost's #channel-header; where that element
// is missing the banner is simply not shown.
import React from 'react';
import ReactDOM from 'react-dom';

import type {Controller} from '../../controller';
import {useAppState} from '../../state';

export const BANNER_ID = 'msteams-bridged-banner';

const style: React.CSSProperties = {
    padding: '4px 20px',
    fontSize: 12,
    lineHeight: '18px',
    color: 'rgba(var(--center-channel-color-rgb, 63, 67, 80), 0.72)',
    background: 'rgba(80, 89, 201, 0.08)',
    borderBottom: '1px solid rgba(var(--center-channel-color-rgb, 63, 67, 80), 0.12)',
};

// What the banner says: the conversation is bridged either way; what this user writes reaches Teams only once their
// account is connected.
export function BridgedBannerText(props: {connected: boolean}): React.ReactElement {
    return (
        <span>
            <strong>{'Microsoft Teams'}</strong>
            {props.connected ?
                ' · This conversation is bridged to a Teams chat: messages, edits, reactions and files go both ways.' :
                ' · This conversation is bridged to a Teams chat, but your account is not connected: what you write ' +
                    'here does not reach Teams until you connect it (Settings > MS Teams).'}
        </span>
    );
}

// The container after #channel-header, created (or moved back into place) when needed.
function anchorContainer(): HTMLElement | null {
    if (typeof document === 'undefined') {
        return null;
    }
    const header = document.getElementById('channel-header');
    if (!header || !header.parentNode) {
        return null;
    }
    let container = document.getElementById(BANNER_ID);
    if (!container) {
        container = document.createElement('div');
        container.id = BANNER_ID;
        container.setAttribute('role', 'note');
    }
    if (header.nextSibling !== container) {
        header.parentNode.insertBefore(container, header.nextSibling);
    }
    return container;
}

export function makeBridgedBannerRoot(controller: Controller): React.ComponentType {
    function MSTeamsBridgedBanner(): React.ReactElement | null {
        const state = useAppState(controller.store);
        const bridged = Boolean(state.currentChannelId && state.bridgedChannels[state.currentChannelId]);
        const [container, setContainer] = React.useState<HTMLElement | null>(null);
        React.useLayoutEffect(() => {
            setContainer(bridged ? anchorContainer() : null);
            if (!bridged) {
                document.getElementById(BANNER_ID)?.remove();
            }
        }, [bridged, state.currentChannelId]);
        React.useEffect(() => () => document.getElementById(BANNER_ID)?.remove(), []);
        if (!bridged || !container) {
            return null;
        }
        return ReactDOM.createPortal(
            <div
                style={style}
                data-testid='msteams-bridged'
            >
                <BridgedBannerText connected={state.status?.connected !== false}/>
            </div>,
            container,
        );
    }
    return MSTeamsBridgedBanner;
}
