import React from 'react';
import {renderToStaticMarkup} from 'react-dom/server';
import {afterEach, describe, expect, it, vi} from 'vitest';

import manifest from '../../plugin.json';
import {
    downloadName,
    iconProblem,
    outlinePixelsProblem,
    TeamsAppPackageSetting,
    toBase64,
} from '../src/components/admin_console/teams_app_settings';

// The first bytes of a PNG as the checks read them: signature, IHDR (size, colour type), optional tRNS, IEND. The
// CRCs are not checked here (the server checks them).
function png(side: number, colorType: number, extraChunks: string[] = []): Uint8Array {
    const out: number[] = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];
    const be = (v: number) => [(v >>> 24) & 0xff, (v >>> 16) & 0xff, (v >>> 8) & 0xff, v & 0xff];
    const chunk = (type: string, data: number[]) => {
        out.push(...be(data.length), ...Array.from(type, (c) => c.charCodeAt(0)), ...data, 0, 0, 0, 0);
    };
    chunk('IHDR', [...be(side), ...be(side), 8, colorType, 0, 0, 0]);
    for (const type of extraChunks) {
        chunk(type, [0]);
    }
    chunk('IDAT', [1, 2, 3]);
    chunk('IEND', []);
    return new Uint8Array(out);
}

describe('Teams app icons', () => {
    it('accepts PNGs of Teams sizes, the outline one with transparency', () => {
        expect(iconProblem(png(192, 2), 'color')).toBeNull();
        expect(iconProblem(png(192, 6), 'color')).toBeNull();
        expect(iconProblem(png(32, 6), 'outline')).toBeNull();
        expect(iconProblem(png(32, 4), 'outline')).toBeNull();
        expect(iconProblem(png(32, 3, ['PLTE', 'tRNS']), 'outline')).toBeNull();
    });

    it('says what is wrong with any other file', () => {
        expect(iconProblem(png(200, 6), 'color')).toBe(
            'The image is 200×200 pixels: Teams wants a full-colour PNG of 192×192 pixels.');
        expect(iconProblem(png(192, 6), 'outline')).toContain('The image is 192×192 pixels');
        expect(iconProblem(png(32, 2), 'outline')).toContain('has no transparency');
        expect(iconProblem(new TextEncoder().encode('GIF89a and then some more bytes here'), 'color'))
            .toContain('not a PNG image');
        const big = new Uint8Array(16 * 1024 + 1);
        big.set(png(32, 6));
        expect(iconProblem(big, 'outline')).toContain('larger than 16 KiB');
    });

    it('wants outline pixels white or fully transparent, and something drawn', () => {
        const pixels = (...rgba: number[][]) => new Uint8ClampedArray(rgba.flat());
        expect(outlinePixelsProblem(pixels([255, 255, 255, 255], [0, 0, 0, 0], [255, 255, 255, 80]))).toBeNull();
        expect(outlinePixelsProblem(pixels([255, 255, 255, 255], [200, 0, 0, 255]))).toContain('not white');
        expect(outlinePixelsProblem(pixels([0, 0, 0, 0], [10, 10, 10, 0]))).toContain('fully transparent');
    });

    it('stores the file as base64, byte for byte', () => {
        const bytes = png(32, 6);
        expect(Uint8Array.from(atob(toBase64(bytes)), (c) => c.charCodeAt(0))).toEqual(bytes);
    });
});

describe('Teams app package download', () => {
    afterEach(() => {
        vi.unstubAllGlobals();
    });

    it('names the file as the server says', () => {
        expect(downloadName('attachment; filename="contoso-chat-1.2.3.zip"')).toBe('contoso-chat-1.2.3.zip');
        expect(downloadName(null)).toBe('teams-app.zip');
    });

    it('shows a download button', () => {
        const html = renderToStaticMarkup(<TeamsAppPackageSetting id='x'/>);
        expect(html).toContain('Download the Teams app package');
    });
});

describe('System Console', () => {
    afterEach(() => {
        vi.unstubAllGlobals();
        vi.resetModules();
    });

    it('has a component for every custom setting of plugin.json', async () => {
        vi.stubGlobal('window', {registerPlugin: vi.fn()});
        vi.stubGlobal('fetch', vi.fn(async () => new Response('{}', {status: 200})));
        const {Plugin} = await import('../src/index');
        const registered: string[] = [];
        new Plugin().initialize({
            registerWebSocketEventHandler: vi.fn(),
            registerAdminConsoleCustomSetting: (key: string) => {
                registered.push(key);
            },
        });
        const custom = manifest.settings_schema.settings.filter((s) => s.type === 'custom').map((s) => s.key);
        expect(custom).toContain('teamsAppPackage');
        expect([...registered].sort()).toEqual([...custom].sort());
    });
});
