// What the UI and the event handlers do: load config and status, connect, disconnect, skip. All effects go
// through the injected client and window opener, so tests can drive it without a browser.
import {ClientError, type Client, type ConnectionStatus} from './client';
import {createStore, type ConnectOutcomeKind, type Store} from './state';

export type OpenWindow = (url: string) => unknown;

// What the server's connect result page posts to the window that opened it (same origin only).
export const CONNECT_RESULT_MESSAGE = 'com.mattermost.msteams:connect-result';

// How often an open sign-in window is checked for having been closed.
export const POPUP_POLL_MS = 500;

interface PopupLike {
    closed?: boolean;
}

export interface IncomingMessage {
    origin: string;
    source: unknown;
    data: unknown;
}

function messageOf(err: unknown): string {
    if (err instanceof ClientError || err instanceof Error) {
        return err.message;
    }
    return 'Something went wrong.';
}

function asRecord(value: unknown): Record<string, unknown> {
    return value && typeof value === 'object' ? (value as Record<string, unknown>) : {};
}

export class Controller {
    readonly store: Store;
    readonly client: Client;
    private readonly openWindow: OpenWindow;

    // Each load takes a ticket; an answer whose ticket is no longer current (because a websocket event or a newer
    // load arrived meanwhile) is dropped instead of overwriting fresher data.
    private configTicket = 0;
    private statusTicket = 0;

    // The sign-in window of the current attempt (null when none, or when the browser blocked it) and its watch.
    private popup: PopupLike | null = null;
    private popupTimer: ReturnType<typeof setInterval> | null = null;
    private readonly bridgedInFlight = new Set<string>();

    constructor(client: Client, openWindow: OpenWindow, store: Store = createStore()) {
        this.client = client;
        this.openWindow = openWindow;
        this.store = store;
    }

    async loadConfig(): Promise<void> {
        const ticket = ++this.configTicket;
        try {
            const config = await this.client.getConfig();
            if (ticket === this.configTicket) {
                this.store.setState({config, loadError: ''});
            }
        } catch (err) {
            if (ticket === this.configTicket) {
                this.store.setState({loadError: messageOf(err)});
            }
        }
    }

    async loadStatus(): Promise<void> {
        const ticket = ++this.statusTicket;
        try {
            const status = await this.client.getConnectionStatus();
            if (ticket === this.statusTicket) {
                this.applyStatus(status);
            }
        } catch (err) {
            if (ticket === this.statusTicket) {
                this.store.setState({loadError: messageOf(err)});
            }
        }
    }

    refresh(): Promise<void> {
        return Promise.all([this.loadConfig(), this.loadStatus()]).then(() => undefined);
    }

    private applyStatus(status: ConnectionStatus): void {
        const prev = this.store.getState();
        this.store.setState({
            status,
            loadError: '',
            connecting: status.connected ? false : prev.connecting,
            popupBlocked: status.connected ? false : prev.popupBlocked,
            connectOutcome: status.connected ? null : prev.connectOutcome,
            actionError: status.connected && prev.connecting ? '' : prev.actionError,
        });
    }

    // Opens the server's connect page in a new window. The outcome comes back as a message from the result page
    // (onMessage), as a websocket event, or, when the window is closed without either, from re-reading the status;
    // coming back to this window re-reads it too.
    connect(): void {
        this.stopWatchingPopup();
        const opened = this.openWindow(this.client.connectURL());
        this.popup = opened && typeof opened === 'object' ? (opened as PopupLike) : null;
        this.store.setState({connecting: true, popupBlocked: !opened, actionError: '', connectOutcome: null});
        if (this.popup) {
            this.popupTimer = setInterval(() => this.checkPopup(), POPUP_POLL_MS);
        }
    }

    private stopWatchingPopup(): void {
        if (this.popupTimer !== null) {
            clearInterval(this.popupTimer);
            this.popupTimer = null;
        }
    }

    private checkPopup(): void {
        if (!this.popup?.closed) {
            return;
        }
        this.stopWatchingPopup();
        this.popup = null;
        void this.onPopupClosed();
    }

    // The sign-in window looks closed. It may be: or Microsoft's sign-in pages cut the link to it (they send
    // Cross-Origin-Opener-Policy: same-origin, and from then on a browser reports the window as closed and its result
    // page cannot reach this one). So this only says what to do if it really was closed, and keeps waiting: the
    // outcome still arrives as a websocket event (connect_outcome, connection_changed) or on coming back here.
    private async onPopupClosed(): Promise<void> {
        if (!this.store.getState().connecting) {
            return;
        }
        await this.loadStatus();
        const state = this.store.getState();
        if (state.connecting && !state.status?.connected && !state.connectOutcome) {
            this.store.setState({connectOutcome: {kind: 'closed', message: ''}});
        }
    }

    // The server's word on a sign-in that did not connect (the websocket event connect_outcome), for when the result
    // page cannot reach this window.
    onConnectOutcome(data: unknown): void {
        const d = asRecord(data);
        const kinds: ConnectOutcomeKind[] = ['refused', 'cancelled', 'failed'];
        const kind = kinds.find((k) => k === d.outcome);
        if (!kind) {
            return;
        }
        this.stopWatchingPopup();
        this.popup = null;
        const message = typeof d.message === 'string' ? d.message.slice(0, 1000) : '';
        this.store.setState({connecting: false, popupBlocked: false, connectOutcome: {kind, message}});
    }

