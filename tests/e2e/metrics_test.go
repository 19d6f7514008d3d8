package e2e

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/mattermost/mattermost/server/public/model"

	"github.com/msteams-bridge/msteams/tests/emulators/graph/m365ctl"
)

// prometheus is a real Prometheus (Debian's package) scraping the bridge.
type prometheus struct {
	url string
	cmd *exec.Cmd
}

// quotedList is a YAML flow sequence of quoted strings.
func quotedList(items []string) string {
	quoted := make([]string, len(items))
	for i, it := range items {
		quoted[i] = strconv.Quote(it)
	}
	return "[" + strings.Join(quoted, ", ") + "]"
}

func freeTCPPort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// startPrometheus runs Prometheus with the bridge's alerting rules, scraping the servers' metrics listeners and, with
// a token, the plugin's own /metrics route at site (with Basic auth) every second.
func startPrometheus(t *testing.T, listeners []string, site, token, rules string) *prometheus {
	t.Helper()
	bin, err := exec.LookPath("prometheus")
	if err != nil {
		t.Fatal("prometheus is missing (make deps installs Debian's package)")
	}
	dir := t.TempDir()
	config := fmt.Sprintf(`global:
  scrape_interval: 1s
  scrape_timeout: 1s
  evaluation_interval: 1s
rule_files: [%q]
scrape_configs:
  - job_name: metrics-listener
    metrics_path: /plugins/com.mattermost.msteams/metrics
    static_configs: [{targets: %s}]
`, rules, quotedList(listeners))
	if token != "" {
		siteURL, err := url.Parse(site)
		if err != nil {
			t.Fatal(err)
		}
		config += fmt.Sprintf(`  - job_name: plugin-route
    metrics_path: /plugins/com.mattermost.msteams/metrics
    basic_auth: {username: prometheus, password: %q}
    static_configs: [{targets: [%q]}]
`, token, siteURL.Host)
	}
	if err := os.WriteFile(filepath.Join(dir, "prometheus.yml"), []byte(config), 0o600); err != nil {
		t.Fatal(err)
	}
	port := freeTCPPort(t)
	log, err := os.Create(filepath.Join(dir, "prometheus.log"))
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "--config.file="+filepath.Join(dir, "prometheus.yml"),
		"--storage.tsdb.path="+filepath.Join(dir, "data"), "--web.listen-address=127.0.0.1:"+strconv.Itoa(port),
		"--log.level=warn")
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &prometheus{url: "http://127.0.0.1:" + strconv.Itoa(port), cmd: cmd}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		log.Close()
		if t.Failed() {
			b, _ := os.ReadFile(filepath.Join(dir, "prometheus.log"))
			t.Logf("--- prometheus.log ---\n%s", b)
		}
	})
	within(t, 30*time.Second, func() string {
		resp, err := http.Get(p.url + "/-/ready")
		if err != nil {
			return err.Error()
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			return "not ready: " + resp.Status
		}
		return ""
	})
	return p
}

type promSample struct {
	Metric map[string]string `json:"metric"`
	Value  [2]any            `json:"value"`
}

func (s promSample) number() float64 {
	v, _ := strconv.ParseFloat(fmt.Sprint(s.Value[1]), 64)
	return v
}

// query evaluates expr now; an error for a query Prometheus refuses (a typo, a bad function).
func (p *prometheus) query(expr string) ([]promSample, error) {
	resp, err := http.Get(p.url + "/api/v1/query?query=" + url.QueryEscape(expr))
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 8<<20))
	var out struct {
		Status string `json:"status"`
		Error  string `json:"error"`
		Data   struct {
			ResultType string          `json:"resultType"`
			Result     json.RawMessage `json:"result"`
		} `json:"data"`
	}
	if err := json.Unmarshal(body, &out); err != nil {
		return nil, fmt.Errorf("%s: %s", resp.Status, body)
	}
	if out.Status != "success" {
		return nil, fmt.Errorf("%s: %s", expr, out.Error)
	}
	if out.Data.ResultType != "vector" {
		return nil, fmt.Errorf("%s: result type %s", expr, out.Data.ResultType)
	}
	var samples []promSample
	return samples, json.Unmarshal(out.Data.Result, &samples)
}

