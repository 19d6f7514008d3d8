package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/mattermost/mattermost/server/public/model"
	"github.com/msteams-bridge/msteams/tests/emulators/graph/m365ctl"
)

// tabResult is what webapp/tests/tab/teams_host.mjs reports for one case.
type tabResult struct {
	Name       string   `json:"name"`
	Problems   []string `json:"problems"`
	State      string   `json:"state"`
	Reason     string   `json:"reason"`
	Text       string   `json:"text"`
	TeamsCalls []string `json:"teamsCalls"`
	Screenshot string   `json:"screenshot"`
	OpenedURL  string   `json:"openedUrl"`
	URL        string   `json:"url"`
	Me         *struct {
		Status int            `json:"status"`
		Body   map[string]any `json:"body"`
	} `json:"me"`
	Cookies []struct {
		Name        string `json:"name"`
		Secure      bool   `json:"secure"`
		SameSite    string `json:"sameSite"`
		HTTPOnly    bool   `json:"httpOnly"`
		Partitioned bool   `json:"partitioned"`
	} `json:"cookies"`
}

// TestTeamsTab signs users in to the real Mattermost from the Teams tab, in real Chromium. A host page plays
// Microsoft Teams at https://teams.microsoft.com (handed to Chromium by request interception): it frames the tab and
// answers the Teams JavaScript client library's messages, including getAuthToken, with tokens the Microsoft 365
// emulator issues as Teams' token service would. The test server has no Mattermost web client (tests/webclient
// says why), so "signed in and sees their channels" is what the tab shows from Mattermost's API with the session's
// cookies inside the frame, and, once the tab has opened Mattermost's start page in the frame, what /api/v4/users/me
// answers there. Screenshots go to $MSTEAMS_E2E_SHOTS_DIR, else a temporary directory (printed).
func TestTeamsTab(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a Mattermost server, the Microsoft 365 emulator and Chromium")
	}
	chromium := os.Getenv("CHROMIUM_PATH")
	if chromium == "" {
		chromium = "/usr/bin/chromium"
	}
	if _, err := os.Stat(chromium); err != nil {
		t.Fatalf("Chromium is needed (make deps installs it): %v", err)
	}
	webapp, err := filepath.Abs("../../webapp")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(webapp, "node_modules", "playwright-core")); err != nil {
		t.Fatalf("playwright-core is needed (make webapp runs npm ci): %v", err)
	}
	ctx := context.Background()
	const metricsToken = "tab-metrics-token-0123456789"
	b := startBridge(t, map[string]any{"metricsToken": metricsToken})

	// The admin lets Teams frame Mattermost's own pages (the tab opens them in its frame).
	if err := b.mm.UpdateConfig(ctx, func(cfg *model.Config) {
		cfg.ServiceSettings.FrameAncestors = model.NewPointer("https://teams.microsoft.com")
	}); err != nil {
		t.Fatal(err)
	}
	// The Teams app's resource: api://<the SiteURL's host>/<client id>.
	site, err := url.Parse(b.mm.SiteURL)
	if err != nil {
		t.Fatal(err)
	}
	resource := "api://" + site.Host + "/" + b.emu.ClientID
	if _, err := b.ctl.PatchApp(ctx, m365ctl.AppPatch{IdentifierURIs: []string{resource}}); err != nil {
		t.Fatal(err)
	}

	alice := b.user(t, "alice")
	b.teamsTwin(t, alice, "Alice Teams")
	launch, err := b.mm.CreateChannel(ctx, b.mm.Team.Id, "tab-launch", model.ChannelTypeOpen, alice)
	if err != nil {
		t.Fatal(err)
	}
	linked, _, err := alice.Client.CreatePost(ctx, &model.Post{ChannelId: launch.Id, Message: "the post a Teams notification links to"})
	if err != nil {
		t.Fatal(err)
	}
	dave := b.user(t, "dave")
	b.teamsTwin(t, dave, "Dave Teams")
	if _, err := b.mm.AdminClient.UpdateUserActive(ctx, dave.Id, false); err != nil {
		t.Fatal(err)
	}

	token := func(req m365ctl.SSOTokenRequest) string {
		t.Helper()
		tok, err := b.ctl.SSOToken(ctx, req)
		if err != nil {
			t.Fatalf("an SSO token for %+v: %v", req, err)
		}
		return tok.Token
	}
	type tabCase struct {
		Name        string `json:"name"`
		Token       string `json:"token"`
		SubEntityID string `json:"subEntityId,omitempty"`
	}
	cases := []tabCase{
		{"signed-in", token(m365ctl.SSOTokenRequest{User: alice.Email}), ""},
		// A Teams notification's deep link names the post in the tab's subEntityId.
		{"deep-link", token(m365ctl.SSOTokenRequest{User: alice.Email}), linked.Id},
		{"expired", token(m365ctl.SSOTokenRequest{User: alice.Email, Expired: true}), ""},
		{"other-audience", token(m365ctl.SSOTokenRequest{User: alice.Email, Audience: "api://elsewhere.example.com/" + b.emu.ClientID}), ""},
		{"other-tenant", token(m365ctl.SSOTokenRequest{User: alice.Email, OtherTenant: true}), ""},
		{"deactivated", token(m365ctl.SSOTokenRequest{User: dave.Email}), ""},
		// Teams gives no token (SSO not set up for the app, or refused): Mattermost's own sign-in.
		{"no-sso", "", ""},
	}

	shots := os.Getenv("MSTEAMS_E2E_SHOTS_DIR")
	if shots == "" {
		shots = t.TempDir()
	}
	t.Logf("screenshots: %s", shots)
	dir := t.TempDir()
	input, err := json.Marshal(map[string]any{
		"tabUrl": b.mm.SiteURL + "/plugins/com.mattermost.msteams/tab", "outDir": shots, "cases": cases,
		"context": map[string]any{"locale": "en-us", "entityId": "mattermost", "frameContext": "content",
			"hostClientType": "web", "tid": b.emu.TenantID, "userPrincipalName": alice.Email},
	})
	if err != nil {
		t.Fatal(err)
	}
	casesPath, resultsPath := filepath.Join(dir, "cases.json"), filepath.Join(dir, "results.json")
	if err := os.WriteFile(casesPath, input, 0o600); err != nil {
		t.Fatal(err)
	}
	runCtx, cancel := context.WithTimeout(ctx, 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(runCtx, "node", "tests/tab/teams_host.mjs", casesPath, resultsPath)
	cmd.Dir = webapp
	cmd.Env = append(os.Environ(), "CHROMIUM_PATH="+chromium)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("the Teams host in Chromium: %v\n%s", err, out)
	}
	raw, err := os.ReadFile(resultsPath)
	if err != nil {
		t.Fatal(err)
	}
	var results []tabResult
	if err := json.Unmarshal(raw, &results); err != nil {
		t.Fatal(err)
	}
	byName := map[string]tabResult{}
	for _, r := range results {
		byName[r.Name] = r
		t.Logf("%s: state %q, reason %q, screenshot %s\n%s", r.Name, r.State, r.Reason, r.Screenshot, r.Text)
		for _, p := range r.Problems {
			if !strings.HasPrefix(p, "console:") {
				t.Errorf("%s: %s", r.Name, p)
			}
		}
	}
	hasSession := func(r tabResult) bool {
		for _, c := range r.Cookies {
			if c.Name == model.SessionCookieToken {
				return true
			}
		}
		return false
	}

	t.Run("Teams' token signs the user in without a password; the tab shows their channels", func(t *testing.T) {
		r := byName["signed-in"]
		if r.State != "signed-in" {
			t.Fatalf("the tab is %q: %s", r.State, r.Text)
		}
		mustContain(t, "the tab", r.Text, "Signed in as @alice", "tab-launch", "Town Square")
		if !strings.Contains(strings.Join(r.TeamsCalls, " "), "authentication.getAuthToken") {
			t.Errorf("the tab did not ask Teams for a token: %v", r.TeamsCalls)
		}
		if !hasSession(r) {
			t.Errorf("no session cookie in the browser: %+v", r.Cookies)
		}
		for _, c := range r.Cookies {
			if c.Name == model.SessionCookieToken && (!c.Secure || c.SameSite != "None" || !c.HTTPOnly) {
				t.Errorf("the session cookie is %+v, want Secure, SameSite=None, HttpOnly", c)
			}
		}
		// The tab opened Mattermost in Teams' frame, where the real server knows the session.
		if r.OpenedURL != b.mm.SiteURL+"/" {
			t.Errorf("the tab opened %q, want Mattermost's start page %s/", r.OpenedURL, b.mm.SiteURL)
		}
		if r.Me == nil || r.Me.Status != 200 || r.Me.Body["username"] != "alice" {
			t.Errorf("/api/v4/users/me inside the frame answered %+v", r.Me)
		}
	})

	t.Run("a deep link from a Teams notification opens its post", func(t *testing.T) {
		r := byName["deep-link"]
		if r.State != "signed-in" {
			t.Fatalf("the tab is %q: %s", r.State, r.Text)
		}
		if want := b.mm.SiteURL + "/_redirect/pl/" + linked.Id; r.OpenedURL != want {
			t.Errorf("the tab opened %q, want the post's permalink %s", r.OpenedURL, want)
		}
	})

	t.Run("without a token from Teams the tab goes to Mattermost's own sign-in", func(t *testing.T) {
		r := byName["no-sso"]
		if want := b.mm.SiteURL + "/login?redirect_to=%2F"; r.State != "login" || r.URL != want {
			t.Errorf("the tab is %q at %q, want Mattermost's sign-in page %s", r.State, r.URL, want)
		}
		if hasSession(r) {
			t.Errorf("the browser holds a session cookie: %+v", r.Cookies)
		}
	})

	refusals := []struct{ name, reason, says string }{
		{"expired", "sso_expired", "has expired"},
		{"other-audience", "sso_audience", "another app"},
		{"other-tenant", "sso_tenant", "another organization"},
		{"deactivated", "sso_deactivated", "@dave is deactivated"},
	}
	for _, want := range refusals {
		t.Run("a token that is "+want.name+" gets a clear page and no session", func(t *testing.T) {
			r := byName[want.name]
			if r.State != "refused" || r.Reason != want.reason {
				t.Fatalf("the tab is %q (%q), want refused (%s): %s", r.State, r.Reason, want.reason, r.Text)
			}
			mustContain(t, "the page", r.Text, "You are not signed in", want.says, "Sign in to Mattermost")
			if hasSession(r) {
				t.Errorf("the browser holds a session cookie: %+v", r.Cookies)
			}
		})
	}

	t.Run("refusals are counted by reason", func(t *testing.T) {
		req, _ := http.NewRequest("GET", b.mm.URL+"/plugins/com.mattermost.msteams/metrics", nil)
		req.SetBasicAuth("prometheus", metricsToken)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		metrics := string(body)
		for outcome, n := range map[string]int{"signed_in": 2, "expired": 1, "audience": 1, "tenant": 1, "deactivated": 1} {
			line := regexp.MustCompile(fmt.Sprintf(`(?m)^msteams_tab_sign_ins_total\{node="[^"]*",outcome="%s"\} %d$`, outcome, n))
			if !line.MatchString(metrics) {
				t.Errorf("the metrics do not count %d %s sign-ins:\n%s", n, outcome, metrics)
			}
		}
	})
}
