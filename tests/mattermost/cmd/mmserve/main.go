// Command mmserve starts one Mattermost test server (PostgreSQL included), optionally with a
// plugin bundle installed and enabled, prints how to reach it, and stops everything on
// SIGTERM or SIGINT. Run it through tests/mattermost/serve.
//
// stdout carries only KEY=value lines (MM_URL, MM_ADMIN_TOKEN, MM_PG_DSN, MM_PLUGIN_ID,
// MM_VERSION, MM_LOG), printed once the server is ready; progress goes to stderr.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"log"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/msteams-bridge/msteams/tests/mattermost/mmtest"
)

type settingsFlag map[string]any

func (s settingsFlag) String() string { return "" }

// Set takes KEY=VALUE; VALUE is parsed as JSON when it can be (true, 3, {"a":1}), else kept as text.
func (s settingsFlag) Set(kv string) error {
	k, v, ok := strings.Cut(kv, "=")
	if !ok || k == "" {
		return fmt.Errorf("want KEY=VALUE, got %q", kv)
	}
	var parsed any
	if err := json.Unmarshal([]byte(v), &parsed); err == nil {
		s[k] = parsed
	} else {
		s[k] = v
	}
	return nil
}

func main() {
	log.SetFlags(0)
	log.SetPrefix("serve: ")
	settings := settingsFlag{}
	opts := mmtest.Options{}
	flag.StringVar(&opts.Bundle, "bundle", "", "plugin `.tar.gz` to upload and enable")
	flag.StringVar(&opts.Release, "release", mmtest.DefaultRelease, "pinned Mattermost `release` (a directory under tests/mattermost/build)")
	flag.StringVar(&opts.PluginID, "plugin-id", "", "plugin `id` (default: the bundle's)")
	flag.StringVar(&opts.LogDir, "log-dir", "", "keep mattermost.log and postgresql.log in `dir`")
	flag.Var(settings, "setting", "plugin setting `KEY=VALUE` (repeatable)")
	flag.Parse()
	if flag.NArg() > 0 {
		log.Fatalf("unexpected arguments %q", flag.Args())
	}
	if len(settings) > 0 {
		if opts.Bundle == "" {
			log.Fatal("--setting needs --bundle")
		}
		opts.PluginSettings = settings
	}
	opts.Logf = func(format string, args ...any) { log.Printf(format, args...) }

	// Signals that arrive during start-up cancel it; Start then cleans up after itself.
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	s, err := mmtest.Start(ctx, opts)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("MM_URL=%s\n", s.URL)
	fmt.Printf("MM_ADMIN_TOKEN=%s\n", s.AdminToken)
	fmt.Printf("MM_PG_DSN=%s\n", s.DataSource)
	if s.PluginID != "" {
		fmt.Printf("MM_PLUGIN_ID=%s\n", s.PluginID)
	}
	fmt.Printf("MM_VERSION=%s\n", s.Version)
	fmt.Printf("MM_LOG=%s\n", s.LogPath())
	log.Printf("ready; stop with SIGTERM or SIGINT")

	code := 0
	select {
	case <-ctx.Done():
		log.Printf("stopping")
	case <-s.Done():
		log.Printf("mattermost exited on its own; last lines of its log:\n%s", s.LogTail(40))
		code = 1
	}
	if err := s.Stop(); err != nil {
		log.Print(err)
		code = 1
	}
	os.Exit(code)
}
