// The rich scenario: the inbound scenario's chats, measured at each rate three ways on the same server, one after the
// other: the floor (Mattermost creating the same posts through the plugin API, no bridge and no Graph in the path),
// then the bridge with the global subscription (basic notifications: each message read from Graph), then with
// global-rich (the message inside the notification: no read).
package main

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/msteams-bridge/msteams/tests/e2e/harness"
	"github.com/msteams-bridge/msteams/tests/emulators/graph/m365ctl"
)

const floorPluginID = "bench.floor"

type rich struct {
	in      *inbound
	senders map[int]string // chat index → the Mattermost user its Teams sender became (from the warm-up)
	mode    string         // the bridge's subscriptionMode now
}

func newRich() scenario {
	r := &rich{in: &inbound{channels: map[int]string{}, notify: make(chan struct{})}, senders: map[int]string{},
		mode: "global"}
	return scenario{setup: r.setup, plan: richPhases, run: r.run, summary: richSummary}
}

// richPhases: per rate, the modes asked for (-modes; by default the floor, then global, global-rich, per-user and
// hybrid).
func richPhases(cfg Config) []phaseSpec {
	var out []phaseSpec
	for _, r := range cfg.Rates {
		for _, kind := range cfg.Modes {
			out = append(out, phaseSpec{Name: fmt.Sprintf("%s R=%g/s", kind, r), Kind: kind, Rate: r})
		}
	}
	return out
}

func (r *rich) setup(ctx context.Context, env *Env) (map[string]any, error) {
	if !env.Cfg.Warmup {
		return nil, fmt.Errorf("the rich scenario needs the warm-up (it makes the DMs the floor posts into)")
	}
	out, err := r.in.setup(ctx, env)
	if err != nil {
		return nil, err
	}
	r.in.mu.Lock()
	for _, s := range r.in.events {
		if s.phase == 0 {
			r.senders[s.chat] = s.userID
		}
	}
	r.in.mu.Unlock()
	env.Logf("building and installing the floor plugin")
	bundle, err := buildFloorBundle(ctx)
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(filepath.Dir(bundle))
	if _, err := env.Bridge.MM.UploadBundle(ctx, bundle); err != nil {
		return nil, fmt.Errorf("uploading the floor plugin: %w", err)
	}
	if err := env.Bridge.MM.EnablePlugin(ctx, floorPluginID); err != nil {
		return nil, fmt.Errorf("enabling the floor plugin: %w", err)
	}
	return out, nil
}

// buildFloorBundle compiles bench/floor into a plugin bundle (a .tar.gz in a temporary directory).
func buildFloorBundle(ctx context.Context) (string, error) {
	dir, err := os.MkdirTemp("", "msteams-bench-floor-")
	if err != nil {
		return "", err
	}
	bin := filepath.Join(dir, "plugin-linux-amd64")
	cmd := exec.CommandContext(ctx, "go", "build", "-o", bin, "./floor")
	cmd.Dir = moduleDir()
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH=amd64")
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("building the floor plugin: %v\n%s", err, out)
	}
	manifest, err := os.ReadFile(filepath.Join(moduleDir(), "floor", "plugin.json"))
	if err != nil {
		return "", err
	}
	binary, err := os.ReadFile(bin)
	if err != nil {
		return "", err
	}
	var buf bytes.Buffer
	gz := gzip.NewWriter(&buf)
	tw := tar.NewWriter(gz)
	for _, f := range []struct {
		name string
		data []byte
		mode int64
	}{{floorPluginID + "/plugin.json", manifest, 0o644}, {floorPluginID + "/server/plugin-linux-amd64", binary, 0o755}} {
		if err := tw.WriteHeader(&tar.Header{Name: f.name, Mode: f.mode, Size: int64(len(f.data))}); err != nil {
			return "", err
		}
		if _, err := tw.Write(f.data); err != nil {
			return "", err
		}
	}
	if err := tw.Close(); err != nil {
		return "", err
	}
	if err := gz.Close(); err != nil {
		return "", err
	}
	bundle := filepath.Join(dir, "floor.tar.gz")
	return bundle, os.WriteFile(bundle, buf.Bytes(), 0o644)
}

// floorSender posts each message through the floor plugin, as the chat's sender into its DM.
func (r *rich) floorSender(b *harness.Bridge) sender {
	client := &http.Client{Timeout: 30 * time.Second}
	return func(ctx context.Context, c *inChat, text string) (time.Time, error) {
		r.in.mu.Lock()
		channel := r.in.channels[c.idx]
		r.in.mu.Unlock()
		body, _ := json.Marshal(map[string]string{"channel_id": channel, "user_id": r.senders[c.idx], "message": text})
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, b.MM.URL+"/plugins/"+floorPluginID+"/post",
			bytes.NewReader(body))
		if err != nil {
			return time.Time{}, err
		}
		req.Header.Set("Authorization", "Bearer "+b.MM.AdminClient.AuthToken)
		t0 := time.Now()
		resp, err := client.Do(req)
		if err != nil {
			return t0, err
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return t0, fmt.Errorf("floor plugin: HTTP %d", resp.StatusCode)
		}
		return t0, nil
	}
}

