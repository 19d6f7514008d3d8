import React from 'react';

import * as styles from './styles';

// Shown when the browser blocked the sign-in window: a plain link to open it instead.
export function PopupBlockedNotice(props: {connectURL: string}): React.ReactElement {
    return (
        <p
            style={styles.notice}
            role='status'
        >
            {'Your browser blocked the new window. '}
            <a
                href={props.connectURL}
                target='_blank'
                rel='opener'
                style={styles.link}
            >
                {'Open the Microsoft sign-in page'}
            </a>
            {' instead.'}
        </p>
    );
}