func (p *prometheus) get(t *testing.T, path string, out any) {
	t.Helper()
	resp, err := http.Get(p.url + path)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		t.Fatal(err)
	}
}

// value waits until expr has a sample satisfying ok, and returns it.
func (p *prometheus) waitValue(t *testing.T, timeout time.Duration, expr string, ok func(float64) bool) float64 {
	t.Helper()
	var got float64
	within(t, timeout, func() string {
		s, err := p.query(expr)
		if err != nil {
			return err.Error()
		}
		if len(s) == 0 {
			return expr + ": no data"
		}
		got = s[0].number()
		if !ok(got) {
			return fmt.Sprintf("%s = %v", expr, got)
		}
		return ""
	})
	return got
}

var metricName = regexp.MustCompile(`\bmsteams_[a-z0-9_]+\b`)

// dashboardQueries are the queries of every panel of the Grafana dashboard, with Grafana's variables as Grafana
// would fill them in (all nodes, a one-minute rate window).
func dashboardQueries(t *testing.T, path string) map[string]string {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var d struct {
		Title  string `json:"title"`
		UID    string `json:"uid"`
		Panels []struct {
			Title   string `json:"title"`
			Targets []struct {
				Expr string `json:"expr"`
			} `json:"targets"`
		} `json:"panels"`
		Templating struct {
			List []struct {
				Name string `json:"name"`
			} `json:"list"`
		} `json:"templating"`
	}
	if err := json.Unmarshal(raw, &d); err != nil {
		t.Fatalf("%s is not JSON Grafana can import: %v", path, err)
	}
	if d.Title == "" || d.UID == "" || len(d.Panels) == 0 {
		t.Fatalf("%s: no title, uid or panels", path)
	}
	fill := strings.NewReplacer(`$node`, `.*`, `$__rate_interval`, `1m`)
	out := map[string]string{}
	for _, p := range d.Panels {
		if len(p.Targets) == 0 {
			t.Errorf("panel %q has no query", p.Title)
		}
		for i, target := range p.Targets {
			out[fmt.Sprintf("%s #%d", p.Title, i+1)] = fill.Replace(target.Expr)
		}
	}
	return out
}

