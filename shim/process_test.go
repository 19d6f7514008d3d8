package main

// Supervision with a real child process: the test binary re-executed as a fake core.

import (
	"bufio"
	"fmt"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/mattermost/mattermost/server/public/model"
	"github.com/mattermost/mattermost/server/public/plugin"
)

var testCtx = &plugin.Context{SessionId: "sess", RequestId: "req", IPAddress: "10.0.0.1", AcceptLanguage: "de", UserAgent: "ua"}

type supHarness struct {
	t          *testing.T
	p          *Plugin
	api        *fakeAPI
	recordPath string
	bundle     string
}

// newSupHarness prepares a bundle whose core is the fake core; activate() runs the real OnActivate.
func newSupHarness(t *testing.T, mode string) *supHarness {
	t.Helper()
	dir := t.TempDir()
	bundle := filepath.Join(dir, "bundle")
	if err := makeBundle(bundle); err != nil {
		t.Fatal(err)
	}
	h := &supHarness{t: t, bundle: bundle, recordPath: filepath.Join(dir, "record.txt")}
	t.Setenv("MSTEAMS_FAKE_CORE", "1")
	t.Setenv("FAKE_CORE_RECORD", h.recordPath)
	t.Setenv("FAKE_CORE_MODE", mode)
	h.api = &fakeAPI{bundle: bundle, settings: map[string]any{"tenantid": "t-1"}}
	h.p = &Plugin{supervisorOverride: func(o *supervisorOptions) {
		o.ReadyTimeout = 3 * time.Second
		o.ExitGrace = 300 * time.Millisecond
		o.TermGrace = 300 * time.Millisecond
	}}
	h.p.SetAPI(h.api)
	return h
}

func (h *supHarness) activate() error {
	err := h.p.OnActivate()
	if err == nil {
		h.t.Cleanup(func() { h.p.OnDeactivate() })
	}
	return err
}

func (h *supHarness) record() [][]string {
	h.t.Helper()
	r, err := readRecord(h.recordPath)
	if err != nil {
		h.t.Fatal(err)
	}
	return r
}

func (h *supHarness) corePid() int {
	h.p.sup.mu.Lock()
	defer h.p.sup.mu.Unlock()
	if h.p.sup.cur == nil {
		return 0
	}
	return h.p.sup.cur.pid
}

func (h *supHarness) post(msg string) {
	h.p.MessageHasBeenPosted(testCtx, &model.Post{Id: model.NewId(), Message: msg})
}

func (h *supHarness) waitDrained(d time.Duration) {
	h.t.Helper()
	eventually(h.t, d, "the event queue to drain", func() bool {
		pending, _ := h.p.queue.stats()
		return pending == 0
	})
}

// events returns the recorded deliveries as (pid, seq) in file order.
func (h *supHarness) events() (pids []int, seqs []uint64) {
	for _, f := range h.record() {
		if f[0] == "event" {
			pid, _ := strconv.Atoi(f[1])
			seq, _ := strconv.ParseUint(f[2], 10, 64)
			pids, seqs = append(pids, pid), append(seqs, seq)
		}
	}
	return pids, seqs
}

