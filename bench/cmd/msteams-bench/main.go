// msteams-bench measures the bridge end to end: the real bundle in a real Mattermost server (tests/mattermost)
// against the Microsoft 365 emulator (tests/emulators/graph) with Graph's documented throttles on.
//
//	msteams-bench -bundle dist/com.mattermost.msteams-0.1.0.tar.gz [-scenario inbound|outbound|all] [-chats 20]
//	              [-rate 10] [-rates 10,20] [-duration 30s] [-burst 60] [-out bench/results/inbound.json]
//
// A scenario sets up users and chats once (scenario.setup), then runs its measured phases (scenario.plan: one per
// rate for inbound; a burst, then one steady phase per rate for outbound) against the same server; every phase
// gets its own counters. It writes a JSON report and prints a Markdown summary; it exits 1 when a phase lost or
// duplicated messages (outbound: or delivered them out of order), 2 on a usage or setup error. "all" runs
// inbound, then outbound, each on a fresh server with its own report.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/msteams-bridge/msteams/tests/e2e/harness"
)

// Config is what the flags say.
type Config struct {
	Scenario     string        `json:"scenario"`
	Bundle       string        `json:"bundle"`
	Chats        int           `json:"chats"`
	Senders      int           `json:"senders,omitempty"` // inbound, rich: Teams-only senders shared by the chats (0: one each)
	Rates        []float64     `json:"rates"`
	Burst        int           `json:"burst,omitempty"` // outbound: posts in the burst phase (0 = no burst)
	Duration     time.Duration `json:"-"`
	DurationS    float64       `json:"durationSeconds"`
	DrainTimeout time.Duration `json:"-"`
	Warmup       bool          `json:"warmup"`
	Modes        []string      `json:"modes,omitempty"` // rich: the phases run at each rate, in order
	LogLevel     string        `json:"serverLogLevel"`
	Out          string        `json:"-"`
	LogDir       string        `json:"-"`
	Verbose      bool          `json:"-"`
}

// Env is what a scenario works with: the bridge and the configuration.
type Env struct {
	Cfg    Config
	Bridge *harness.Bridge
	Logf   func(format string, args ...any)
}

// Phase is one measured run: inbound at one rate; outbound the burst or the steady run at one rate.
type Phase struct {
	Name            string  `json:"name"`        // the summary's column: "R=10/s", "burst", "steady R=10/s"
	Rate            float64 `json:"rate"`        // offered, messages per second in total
	Chats           int     `json:"chats"`       // chats the messages were spread over
	DurationS       float64 `json:"durationS"`   // sending window asked for
	Sent            int     `json:"sent"`        // accepted by the emulator's control API
	SendErrors      int     `json:"sendErrors"`  // refused by the control API (not counted as sent)
	SendWindowS     float64 `json:"sendWindowS"` // first send → last send
	OfferedPerSec   float64 `json:"offeredPerSec"`
	Delivered       int     `json:"delivered"` // distinct messages that became posts
	Lost            int     `json:"lost"`
	Duplicates      int     `json:"duplicates"`      // posts beyond the first for one message
	OrderViolations int     `json:"orderViolations"` // posts that came before an earlier message of their chat
	TimedOut        bool    `json:"timedOut"`        // the drain timeout passed with messages missing
	DeliveredPerSec float64 `json:"deliveredPerSec"` // delivered / (first send → last post)
	DrainS          float64 `json:"drainS"`          // last send → last post

	// Latencies, milliseconds.
	PostLatencyMs Dist `json:"postLatencyMs"` // message createdDateTime (emulator) → post CreateAt (Mattermost)
	SeenLatencyMs Dist `json:"seenLatencyMs"` // message createdDateTime → "posted" websocket event received
	SendCallMs    Dist `json:"sendCallMs"`    // the control API Send call itself

	Webhooks    Webhooks         `json:"webhooks"`    // deliveries to the plugin's /changes
	Graph       GraphUsage       `json:"graph"`       // what the bridge asked of Graph and login
	CoreRSS     RSS              `json:"coreRss"`     // msteams-core, sampled every 200 ms
	PluginStats map[string]int64 `json:"pluginStats"` // change of the plugin's counters over the phase
	PerChat     []ChatResult     `json:"perChat,omitempty"`
	Outbound    *OutboundFigures `json:"outbound,omitempty"` // the outbound scenario's own figures
	Problems    []string         `json:"problems,omitempty"`
	Notes       []string         `json:"notes,omitempty"`
}

