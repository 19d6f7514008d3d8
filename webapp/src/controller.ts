// What the UI and the event handlers do: load config and status, connect, disconnect, skip. All effects go
// through the injected client and window opener, so tests can drive it without a browser.
import {ClientError, type Client, type ConnectionStatus} from './client';
import {createStore, type Store} from './state';

export type OpenWindow = (url: string) => unknown;

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
            actionError: status.connected && prev.connecting ? '' : prev.actionError,
        });
    }

    // Opens the server's connect page in a new window. The result comes back as a websocket event, or, as a
    // fallback, from re-reading the status when this window regains focus.
    connect(): void {
        const opened = this.openWindow(this.client.connectURL());
        this.store.setState({connecting: true, popupBlocked: !opened, actionError: ''});
    }

    skip(): void {
        const {config} = this.store.getState();
        if (config?.allow_skip_connect_accounts) {
            this.store.setState({skipped: true});
        }
    }

    async disconnect(): Promise<void> {
        if (this.store.getState().busy) {
            return;
        }
        this.store.setState({busy: true, actionError: ''});
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
        });
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
        this.store.setState({
            userId,
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

    openSettings(): void {
        this.store.setState({settingsOpen: true, actionError: ''});
        void this.loadStatus();
    }

    closeSettings(): void {
        this.store.setState({settingsOpen: false});
    }
}