func TestSupervisorActivatesCoreWithConfigurationAndServesAPI(t *testing.T) {
	h := newSupHarness(t, "")
	// The SDK calls OnConfigurationChange before OnActivate: there is no core yet and that is fine.
	if err := h.p.OnConfigurationChange(); err != nil {
		t.Fatalf("OnConfigurationChange before activation: %v", err)
	}
	if err := h.activate(); err != nil {
		t.Fatalf("OnActivate: %v\nlogs:\n%s", err, h.api.allLogs())
	}
	rec := h.record()
	if len(rec) == 0 || rec[0][0] != "activate" || rec[0][2] != `{"tenantid":"t-1"}` || rec[0][3] != "http://mm.example" {
		t.Fatalf("activation record = %v", rec)
	}
	// The core called MattermostApi.Log back over the API socket.
	if _, ok := h.api.findLog("info fake core activated [pid " + rec[0][1]); !ok {
		t.Errorf("the core's Log call did not reach the server log:\n%s", h.api.allLogs())
	}
	// Its stdout was forwarded to the server log.
	eventually(t, 2*time.Second, "core stdout in the log", func() bool {
		_, ok := h.api.findLog("fake core starting [source core stream stdout")
		return ok
	})
	if h.p.version != "0.1.0-test" {
		t.Errorf("plugin version = %q", h.p.version)
	}
	// The DataSource is a secret: no log line may contain it.
	if strings.Contains(h.api.allLogs(), "s3cret") {
		t.Errorf("a log line contains the database password")
	}
	// A configuration change reaches the running core.
	h.api.setSetting("tenantid", "t-2")
	if err := h.p.OnConfigurationChange(); err != nil {
		t.Fatal(err)
	}
	found := false
	for _, f := range h.record() {
		if f[0] == "config" && f[2] == `{"tenantid":"t-2"}` {
			found = true
		}
	}
	if !found {
		t.Errorf("configuration change not delivered: %v", h.record())
	}
}

func TestConfigurationSavedByTheCoreDuringActivationReachesIt(t *testing.T) {
	h := newSupHarness(t, "")
	t.Setenv("FAKE_CORE_SAVE_ON", "activate")
	h.api.onSave = func() { h.p.OnConfigurationChange() } //nolint:errcheck // synchronously, the worst case
	start := time.Now()
	if err := h.activate(); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("activation took %s", d)
	}
	rec := h.record()
	last := rec[len(rec)-1]
	if last[0] != "config" || last[2] != `{"key":"generated"}` {
		t.Fatalf("the configuration saved during activation did not reach the core: %v", rec)
	}
}

func TestReentrantConfigurationChangeDoesNotDeadlock(t *testing.T) {
	h := newSupHarness(t, "")
	t.Setenv("FAKE_CORE_SAVE_ON", "config")
	h.api.onSave = func() { h.p.OnConfigurationChange() } //nolint:errcheck
	if err := h.activate(); err != nil {
		t.Fatal(err)
	}
	h.api.setSetting("step", "1")
	start := time.Now()
	if err := h.p.OnConfigurationChange(); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("re-entrant configuration change took %s", d)
	}
	eventually(t, 2*time.Second, "the configuration saved by the core to reach it", func() bool {
		rec := h.record()
		last := rec[len(rec)-1]
		return last[0] == "config" && last[2] == `{"step":"2"}`
	})
}

func TestSupervisorConfigurationChangeErrorIsReturned(t *testing.T) {
	h := newSupHarness(t, "")
	t.Setenv("FAKE_CORE_CONFIG_ERROR", "Client ID must be a GUID")
	if err := h.activate(); err != nil {
		t.Fatal(err)
	}
	err := h.p.OnConfigurationChange()
	if err == nil || err.Error() != "Client ID must be a GUID" {
		t.Fatalf("OnConfigurationChange = %v", err)
	}
}

func TestSupervisorActivationRefusedVerbatimAndCoreStopped(t *testing.T) {
	h := newSupHarness(t, "refuse")
	err := h.p.OnActivate()
	want := "Tenant ID is not set: enter it in System Console > Plugins > MS Teams"
	if err == nil || err.Error() != want {
		t.Fatalf("OnActivate = %v, want %q", err, want)
	}
	assertNoCoreLeft(t, h)
}

func TestSupervisorCoreExitingDuringStartupReportsItsStderr(t *testing.T) {
	h := newSupHarness(t, "crash")
	err := h.p.OnActivate()
	if err == nil || !strings.Contains(err.Error(), "exit status 3") ||
		!strings.Contains(err.Error(), "fatal: cannot connect to the database") {
		t.Fatalf("OnActivate = %v", err)
	}
}

