// Inline styles built on Mattermost's theme variables, so the dialogs follow the user's theme. Each var() has a
// fallback matching Mattermost's default ("Denim") theme for pages that do not define the variables.
import type React from 'react';

type Style = React.CSSProperties;

const text = 'var(--center-channel-color, #3f4350)';
const textRGB = 'var(--center-channel-color-rgb, 63, 67, 80)';
const buttonBgRGB = 'var(--button-bg-rgb, 28, 88, 217)';

export const overlay: Style = {
    position: 'fixed',
    inset: 0,
    zIndex: 1100, // above Mattermost's own modals (1050)
    background: 'rgba(0, 0, 0, 0.5)',
    display: 'flex',
    alignItems: 'center',
    justifyContent: 'center',
    padding: 16,
};

export const panel: Style = {
    boxSizing: 'border-box',
    width: '100%',
    maxWidth: 600,
    maxHeight: 'calc(100vh - 32px)',
    overflowY: 'auto',
    padding: '28px 32px 24px',
    borderRadius: 12,
    border: `1px solid rgba(${textRGB}, 0.16)`,
    background: 'var(--center-channel-bg, #ffffff)',
    color: text,
    boxShadow: '0 20px 32px rgba(0, 0, 0, 0.12)',
    fontFamily: 'inherit',
    fontSize: 14,
    lineHeight: '20px',
    outline: 'none',
};

export const header: Style = {
    display: 'flex',
    alignItems: 'center',
    gap: 12,
    marginBottom: 16,
};

export const title: Style = {
    margin: 0,
    fontFamily: 'Metropolis, inherit',
    fontSize: 20,
    lineHeight: '28px',
    fontWeight: 600,
    color: text,
};

export const paragraph: Style = {
    margin: '0 0 12px',
    color: `rgba(${textRGB}, 0.84)`,
};

export const hint: Style = {
    margin: '0 0 12px',
    fontSize: 12,
    lineHeight: '16px',
    color: `rgba(${textRGB}, 0.64)`,
};

export const notice: Style = {
    margin: '0 0 12px',
    padding: '10px 12px',
    borderRadius: 4,
    background: `rgba(${buttonBgRGB}, 0.08)`,
    color: text,
};

export const error: Style = {
    margin: '0 0 12px',
    color: 'var(--error-text, #d24b4e)',
};

export const actions: Style = {
    display: 'flex',
    justifyContent: 'flex-end',
    gap: 8,
    marginTop: 24,
};

const buttonBase: Style = {
    height: 40,
    padding: '0 20px',
    border: 'none',
    borderRadius: 4,
    fontFamily: 'inherit',
    fontSize: 14,
    fontWeight: 600,
    cursor: 'pointer',
};

export const primaryButton: Style = {
    ...buttonBase,
    background: 'var(--button-bg, #1c58d9)',
    color: 'var(--button-color, #ffffff)',
};

export const tertiaryButton: Style = {
    ...buttonBase,
    background: `rgba(${buttonBgRGB}, 0.08)`,
    color: 'var(--button-bg, #1c58d9)',
};

export const dangerButton: Style = {
    ...buttonBase,
    background: 'rgba(var(--error-text-color-rgb, 210, 75, 78), 0.08)',
    color: 'var(--error-text, #d24b4e)',
};

export const disabled: Style = {
    opacity: 0.6,
    cursor: 'default',
};

export const link: Style = {
    color: 'var(--link-color, #386fe5)',
};

export const statusLine: Style = {
    margin: '0 0 8px',
    fontWeight: 600,
    color: text,
};

export const teamsBadge: Style = {
    flex: '0 0 auto',
    width: 36,
    height: 36,
    borderRadius: 8,
    background: '#5059c9',
    color: '#ffffff',
    display: 'flex',
    alignItems: 'center',
    justifyContent: 'center',
    fontWeight: 700,
    fontSize: 18,
};
