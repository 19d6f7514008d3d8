// Custom settings for the plugin's System Console page (type "custom" in plugin.json): section headers, the redirect
// URI computed from the Site URL, and the encryption key with a confirmation before it is replaced.
import React from 'react';

import {pluginId} from '../../manifest';
import type {AdminConsoleSettingProps} from '../../registry';
import * as styles from '../common/styles';

// plugin.json keys of the section headers (type "custom", no value of their own).
export const SECTION_KEYS = [
    'sectionConnection',
    'sectionSync',
    'sectionUsers',
    'sectionFeed',
    'sectionFiles',
    'sectionTeamsApp',
    'sectionAdvanced',
];
export const REDIRECT_URI_KEY = 'redirectUri';
export const ENCRYPTION_KEY_KEY = 'encryptionKey';

// A header between groups of settings: the setting's display name as title, its help text as subtitle.
export function SectionHeader(props: AdminConsoleSettingProps): React.ReactElement {
    return (
        <div
            className='msteams-settings-section'
            style={{margin: '32px 0 8px', paddingTop: 16, borderTop: '1px solid rgba(var(--center-channel-color-rgb, 63, 67, 80), 0.16)'}}
        >
            <h3 style={{margin: '0 0 4px', fontSize: 18, fontWeight: 600}}>{props.label}</h3>
            {props.helpText && <div style={{...styles.hint, fontSize: 14, lineHeight: '20px'}}>{props.helpText}</div>}
        </div>
    );
}

function stripTrailingSlash(url: string): string {
    return url.replace(/\/+$/, '');
}

// The redirect URI to register in Entra ID, from the saved Site URL (what the server uses), else this page's origin.
export function redirectURI(siteURL: string | undefined, fallbackOrigin: string): string {
    const base = stripTrailingSlash(siteURL || fallbackOrigin);
    return `${base}/plugins/${pluginId}/oauth-redirect`;
}

export function RedirectURISetting(props: AdminConsoleSettingProps): React.ReactElement {
    const siteURL = props.config?.ServiceSettings?.SiteURL ?? '';
    const origin = typeof window === 'undefined' ? '' : window.location.origin + (window.basename ?? '');
    const uri = redirectURI(siteURL, origin);
    const [copied, setCopied] = React.useState(false);
    const copy = () => {
        void navigator.clipboard?.writeText(uri).then(() => setCopied(true), () => setCopied(false));
    };
    return (
        <div data-testid='msteams-redirect-uri'>
            <code style={{userSelect: 'all', wordBreak: 'break-all'}}>{uri}</code>
            {' '}
            <button
                type='button'
                className='btn btn-tertiary btn-sm'
                onClick={copy}
            >
                {copied ? 'Copied' : 'Copy'}
            </button>
            {!siteURL && (
                <p style={{...styles.error, marginTop: 8}}>
                    {'The Site URL is not set (Environment > Web Server), so this address is a guess from this page. ' +
                        'Set the Site URL first: Microsoft only accepts the exact address.'}
                </p>
            )}
        </div>
    );
}

function randomKey(): string {
    const bytes = new Uint8Array(32);
    crypto.getRandomValues(bytes);
    let binary = '';
    bytes.forEach((b) => {
        binary += String.fromCharCode(b);
    });
    return btoa(binary).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

// The at-rest encryption key: never shown (System Console gets it masked); replacing it disconnects every connected
// user, so the button asks first. The new key is saved with the page's Save button.
export function EncryptionKeySetting(props: AdminConsoleSettingProps): React.ReactElement {
    const [confirming, setConfirming] = React.useState(false);
    const [replaced, setReplaced] = React.useState<string | null>(null);  // the value set by Regenerate
    const hasKey = typeof props.value === 'string' && props.value !== '';
    // Saved: the new key is simply "set" (System Console also hands back another, masked value).
    const pending = replaced !== null && props.value === replaced;
    const {registerSaveAction, unRegisterSaveAction} = props;
    React.useEffect(() => {
        const saved = async () => {
            setReplaced(null);
            return {};
        };
        registerSaveAction?.(saved);
        return () => unRegisterSaveAction?.(saved);
    }, [registerSaveAction, unRegisterSaveAction]);
    const regenerate = () => {
        const key = randomKey();
        props.onChange?.(props.id, key);
        props.setSaveNeeded?.();
        setConfirming(false);
        setReplaced(key);
    };
    return (
        <div data-testid='msteams-encryption-key'>
            <p style={styles.paragraph}>
                {pending ? 'A new key will be used once you select Save.' : hasKey ? 'A key is set.' : 'No key yet: one is generated when the plugin starts.'}
            </p>
            {confirming ? (
                <div
                    role='group'
                    aria-label='Confirm regenerating the key'
                    style={styles.notice}
                >
                    <p style={styles.paragraph}>
                        {'Regenerate the encryption key? Every connected user is disconnected from Microsoft Teams ' +
                            'and has to connect again; the msteams bot too.'}
                    </p>
                    <button
                        type='button'
                        className='btn btn-danger btn-sm'
                        onClick={regenerate}
                    >
                        {'Regenerate and disconnect everyone'}
                    </button>
                    {' '}
                    <button
                        type='button'
                        className='btn btn-tertiary btn-sm'
                        onClick={() => setConfirming(false)}
                    >
                        {'Cancel'}
                    </button>
                </div>
            ) : (
                <button
                    type='button'
                    className='btn btn-tertiary btn-sm'
                    disabled={props.disabled}
                    onClick={() => setConfirming(true)}
                >
                    {'Regenerate…'}
                </button>
            )}
        </div>
    );
}