// setMode switches the bridge's subscriptionMode and waits until the tenant holds exactly one chats subscription of
// that kind (the bridge replaced the other).
func (r *rich) setMode(ctx context.Context, env *Env, mode string) error {
	if r.mode == mode {
		return nil
	}
	b := env.Bridge
	settings, err := b.MM.StoredPluginSettings(b.MM.PluginID)
	if err != nil {
		return err
	}
	before, err := pluginStats(ctx, b.MM)
	if err != nil {
		return err
	}
	settings["subscriptionmode"] = mode
	if err := b.MM.SetPluginSettings(ctx, b.MM.PluginID, settings); err != nil {
		return fmt.Errorf("setting subscriptionMode=%s: %w", mode, err)
	}
	wantRich := mode == "global-rich"
	deadline := time.Now().Add(90 * time.Second)
	for {
		subs, err := b.Ctl.Subscriptions(ctx)
		if err != nil {
			return err
		}
		var chats []m365ctl.Subscription
		users := 0
		for _, s := range subs {
			if strings.HasPrefix(s.Resource, "chats/getAllMessages") {
				chats = append(chats, s)
			}
			if strings.HasPrefix(s.Resource, "users/") {
				users++
			}
		}
		// per-user and hybrid: the basic global subscription and every connected user's rich one (each chat has
		// one connected user, and each has carried messages: hybrid's budget covers them all too).
		wantUsers := 0
		if mode == "per-user" || mode == "hybrid" {
			wantUsers = env.Cfg.Chats
		}
		if len(chats) == 1 && chats[0].IncludeResourceData == wantRich && users == wantUsers {
			break
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("after 90s the tenant has %d chats subscriptions, not one with includeResourceData=%v",
				len(chats), wantRich)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(250 * time.Millisecond):
		}
	}
	// Replacing the subscription reads every chat forward once (a catch-up, queued right after the new subscription
	// is made; a new configuration's leader does the same even when the subscription stays): let it be queued and
	// finish before measuring.
	for {
		st, err := pluginStats(ctx, b.MM)
		if err == nil && st["catchups"] > before["catchups"] && st["inbox_items"] == 0 {
			break
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(500 * time.Millisecond):
		}
	}
	r.mode = mode
	env.Logf("the bridge now runs with subscriptionMode=%s", mode)
	return nil
}

func (r *rich) run(ctx context.Context, env *Env, spec phaseSpec) (*Phase, error) {
	if spec.Kind == "floor" {
		p, err := r.in.runWith(ctx, env, spec.Rate, r.floorSender(env.Bridge))
		if p != nil {
			p.Notes = append(p.Notes, "floor: posts made through the plugin API by bench/floor; no bridge, no Graph")
		}
		return p, err
	}
	if err := r.setMode(ctx, env, spec.Kind); err != nil {
		return nil, err
	}
	return r.in.run(ctx, env, spec.Rate)
}

// richSummary is the inbound table (one column per phase) and, per rate, the ratios the scenario is about.
func richSummary(rep *Report) string {
	var b strings.Builder
	b.WriteString(markdownSummary(rep))
	byName := map[string]*Phase{}
	for _, p := range rep.Phases {
		byName[p.Name] = p
	}
	b.WriteString("\n| rate (msg/s) | floor msg/s | global msg/s | global-rich msg/s | rich ÷ floor | rich ÷ global | Graph req/msg global → rich | ack p99 global → rich (ms) |\n|---|---|---|---|---|---|---|---|\n")
	for _, rate := range rep.Config.Rates {
		f, g, ri := byName[fmt.Sprintf("floor R=%g/s", rate)], byName[fmt.Sprintf("global R=%g/s", rate)],
			byName[fmt.Sprintf("global-rich R=%g/s", rate)]
		if f == nil || g == nil || ri == nil {
			continue
		}
		ratio := func(a, b float64) string {
			if b == 0 {
				return "–"
			}
			return fmt.Sprintf("%.2f", a/b)
		}
		fmt.Fprintf(&b, "| %g | %.2f | %.2f | %.2f | %s | %s | %.2f → %.2f | %.0f → %.0f |\n", rate, f.DeliveredPerSec,
			g.DeliveredPerSec, ri.DeliveredPerSec, ratio(ri.DeliveredPerSec, f.DeliveredPerSec),
			ratio(ri.DeliveredPerSec, g.DeliveredPerSec), g.Graph.PerMessage, ri.Graph.PerMessage,
			g.Webhooks.AckMs.P99, ri.Webhooks.AckMs.P99)
	}
	b.WriteString(perUserSummary(rep, byName))
	return b.String()
}

// perUserSummary: per rate, the per-user and hybrid modes beside the floor (one connected user: its rich
// subscription carries every message, the basic global one a second copy that waits for it).
func perUserSummary(rep *Report, byName map[string]*Phase) string {
	var b strings.Builder
	b.WriteString("\n| rate (msg/s) | per-user msg/s | hybrid msg/s | per-user ÷ floor | hybrid ÷ floor | Graph req/msg per-user, hybrid | latency p50/p99 per-user (ms) | ack p99 per-user, hybrid (ms) |\n|---|---|---|---|---|---|---|---|\n")
	for _, rate := range rep.Config.Rates {
		f, u, h := byName[fmt.Sprintf("floor R=%g/s", rate)], byName[fmt.Sprintf("per-user R=%g/s", rate)],
			byName[fmt.Sprintf("hybrid R=%g/s", rate)]
		if f == nil || u == nil || h == nil || f.DeliveredPerSec == 0 {
			continue
		}
		fmt.Fprintf(&b, "| %g | %.2f | %.2f | %.2f | %.2f | %.2f, %.2f | %.0f/%.0f | %.0f, %.0f |\n", rate,
			u.DeliveredPerSec, h.DeliveredPerSec, u.DeliveredPerSec/f.DeliveredPerSec, h.DeliveredPerSec/f.DeliveredPerSec,
			u.Graph.PerMessage, h.Graph.PerMessage, u.PostLatencyMs.P50, u.PostLatencyMs.P99, u.Webhooks.AckMs.P99,
			h.Webhooks.AckMs.P99)
	}
	return b.String()
}
