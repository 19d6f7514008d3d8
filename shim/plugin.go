package main

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mattermost/mattermost/server/public/model"
	"github.com/mattermost/mattermost/server/public/plugin"
	"google.golang.org/grpc"

	"github.com/msteams-bridge/msteams/shim/gen/corepb"
)

const coreRelPath = "server/dist/msteams-core"

// Plugin is the shim: every hook goes to the core, the core's API calls come back to p.API.
type Plugin struct {
	plugin.MattermostPlugin

	mu       sync.RWMutex
	sup      *supervisor
	link     coreLink // = sup in production; a fake in tests
	queue    *eventQueue
	sender   *eventSender
	instance string // random per shim process, with seq identifies an event
	version  string // the manifest version, read at activation
	id       string // the manifest id (the key of the plugin's settings), read at activation

	httpRunning atomic.Int32 // ServeHTTP calls in progress (bounded by maxConcurrentHTTP)

	// Tunables (zero = production defaults); tests shorten them.
	queueLimit         int
	commandReadyWait   time.Duration // how long ExecuteCommand waits for a restarting core (5 s)
	supervisorOverride func(*supervisorOptions)
}

// defaultPluginID is used when the manifest cannot be read.
const defaultPluginID = "com.mattermost.msteams"

func newInstanceID() string {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(err) // crypto/rand never fails on Linux
	}
	return hex.EncodeToString(b[:])
}

// OnActivate starts the core and activates it; its refusal is returned verbatim so System Console shows it.
func (p *Plugin) OnActivate() error {
	p.OnDeactivate() //nolint:errcheck // a second activation in one process starts from scratch

	bundle, err := p.API.GetBundlePath()
	if err != nil {
		return fmt.Errorf("cannot find the plugin bundle directory: %w", err)
	}
	if m, _, err := model.FindManifest(bundle); err == nil && m != nil {
		p.version = m.Version
		p.id = m.Id
	} else {
		p.API.LogWarn("cannot read the plugin manifest; the core gets no plugin version", "error", fmt.Sprint(err))
	}
	if p.instance == "" {
		p.instance = newInstanceID()
	}

	api := &apiServer{api: p.API}
	opts := supervisorOptions{
		Binary:      filepath.Join(bundle, coreRelPath),
		WorkDir:     bundle,
		Log:         p.API,
		Config:      func() (*corepb.Configuration, error) { return p.buildConfiguration(bundle) },
		RegisterAPI: func(s *grpc.Server) { corepb.RegisterMattermostApiServer(s, api) },
	}
	if p.supervisorOverride != nil {
		p.supervisorOverride(&opts)
	}
	sup, err := newSupervisor(opts)
	if err != nil {
		return err
	}
	// Visible before the core starts: a configuration change during activation (the core saving a generated
	// secret, say) must be noticed and re-sent, not lost.
	p.mu.Lock()
	p.sup = sup
	p.mu.Unlock()
	if err := sup.start(); err != nil {
		p.mu.Lock()
		p.sup = nil
		p.mu.Unlock()
		var refused *errActivationRefused
		if errors.As(err, &refused) {
			return errors.New(refused.msg)
		}
		return err
	}
	p.start(sup, sup)
	return nil
}

// start wires the event queue and sender to a ready link.
func (p *Plugin) start(sup *supervisor, link coreLink) {
	if p.instance == "" {
		p.instance = newInstanceID()
	}
	q := p.queue
	if q == nil {
		q = newEventQueue(p.queueLimit, p.API)
	} else {
		q.mu.Lock()
		q.closed = false
		q.mu.Unlock()
	}
	p.mu.Lock()
	p.sup, p.link, p.queue = sup, link, q
	p.sender = startEventSender(q, link, p.instance, p.API)
	p.mu.Unlock()
}

// OnDeactivate stops delivery, deactivates and stops the core. No process remains.
func (p *Plugin) OnDeactivate() error {
	p.mu.Lock()
	sup, sender, q := p.sup, p.sender, p.queue
	p.sup, p.link, p.sender = nil, nil, nil
	p.mu.Unlock()
	if q != nil {
		q.close()
	}
	if sender != nil {
		sender.stop()
	}
	if sup != nil {
		sup.stop()
	}
	if q != nil {
		if pending, dropped := q.stats(); pending > 0 || dropped > 0 {
			p.API.LogWarn("MS Teams plugin deactivated with undelivered events", "pending", pending, "dropped_total", dropped)
		}
	}
	return nil
}

