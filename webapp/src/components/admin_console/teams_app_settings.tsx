// System Console settings of the Teams app package (docs/embedded.md): the download button and the two icon
// uploads. The server builds the package from the saved settings (GET /admin/teams-app.zip) and checks the icons
// again when the settings are saved; the checks here give the admin the reason at once.
import React from 'react';

import {errorFromResponse, requestHeaders, resolveSiteURL} from '../../client';
import {pluginId} from '../../manifest';
import type {AdminConsoleSettingProps} from '../../registry';
import * as styles from '../common/styles';

export const TEAMS_APP_PACKAGE_KEY = 'teamsAppPackage';
export const COLOR_ICON_KEY = 'teamsAppColorIcon';
export const OUTLINE_ICON_KEY = 'teamsAppOutlineIcon';

export type IconKind = 'color' | 'outline';

// Teams' rules for the two icons, and the largest file the plugin keeps (the server has the same limits).
export const ICON_RULES: Record<IconKind, {side: number; maxBytes: number; what: string}> = {
    color: {side: 192, maxBytes: 64 * 1024, what: 'a full-colour PNG of 192×192 pixels'},
    outline: {side: 32, maxBytes: 16 * 1024, what: 'a PNG of 32×32 pixels, white on a transparent background'},
};

const PNG_SIGNATURE = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];

function u32(bytes: Uint8Array, at: number): number {
    return ((bytes[at] << 24) >>> 0) + (bytes[at + 1] << 16) + (bytes[at + 2] << 8) + bytes[at + 3];
}

// What is wrong with an icon file for Teams (from its bytes), or null. Reads the PNG's chunks, not its pixels.
export function iconProblem(bytes: Uint8Array, kind: IconKind): string | null {
    const rule = ICON_RULES[kind];
    if (bytes.length > rule.maxBytes) {
        return `The file is larger than ${rule.maxBytes / 1024} KiB: Teams wants ${rule.what}.`;
    }
    if (bytes.length < 33 || PNG_SIGNATURE.some((b, i) => bytes[i] !== b) || String.fromCharCode(...bytes.slice(12, 16)) !== 'IHDR') {
        return `The file is not a PNG image: Teams wants ${rule.what}.`;
    }
    const width = u32(bytes, 16);
    const height = u32(bytes, 20);
    if (width !== rule.side || height !== rule.side) {
        return `The image is ${width}×${height} pixels: Teams wants ${rule.what}.`;
    }
    if (kind === 'outline') {
        const colorType = bytes[25];
        let transparent = colorType === 4 || colorType === 6;
        for (let at = 8; !transparent && at + 8 <= bytes.length; at += 12 + u32(bytes, at)) {
            transparent = String.fromCharCode(...bytes.slice(at + 4, at + 8)) === 'tRNS';
        }
        if (!transparent) {
            return `The image has no transparency: Teams wants ${rule.what}.`;
        }
    }
    return null;
}

// What is wrong with an outline icon's pixels (RGBA, as a canvas gives them), or null: every pixel that is not fully
// transparent must be white (its edges may be partly transparent).
export function outlinePixelsProblem(rgba: Uint8ClampedArray | Uint8Array): string | null {
    let drawn = 0;
    for (let i = 0; i + 3 < rgba.length; i += 4) {
        if (rgba[i + 3] === 0) {
            continue;
        }
        drawn++;
        if (rgba[i] < 250 || rgba[i + 1] < 250 || rgba[i + 2] < 250) {
            return 'The image has pixels that are not white: Teams wants the outline icon white on a transparent background.';
        }
    }
    return drawn === 0 ? 'The image is fully transparent: nothing would show in Teams.' : null;
}

export function toBase64(bytes: Uint8Array): string {
    let binary = '';
    for (let i = 0; i < bytes.length; i += 0x8000) {
        binary += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
    }
    return btoa(binary);
}

// The outline icon's pixels through a canvas, where the browser has one (null: cannot tell, the server decides).
async function outlinePixels(bytes: Uint8Array): Promise<Uint8ClampedArray | null> {
    if (typeof createImageBitmap !== 'function' || typeof document === 'undefined') {
        return null;
    }
    try {
        const bitmap = await createImageBitmap(new Blob([new Uint8Array(bytes)], {type: 'image/png'}));
        const canvas = document.createElement('canvas');
        canvas.width = bitmap.width;
        canvas.height = bitmap.height;
        const context = canvas.getContext('2d');
        if (!context) {
            return null;
        }
        context.drawImage(bitmap, 0, 0);
        return context.getImageData(0, 0, bitmap.width, bitmap.height).data;
    } catch {
        return null;
    }
}

export async function checkIconFile(bytes: Uint8Array, kind: IconKind): Promise<string | null> {
    const problem = iconProblem(bytes, kind);
    if (problem || kind !== 'outline') {
        return problem;
    }
    const pixels = await outlinePixels(bytes);
    return pixels ? outlinePixelsProblem(pixels) : null;
}

