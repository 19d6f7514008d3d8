// Measurement helpers shared by every scenario: percentiles, the core's RSS sampler, Graph request counters
// grouped by kind, webhook ack latencies from the emulator's delivery log, and the plugin's own counters.
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/msteams-bridge/msteams/tests/e2e/harness"
	"github.com/msteams-bridge/msteams/tests/emulators/graph/m365ctl"
	"github.com/msteams-bridge/msteams/tests/mattermost/mmtest"
)

// ---- distributions -----------------------------------------------------------------------------------------------

// Dist summarises a sample of durations in milliseconds.
type Dist struct {
	N   int     `json:"n"`
	Min float64 `json:"min"`
	P50 float64 `json:"p50"`
	P90 float64 `json:"p90"`
	P99 float64 `json:"p99"`
	Max float64 `json:"max"`
	Avg float64 `json:"avg"`
}

// percentile returns the q-quantile (0..1) of sorted values by the nearest-rank method.
func percentile(sorted []float64, q float64) float64 {
	if len(sorted) == 0 {
		return 0
	}
	rank := int(math.Ceil(q*float64(len(sorted)))) - 1
	if rank < 0 {
		rank = 0
	}
	if rank >= len(sorted) {
		rank = len(sorted) - 1
	}
	return sorted[rank]
}

// summarize computes a Dist of the values (milliseconds); it does not modify values.
func summarize(values []float64) Dist {
	if len(values) == 0 {
		return Dist{}
	}
	s := append([]float64(nil), values...)
	sort.Float64s(s)
	sum := 0.0
	for _, v := range s {
		sum += v
	}
	return Dist{N: len(s), Min: s[0], P50: percentile(s, 0.50), P90: percentile(s, 0.90), P99: percentile(s, 0.99),
		Max: s[len(s)-1], Avg: round1(sum / float64(len(s)))}
}

func round1(v float64) float64 { return math.Round(v*10) / 10 }
func round2(v float64) float64 { return math.Round(v*100) / 100 }

// ---- RSS sampler ---------------------------------------------------------------------------------------------------

// RSS is what the sampler saw of the core's resident set, in KiB.
type RSS struct {
	PID      int   `json:"pid"`
	StartKB  int64 `json:"startKB"`
	PeakKB   int64 `json:"peakKB"`
	EndKB    int64 `json:"endKB"`
	HWMKB    int64 `json:"hwmKB"` // VmHWM at the end: the kernel's peak since the core started
	Samples  int   `json:"samples"`
	Restarts int   `json:"restarts"` // times the core's pid changed during the phase
}

// rssSampler reads VmRSS of the msteams-core process below the server every interval.
type rssSampler struct {
	mm       *mmtest.Server
	interval time.Duration
	stop     chan struct{}
	done     chan struct{}
	mu       sync.Mutex
	r        RSS
}

// corePID finds the msteams-core process among the server's descendants.
func corePID(mm *mmtest.Server) (int, error) {
	procs, err := mm.Descendants()
	if err != nil {
		return 0, err
	}
	for _, p := range procs {
		if len(p.Cmdline) > 0 && filepath.Base(p.Cmdline[0]) == "msteams-core" {
			return p.PID, nil
		}
	}
	return 0, fmt.Errorf("no msteams-core process below the server (pid %d)", mm.PID())
}

// procStatusKB reads a "Key:   123 kB" line of /proc/<pid>/status.
func procStatusKB(pid int, key string) (int64, error) {
	f, err := os.Open(filepath.Join("/proc", strconv.Itoa(pid), "status"))
	if err != nil {
		return 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, key+":") {
			fields := strings.Fields(line[len(key)+1:])
			if len(fields) == 0 {
				break
			}
			return strconv.ParseInt(fields[0], 10, 64)
		}
	}
	return 0, fmt.Errorf("no %s in /proc/%d/status", key, pid)
}

// startRSS starts sampling; Stop returns the figures.
// baseline is what a phase is measured against: the emulator's counters just after a reset (its 429s per limit keep
// running, so they are subtracted), the plugin's counters, the start time, and the core's RSS sampled from then on.
type baseline struct {
	counters *m365ctl.Counters
	stats    map[string]int64
	start    time.Time
	rss      *rssSampler
	rssOnce  sync.Once
	rssFinal RSS
}

func startPhase(ctx context.Context, b *harness.Bridge) (*baseline, error) {
	if err := b.Ctl.ResetCounters(ctx); err != nil {
		return nil, fmt.Errorf("resetting the emulator's counters: %w", err)
	}
	counters, err := b.Ctl.Counters(ctx)
	if err != nil {
		return nil, fmt.Errorf("emulator counters: %w", err)
	}
	stats, err := pluginStats(ctx, b.MM)
	if err != nil {
		return nil, err
	}
	return &baseline{counters: counters, stats: stats, start: time.Now(), rss: startRSS(b.MM, 200*time.Millisecond)}, nil
}