// ChatResult is one chat's part of a phase.
type ChatResult struct {
	Chat            int   `json:"chat"`
	Sent            int   `json:"sent"`
	Delivered       int   `json:"delivered"`
	Lost            int   `json:"lost"`
	Duplicates      int   `json:"duplicates"`
	OrderViolations int   `json:"orderViolations"`
	Graph           int64 `json:"graphRequests"` // requests made with the chat's connected user's token
	Status429       int64 `json:"status429"`
	// Outbound only.
	MMDuplicates int     `json:"mattermostDuplicates,omitempty"` // Mattermost posts beyond the one created (echoes back)
	PostsPerSec  float64 `json:"postsPerSec,omitempty"`          // (n−1) ÷ (first → last Teams createdDateTime)
}

// Report is the JSON the run writes.
type Report struct {
	Scenario    string           `json:"scenario"`
	Started     time.Time        `json:"started"`
	Config      Config           `json:"config"`
	Host        map[string]any   `json:"host"`
	MMVersion   string           `json:"mattermostVersion"`
	SetupS      float64          `json:"setupS"`
	Setup       map[string]any   `json:"setup,omitempty"`
	PluginStats map[string]int64 `json:"pluginStatsAtEnd,omitempty"`
	Phases      []*Phase         `json:"phases"`
	OK          bool             `json:"ok"`
	Error       string           `json:"error,omitempty"`
}

// phaseSpec is one phase a scenario plans: a name (the summary's column), a kind and the rate for rated kinds.
type phaseSpec struct {
	Name string
	Kind string // inbound: "rate"; outbound: "burst" or "steady"
	Rate float64
}

// scenario is one benchmark: setup once, then run each planned phase.
type scenario struct {
	setup func(ctx context.Context, env *Env) (map[string]any, error)
	plan  func(cfg Config) []phaseSpec
	run   func(ctx context.Context, env *Env, spec phaseSpec) (*Phase, error)
	// failed says whether a phase's result fails the run (exit 1).
	failed  func(p *Phase) bool
	summary func(rep *Report) string
}

var scenarios = map[string]func() scenario{
	"inbound":  newInbound,
	"outbound": newOutbound,
	"rich":     newRich,
	"planner":  newPlanner,
}

// scenarioOrder is what -scenario all runs, in order.
var scenarioOrder = []string{"inbound", "outbound"}

// ratePhases is one phase per rate, named "R=<rate>/s".
func ratePhases(cfg Config) []phaseSpec {
	var out []phaseSpec
	for _, r := range cfg.Rates {
		out = append(out, phaseSpec{Name: fmt.Sprintf("R=%g/s", r), Kind: "rate", Rate: r})
	}
	return out
}

// lostOrDuplicated is the default failure: a message lost or duplicated.
func lostOrDuplicated(p *Phase) bool { return p.Lost > 0 || p.Duplicates > 0 }

func parseRates(s string) ([]float64, error) {
	var out []float64
	for _, f := range strings.Split(s, ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		v, err := strconv.ParseFloat(f, 64)
		if err != nil || v <= 0 {
			return nil, fmt.Errorf("bad rate %q", f)
		}
		out = append(out, v)
	}
	if len(out) == 0 {
		return nil, errors.New("no rate")
	}
	return out, nil
}