// OnConfigurationChange forwards to a ready core. The SDK calls it before OnActivate (no core yet: nothing to do);
// while the core restarts the next activation carries the fresh configuration.
func (p *Plugin) OnConfigurationChange() error {
	p.mu.RLock()
	sup := p.sup
	p.mu.RUnlock()
	if sup == nil {
		return nil
	}
	err := sup.configurationChanged()
	var refused *errActivationRefused
	if errors.As(err, &refused) {
		return errors.New(refused.msg)
	}
	return err
}

// buildConfiguration collects what the core is told on activation and on every change. Values are never logged.
func (p *Plugin) buildConfiguration(bundle string) (*corepb.Configuration, error) {
	// Newer servers sanitize GetPluginConfig: settings marked secret (the client secret) arrive masked, and saving
	// such a map back would overwrite the real secret with the mask. The unsanitized configuration has them.
	unsanitized := p.API.GetUnsanitizedConfig()
	var settings map[string]any
	if unsanitized != nil {
		id := p.id
		if id == "" {
			id = defaultPluginID
		}
		settings = unsanitized.PluginSettings.Plugins[id]
	}
	if settings == nil {
		settings = p.API.GetPluginConfig()
	}
	if settings == nil {
		settings = map[string]any{}
	}
	js, err := json.Marshal(settings)
	if err != nil {
		return nil, fmt.Errorf("plugin settings are not JSON-encodable: %w", err)
	}
	server := &corepb.ServerSettings{
		ServerVersion: p.API.GetServerVersion(),
		BundlePath:    bundle,
		PluginVersion: p.version,
		DiagnosticId:  p.API.GetDiagnosticId(),
	}
	if cfg := unsanitized; cfg != nil {
		server.SiteUrl = deref(cfg.ServiceSettings.SiteURL)
		server.SqlDriverName = deref(cfg.SqlSettings.DriverName)
		server.SqlDataSource = deref(cfg.SqlSettings.DataSource)
		server.LogLevel = mostVerboseLogLevel(cfg)
		server.NodeName = nodeNameOf(cfg)
		server.FrameAncestors = frameAncestorsOf(cfg)
		if cfg.FileSettings.MaxFileSize != nil {
			server.MaxFileSize = *cfg.FileSettings.MaxFileSize
		}
	} else {
		return nil, errors.New("the server configuration is not available")
	}
	return &corepb.Configuration{PluginSettingsJson: string(js), Server: server}, nil
}

// legacyFrameAncestors is what servers without ServiceSettings.FrameAncestors (9.11, for one) send with their pages:
// frame-ancestors 'self' teams.microsoft.com, fixed.
const legacyFrameAncestors = "'self' teams.microsoft.com"

// frameAncestorsOf is the sources besides 'self' that may frame Mattermost's pages: ServiceSettings.FrameAncestors, or
// on a server that has no such setting (the field is absent from its configuration), the ones it has built in.
func frameAncestorsOf(cfg *model.Config) string {
	if cfg.ServiceSettings.FrameAncestors == nil {
		return legacyFrameAncestors
	}
	return *cfg.ServiceSettings.FrameAncestors
}

// nodeNameOf names this server in the bridge's metrics: ClusterSettings.OverrideHostname, else the host name.
func nodeNameOf(cfg *model.Config) string {
	if cfg != nil {
		if name := deref(cfg.ClusterSettings.OverrideHostname); name != "" {
			return name
		}
	}
	name, _ := os.Hostname()
	return name
}

func (p *Plugin) nodeName() string { return nodeNameOf(p.API.GetUnsanitizedConfig()) }

// mostVerboseLogLevel is the most verbose level the server writes anywhere (console or file), so that the core
// sends no line the server would drop; "" when the settings do not say.
func mostVerboseLogLevel(cfg *model.Config) string {
	rank := map[string]int{"DEBUG": 0, "INFO": 1, "WARN": 2, "ERROR": 3}
	best := ""
	for _, out := range []struct {
		enabled *bool
		level   *string
	}{
		{cfg.LogSettings.EnableConsole, cfg.LogSettings.ConsoleLevel},
		{cfg.LogSettings.EnableFile, cfg.LogSettings.FileLevel},
	} {
		if out.enabled == nil || !*out.enabled || out.level == nil {
			continue
		}
		level := strings.ToUpper(*out.level)
		r, known := rank[level]
		if !known {
			return "" // a level the core does not know: it sends everything
		}
		if best == "" || r < rank[best] {
			best = level
		}
	}
	return best
}

func deref[T any](v *T) T {
	var zero T
	if v == nil {
		return zero
	}
	return *v
}

// current returns the link and queue of an active plugin.
func (p *Plugin) current() (coreLink, *eventQueue) {
	p.mu.RLock()
	defer p.mu.RUnlock()
	return p.link, p.queue
}