// finish adds what every phase reports at its end: which chats met 429s, the webhook acknowledgements since the
// start, and the change of the plugin's counters.
func (x *baseline) finish(ctx context.Context, b *harness.Bridge, p *Phase) error {
	var hot []string
	for _, cr := range p.PerChat {
		if cr.Status429 > 0 {
			hot = append(hot, fmt.Sprintf("chat %d: %d × 429 of %d requests", cr.Chat, cr.Status429, cr.Graph))
		}
	}
	if len(hot) > 0 && len(hot) <= 5 {
		p.Notes = append(p.Notes, "429s in "+strings.Join(hot, "; "))
	} else if len(hot) > 5 {
		p.Notes = append(p.Notes, fmt.Sprintf("429s in %d of %d chats", len(hot), len(p.PerChat)))
	}
	var err error
	if p.Webhooks, err = webhookAcks(ctx, b.Ctl, "/plugins/"+b.MM.PluginID+"/changes", x.start); err != nil {
		return fmt.Errorf("emulator deliveries: %w", err)
	}
	statsAfter, err := pluginStats(ctx, b.MM)
	if err != nil {
		return err
	}
	p.PluginStats = diffCounters(x.stats, statsAfter)
	return nil
}

// stopRSS stops the RSS sampler (once) and returns what it saw.
func (x *baseline) stopRSS() RSS {
	x.rssOnce.Do(func() { x.rssFinal = x.rss.Stop() })
	return x.rssFinal
}

func startRSS(mm *mmtest.Server, interval time.Duration) *rssSampler {
	s := &rssSampler{mm: mm, interval: interval, stop: make(chan struct{}), done: make(chan struct{})}
	go s.loop()
	return s
}

func (s *rssSampler) sample() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.r.PID != 0 {
		if kb, err := procStatusKB(s.r.PID, "VmRSS"); err == nil {
			s.record(kb)
			return
		}
	}
	pid, err := corePID(s.mm) // first sample, or the core went away (restarted)
	if err != nil {
		return
	}
	if s.r.PID != 0 && pid != s.r.PID {
		s.r.Restarts++
	}
	s.r.PID = pid
	if kb, err := procStatusKB(pid, "VmRSS"); err == nil {
		s.record(kb)
	}
}

func (s *rssSampler) record(kb int64) {
	if s.r.Samples == 0 {
		s.r.StartKB = kb
	}
	s.r.Samples++
	s.r.EndKB = kb
	if kb > s.r.PeakKB {
		s.r.PeakKB = kb
	}
}

func (s *rssSampler) loop() {
	defer close(s.done)
	t := time.NewTicker(s.interval)
	defer t.Stop()
	s.sample()
	for {
		select {
		case <-s.stop:
			s.sample()
			return
		case <-t.C:
			s.sample()
		}
	}
}

// Stop ends sampling and returns what was seen.
func (s *rssSampler) Stop() RSS {
	close(s.stop)
	<-s.done
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.r.PID != 0 {
		s.r.HWMKB, _ = procStatusKB(s.r.PID, "VmHWM")
	}
	return s.r
}

// ---- Graph request counters ----------------------------------------------------------------------------------------

// KindCount is the number of requests of one kind the bridge made to the emulator (Graph or login host).
type KindCount struct {
	Kind       string  `json:"kind"`
	Count      int64   `json:"count"`
	PerMessage float64 `json:"perMessage"`
	Status429  int64   `json:"status429"`
}

// GraphUsage is what the bridge asked of Microsoft during a phase.
type GraphUsage struct {
	Total      int64                 `json:"total"`      // graph + login hosts
	PerMessage float64               `json:"perMessage"` // Total / delivered messages
	Status429  int64                 `json:"status429"`
	Throttled  map[string]int64      `json:"throttled"` // 429s per limit name (the emulator's buckets)
	ByKind     []KindCount           `json:"byKind"`
	Routes     []m365ctl.CounterRow  `json:"routes"` // raw rows: host, route pattern, caller, status
	Delivery   m365ctl.DeliveryStats `json:"delivery"`
}

// requestKind names a counter row for the summary: a short kind for the routes the bridge uses, else the route.
func requestKind(r m365ctl.CounterRow) string {
	route := r.Route
	if r.Host == "login" {
		switch {
		case strings.Contains(route, "/token"):
			return "token (login)"
		case strings.Contains(route, "/authorize"):
			return "authorize (login)"
		}
		return "login: " + route
	}
	method, path, _ := strings.Cut(route, " ")
	switch {
	case strings.Contains(path, "/hostedContents"):
		return "hosted contents"
	case strings.Contains(path, "getAllMessages"):
		return method + " getAllMessages"
	case strings.HasPrefix(path, "/v1.0/subscriptions"):
		return method + " subscriptions"
	case method == "POST" && strings.HasSuffix(path, "/messages"):
		return "POST message"
	case method == "POST" && path == "/v1.0/chats":
		return "POST chat (create)"
	case method == "GET" && strings.HasSuffix(path, "/messages/{mid}"):
		return "GET message"
	case method == "GET" && strings.HasSuffix(path, "/messages"):
		return "GET messages list"
	case method == "GET" && strings.HasSuffix(path, "/members"):
		return "GET chat members"
	case method == "GET" && (strings.HasSuffix(path, "/chats/{chid}")):
		return "GET chat"
	case method == "GET" && (strings.HasPrefix(path, "/v1.0/users") || path == "/v1.0/me"):
		return "GET user(s)"
	case path == "/v1.0/$batch":
		return "POST $batch"
	}
	return route
}

