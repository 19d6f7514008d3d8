package main

// The test binary re-executed as a fake msteams-core (MSTEAMS_FAKE_CORE=1, args "serve --hooks-socket P
// --api-socket P") and as a fake shim process (MSTEAMS_FAKE_SHIM=1) for the orphan test. The fake core follows the
// real core's contract: serves Hooks on the hooks socket, exits when stdin reaches EOF, calls back MattermostApi.
//
// Behaviour switches (environment):
//   FAKE_CORE_RECORD=file    append one line per call: "activate <pid> <settings>", "config <pid> <settings>",
//                            "event <pid> <seq> <message>", "deactivate <pid>"
//   FAKE_CORE_MODE=refuse    Activate answers HookResult.error
//   FAKE_CORE_MODE=silent    never listens; writes a line to stderr and waits
//   FAKE_CORE_MODE=crash     writes a line to stderr and exits 3
//   FAKE_CORE_MODE=stubborn  ignores stdin EOF and SIGTERM
//   FAKE_CORE_CONFIG_ERROR=x ConfigurationChange answers HookResult.error x

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/msteams-bridge/msteams/shim/gen/corepb"
)

type recorder struct {
	mu sync.Mutex
	f  *os.File
}

func (r *recorder) line(format string, args ...any) {
	if r.f == nil {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	fmt.Fprintf(r.f, format+"\n", args...)
}

type childCore struct {
	corepb.UnimplementedHooksServer
	rec    *recorder
	api    corepb.MattermostApiClient
	mode   string
	active atomic.Bool
}

func (c *childCore) Ping(context.Context, *corepb.PingRequest) (*corepb.PingResponse, error) {
	return &corepb.PingResponse{Version: "fake", Pid: int64(os.Getpid()), Active: c.active.Load()}, nil
}

func (c *childCore) Activate(ctx context.Context, cfg *corepb.Configuration) (*corepb.HookResult, error) {
	if c.mode == "refuse" {
		return &corepb.HookResult{Error: "Tenant ID is not set: enter it in System Console > Plugins > MS Teams"}, nil
	}
	c.rec.line("activate %d %s %s", os.Getpid(), cfg.GetPluginSettingsJson(), cfg.GetServer().GetSiteUrl())
	if os.Getenv("FAKE_CORE_SAVE_ON") == "activate" && !strings.Contains(cfg.GetPluginSettingsJson(), "generated") {
		// Like the real core: generate a missing secret and save it, which makes Mattermost call
		// OnConfigurationChange while Activate is still running.
		if _, err := c.api.SavePluginConfig(ctx, &corepb.SavePluginConfigRequest{SettingsJson: `{"key":"generated"}`}); err != nil {
			return &corepb.HookResult{Error: err.Error()}, nil
		}
	}
	c.active.Store(true)
	_, err := c.api.Log(ctx, &corepb.LogRequest{Level: corepb.LogRequest_INFO, Message: "fake core activated",
		KeyValues: []string{"pid", fmt.Sprint(os.Getpid())}})
	if err != nil {
		return &corepb.HookResult{Error: "MattermostApi.Log failed: " + err.Error()}, nil
	}
	return &corepb.HookResult{}, nil
}

func (c *childCore) ConfigurationChange(ctx context.Context, cfg *corepb.Configuration) (*corepb.HookResult, error) {
	c.rec.line("config %d %s", os.Getpid(), cfg.GetPluginSettingsJson())
	if os.Getenv("FAKE_CORE_SAVE_ON") == "config" && strings.Contains(cfg.GetPluginSettingsJson(), `"step":"1"`) {
		// Re-entrant: saving the configuration while handling a change of it.
		if _, err := c.api.SavePluginConfig(ctx, &corepb.SavePluginConfigRequest{SettingsJson: `{"step":"2"}`}); err != nil {
			return &corepb.HookResult{Error: err.Error()}, nil
		}
	}
	return &corepb.HookResult{Error: os.Getenv("FAKE_CORE_CONFIG_ERROR")}, nil
}

func (c *childCore) Deactivate(context.Context, *corepb.DeactivateRequest) (*corepb.HookResult, error) {
	c.rec.line("deactivate %d", os.Getpid())
	return &corepb.HookResult{}, nil
}

func (c *childCore) DeliverEvents(_ context.Context, b *corepb.EventBatch) (*corepb.EventAck, error) {
	for _, ev := range b.Events {
		c.rec.line("event %d %d %s", os.Getpid(), ev.Seq, ev.GetMessagePosted().GetMessage())
	}
	return &corepb.EventAck{HandledThrough: b.Events[len(b.Events)-1].Seq}, nil
}

func fakeCoreMain(args []string) int {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	hooksSock := fs.String("hooks-socket", "", "")
	apiSock := fs.String("api-socket", "", "")
	if err := fs.Parse(args); err != nil || *hooksSock == "" || *apiSock == "" {
		fmt.Fprintln(os.Stderr, "usage: serve --hooks-socket P --api-socket P")
		return 2
	}
	mode := os.Getenv("FAKE_CORE_MODE")
	rec := &recorder{}
	if path := os.Getenv("FAKE_CORE_RECORD"); path != "" {
		f, err := os.OpenFile(path, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		rec.f = f
	}
	fmt.Println("fake core starting")
	switch mode {
	case "crash":
		fmt.Fprintln(os.Stderr, "fatal: cannot connect to the database")
		return 3
	case "stubborn":
		signal.Ignore(syscall.SIGTERM)
	default:
		go func() {
			_, _ = io.Copy(io.Discard, os.Stdin)
			rec.line("stdin-eof %d", os.Getpid())
			os.Exit(0)
		}()
	}
	if mode == "silent" {
		fmt.Fprintln(os.Stderr, "waiting for something that never comes")
		select {}
	}
	conn, err := grpc.NewClient("unix://"+*apiSock, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	lis, err := net.Listen("unix", *hooksSock)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	srv := grpc.NewServer()
	corepb.RegisterHooksServer(srv, &childCore{rec: rec, api: corepb.NewMattermostApiClient(conn), mode: mode})
	if err := srv.Serve(lis); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return 0
}

// fakeShimMain activates a Plugin against the fake core, prints "core <pid>" and waits to be killed.
func fakeShimMain() int {
	api := &fakeAPI{bundle: os.Getenv("FAKE_SHIM_BUNDLE")}
	p := &Plugin{}
	p.SetAPI(api)
	if err := p.OnActivate(); err != nil {
		fmt.Fprintln(os.Stderr, "activate:", err)
		return 1
	}
	fmt.Printf("core %d\n", p.sup.cur.pid)
	select {}
}

// makeBundle lays out a plugin bundle whose core is this test binary.
func makeBundle(dir string) error {
	exe, err := os.Executable()
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Join(dir, "server", "dist"), 0o755); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "plugin.json"),
		[]byte(`{"id":"com.mattermost.msteams","version":"0.1.0-test","server":{"executable":"server/dist/plugin-linux-amd64"}}`), 0o644); err != nil {
		return err
	}
	return os.Symlink(exe, filepath.Join(dir, coreRelPath))
}

// readRecord parses the fake core's record file.
func readRecord(path string) ([][]string, error) {
	f, err := os.Open(path)
	if err != nil {
		if os.IsNotExist(err) {
			return nil, nil
		}
		return nil, err
	}
	defer f.Close()
	var out [][]string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		out = append(out, strings.Fields(sc.Text()))
	}
	return out, sc.Err()
}

// processGone reports whether pid no longer runs (a zombie counts as gone).
func processGone(pid int) bool {
	if err := syscall.Kill(pid, 0); err != nil {
		return true
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return true
	}
	s := string(b)
	if i := strings.LastIndexByte(s, ')'); i >= 0 && i+2 < len(s) {
		return s[i+2] == 'Z'
	}
	return false
}

func waitGone(pid int, d time.Duration) bool {
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		if processGone(pid) {
			return true
		}
		time.Sleep(10 * time.Millisecond)
	}
	return processGone(pid)
}
