// A stand-in for the parts of Mattermost's webapp a plugin touches: window.registerPlugin, a plugin registry that
// renders registered root components, main-menu actions and user-settings sections, and a Redux-like store with
// the site URL and the current user. Query parameters: settings=user (registerUserSettings accepted, default),
// settings=menu (no registerUserSettings), settings=reject (present but drops the configuration, like servers that
// do not know custom sections); popup=blocked (window.open returns null); user=none (logged out: the login page).
(function () {
    'use strict';
    var params = new URLSearchParams(location.search);
    var settingsMode = params.get('settings') || 'user';
    var e = React.createElement;

    var h = {
        pluginId: '',
        roots: [],
        ws: {},
        reconnect: [],
        menu: [],
        userSettings: null,
        opened: [],
        errors: [],
        adminSettings: {},
        adminChanges: [],
    };
    window.__harness = h;

    window.addEventListener('error', function (ev) {
        h.errors.push(String(ev.message));
    });

    // Capture instead of opening windows; popup=real opens a real one (the result page then talks to this window).
    var realOpen = window.open.bind(window);
    window.open = function (url, target) {
        h.opened.push({url: String(url), target: target});
        if (params.get('popup') === 'real') {
            return realOpen(url, target);
        }
        return params.get('popup') === 'blocked' ? null : {closed: false, focus: function () {}};
    };

    var state = {
        entities: {
            general: {config: {SiteURL: location.origin}},
            users: {currentUserId: params.get('user') === 'none' ? '' : 'user-ada'},
            channels: {currentChannelId: 'town-square', channels: {'town-square': {id: 'town-square', type: 'O'}}},
        },
        views: {modals: {modalState: {}}},
        plugins: {userSettings: {}},
    };
    var listeners = [];
    var store = {
        getState: function () { return state; },
        subscribe: function (fn) {
            listeners.push(fn);
            return function () { listeners = listeners.filter(function (l) { return l !== fn; }); };
        },
        dispatch: function (action) { return action; },
    };
    function setState(next) {
        state = next;
        listeners.slice().forEach(function (fn) { fn(); });
        if (typeof render === 'function') {
            render();
        }
    }

    h.setUser = function (id) {
        setState(Object.assign({}, state, {entities: Object.assign({}, state.entities, {users: {currentUserId: id}})}));
    };
    // Like Mattermost's openModal/closeModal actions (Settings is the modal "user_settings").
    h.setModal = function (id, open) {
        var modalState = Object.assign({}, state.views.modals.modalState);
        modalState[id] = {open: open};
        setState(Object.assign({}, state, {views: {modals: {modalState: modalState}}}));
    };
    h.viewChannel = function (id, type) {
        var channels = Object.assign({}, state.entities.channels.channels);
        channels[id] = {id: id, type: type};
        document.getElementById('channel-title').textContent = id;
        setState(Object.assign({}, state, {entities: Object.assign({}, state.entities,
            {channels: {currentChannelId: id, channels: channels}})}));
    };
    h.fireWebSocket = function (event, data) {
        var fn = h.ws[event];
        if (!fn) {
            throw new Error('no websocket handler for ' + event);
        }
        fn({event: event, data: data, broadcast: {}, seq: 1});
    };
    h.fireReconnect = function () {
        h.reconnect.forEach(function (fn) { fn(); });
    };

    var mountPoint = document.getElementById('plugin-roots');
    var root = ReactDOM.createRoot(mountPoint);
    var menuRoot = ReactDOM.createRoot(document.getElementById('main-menu'));
    var settingsRoot = ReactDOM.createRoot(document.getElementById('settings-host'));

    function render() {
        root.render(e(React.Fragment, null, h.roots.map(function (C, i) { return e(C, {key: i}); })));
        menuRoot.render(e(React.Fragment, null, h.menu.map(function (m, i) {
            return e('button', {key: i, type: 'button', className: 'menu-item', onClick: m.action}, m.text);
        })));
        // Like Mattermost, Settings exists only for a logged-in user.
        var us = state.entities.users.currentUserId ? h.userSettings : null;
        settingsRoot.render(us ? e('section', {id: 'user-settings', 'aria-label': 'Settings: ' + us.uiName},
            e('h2', null, 'Settings › ' + us.uiName),
            us.sections.map(function (s, i) {
                return e('div', {key: i, className: 'settings-section'}, e('h3', null, s.title), e(s.component));
            })) : null);
    }

    var registry = {
        registerRootComponent: function (component) {
            h.roots.push(component);
            render();
            return 'root-' + h.roots.length;
        },
        registerWebSocketEventHandler: function (event, handler) {
            h.ws[event] = handler;
        },
        registerReconnectHandler: function (handler) {
            h.reconnect.push(handler);
        },
        registerAdminConsoleCustomSetting: function (key, component, options) {
            h.adminSettings[key.toLowerCase()] = {component: component, options: options || {}};
        },
        registerMainMenuAction: function (text, action) {
            h.menu.push({text: text, action: action});
            render();
            return 'menu-' + h.menu.length;
        },
    };
    if (settingsMode !== 'menu') {
        registry.registerUserSettings = function (setting) {
            if (settingsMode === 'reject') {
                return; // dropped, as Mattermost's reducer does with a configuration it cannot validate
            }
            h.userSettings = setting;
            var accepted = {};
            accepted[h.pluginId] = setting;
            setState(Object.assign({}, state, {plugins: {userSettings: accepted}}));
            render();
        };
    }

    // A stand-in for System Console's plugin page: renders one registered custom setting with the props it passes.
    // Renders a custom setting as System Console does: a change re-renders it with the new value (its state), and
    // saveAdmin() runs the save actions it registered, then hands back the saved value (masked, for secrets).
    h.renderAdminSetting = function (key, props) {
        var entry = h.adminSettings[key.toLowerCase()];
        if (!entry) {
            throw new Error('no custom setting ' + key);
        }
        if (!h.adminRoot) {
            h.adminRoot = ReactDOM.createRoot(document.getElementById('admin-console'));
        }
        var id = 'PluginSettings.Plugins.' + h.pluginId + '.' + key.toLowerCase();
        h.saveActions = [];
        var current = Object.assign({
            id: id,
            label: key,
            helpText: null,
            onChange: function (changedId, value) {
                h.adminChanges.push({id: changedId, value: value});
                current = Object.assign({}, current, {value: value});
                draw();
            },
            setSaveNeeded: function () {},
            registerSaveAction: function (action) { h.saveActions.push(action); },
            unRegisterSaveAction: function (action) {
                h.saveActions = h.saveActions.filter(function (a) { return a !== action; });
            },
        }, props || {});
        function draw() { h.adminRoot.render(e(entry.component, current)); }
        h.saveAdmin = function (savedValue) {
            return Promise.all(h.saveActions.map(function (a) { return a(); })).then(function () {
                current = Object.assign({}, current, {value: savedValue});
                draw();
            });
        };
        draw();
    };

    window.registerPlugin = function (id, plugin) {
        h.pluginId = id;
        h.plugin = plugin;
        plugin.initialize(registry, store);
        render();
    };
})();
