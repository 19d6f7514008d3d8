package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/mattermost/mattermost/server/public/model"
	"github.com/msteams-bridge/msteams/tests/e2e/harness"
	"github.com/msteams-bridge/msteams/tests/mattermost/mmtest"
)

const pluginID = harness.PluginID

func validSettings() map[string]any {
	return map[string]any{
		"tenantId":     "8e7c2c3a-6a8b-4b6e-9d7e-2f0a1c9b5d41",
		"clientId":     "1f0c6a52-3d7b-4f0e-8a3b-6c2d9e4f7a10",
		"clientSecret": "e2e-client-secret-value",
	}
}

func with(base map[string]any, key string, value any) map[string]any {
	out := map[string]any{}
	for k, v := range base {
		out[k] = v
	}
	out[key] = value
	return out
}

// eventually retries f until it returns nil or the deadline passes, and returns f's last error.
func eventually(ctx context.Context, timeout time.Duration, f func() error) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	for {
		err := f()
		if err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// pluginProcesses lists the shim and core processes under the server.
func pluginProcesses(t *testing.T, s *mmtest.Server) (shims, cores []mmtest.Process) {
	t.Helper()
	procs, err := s.Descendants()
	if err != nil {
		t.Fatalf("listing processes: %v", err)
	}
	for _, p := range procs {
		if len(p.Cmdline) == 0 {
			continue
		}
		switch {
		case strings.HasSuffix(p.Cmdline[0], "/server/dist/msteams-core"):
			cores = append(cores, p)
		case strings.HasSuffix(p.Cmdline[0], "/server/dist/plugin-linux-amd64"):
			shims = append(shims, p)
		}
	}
	return shims, cores
}

func handshake(ctx context.Context, s *mmtest.Server, token string) (*mmtest.PluginResponse, error) {
	return s.PluginRequest(ctx, nil, http.MethodPost, "/changes?validationToken="+token, nil,
		http.Header{"Content-Type": {"text/plain; charset=utf-8"}})
}

type webappConfig struct {
	EnforceConnectedAccounts bool   `json:"enforce_connected_accounts"`
	AllowSkipConnectAccounts bool   `json:"allow_skip_connect_accounts"`
	ChatSync                 string `json:"chat_sync"`
}

func getWebappConfig(ctx context.Context, s *mmtest.Server, as *mmtest.User) (webappConfig, int, error) {
	var cfg webappConfig
	resp, err := s.PluginRequest(ctx, as, http.MethodGet, "/api/v1/config", nil, nil)
	if err != nil {
		return cfg, 0, err
	}
	if resp.StatusCode == http.StatusOK {
		err = json.Unmarshal(resp.Body, &cfg)
	}
	return cfg, resp.StatusCode, err
}

// hookEventPostIDs lists, per post id, when the core logged a MessageHasBeenPosted event for it.
func hookEventPostIDs(t *testing.T, s *mmtest.Server) map[string][]time.Time {
	t.Helper()
	data, err := os.ReadFile(s.LogPath())
	if err != nil {
		t.Fatalf("reading the server log: %v", err)
	}
	postID := regexp.MustCompile(`post_id"?[:=]"?([a-z0-9]{26})`)
	stamp := regexp.MustCompile(`\[(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3}) Z\]`)
	seen := map[string][]time.Time{}
	for _, line := range strings.Split(string(data), "\n") {
		if !strings.Contains(line, "hook event") || !strings.Contains(line, "MessageHasBeenPosted") {
			continue
		}
		m := postID.FindStringSubmatch(line)
		ts := stamp.FindStringSubmatch(line)
		if m == nil || ts == nil {
			continue
		}
		at, err := time.Parse("2006-01-02 15:04:05.000", ts[1])
		if err != nil {
			t.Fatalf("a log time %q: %v", ts[1], err)
		}
		seen[m[1]] = append(seen[m[1]], at)
	}
	return seen
}

// TestFoundation drives the real bundle in a real Mattermost server: activation, configuration changes, the
// slash command, HTTP through ServeHTTP, a core crash in the middle of traffic, and deactivation.
func TestFoundation(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a Mattermost server")
	}
	ctx := context.Background()
	s := mmtest.StartT(t, mmtest.Options{Bundle: bundlePath(t), PluginSettings: validSettings(), LogLevel: "DEBUG"})

	alice, err := s.CreateUser(ctx, "alice")
	if err != nil {
		t.Fatal(err)
	}
	channel, err := s.CreateChannel(ctx, s.Team.Id, "bridge-e2e", model.ChannelTypeOpen, alice)
	if err != nil {
		t.Fatal(err)
	}

	t.Run("activation generates and saves the secrets", func(t *testing.T) {
		st, err := s.PluginStatus(ctx, pluginID)
		if err != nil {
			t.Fatal(err)
		}
		if st.State != model.PluginStateRunning {
			t.Fatalf("plugin state %d, want running", st.State)
		}
		err = eventually(ctx, 10*time.Second, func() error {
			settings, err := s.StoredPluginSettings(pluginID)
			if err != nil {
				return err
			}
			for _, key := range []string{"encryptionkey", "webhooksecret"} {
				v, _ := settings[key].(string)
				if len(v) != 32 {
					return fmt.Errorf("%s = %q, want a generated 32-character value", key, v)
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	})

	t.Run("slash command answers help for no and unknown sub-commands", func(t *testing.T) {
		for _, cmd := range []string{"/msteams", "/msteams help", "/msteams frobnicate"} {
			text, err := harness.Command(ctx, alice, channel.Id, cmd)
			if err != nil {
				t.Fatalf("%s: %v", cmd, err)
			}
			if !strings.Contains(text, "MS Teams commands") || !strings.Contains(text, "/msteams help") {
				t.Errorf("%s answered %q, want the help text", cmd, text)
			}
			if strings.HasSuffix(cmd, "frobnicate") != strings.Contains(text, "Unknown command: `frobnicate`") {
				t.Errorf("%s answered %q", cmd, text)
			}
		}
	})

	t.Run("HTTP round trip through ServeHTTP", func(t *testing.T) {
		resp, err := handshake(ctx, s, "Validation%3A+e2e%2Btoken")
		if err != nil {
			t.Fatal(err)
		}
		if resp.StatusCode != 200 || string(resp.Body) != "Validation: e2e+token" ||
			!strings.HasPrefix(resp.Header.Get("Content-Type"), "text/plain") {
			t.Fatalf("handshake: %d %q %q", resp.StatusCode, resp.Header.Get("Content-Type"), resp.Body)
		}
		// A body over the route's limit travels through the stream and is refused with 413.
		big := bytes.Repeat([]byte("x"), 2<<20)
		resp, err = s.PluginRequest(ctx, nil, http.MethodPost, "/changes", bytes.NewReader(big),
			http.Header{"Content-Type": {"application/json"}})
		if err != nil {
			t.Fatal(err)
		}
		if resp.StatusCode != http.StatusRequestEntityTooLarge || !bytes.Contains(resp.Body, []byte("1048576")) {
			t.Fatalf("2 MiB notification: %d %s", resp.StatusCode, resp.Body)
		}
		resp, err = s.PluginRequest(ctx, nil, http.MethodGet, "/changes", nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		if resp.StatusCode != http.StatusMethodNotAllowed || resp.Header.Get("Allow") != "POST" {
			t.Fatalf("GET /changes: %d Allow=%q", resp.StatusCode, resp.Header.Get("Allow"))
		}
	})

	t.Run("user routes trust only the server's session check", func(t *testing.T) {
		cfg, status, err := getWebappConfig(ctx, s, alice)
		if err != nil || status != 200 {
			t.Fatalf("as alice: %d %v", status, err)
		}
		if cfg.ChatSync != "mirror" {
			t.Errorf("chat_sync %q, want the default mirror", cfg.ChatSync)
		}
		if _, status, _ = getWebappConfig(ctx, s, nil); status != http.StatusUnauthorized {
			t.Errorf("anonymous: %d, want 401", status)
		}
		// A forged Mattermost-User-Id without a session is stripped by the server: still anonymous.
		resp, err := s.PluginRequest(ctx, nil, http.MethodGet, "/api/v1/config", nil,
			http.Header{"Mattermost-User-Id": {alice.Id}})
		if err != nil {
			t.Fatal(err)
		}
		if resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("forged Mattermost-User-Id: %d %s, want 401", resp.StatusCode, resp.Body)
		}
	})

	t.Run("a configuration change reaches the core; a bad one is refused on save and the old one stays", func(t *testing.T) {
		if err := s.SetPluginSettings(ctx, pluginID, with(validSettings(), "enforceConnectedAccounts", true)); err != nil {
			t.Fatal(err)
		}
		err := eventually(ctx, 10*time.Second, func() error {
			cfg, status, err := getWebappConfig(ctx, s, alice)
			if err != nil || status != 200 || !cfg.EnforceConnectedAccounts {
				return fmt.Errorf("config %+v status %d err %v", cfg, status, err)
			}
			return nil
		})
		if err != nil {
			t.Fatalf("the change did not reach the core: %v", err)
		}
		// The save itself is refused (ConfigurationWillBeSaved), with the message System Console shows.
		bad := with(with(validSettings(), "enforceConnectedAccounts", false), "clientId", "not-a-guid")
		if err := s.SetPluginSettings(ctx, pluginID, bad); err == nil ||
			!strings.Contains(err.Error(), "Client ID (clientId) must be a GUID") {
			t.Fatalf("saving a bad client id: %v, want it refused naming the setting", err)
		}
		cfg, _, _ := getWebappConfig(ctx, s, alice)
		if !cfg.EnforceConnectedAccounts {
			t.Errorf("a refused configuration replaced the one in force")
		}
		// Settings saved without the generated secrets: the core generates new ones and saves them back, after
		// the hook (saving from inside OnConfigurationChange would stall the server's configuration for a minute).
		start := time.Now()
		if err := s.SetPluginSettings(ctx, pluginID, validSettings()); err != nil {
			t.Fatal(err)
		}
		err = eventually(ctx, 5*time.Second, func() error {
			settings, err := s.StoredPluginSettings(pluginID)
			if err != nil {
				return err
			}
			if v, _ := settings["webhooksecret"].(string); len(v) != 32 {
				return fmt.Errorf("webhooksecret = %q, want a regenerated value", v)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if took := time.Since(start); took > 5*time.Second {
			t.Errorf("saving settings took %v", took)
		}
	})

	t.Run("kill -9 of the core mid-traffic: restarted within 2 s, no hook event lost or repeated", func(t *testing.T) {
		_, cores := pluginProcesses(t, s)
		if len(cores) != 1 {
			t.Fatalf("%d core processes, want 1", len(cores))
		}
		var (
			mu      sync.Mutex
			posted  []string
			postErr error
			wg      sync.WaitGroup
		)
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 60; i++ {
				p, err := alice.Post(ctx, channel.Id, fmt.Sprintf("traffic %d", i))
				mu.Lock()
				if err != nil {
					postErr = err
				} else {
					posted = append(posted, p.Id)
				}
				mu.Unlock()
				time.Sleep(25 * time.Millisecond)
			}
		}()
		// Kill once traffic is flowing (a few posts made), not after a fixed delay.
		if err := eventually(ctx, 30*time.Second, func() error {
			mu.Lock()
			defer mu.Unlock()
			if len(posted) < 5 && postErr == nil {
				return fmt.Errorf("%d posts so far", len(posted))
			}
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		killed := time.Now()
		if err := syscall.Kill(cores[0].PID, syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		var restartedIn time.Duration
		err := eventually(ctx, 10*time.Second, func() error {
			_, now := pluginProcesses(t, s)
			if len(now) != 1 || now[0].PID == cores[0].PID {
				return errors.New("no new core yet")
			}
			resp, err := handshake(ctx, s, "restarted")
			if err != nil || resp.StatusCode != 200 {
				return fmt.Errorf("new core not serving yet: %v", err)
			}
			restartedIn = time.Since(killed)
			return nil
		})
		if err != nil {
			t.Fatalf("the core did not come back: %v", err)
		}
		t.Logf("core restarted and serving %v after kill -9", restartedIn)
		if restartedIn > 2*time.Second {
			t.Errorf("restart took %v, want at most 2 s", restartedIn)
		}
		wg.Wait()
		if postErr != nil {
			t.Fatalf("posting: %v", postErr)
		}
		var seen map[string][]time.Time
		err = eventually(ctx, 15*time.Second, func() error {
			seen = hookEventPostIDs(t, s)
			for _, id := range posted {
				if len(seen[id]) == 0 {
					return fmt.Errorf("post %s never reached the core", id)
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		// Delivery is at least once: events the killed core had received but not yet acknowledged come again to
		// the new one (the outbox's event keys make that harmless). Nothing else may repeat.
		again := 0
		for _, id := range posted {
			at := seen[id]
			switch {
			case len(at) == 1:
			case len(at) == 2 && !at[0].After(killed.UTC()) && !at[1].Before(killed.UTC().Truncate(time.Millisecond)):
				again++
			default:
				t.Errorf("post %s reached the core %d times (%v), want once, or twice across the kill at %v", id,
					len(at), at, killed.UTC())
			}
		}
		t.Logf("%d of %d posts delivered again to the new core (unacknowledged by the killed one)", again, len(posted))
		// Only the batch in flight at the kill (a post every 25 ms; the core acknowledges each batch at once).
		if again > 5 {
			t.Errorf("%d posts came again after the restart: more than the batch in flight", again)
		}
	})

	t.Run("activation with bad settings is refused with the message verbatim", func(t *testing.T) {
		if err := s.DisablePlugin(ctx, pluginID); err != nil {
			t.Fatal(err)
		}
		if err := s.SetPluginSettings(ctx, pluginID, with(validSettings(), "clientId", "not-a-guid")); err != nil {
			t.Fatal(err)
		}
		err := s.EnablePlugin(ctx, pluginID)
		var activation *mmtest.ActivationError
		if !errors.As(err, &activation) || !strings.Contains(activation.Message, "Client ID (clientId) must be a GUID") {
			t.Fatalf("enable with a bad client id: %v", err)
		}
		if err := s.SetPluginSettings(ctx, pluginID, validSettings()); err != nil {
			t.Fatal(err)
		}
		if err := s.EnablePlugin(ctx, pluginID); err != nil {
			t.Fatalf("enable after fixing the setting: %v", err)
		}
	})

	t.Run("deactivation leaves no process behind", func(t *testing.T) {
		shims, cores := pluginProcesses(t, s)
		if len(shims) != 1 || len(cores) != 1 {
			t.Fatalf("before: %d shims, %d cores, want 1 and 1", len(shims), len(cores))
		}
		if err := s.DisablePlugin(ctx, pluginID); err != nil {
			t.Fatal(err)
		}
		before := append(shims, cores...)
		err := eventually(ctx, 10*time.Second, func() error {
			if shims, cores := pluginProcesses(t, s); len(shims)+len(cores) != 0 {
				return fmt.Errorf("still under the server: %d shims, %d cores", len(shims), len(cores))
			}
			// A process re-parented away from the server counts too.
			for _, p := range before {
				if syscall.Kill(p.PID, 0) == nil {
					return fmt.Errorf("pid %d (%s) survived deactivation", p.PID, p.Cmdline[0])
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	})
}
