package main

import (
	"context"
	"fmt"
	"net"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mattermost/mattermost/server/public/model"
	"github.com/mattermost/mattermost/server/public/plugin"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/msteams-bridge/msteams/shim/gen/corepb"
)

func TestMain(m *testing.M) {
	// The test binary doubles as a fake core and as a fake shim process (see fakecore_test.go).
	switch {
	case os.Getenv("MSTEAMS_FAKE_CORE") == "1" && len(os.Args) > 1 && os.Args[1] == "serve":
		os.Exit(fakeCoreMain(os.Args[2:]))
	case os.Getenv("MSTEAMS_FAKE_SHIM") == "1":
		os.Exit(fakeShimMain())
	}
	os.Exit(m.Run())
}

// ---- a hand-written plugin.API fake: only what the shim calls outside api_callbacks.go ----

type logLine struct {
	level string
	msg   string
	kv    []any
}

func (l logLine) String() string { return fmt.Sprintf("%s %s %v", l.level, l.msg, l.kv) }

type fakeAPI struct {
	plugin.API // nil: calling anything not overridden panics, which a test would notice

	mu       sync.Mutex
	logs     []logLine
	bundle   string
	settings map[string]any
	siteURL  string
	// onSave runs after SavePluginConfig stored the settings, as Mattermost's config listener would.
	onSave func()
}

// SavePluginConfig is used by the supervision tests, where the fake core calls it over the real API socket.
func (a *fakeAPI) SavePluginConfig(cfg map[string]any) *model.AppError {
	a.mu.Lock()
	a.settings = cfg
	onSave := a.onSave
	a.mu.Unlock()
	if onSave != nil {
		onSave()
	}
	return nil
}

func (a *fakeAPI) log(level, msg string, kv []any) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.logs = append(a.logs, logLine{level, msg, kv})
}
func (a *fakeAPI) LogDebug(msg string, kv ...any) { a.log("debug", msg, kv) }
func (a *fakeAPI) LogInfo(msg string, kv ...any)  { a.log("info", msg, kv) }
func (a *fakeAPI) LogWarn(msg string, kv ...any)  { a.log("warn", msg, kv) }
func (a *fakeAPI) LogError(msg string, kv ...any) { a.log("error", msg, kv) }

func (a *fakeAPI) findLog(substr string) (logLine, bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, l := range a.logs {
		if strings.Contains(l.String(), substr) {
			return l, true
		}
	}
	return logLine{}, false
}

func (a *fakeAPI) allLogs() string {
	a.mu.Lock()
	defer a.mu.Unlock()
	var b strings.Builder
	for _, l := range a.logs {
		b.WriteString(l.String())
		b.WriteByte('\n')
	}
	return b.String()
}

func (a *fakeAPI) GetBundlePath() (string, error) { return a.bundle, nil }

// GetPluginConfig masks the client secret, as Mattermost 11 sanitizes settings marked secret.
func (a *fakeAPI) GetPluginConfig() map[string]any {
	out := a.settingsCopy()
	if _, ok := out["clientsecret"]; ok {
		out["clientsecret"] = model.FakeSetting
	}
	return out
}

func (a *fakeAPI) settingsCopy() map[string]any {
	a.mu.Lock()
	defer a.mu.Unlock()
	out := map[string]any{}
	for k, v := range a.settings {
		out[k] = v
	}
	return out
}
func (a *fakeAPI) setSetting(k string, v any) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.settings == nil {
		a.settings = map[string]any{}
	}
	a.settings[k] = v
}
func (a *fakeAPI) GetUnsanitizedConfig() *model.Config {
	cfg := &model.Config{}
	cfg.SetDefaults()
	site := a.siteURL
	if site == "" {
		site = "http://mm.example"
	}
	cfg.ServiceSettings.SiteURL = model.NewPointer(site)
	cfg.SqlSettings.DriverName = model.NewPointer("postgres")
	cfg.SqlSettings.DataSource = model.NewPointer("postgres://mmuser:s3cret@db/mattermost")
	cfg.FileSettings.MaxFileSize = model.NewPointer(int64(52428800))
	cfg.ServiceSettings.FrameAncestors = model.NewPointer("https://teams.microsoft.com")
	cfg.PluginSettings.Plugins = map[string]map[string]any{defaultPluginID: a.settingsCopy()}
	return cfg
}
func (a *fakeAPI) GetServerVersion() string { return "11.4.0" }
func (a *fakeAPI) GetDiagnosticId() string  { return "diag-1" }