    // A window message: only the connect result page of the expected origin (Mattermost's own) counts, and, while
    // this window knows its sign-in window, only a message from that window. The outcome is a hint: "connected" is
    // checked with the server, and the message is only ever shown as text.
    onMessage(event: IncomingMessage, expectedOrigin: string): void {
        if (!expectedOrigin || event.origin !== expectedOrigin) {
            return;
        }
        if (this.popup && event.source !== this.popup) {
            return;
        }
        const d = asRecord(event.data);
        if (d.type !== CONNECT_RESULT_MESSAGE) {
            return;
        }
        this.stopWatchingPopup();
        this.popup = null;
        const message = typeof d.message === 'string' ? d.message.slice(0, 1000) : '';
        if (d.outcome === 'connected') {
            void this.loadStatus().then(() => this.store.setState({connecting: false}));
            return;
        }
        const kinds: ConnectOutcomeKind[] = ['refused', 'cancelled', 'failed'];
        const kind = kinds.find((k) => k === d.outcome) ?? 'failed';
        this.store.setState({connecting: false, popupBlocked: false, connectOutcome: {kind, message}});
    }

    skip(): void {
        const {config} = this.store.getState();
        if (config?.allow_skip_connect_accounts) {
            // What the prompt said about the last attempt is over with it; Settings starts afresh.
            this.store.setState({skipped: true, connectOutcome: null, actionError: '', loadError: ''});
        }
    }

    async disconnect(): Promise<void> {
        if (this.store.getState().busy) {
            return;
        }
        this.stopWatchingPopup();
        this.popup = null;
        this.store.setState({busy: true, actionError: '', connectOutcome: null});
        try {
            const result = await this.client.disconnect();
            this.statusTicket++;
            const prev = this.store.getState().status;
            this.store.setState({
                busy: false,
                connecting: false,
                status: {
                    connected: result.connected,
                    teams_user_id: '',
                    teams_email: '',
                    teams_display_name: '',
                    can_connect: prev?.can_connect ?? true,
                },
            });
            // can_connect may differ now that a slot is free; fetch the authoritative status.
            void this.loadStatus();
        } catch (err) {
            this.store.setState({busy: false, actionError: messageOf(err)});
        }
    }

    // custom_<id>_connection_changed: {connected, teams_display_name?, teams_email?}
    onConnectionChanged(data: unknown): void {
        const d = asRecord(data);
        const connected = d.connected === true || d.connected === 'true';
        const prev = this.store.getState().status;
        this.statusTicket++;
        this.store.setState({
            status: {
                connected,
                teams_user_id: connected ? (typeof d.teams_user_id === 'string' ? d.teams_user_id : prev?.teams_user_id ?? '') : '',
                teams_display_name: connected && typeof d.teams_display_name === 'string' ? d.teams_display_name : '',
                teams_email: connected && typeof d.teams_email === 'string' ? d.teams_email : '',
                can_connect: prev?.can_connect ?? true,
            },
            connecting: false,
            popupBlocked: false,
            actionError: '',
            loadError: '',
            connectOutcome: connected ? null : this.store.getState().connectOutcome,
        });
        if (connected) {
            this.stopWatchingPopup();
            this.popup = null;
        }
        if (!connected) {
            // Whether this user may connect again (the connected-users limit) is only known to the server.
            void this.loadStatus();
        }
    }

    // custom_<id>_config_changed: the admin changed a setting; the payload is not trusted for content.
    onConfigChanged(): void {
        void this.loadConfig();
    }

    // The focus fallback: while a connect window is open, coming back to Mattermost re-reads the status.
    onWindowFocus(): void {
        if (this.store.getState().connecting) {
            void this.loadStatus();
        }
    }

    onReconnect(): void {
        // Events may have been missed while the websocket was down.
        void this.refresh();
    }

    // A different user logged in (or the first one became known): start over, including the skip.
    onUserChanged(userId: string): void {
        const prev = this.store.getState().userId;
        if (userId === prev) {
            return;
        }
        this.configTicket++;
        this.statusTicket++;
        this.stopWatchingPopup();
        this.popup = null;
        this.store.setState({
            userId,
            connectOutcome: null,
            bridgedChannels: {},
            status: null,
            skipped: false,
            connecting: false,
            popupBlocked: false,
            busy: false,
            actionError: '',
            loadError: '',
            settingsOpen: false,
        });
        if (userId) {
            void this.refresh();
        }
    }

    // Whether one of Mattermost's modals is open (read from its Redux store).
    setModalOpen(open: boolean): void {
        if (this.store.getState().modalOpen !== open) {
            this.store.setState({modalOpen: open});
        }
    }

    // The user is looking at another channel: for a DM or GM, learn once whether it is bridged (cached per channel
    // for the page's life; a failed answer is not cached, so the next visit asks again).
    onChannelViewed(channelId: string, isDirectOrGroup: boolean): void {
        const id = isDirectOrGroup ? channelId : '';
        if (this.store.getState().currentChannelId !== id) {
            this.store.setState({currentChannelId: id});
        }
        if (!id || id in this.store.getState().bridgedChannels || this.bridgedInFlight.has(id)) {
            return;
        }
        this.bridgedInFlight.add(id);
        const userId = this.store.getState().userId;
        this.client.getChannelBridged(id).then(
            (bridged) => {
                this.bridgedInFlight.delete(id);
                if (this.store.getState().userId === userId) {
                    this.store.setState((s) => ({bridgedChannels: {...s.bridgedChannels, [id]: bridged}}));
                }
            },
            () => {
                this.bridgedInFlight.delete(id);
            },
        );
    }

    openSettings(): void {
        this.store.setState({settingsOpen: true, actionError: ''});
        void this.loadStatus();
    }

    closeSettings(): void {
        this.store.setState({settingsOpen: false});
    }
}