function IconSetting(props: AdminConsoleSettingProps & {kind: IconKind}): React.ReactElement {
    const [problem, setProblem] = React.useState<string | null>(null);
    const value = typeof props.value === 'string' ? props.value : '';
    const rule = ICON_RULES[props.kind];
    const set = (next: string) => {
        props.onChange?.(props.id, next);
        props.setSaveNeeded?.();
    };
    const onFile = async (event: React.ChangeEvent<HTMLInputElement>) => {
        const file = event.target.files?.[0];
        event.target.value = '';
        if (!file) {
            return;
        }
        if (file.size > rule.maxBytes) {
            setProblem(`The file is larger than ${rule.maxBytes / 1024} KiB: Teams wants ${rule.what}.`);
            return;
        }
        const bytes = new Uint8Array(await file.arrayBuffer());
        const found = await checkIconFile(bytes, props.kind);
        setProblem(found);
        if (!found) {
            set(toBase64(bytes));
        }
    };
    const side = props.kind === 'color' ? 64 : 32;
    return (
        <div data-testid={`msteams-icon-${props.kind}`}>
            <div style={{display: 'flex', alignItems: 'center', gap: 12}}>
                {value ? (
                    <img
                        alt={`Uploaded ${props.kind} icon`}
                        src={`data:image/png;base64,${value}`}
                        width={side}
                        height={side}
                        style={{background: props.kind === 'outline' ? '#4B53BC' : 'transparent', borderRadius: 4}}
                    />
                ) : (
                    <span style={styles.hint}>{'The default: the plugin\'s icon.'}</span>
                )}
                <label className='btn btn-tertiary btn-sm'>
                    {value ? 'Replace…' : 'Upload…'}
                    <input
                        type='file'
                        accept='image/png'
                        aria-label={`Upload the ${props.kind} icon`}
                        disabled={props.disabled}
                        style={{display: 'none'}}
                        onChange={(e) => void onFile(e)}
                    />
                </label>
                {value && (
                    <button
                        type='button'
                        className='btn btn-tertiary btn-sm'
                        disabled={props.disabled}
                        onClick={() => {
                            setProblem(null);
                            set('');
                        }}
                    >
                        {'Use the default'}
                    </button>
                )}
            </div>
            {problem && <p style={{...styles.error, marginTop: 8}}>{problem}</p>}
        </div>
    );
}

export function ColorIconSetting(props: AdminConsoleSettingProps): React.ReactElement {
    return <IconSetting {...props} kind='color'/>;
}

export function OutlineIconSetting(props: AdminConsoleSettingProps): React.ReactElement {
    return <IconSetting {...props} kind='outline'/>;
}

// The file name the server gave (Content-Disposition), else a plain one.
export function downloadName(disposition: string | null): string {
    const match = /filename="([^"]+)"/.exec(disposition ?? '');
    return match ? match[1] : 'teams-app.zip';
}

// Fetches the package with the admin's session and hands it to the browser as a download; on an error the server's
// reason (e.g. "Enter the Client ID … first") is shown.
export function TeamsAppPackageSetting(props: AdminConsoleSettingProps): React.ReactElement {
    const [state, setState] = React.useState<{busy: boolean; message: string; failed: boolean}>(
        {busy: false, message: '', failed: false});
    const download = async () => {
        setState({busy: true, message: '', failed: false});
        const win = typeof window === 'undefined' ? undefined : window;
        const url = `${resolveSiteURL(win)}/plugins/${pluginId}/admin/teams-app.zip`;
        try {
            const cookie = typeof document === 'undefined' ? '' : document.cookie;
            const headers = requestHeaders(cookie, false);
            headers.Accept = 'application/zip, application/json';
            const response = await fetch(url, {credentials: 'same-origin', headers});
            if (!response.ok) {
                throw errorFromResponse(response.status, await response.text());
            }
            const blob = await response.blob();
            const name = downloadName(response.headers.get('Content-Disposition'));
            const link = document.createElement('a');
            link.href = URL.createObjectURL(blob);
            link.download = name;
            document.body.appendChild(link);
            link.click();
            link.remove();
            setTimeout(() => URL.revokeObjectURL(link.href), 10_000);
            setState({busy: false, message: `Downloaded ${name}.`, failed: false});
        } catch (e) {
            const message = e instanceof Error && e.message ? e.message : 'The download failed.';
            setState({busy: false, message, failed: true});
        }
    };
    return (
        <div data-testid='msteams-teams-app-package'>
            <button
                type='button'
                className='btn btn-primary btn-sm'
                disabled={props.disabled || state.busy}
                onClick={() => void download()}
            >
                {state.busy ? 'Preparing…' : 'Download the Teams app package'}
            </button>
            {state.message && (
                <p
                    role={state.failed ? 'alert' : 'status'}
                    style={{...(state.failed ? styles.error : styles.hint), marginTop: 8}}
                >
                    {state.message}
                </p>
            )}
        </div>
    );
}