// TestMetrics runs a real Prometheus against the bridge in a real Mattermost: it scrapes both the server's metrics
// listener and the plugin's token-protected route, every dashboard query and alert expression finds data, the
// alerting rules load and evaluate, and the metrics move with what happens.
func TestMetrics(t *testing.T) {
	ctx := context.Background()
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	rules := filepath.Join(root, "assets/prometheus/msteams-alerts.yml")
	if out, err := exec.Command("promtool", "check", "rules", rules).CombinedOutput(); err != nil {
		t.Fatalf("promtool check rules: %v\n%s", err, out)
	}

	listener := "127.0.0.1:" + strconv.Itoa(freeTCPPort(t))
	token := "metrics-token-0123456789abcdef"
	b := startBridgeWithEnv(t, map[string]any{"metricsToken": token},
		[]string{"MM_METRICSSETTINGS_ENABLE=true", "MM_METRICSSETTINGS_LISTENADDRESS=" + listener})

	t.Run("the plugin route needs the token", func(t *testing.T) {
		basic := func(password string) string {
			return "Basic " + base64.StdEncoding.EncodeToString([]byte("prometheus:"+password))
		}
		// (A bearer token is refused too: the unit tests send one; here it would land in the server's log.)
		for header, want := range map[string]int{"": 401, basic("wrong-token-0123456789"): 401, basic(token): 200} {
			req, _ := http.NewRequest("GET", b.mm.URL+"/plugins/com.mattermost.msteams/metrics", nil)
			if header != "" {
				req.Header.Set("Authorization", header)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != want {
				t.Errorf("Authorization %q: %d, want %d", header, resp.StatusCode, want)
			}
			if want != 200 && strings.Contains(string(body), "msteams_") {
				t.Errorf("metrics served without the token: %.200s", body)
			}
		}
		// Mattermost takes a bearer token on a plugin route for a session token and logs it when it is none; a
		// Basic password it never reads.
		if _, _, err := b.mm.AdminClient.GetPing(ctx); err != nil {
			t.Fatal(err)
		}
		if log := b.mm.LogTail(100000); strings.Contains(log, token) {
			t.Error("the metrics token is in the Mattermost log")
		}
	})

	// Traffic both ways, so that every family has series: a Teams DM to a connected user, her answer, and one 429.
	alice, _, megan, dm, channel := b.meganDM(t, "hi from Teams")
	chat := m365ctl.InChat(dm.ID)

	prom := startPrometheus(t, []string{listener}, b.mm.URL, token, rules)
	within(t, 30*time.Second, func() string {
		var targets struct {
			Data struct {
				ActiveTargets []struct {
					Labels    map[string]string `json:"labels"`
					Health    string            `json:"health"`
					LastError string            `json:"lastError"`
				} `json:"activeTargets"`
			} `json:"data"`
		}
		prom.get(t, "/api/v1/targets", &targets)
		if len(targets.Data.ActiveTargets) != 2 {
			return fmt.Sprintf("%d targets", len(targets.Data.ActiveTargets))
		}
		for _, tg := range targets.Data.ActiveTargets {
			if tg.Health != "up" {
				return tg.Labels["job"] + ": " + tg.Health + " " + tg.LastError
			}
		}
		return ""
	})

	t.Run("a 429 from Graph is counted, and the post still arrives", func(t *testing.T) {
		if err := b.ctl.SetFaults(ctx, m365ctl.Faults{ErrorShare: 1, ErrorStatus: 429,
			RouteContains: "POST /v1.0/chats/{chid}/messages"}); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = b.ctl.ClearFaults(context.Background()) })
		if _, err := alice.Post(ctx, channel.Id, "answer through a 429"); err != nil {
			t.Fatal(err)
		}
		prom.waitValue(t, 30*time.Second,
			`sum(msteams_graph_requests_total{job="metrics-listener",endpoint="message_post",status="429"})`,
			func(v float64) bool { return v >= 1 })
		if err := b.ctl.ClearFaults(ctx); err != nil {
			t.Fatal(err)
		}
		b.waitTeams(t, dm.ID, bodyHas("answer through a 429"))
		prom.waitValue(t, 30*time.Second,
			`sum(msteams_messages_bridged_total{job="metrics-listener",direction="to_teams",kind="post"})`,
			func(v float64) bool { return v >= 1 })
		prom.waitValue(t, 30*time.Second, `sum(msteams_post_to_teams_seconds_count{job="metrics-listener"})`,
			func(v float64) bool { return v >= 1 })
		prom.waitValue(t, 30*time.Second, `sum(msteams_notification_to_post_seconds_count{job="metrics-listener"})`,
			func(v float64) bool { return v >= 1 })
	})

	t.Run("every dashboard panel and every alert expression has data", func(t *testing.T) {
		// Rates need two samples in their window: wait a few scrapes after the traffic.
		time.Sleep(3 * time.Second)
		queries := dashboardQueries(t, filepath.Join(root, "assets/grafana/msteams-bridge.json"))
		names := map[string]bool{}
		keys := make([]string, 0, len(queries))
		for k := range queries {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			samples, err := prom.query(queries[k])
			if err != nil {
				t.Errorf("panel %s: %v", k, err)
				continue
			}
			if len(samples) == 0 {
				t.Errorf("panel %s is empty: %s", k, queries[k])
			}
			for _, n := range metricName.FindAllString(queries[k], -1) {
				names[n] = true
			}
		}
		raw, err := os.ReadFile(rules)
		if err != nil {
			t.Fatal(err)
		}
		for _, line := range strings.Split(string(raw), "\n") {
			if expr, ok := strings.CutPrefix(strings.TrimSpace(line), "expr: "); ok {
				if _, err := prom.query(expr); err != nil {
					t.Errorf("alert expression refused: %v", err)
				}
				for _, n := range metricName.FindAllString(expr, -1) {
					names[n] = true
				}
			}
		}
		for n := range names {
			if samples, err := prom.query(fmt.Sprintf(`{__name__=%q, job="metrics-listener"}`, n)); err != nil ||
				len(samples) == 0 {
				t.Errorf("metric %s has no data (%v)", n, err)
			}
		}
		if len(names) < 30 {
			t.Errorf("only %d metrics named by the dashboard and the alerts", len(names))
		}
		var rulesState struct {
			Data struct {
				Groups []struct {
					Rules []struct {
						Name      string `json:"name"`
						Health    string `json:"health"`
						LastError string `json:"lastError"`
						State     string `json:"state"`
					} `json:"rules"`
				} `json:"groups"`
			} `json:"data"`
		}
		within(t, 10*time.Second, func() string {
			prom.get(t, "/api/v1/rules", &rulesState)
			n := 0
			for _, g := range rulesState.Data.Groups {
				for _, r := range g.Rules {
					n++
					if r.Health != "ok" {
						return r.Name + ": " + r.Health + " " + r.LastError
					}
				}
			}
			if n != 13 {
				return fmt.Sprintf("%d rules loaded", n)
			}
			return ""
		})
		for _, g := range rulesState.Data.Groups {
			for _, r := range g.Rules {
				if r.State == "firing" || r.State == "pending" {
					t.Errorf("alert %s is %s on a healthy bridge", r.Name, r.State)
				}
			}
		}
	})

	t.Run("both routes and the node label agree", func(t *testing.T) {
		s, err := prom.query(`msteams_core_up`)
		if err != nil || len(s) != 2 {
			t.Fatalf("msteams_core_up: %v %v", s, err)
		}
		for _, x := range s {
			if x.Metric["node"] == "" || x.Metric["node"] != s[0].Metric["node"] || x.number() != 1 {
				t.Errorf("core_up sample %v", x.Metric)
			}
		}
		prom.waitValue(t, 10*time.Second, `max(msteams_subscriptions{kind="chats"})`, func(v float64) bool { return v == 1 })
		prom.waitValue(t, 10*time.Second, `max(msteams_connected_users)`, func(v float64) bool { return v == 1 })
		prom.waitValue(t, 10*time.Second, `min(msteams_subscription_seconds_to_expiry{kind="chats"})`,
			func(v float64) bool { return v > 3600 })
	})

	t.Run("admins read the bridge's status in /msteams status and as JSON, others do not", func(t *testing.T) {
		channel, err := b.mm.CreateChannel(ctx, b.mm.Team.Id, "status-cmds", model.ChannelTypeOpen, b.mm.Admin, alice)
		if err != nil {
			t.Fatal(err)
		}
		admin := b.command(t, b.mm.Admin, channel.Id, "/msteams status")
		mustContain(t, "admin status", admin, "Bridge status (node ", "this node keeps the subscriptions",
			"App credentials:** working", "Teams changes waiting", "1 connected", "| chats | chats/getAllMessages",
			"No dead letters")
		user := b.command(t, alice, channel.Id, "/msteams status")
		if strings.Contains(user, "Bridge status") || strings.Contains(user, "App credentials") {
			t.Errorf("a user sees the admin status: %s", user)
		}
		resp, err := b.mm.PluginRequest(ctx, b.mm.Admin, http.MethodGet, "/api/v1/status", nil, nil)
		if err != nil || resp.StatusCode != 200 {
			t.Fatalf("GET /api/v1/status as admin: %v %v", resp, err)
		}
		var status struct {
			Node struct {
				Name   string `json:"name"`
				Leader bool   `json:"leader"`
			} `json:"node"`
			Credentials struct {
				Working bool `json:"working"`
			} `json:"credentials"`
			Users struct {
				Connected int `json:"connected"`
			} `json:"users"`
			Subscriptions []struct {
				Kind      string `json:"kind"`
				ExpiresAt int64  `json:"expires_at"`
			} `json:"subscriptions"`
		}
		if err := json.Unmarshal(resp.Body, &status); err != nil {
			t.Fatalf("%v: %s", err, resp.Body)
		}
		if status.Node.Name == "" || !status.Node.Leader || !status.Credentials.Working || status.Users.Connected != 1 ||
			len(status.Subscriptions) != 1 || status.Subscriptions[0].Kind != "chats" ||
			status.Subscriptions[0].ExpiresAt <= time.Now().UnixMilli() {
			t.Errorf("status: %s", resp.Body)
		}
		if strings.Contains(string(resp.Body), b.emu.ClientSecret) || strings.Contains(string(resp.Body), token) {
			t.Error("a secret in the status JSON")
		}
		resp, err = b.mm.PluginRequest(ctx, alice, http.MethodGet, "/api/v1/status", nil, nil)
		if err != nil || resp.StatusCode != 403 {
			t.Errorf("GET /api/v1/status as a user: %v %v", resp, err)
		}
	})

	t.Run("the inbox age rises while Graph reads fail and falls after", func(t *testing.T) {
		if err := b.ctl.SetFaults(ctx, m365ctl.Faults{ErrorShare: 1, ErrorStatus: 503,
			RouteContains: "GET /v1.0/chats/{chid}/messages"}); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = b.ctl.ClearFaults(context.Background()) })
		if _, err := b.ctl.Send(ctx, chat, m365ctl.Post{From: megan.ID, Text: "while Graph reads fail"}); err != nil {
			t.Fatal(err)
		}
		prom.waitValue(t, 30*time.Second, `max(msteams_inbox_oldest_age_seconds{job="metrics-listener"})`,
			func(v float64) bool { return v >= 3 })
		if err := b.ctl.ClearFaults(ctx); err != nil {
			t.Fatal(err)
		}
		// The failed read is tried again after a backoff.
		within(t, 90*time.Second, func() string {
			for _, p := range channelPosts(t, alice, channel.Id) {
				if p.Message == "while Graph reads fail" {
					return ""
				}
			}
			return "not posted yet"
		})
		prom.waitValue(t, 60*time.Second, `max(msteams_inbox_oldest_age_seconds{job="metrics-listener"})`,
			func(v float64) bool { return v == 0 })
	})

	t.Run("the database going away shows, and coming back too", func(t *testing.T) {
		if err := b.mm.StopDatabase(); err != nil {
			t.Fatal(err)
		}
		restarted := false
		t.Cleanup(func() {
			if !restarted {
				_ = b.mm.StartDatabase(context.Background())
			}
		})
		prom.waitValue(t, 60*time.Second, `min(msteams_database_up{job="metrics-listener"})`,
			func(v float64) bool { return v == 0 })
		if err := b.mm.StartDatabase(ctx); err != nil {
			t.Fatal(err)
		}
		restarted = true
		prom.waitValue(t, 60*time.Second, `min(msteams_database_up{job="metrics-listener"})`,
			func(v float64) bool { return v == 1 })
		prom.waitValue(t, 30*time.Second, `sum(msteams_db_errors_total{job="metrics-listener"})`,
			func(v float64) bool { return v >= 1 })
	})
}