// ---- an in-process core: a Hooks server on a unix socket, and a link the tests can switch up and down ----

type fakeHooks struct {
	corepb.UnimplementedHooksServer

	mu        sync.Mutex
	events    []*corepb.HookEvent
	instances map[string]bool
	notify    chan struct{}

	command   func(*corepb.CommandRequest) (*corepb.CommandResult, error)
	serveHTTP func(corepb.Hooks_ServeHTTPServer) error
}

func (f *fakeHooks) Ping(context.Context, *corepb.PingRequest) (*corepb.PingResponse, error) {
	return &corepb.PingResponse{Version: "fake", Pid: int64(os.Getpid()), Active: true}, nil
}

func (f *fakeHooks) DeliverEvents(_ context.Context, b *corepb.EventBatch) (*corepb.EventAck, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.instances == nil {
		f.instances = map[string]bool{}
	}
	f.instances[b.ShimInstance] = true
	f.events = append(f.events, b.Events...)
	if f.notify != nil {
		select {
		case f.notify <- struct{}{}:
		default:
		}
	}
	return &corepb.EventAck{HandledThrough: b.Events[len(b.Events)-1].Seq}, nil
}

func (f *fakeHooks) ExecuteCommand(_ context.Context, r *corepb.CommandRequest) (*corepb.CommandResult, error) {
	return f.command(r)
}

func (f *fakeHooks) ServeHTTP(s corepb.Hooks_ServeHTTPServer) error { return f.serveHTTP(s) }

func (f *fakeHooks) received() []*corepb.HookEvent {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]*corepb.HookEvent(nil), f.events...)
}

// waitEvents waits until n events arrived.
func (f *fakeHooks) waitEvents(t *testing.T, n int) []*corepb.HookEvent {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		if ev := f.received(); len(ev) >= n {
			return ev
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Fatalf("only %d of %d events arrived", len(f.received()), n)
	return nil
}

// startFakeCore serves f on a fresh unix socket and returns a client connected to it.
func startFakeCore(t *testing.T, f corepb.HooksServer) corepb.HooksClient {
	t.Helper()
	dir, err := os.MkdirTemp("", "mst-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	sock := dir + "/hooks.sock"
	lis, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer()
	corepb.RegisterHooksServer(srv, f)
	go srv.Serve(lis) //nolint:errcheck
	t.Cleanup(srv.Stop)
	conn, err := grpc.NewClient("unix://"+sock, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return corepb.NewHooksClient(conn)
}

// switchLink is a coreLink whose readiness the test controls.
type switchLink struct {
	mu      sync.Mutex
	client  corepb.HooksClient
	up      bool
	gen     uint64
	readyCh chan struct{}
}

func newSwitchLink(c corepb.HooksClient, up bool) *switchLink {
	l := &switchLink{client: c, readyCh: make(chan struct{})}
	if up {
		l.setUp(true)
	}
	return l
}

func (l *switchLink) setUp(up bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if up == l.up {
		return
	}
	l.up = up
	if up {
		l.gen++
		close(l.readyCh)
	} else {
		l.readyCh = make(chan struct{})
	}
}

func (l *switchLink) readyClient() (corepb.HooksClient, uint64, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.client, l.gen, l.up
}

func (l *switchLink) waitReady(ctx context.Context) (corepb.HooksClient, uint64, error) {
	for {
		l.mu.Lock()
		if l.up {
			c, g := l.client, l.gen
			l.mu.Unlock()
			return c, g, nil
		}
		ch := l.readyCh
		l.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return nil, 0, ctx.Err()
		}
	}
}

// newLinkedPlugin is a Plugin wired to an in-process fake core through a switchLink (no child process).
func newLinkedPlugin(t *testing.T, f *fakeHooks, up bool) (*Plugin, *switchLink, *fakeAPI) {
	t.Helper()
	api := &fakeAPI{}
	p := &Plugin{}
	p.SetAPI(api)
	link := newSwitchLink(startFakeCore(t, f), up)
	p.start(nil, link)
	t.Cleanup(func() { p.OnDeactivate() })
	return p, link, api
}

func eventually(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		if cond() {
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Fatalf("timed out after %s waiting for %s", d, what)
}
