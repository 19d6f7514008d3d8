// msteams-chaos runs fault experiments end to end: the real bundle in a real Mattermost server (tests/mattermost)
// on its own PostgreSQL, against the Microsoft 365 emulator (tests/emulators/graph). Each experiment sends messages
// in both directions (Teams → Mattermost and Mattermost → Teams) through fresh chats while a fault hits, waits for
// everything to arrive (each wait has a deadline and names what is missing), and counts what arrived, what was
// duplicated and what came out of order. It prints one table and exits 1 when any experiment lost, doubled or
// reordered a message (2 on a usage or set-up error).
//
//	msteams-chaos -bundle dist/com.mattermost.msteams-0.1.0.tar.gz [-short] [-run core-kill,storm] [-n 100]
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
	"strconv"
	"strings"
	"syscall"
	"time"
	"unicode/utf8"
)

// Config is what the flags say.
type Config struct {
	Bundle       string
	Run          []string      // experiments, in order
	N            int           // messages per direction per experiment
	Pairs        int           // chats per experiment
	Rate         float64       // messages per second per direction
	Downtime     int           // messages into one chat while the plugin is off
	Outage       time.Duration // how long PostgreSQL stays down
	LateMs       int           // how late the late POST is answered
	Timeout      time.Duration // per experiment: how long to wait for everything to arrive after the load
	SilentWait   time.Duration // drop-silent: how long reconciliation may take
	Settings     map[string]any
	LogDir       string
	Verbose      bool
	ServerLogLvl string
}

// experiment is one fault scenario; run returns a row per direction.
type experiment struct {
	name  string
	about string
	run   func(ctx context.Context, x *Suite) []*Row
}

var experiments = []experiment{
	{"core-kill", "kill -9 of msteams-core under load", expCoreKill},
	{"pg-stop", "PostgreSQL stopped mid-load, then started", expPGStop},
	{"mm-restart", "Mattermost restarted mid-load", expMMRestart},
	{"storm", "429 then 5xx storm on Graph mid-load", expStorm},
	{"late-answer", "a message POST applied but answered after the client's timeout", expLateAnswer},
	{"drop-missed", "notifications dropped, then a `missed` lifecycle event", expDropMissed},
	{"drop-silent", "notifications dropped without any lifecycle event", expDropSilent},
	{"triple", "every notification delivered 3×", expTriple},
	{"downtime-1100", "1,100 messages into one chat while the plugin is off", expDowntime},
	{"new-chat-downtime", "a chat created while the plugin is off", expNewChatDowntime},
	{"delete-crash", "a Teams delete, then a core crash mid-batch", expDeleteCrash},
	{"converge", "edits, deletes and reactions under faults converge", expConverge},
}

// shortRun is what -short runs (with small sizes): the quick and telling ones.
var shortRun = []string{"core-kill", "storm", "triple", "drop-missed"}