func main() {
	var cfg Config
	var rate float64
	var rates string
	flag.StringVar(&cfg.Scenario, "scenario", "inbound", "what to measure: inbound (Teams → Mattermost), outbound (Mattermost → Teams), rich (the floor and the subscription modes side by side at each rate), planner (the core's RSS with -chats connected users in the planner's state), all (inbound and outbound, one after the other)")
	flag.StringVar(&cfg.Bundle, "bundle", "", "the plugin bundle (.tar.gz), required")
	flag.IntVar(&cfg.Chats, "chats", 20, "one-on-one chats (inbound: = connected Mattermost users = Teams-only senders; outbound: DMs of two connected users)")
	flag.IntVar(&cfg.Senders, "senders", 0, "inbound, rich: this many Teams-only senders shared by the chats, each connected user in chats with all of them (many chats, few Mattermost users); 0: one sender and one user per chat")
	flag.Float64Var(&rate, "rate", 10, "messages per second in total, spread over the chats (outbound: the steady phase)")
	flag.IntVar(&cfg.Burst, "burst", 60, "outbound: posts in the burst into one DM (Graph drains it at 1 post/s; 0 skips the burst)")
	flag.StringVar(&rates, "rates", "", "several rates run back to back against the same server, e.g. 10,20 (overrides -rate)")
	flag.DurationVar(&cfg.Duration, "duration", 30*time.Second, "sending time per rate")
	flag.DurationVar(&cfg.DrainTimeout, "drain-timeout", 2*time.Minute, "how long to wait after the last send for every post")
	var modes string
	flag.StringVar(&modes, "modes", "floor,global,global-rich,per-user,hybrid", "rich: the phases run at each rate, in this order (floor, global, global-rich, per-user, hybrid)")
	flag.BoolVar(&cfg.Warmup, "warmup", true, "send one unmeasured message per chat first (creates the DMs and synthetic users)")
	flag.StringVar(&cfg.LogLevel, "server-log-level", "INFO", "Mattermost's console log level (DEBUG slows the server)")
	flag.StringVar(&cfg.Out, "out", "", "the JSON report (default bench/results/<scenario>.json beside this module)")
	flag.StringVar(&cfg.LogDir, "log-dir", "", "keep the Mattermost and PostgreSQL logs here")
	flag.BoolVar(&cfg.Verbose, "v", false, "log the emulator's and the server's start-up")
	flag.Parse()

	usage := func(format string, args ...any) {
		fmt.Fprintf(os.Stderr, "msteams-bench: "+format+"\n", args...)
		os.Exit(2)
	}
	for _, m := range strings.Split(modes, ",") {
		switch m = strings.TrimSpace(m); m {
		case "floor", "global", "global-rich", "per-user", "hybrid":
			cfg.Modes = append(cfg.Modes, m)
		default:
			usage("unknown mode %q in -modes (known: floor, global, global-rich, per-user, hybrid)", m)
		}
	}
	names := []string{cfg.Scenario}
	if cfg.Scenario == "all" {
		names = scenarioOrder
	}
	for _, n := range names {
		if _, ok := scenarios[n]; !ok {
			usage("unknown scenario %q (known: inbound, outbound, rich, planner, all)", n)
		}
	}
	if cfg.Bundle == "" {
		usage("-bundle is required (make dist builds dist/com.mattermost.msteams-<version>.tar.gz)")
	}
	if _, err := os.Stat(cfg.Bundle); err != nil {
		usage("bundle: %v", err)
	}
	if abs, err := filepath.Abs(cfg.Bundle); err == nil {
		cfg.Bundle = abs
	}
	if cfg.Chats < 1 || cfg.Duration <= 0 || cfg.Burst < 0 {
		usage("-chats must be ≥ 1, -duration > 0 and -burst ≥ 0")
	}
	if rates == "" {
		rates = strconv.FormatFloat(rate, 'f', -1, 64)
	}
	var err error
	if cfg.Rates, err = parseRates(rates); err != nil {
		usage("%v", err)
	}
	cfg.DurationS = cfg.Duration.Seconds()
	if len(names) > 1 && cfg.Out != "" {
		usage("-out names one report: with -scenario all each goes to results/<scenario>.json")
	}

	// SIGINT/SIGTERM cancel the run; the deferred Close stops Mattermost, PostgreSQL and the emulator. (If this
	// process is killed outright, mmtest's Pdeathsig still takes the server down.)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := 0
	for _, n := range names {
		c := cfg
		c.Scenario = n
		if n != "outbound" {
			c.Burst = 0
		}
		if c.Out == "" {
			c.Out = filepath.Join(moduleDir(), "results", n+".json")
		}
		rc := run(ctx, c, scenarios[n]())
		if rc > code {
			code = rc
		}
		if rc == 130 || rc == 2 {
			break // interrupted, or a setup error: the next scenario would meet the same
		}
	}
	stop()
	os.Exit(code)
}

// moduleDir is the bench/ directory when run from the repository (go run, make bench), else the working directory.
func moduleDir() string {
	for _, d := range []string{".", "bench"} {
		if b, err := os.ReadFile(filepath.Join(d, "go.mod")); err == nil &&
			strings.Contains(string(b), "module github.com/msteams-bridge/msteams/bench") {
			return d
		}
	}
	return "."
}

func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "%s %s\n", time.Now().Format("15:04:05.000"), fmt.Sprintf(format, args...))
}