func TestSupervisorCoreNeverReadyFailsWithinDeadline(t *testing.T) {
	h := newSupHarness(t, "silent")
	h.p.supervisorOverride = func(o *supervisorOptions) {
		o.ReadyTimeout = 700 * time.Millisecond
		o.ExitGrace = 300 * time.Millisecond
		o.TermGrace = 300 * time.Millisecond
	}
	start := time.Now()
	err := h.p.OnActivate()
	if err == nil || !strings.Contains(err.Error(), "did not become ready within 700ms") ||
		!strings.Contains(err.Error(), "waiting for something that never comes") {
		t.Fatalf("OnActivate = %v", err)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("failing activation took %s", d)
	}
	assertNoCoreLeft(t, h)
}

func assertNoCoreLeft(t *testing.T, h *supHarness) {
	t.Helper()
	if pids := processesRunning(h.bundle); len(pids) > 0 {
		t.Errorf("core processes left: %v", pids)
	}
}

// processesRunning lists live processes whose command line mentions substr.
func processesRunning(substr string) []int {
	var pids []int
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err == nil && strings.Contains(string(b), substr) && !processGone(pid) {
			pids = append(pids, pid)
		}
	}
	return pids
}

func TestSupervisorRestartsAfterKill9AndReplaysGapEventsOnce(t *testing.T) {
	h := newSupHarness(t, "")
	if err := h.activate(); err != nil {
		t.Fatal(err)
	}
	for i := 1; i <= 20; i++ {
		h.post(fmt.Sprintf("before-%d", i))
	}
	h.waitDrained(5 * time.Second)
	pid1 := h.corePid()
	_, gen1, _ := h.p.sup.readyClient()

	killed := time.Now()
	if err := syscall.Kill(pid1, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	// While it is down, HTTP gets 503 + Retry-After (Graph retries) instead of waiting.
	eventually(t, time.Second, "the supervisor to notice the death", func() bool {
		_, _, ok := h.p.sup.readyClient()
		return !ok
	})
	w := httptest.NewRecorder()
	h.p.ServeHTTP(testCtx, w, httptest.NewRequest("POST", "/changes", strings.NewReader("{}")))
	if w.Code != 503 || w.Header().Get("Retry-After") != "5" {
		t.Errorf("HTTP during the restart: %d %v", w.Code, w.Header())
	}
	// ... and the metrics listener reads that the core is down.
	w = httptest.NewRecorder()
	h.p.ServeMetrics(testCtx, w, httptest.NewRequest("GET", "/", nil))
	if w.Code != 200 || !strings.HasSuffix(w.Body.String(), "} 0\n") {
		t.Errorf("metrics during the restart: %d %q", w.Code, w.Body.String())
	}
	// Events raised during the gap.
	for i := 1; i <= 20; i++ {
		h.post(fmt.Sprintf("gap-%d", i))
	}
	eventually(t, 2*time.Second, "the core to be restarted and ready", func() bool {
		_, gen, ok := h.p.sup.readyClient()
		return ok && gen > gen1
	})
	t.Logf("restarted and re-activated in %s", time.Since(killed))
	// The restarted core is told it was restarted once (its msteams_core_restarts_total).
	if cfg, err := h.p.sup.config(); err != nil || cfg.GetServer().GetCoreRestarts() != 1 {
		t.Errorf("configuration after one restart: core_restarts %d, %v", cfg.GetServer().GetCoreRestarts(), err)
	}
	pid2 := h.corePid()
	if pid2 == pid1 || pid2 == 0 {
		t.Fatalf("pid after restart = %d (before %d)", pid2, pid1)
	}
	h.waitDrained(3 * time.Second)

	pids, seqs := h.events()
	if len(seqs) != 40 {
		t.Fatalf("recorded %d deliveries, want 40: %v", len(seqs), seqs)
	}
	for i, s := range seqs {
		if s != uint64(i+1) {
			t.Fatalf("delivery %d has seq %d: order broken or duplicate: %v", i, s, seqs)
		}
		wantPid := pid1
		if i >= 20 {
			wantPid = pid2
		}
		if pids[i] != wantPid {
			t.Errorf("seq %d delivered by pid %d, want %d", s, pids[i], wantPid)
		}
	}
	// Re-activated with the configuration, and the restart was logged with the exit status.
	activations := 0
	for _, f := range h.record() {
		if f[0] == "activate" {
			activations++
		}
	}
	if activations != 2 {
		t.Errorf("activations = %d, want 2", activations)
	}
	if _, ok := h.api.findLog("signal: killed"); !ok {
		t.Errorf("no restart log with the exit status:\n%s", h.api.allLogs())
	}
}

func TestSupervisorKill9MidTrafficNeverResendsAcknowledgedEvents(t *testing.T) {
	h := newSupHarness(t, "")
	if err := h.activate(); err != nil {
		t.Fatal(err)
	}
	const total = 600
	stop := make(chan struct{})
	go func() {
		defer close(stop)
		for i := 1; i <= total; i++ {
			h.post(fmt.Sprintf("m-%d", i))
			if i%10 == 0 {
				time.Sleep(time.Millisecond)
			}
		}
	}()
	time.Sleep(20 * time.Millisecond)
	pid1 := h.corePid()
	// What the first process had acknowledged when it died: taken from the queue after the kill.
	if err := syscall.Kill(pid1, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-stop
	h.waitDrained(5 * time.Second)

	pids, seqs := h.events()
	seen := map[uint64]int{}
	maxByPid := map[int]uint64{}
	lastPid1 := uint64(0)
	for i, s := range seqs {
		if s <= maxByPid[pids[i]] {
			t.Fatalf("pid %d received seq %d after %d: out of order", pids[i], s, maxByPid[pids[i]])
		}
		maxByPid[pids[i]] = s
		seen[s]++
		if pids[i] == pid1 {
			lastPid1 = s
		}
	}
	for s := uint64(1); s <= total; s++ {
		if seen[s] == 0 {
			t.Fatalf("seq %d was never delivered", s)
		}
	}
	// A duplicate can only be an event the dead core received but whose acknowledgement never came back, i.e.
	// from the last batch in flight (at most maxBatch events).
	dups := 0
	for s, n := range seen {
		if n > 1 {
			dups++
			if n > 2 || s+maxBatch <= lastPid1 {
				t.Errorf("seq %d delivered %d times (last seq of the killed core %d)", s, n, lastPid1)
			}
		}
	}
	t.Logf("%d events, first core handled up to %d, %d re-sent unacknowledged", total, lastPid1, dups)
}

func TestSupervisorCoreExitsWhenStdinCloses(t *testing.T) {
	h := newSupHarness(t, "")
	if err := h.activate(); err != nil {
		t.Fatal(err)
	}
	pid := h.corePid()
	h.p.sup.mu.Lock()
	cur := h.p.sup.cur
	h.p.sup.mu.Unlock()
	cur.closeStdin() // no signal at all
	select {
	case <-cur.done:
	case <-time.After(2 * time.Second):
		t.Fatal("the core did not exit on stdin EOF")
	}
	if !strings.Contains(cur.exitStatus(), "exit status 0") {
		t.Errorf("exit status %q", cur.exitStatus())
	}
	found := false
	for _, f := range h.record() {
		if f[0] == "stdin-eof" && f[1] == strconv.Itoa(pid) {
			found = true
		}
	}
	if !found {
		t.Error("the core did not record stdin EOF")
	}
}

func TestOrphanCoreExitsWhenShimIsKilled(t *testing.T) {
	h := newSupHarness(t, "")
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "MSTEAMS_FAKE_SHIM=1", "FAKE_SHIM_BUNDLE="+h.bundle)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill() //nolint:errcheck
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		t.Fatalf("fake shim said nothing: %v", err)
	}
	var corePid int
	if _, err := fmt.Sscanf(line, "core %d", &corePid); err != nil {
		t.Fatalf("fake shim said %q", line)
	}
	if processGone(corePid) {
		t.Fatal("core not running")
	}
	if err := cmd.Process.Kill(); err != nil { // SIGKILL: the shim cannot clean up
		t.Fatal(err)
	}
	_ = cmd.Wait()
	if !waitGone(corePid, 3*time.Second) {
		syscall.Kill(corePid, syscall.SIGKILL) //nolint:errcheck
		t.Fatalf("core %d outlived its shim", corePid)
	}
}