func main() {
	var cfg Config
	var run, settings string
	var short bool
	flag.StringVar(&cfg.Bundle, "bundle", "", "the plugin bundle (.tar.gz), required")
	flag.StringVar(&run, "run", "all", "experiments to run, comma-separated (all: every one); -list shows them")
	list := flag.Bool("list", false, "list the experiments and exit")
	flag.BoolVar(&short, "short", false, "a short suite: "+strings.Join(shortRun, ", ")+" with small sizes (unless -run/-n say otherwise)")
	flag.IntVar(&cfg.N, "n", 0, "messages per direction per experiment (default 120; -short 40)")
	flag.IntVar(&cfg.Pairs, "chats", 0, "chats per experiment (default 4; -short 3)")
	flag.Float64Var(&cfg.Rate, "rate", 8, "messages per second per direction while loading")
	flag.IntVar(&cfg.Downtime, "downtime-messages", 1100, "downtime-1100: messages sent into one chat while the plugin is off")
	flag.DurationVar(&cfg.Outage, "outage", 10*time.Second, "pg-stop: how long PostgreSQL stays down")
	flag.IntVar(&cfg.LateMs, "late-ms", 35000, "late-answer: how late the POST is answered (the bridge's Graph timeout is set to 3 s with graphRequestTimeoutMs; the default also exceeds the built-in 30 s)")
	flag.DurationVar(&cfg.Timeout, "timeout", 3*time.Minute, "per experiment: how long to wait after the load for every message")
	flag.DurationVar(&cfg.SilentWait, "silent-timeout", 4*time.Minute, "drop-silent: how long to wait for reconciliation")
	flag.StringVar(&settings, "settings", "", "extra plugin settings as a JSON object (added to the suite's)")
	flag.StringVar(&cfg.LogDir, "log-dir", "", "keep the Mattermost and PostgreSQL logs here")
	flag.StringVar(&cfg.ServerLogLvl, "server-log-level", "INFO", "Mattermost's console log level")
	flag.BoolVar(&cfg.Verbose, "v", false, "log the emulator's and the server's start-up")
	flag.Parse()

	usage := func(format string, args ...any) {
		fmt.Fprintf(os.Stderr, "msteams-chaos: "+format+"\n", args...)
		os.Exit(2)
	}
	if *list {
		for _, e := range experiments {
			fmt.Printf("%-18s %s\n", e.name, e.about)
		}
		return
	}
	if cfg.Bundle == "" {
		usage("-bundle is required (make dist builds dist/com.mattermost.msteams-<version>.tar.gz)")
	}
	if abs, err := filepath.Abs(cfg.Bundle); err == nil {
		cfg.Bundle = abs
	}
	if _, err := os.Stat(cfg.Bundle); err != nil {
		usage("bundle: %v", err)
	}
	if cfg.N == 0 {
		cfg.N = 120
		if short {
			cfg.N = 40
		}
	}
	if cfg.Pairs == 0 {
		cfg.Pairs = 4
		if short {
			cfg.Pairs = 3
		}
	}
	if short && cfg.Outage == 10*time.Second {
		cfg.Outage = 5 * time.Second
	}
	if cfg.N < 3 || cfg.Pairs < 1 || cfg.Rate <= 0 || cfg.Downtime < 1 {
		usage("-n must be ≥ 3, -chats ≥ 1, -rate > 0, -downtime-messages ≥ 1")
	}
	names := map[string]experiment{}
	for _, e := range experiments {
		names[e.name] = e
	}
	switch {
	case run == "all" && short:
		cfg.Run = shortRun
	case run == "all":
		for _, e := range experiments {
			cfg.Run = append(cfg.Run, e.name)
		}
	default:
		for _, n := range strings.Split(run, ",") {
			n = strings.TrimSpace(n)
			if _, ok := names[n]; !ok {
				usage("unknown experiment %q (-list shows them)", n)
			}
			cfg.Run = append(cfg.Run, n)
		}
	}
	cfg.Settings = map[string]any{}
	if settings != "" {
		if err := json.Unmarshal([]byte(settings), &cfg.Settings); err != nil {
			usage("-settings: %v", err)
		}
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	t0 := time.Now()
	x, err := Start(ctx, cfg)
	if err != nil {
		logf("set-up failed: %v", err)
		os.Exit(2)
	}
	logf("set-up done in %.0fs", time.Since(t0).Seconds())
	var rows []*Row
	for _, n := range cfg.Run {
		e := names[n]
		logf("=== %s: %s", e.name, e.about)
		t1 := time.Now()
		got := x.runOne(ctx, e)
		for _, r := range got {
			r.Experiment = e.name
			r.Verdict()
			logf("--- %s %s: %s (sent %d, arrived %d, duplicated %d, out of order %d)%s", e.name, r.Direction,
				r.Result, r.Sent, r.Arrived, r.Duplicated, r.OutOfOrder, problemTail(r))
		}
		logf("=== %s took %.0fs", e.name, time.Since(t1).Seconds())
		rows = append(rows, got...)
		if ctx.Err() != nil {
			break
		}
	}
	x.Close()
	fmt.Println()
	printTable(os.Stdout, rows)
	failed := 0
	for _, r := range rows {
		if r.Result != "ok" {
			failed++
		}
	}
	fmt.Printf("\n%d rows, %d failed, %.0fs in all\n", len(rows), failed, time.Since(t0).Seconds())
	if ctx.Err() != nil {
		os.Exit(130)
	}
	if failed > 0 {
		os.Exit(1)
	}
}

func problemTail(r *Row) string {
	if len(r.Problems) == 0 {
		return ""
	}
	return "\n      " + strings.Join(r.Problems, "\n      ")
}

// runOne runs an experiment with the faults cleared before and after, and a panic or a cancelled context turned
// into a failed row.
func (x *Suite) runOne(ctx context.Context, e experiment) (rows []*Row) {
	defer func() {
		if p := recover(); p != nil {
			rows = append(rows, &Row{Direction: "-", Problems: []string{fmt.Sprintf("the experiment panicked: %v", p)}})
		}
		x.heal(ctx)
	}()
	x.heal(ctx)
	return e.run(ctx, x)
}

func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "%s %s\n", time.Now().Format("15:04:05.000"), fmt.Sprintf(format, args...))
}