// graphUsage groups the emulator's request counters (control host excluded: that is the benchmark itself).
func graphUsage(c *m365ctl.Counters, delivered int) GraphUsage {
	g := GraphUsage{Throttled: map[string]int64{}, Delivery: c.Delivery}
	kinds := map[string]*KindCount{}
	for _, r := range c.Requests {
		if r.Host == "control" {
			continue
		}
		g.Routes = append(g.Routes, r)
		g.Total += r.Count
		k := requestKind(r)
		kc := kinds[k]
		if kc == nil {
			kc = &KindCount{Kind: k}
			kinds[k] = kc
		}
		kc.Count += r.Count
		if r.Status == http.StatusTooManyRequests {
			kc.Status429 += r.Count
			g.Status429 += r.Count
		}
	}
	for name, n := range c.Throttled {
		if n != 0 {
			g.Throttled[name] = n
		}
	}
	for _, kc := range kinds {
		if delivered > 0 {
			kc.PerMessage = round2(float64(kc.Count) / float64(delivered))
		}
		g.ByKind = append(g.ByKind, *kc)
	}
	sort.Slice(g.ByKind, func(i, j int) bool {
		if g.ByKind[i].Count != g.ByKind[j].Count {
			return g.ByKind[i].Count > g.ByKind[j].Count
		}
		return g.ByKind[i].Kind < g.ByKind[j].Kind
	})
	sort.Slice(g.Routes, func(i, j int) bool { return g.Routes[i].Count > g.Routes[j].Count })
	if delivered > 0 {
		g.PerMessage = round2(float64(g.Total) / float64(delivered))
	}
	return g
}

// ---- webhook acks ----------------------------------------------------------------------------------------------

// Webhooks are the emulator's delivery attempts to one of the plugin's notification URLs during a phase.
type Webhooks struct {
	Batches   int  `json:"batches"`
	Items     int  `json:"items"`
	Failed    int  `json:"failed"` // attempts that did not get a 2xx
	AckMs     Dist `json:"ackMs"`  // durationMs of the successful attempts
	Truncated bool `json:"truncated,omitempty"`
}

// webhookAcks reads the delivery log (the last 2000 attempts) for attempts to URLs ending in suffix since since.
func webhookAcks(ctx context.Context, ctl *m365ctl.Client, suffix string, since time.Time) (Webhooks, error) {
	batches, err := ctl.Deliveries(ctx)
	if err != nil {
		return Webhooks{}, err
	}
	var w Webhooks
	var acks []float64
	oldest := time.Time{}
	for _, b := range batches {
		t, err := time.Parse(time.RFC3339Nano, b.Time)
		if err != nil {
			continue
		}
		if oldest.IsZero() || t.Before(oldest) {
			oldest = t
		}
		if t.Before(since) || !strings.HasSuffix(b.URL, suffix) {
			continue
		}
		w.Batches++
		if b.Status >= 200 && b.Status < 300 {
			w.Items += b.Items
			acks = append(acks, float64(b.DurationMs))
		} else {
			w.Failed++
		}
	}
	w.AckMs = summarize(acks)
	w.Truncated = len(batches) >= 2000 && oldest.After(since)
	return w, nil
}

// ---- plugin counters ---------------------------------------------------------------------------------------------

// pluginStats reads GET /api/v1/stats as the system admin.
func pluginStats(ctx context.Context, mm *mmtest.Server) (map[string]int64, error) {
	resp, err := mm.PluginRequest(ctx, mm.Admin, http.MethodGet, "/api/v1/stats", nil, nil)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("plugin stats: %d %s", resp.StatusCode, resp.Body)
	}
	out := map[string]int64{}
	if err := json.Unmarshal(resp.Body, &out); err != nil {
		return nil, fmt.Errorf("plugin stats: %w: %s", err, resp.Body)
	}
	return out, nil
}

// diffCounters returns after − before for every key that changed (gauges show up as their change too).
func diffCounters(before, after map[string]int64) map[string]int64 {
	out := map[string]int64{}
	for k, v := range after {
		if d := v - before[k]; d != 0 {
			out[k] = d
		}
	}
	for k, v := range before {
		if _, ok := after[k]; !ok && v != 0 {
			out[k] = -v
		}
	}
	return out
}