func TestDeactivateLeavesNoProcess(t *testing.T) {
	h := newSupHarness(t, "")
	if err := h.activate(); err != nil {
		t.Fatal(err)
	}
	pid := h.corePid()
	dir := h.p.sup.dir
	start := time.Now()
	if err := h.p.OnDeactivate(); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("deactivation took %s", d)
	}
	if !processGone(pid) {
		t.Errorf("core %d still running", pid)
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Errorf("socket dir %s still there: %v", dir, err)
	}
	rec := h.record()
	if rec[len(rec)-2][0] != "deactivate" || rec[len(rec)-1][0] != "stdin-eof" {
		t.Errorf("expected Deactivate then stdin EOF, got %v", rec)
	}
	// After deactivation a hook goes nowhere, without blocking or crashing.
	h.post("after")
	assertNoCoreLeft(t, h)
}

func TestDeactivateKillsAStubbornCore(t *testing.T) {
	h := newSupHarness(t, "stubborn")
	if err := h.activate(); err != nil {
		t.Fatal(err)
	}
	pid := h.corePid()
	if err := h.p.OnDeactivate(); err != nil {
		t.Fatal(err)
	}
	if !processGone(pid) {
		t.Fatalf("stubborn core %d survived deactivation", pid)
	}
	if _, ok := h.api.findLog("killing it"); !ok {
		t.Errorf("no log of the SIGKILL:\n%s", h.api.allLogs())
	}
}

