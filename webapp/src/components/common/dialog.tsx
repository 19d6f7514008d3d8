// A modal dialog shell: overlay, role="dialog" labelled by its title, focus moved in on open (to the element
// marked data-autofocus, else the panel), Tab kept inside, focus given back on close, and Escape routed to
// onEscape. Escape is swallowed even without onEscape, so a dialog that must stay open really does.
import React from 'react';

import * as styles from './styles';

const FOCUSABLE = 'a[href], button:not([disabled]), input:not([disabled]), select, textarea, [tabindex]:not([tabindex="-1"])';

export interface DialogProps {
    id: string;
    title: string;

    // The element holding the dialog's explanation, read out after the title.
    descriptionId?: string;
    onEscape?: () => void;
    children: React.ReactNode;
}

export function Dialog({id, title, descriptionId, onEscape, children}: DialogProps): React.ReactElement {
    const panelRef = React.useRef<HTMLDivElement>(null);
    const escapeRef = React.useRef(onEscape);
    escapeRef.current = onEscape;

    React.useEffect(() => {
        const previous = document.activeElement as HTMLElement | null;
        const panelEl = panelRef.current;
        const target = panelEl?.querySelector<HTMLElement>('[data-autofocus]') ?? panelEl;
        target?.focus();

        const onKeyDown = (e: KeyboardEvent) => {
            const el = panelRef.current;
            if (!el) {
                return;
            }
            if (e.key === 'Escape') {
                e.preventDefault();
                e.stopPropagation();
                escapeRef.current?.();
                return;
            }
            if (e.key === 'Tab') {
                const items = Array.from(el.querySelectorAll<HTMLElement>(FOCUSABLE));
                if (items.length === 0) {
                    e.preventDefault();
                    el.focus();
                    return;
                }
                const first = items[0];
                const last = items[items.length - 1];
                const active = document.activeElement;
                if (!el.contains(active)) {
                    e.preventDefault();
                    first.focus();
                } else if (e.shiftKey && (active === first || active === el)) {
                    e.preventDefault();
                    last.focus();
                } else if (!e.shiftKey && active === last) {
                    e.preventDefault();
                    first.focus();
                }
            }
        };

        // Capture phase on the document: Mattermost's own shortcuts must not see keys meant for this dialog.
        document.addEventListener('keydown', onKeyDown, true);
        return () => {
            document.removeEventListener('keydown', onKeyDown, true);
            if (previous && typeof previous.focus === 'function' && document.contains(previous)) {
                previous.focus();
            }
        };
    }, []);

    const titleId = `${id}-title`;
    return (
        <div style={styles.overlay}>
            <div
                id={id}
                ref={panelRef}
                role='dialog'
                aria-modal='true'
                aria-labelledby={titleId}
                aria-describedby={descriptionId}
                tabIndex={-1}
                style={styles.panel}
            >
                <div style={styles.header}>
                    <span
                        style={styles.teamsBadge}
                        aria-hidden='true'
                    >
                        {'T'}
                    </span>
                    <h1
                        id={titleId}
                        style={styles.title}
                    >
                        {title}
                    </h1>
                </div>
                {children}
            </div>
        </div>
    );
}