func run(ctx context.Context, cfg Config, sc scenario) (code int) {
	interrupted := ctx // ends on SIGINT/SIGTERM only
	rep := &Report{Scenario: cfg.Scenario, Started: time.Now().UTC(), Config: cfg,
		Host: map[string]any{"cpus": runtime.NumCPU(), "go": runtime.Version(), "goos": runtime.GOOS}}
	if load, err := os.ReadFile("/proc/loadavg"); err == nil {
		rep.Host["loadavgAtStart"] = strings.TrimSpace(string(load))
	}
	fail := func(err error) int {
		rep.Error = err.Error()
		logf("FAILED: %v", err)
		if werr := writeReport(cfg.Out, rep); werr != nil {
			logf("%v", werr)
		}
		if errors.Is(err, context.Canceled) {
			return 130 // interrupted
		}
		return 2
	}
	logTail := func(b *harness.Bridge) {
		if interrupted.Err() == nil { // not on an interrupt: then the log says nothing useful
			logf("--- last 40 lines of the Mattermost log ---\n%s", b.MM.LogTail(40))
		}
	}

	logf("starting Mattermost with %s and the Microsoft 365 emulator (throttling on)", filepath.Base(cfg.Bundle))
	quiet := func(string, ...any) {}
	startLog := quiet
	if cfg.Verbose {
		startLog = logf
	}
	stateDir, err := os.MkdirTemp("", "msteams-bench-")
	if err != nil {
		return fail(err)
	}
	defer os.RemoveAll(stateDir)
	// The emulator lives as long as the context it starts with, so no start-up timeout here: mmtest bounds the
	// server's start (5 min after the build) on its own.
	b, err := harness.Start(ctx, harness.Options{Bundle: cfg.Bundle, StateDir: stateDir, LogDir: cfg.LogDir,
		LogLevel: cfg.LogLevel, Logf: startLog})
	if err != nil {
		return fail(fmt.Errorf("starting the bridge: %w", err))
	}
	defer func() {
		logf("stopping Mattermost and the emulator")
		if err := b.Close(); err != nil {
			logf("stopping: %v", err)
		}
	}()
	rep.MMVersion = b.MM.Version
	env := &Env{Cfg: cfg, Bridge: b, Logf: logf}
	// The server dying under us ends the run instead of waiting for timeouts.
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	go func() {
		select {
		case <-b.MM.Done():
			cancel(errors.New("the Mattermost server exited"))
		case <-ctx.Done():
		}
	}()
	withCause := func(err error) error {
		if c := context.Cause(ctx); c != nil && !errors.Is(err, c) {
			return fmt.Errorf("%w (%v)", err, c)
		}
		return err
	}

	t0 := time.Now()
	setup, err := sc.setup(ctx, env)
	if err != nil {
		logTail(b)
		return fail(withCause(fmt.Errorf("setup: %w", err)))
	}
	rep.Setup = setup
	rep.SetupS = round2(time.Since(t0).Seconds())
	logf("setup done in %.1fs", rep.SetupS)

	rep.OK = true
	failed := sc.failed
	if failed == nil {
		failed = lostOrDuplicated
	}
	for _, spec := range sc.plan(cfg) {
		p, err := sc.run(ctx, env, spec)
		if p != nil {
			p.Name = spec.Name
			rep.Phases = append(rep.Phases, p)
			if failed(p) {
				rep.OK = false
			}
		}
		if err != nil {
			logTail(b)
			return fail(withCause(fmt.Errorf("%s: %w", spec.Name, err)))
		}
	}
	if st, err := pluginStats(ctx, b.MM); err == nil {
		rep.PluginStats = st
	}
	if err := writeReport(cfg.Out, rep); err != nil {
		logf("%v", err)
		return 2
	}
	summary := sc.summary
	if summary == nil {
		summary = markdownSummary
	}
	fmt.Print(summary(rep))
	fmt.Printf("\nJSON: %s\n", cfg.Out)
	if !rep.OK {
		logf("FAILED (%s): messages were lost, duplicated or out of order", cfg.Scenario)
		return 1
	}
	return 0
}

func writeReport(path string, rep *Report) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return fmt.Errorf("writing the report: %w", err)
	}
	data, err := json.MarshalIndent(rep, "", "  ")
	if err != nil {
		return err
	}
	if err := os.WriteFile(path, append(data, '\n'), 0o644); err != nil {
		return fmt.Errorf("writing the report: %w", err)
	}
	return nil
}