func TestCoreOutputLinesAreBoundedAndLevelled(t *testing.T) {
	for _, c := range []struct {
		line, level, text string
		stderr            bool
	}{
		{"[DEBUG] msteams-core stopping", "debug", "msteams-core stopping", true},
		{"[ERROR] boom", "error", "boom", false},
		{"plain", "warn", "plain", true},
		{"plain", "info", "plain", false},
	} {
		if l, txt := lineLevel(c.line, c.stderr); l != c.level || txt != c.text {
			t.Errorf("lineLevel(%q) = %s %q", c.line, l, txt)
		}
	}
	long := strings.Repeat("x", 3*maxLogLine) + "\nnext\nlast"
	br := bufio.NewReaderSize(strings.NewReader(long), maxLogLine)
	l1, err := readBoundedLine(br, maxLogLine)
	if err != nil || len(l1) > maxLogLine+20 || !strings.HasSuffix(l1, "(truncated)") {
		t.Fatalf("long line: %d bytes, %v", len(l1), err)
	}
	if l2, _ := readBoundedLine(br, maxLogLine); l2 != "next" {
		t.Fatalf("second line %q", l2)
	}
	if l3, _ := readBoundedLine(br, maxLogLine); l3 != "last" {
		t.Fatalf("last line %q", l3)
	}
	// Every forwarded line is valid UTF-8: invalid bytes become U+FFFD, and so does a character the bound cut.
	br = bufio.NewReaderSize(strings.NewReader("bad \xff\xfe byte\nx"+strings.Repeat("é", maxLogLine)+"\n"), maxLogLine)
	if l, _ := readBoundedLine(br, maxLogLine); l != "bad \uFFFD byte" {
		t.Errorf("invalid bytes: %q", l)
	}
	if l, _ := readBoundedLine(br, maxLogLine); !utf8.ValidString(l) || !strings.HasSuffix(l, "(truncated)") {
		t.Errorf("a line cut inside a character is not valid UTF-8: %q", l[len(l)-20:])
	}
}