// Row is one line of the table: an experiment in one direction.
type Row struct {
	Experiment string
	Direction  string // "Teams→MM", "MM→Teams", "both"
	Sent       int
	Arrived    int
	Duplicated int
	OutOfOrder int
	Recover    time.Duration // fault end → everything arrived; <0: never
	Problems   []string
	Result     string
}

// Verdict sets Result: ok only with nothing lost, doubled or out of order and no other problem.
func (r *Row) Verdict() {
	var why []string
	if lost := r.Sent - r.Arrived; lost > 0 {
		why = append(why, fmt.Sprintf("%d lost", lost))
	}
	if r.Duplicated > 0 {
		why = append(why, fmt.Sprintf("%d duplicated", r.Duplicated))
	}
	if r.OutOfOrder > 0 {
		why = append(why, fmt.Sprintf("%d out of order", r.OutOfOrder))
	}
	if len(why) == 0 && len(r.Problems) > 0 {
		why = append(why, "problem")
	}
	if len(why) == 0 && r.Sent == 0 {
		why = append(why, "nothing sent")
	}
	if len(why) == 0 {
		r.Result = "ok"
	} else {
		r.Result = "FAIL: " + strings.Join(why, ", ")
	}
}

func printTable(w *os.File, rows []*Row) {
	// Text columns left-aligned, numbers right-aligned, in a Markdown table.
	cells := [][]string{{"experiment", "direction", "sent", "arrived", "duplicated", "out of order", "time to recover", "result"}}
	for _, r := range rows {
		rec := "never"
		if r.Recover >= 0 {
			rec = fmt.Sprintf("%.1fs", r.Recover.Seconds())
		}
		cells = append(cells, []string{r.Experiment, r.Direction, strconv.Itoa(r.Sent), strconv.Itoa(r.Arrived),
			strconv.Itoa(r.Duplicated), strconv.Itoa(r.OutOfOrder), rec, r.Result})
	}
	width := make([]int, len(cells[0]))
	for _, row := range cells {
		for i, c := range row {
			width[i] = max(width[i], utf8.RuneCountInString(c))
		}
	}
	line := func(row []string) {
		var b strings.Builder
		b.WriteString("|")
		for i, c := range row {
			pad := strings.Repeat(" ", width[i]-utf8.RuneCountInString(c))
			if i >= 2 && i <= 6 {
				b.WriteString(" " + pad + c + " |")
			} else {
				b.WriteString(" " + c + pad + " |")
			}
		}
		fmt.Fprintln(w, b.String())
	}
	line(cells[0])
	sep := make([]string, len(width))
	for i, n := range width {
		sep[i] = strings.Repeat("-", n)
		if i >= 2 && i <= 6 {
			sep[i] = strings.Repeat("-", n-1) + ":"
		}
	}
	line(sep)
	for _, row := range cells[1:] {
		line(row)
	}
	var notes []string
	for _, r := range rows {
		for _, p := range r.Problems {
			notes = append(notes, fmt.Sprintf("  %s %s: %s", r.Experiment, r.Direction, p))
		}
	}
	if len(notes) > 0 {
		fmt.Fprintln(w, "\nproblems:")
		fmt.Fprintln(w, strings.Join(notes, "\n"))
	}
}

var errTimeout = errors.New("timed out")
