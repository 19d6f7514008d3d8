package e2e

import (
	"context"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/mattermost/mattermost/server/public/model"
	"github.com/msteams-bridge/msteams/tests/emulators/graph/m365"
	"github.com/msteams-bridge/msteams/tests/emulators/graph/m365ctl"
	"github.com/msteams-bridge/msteams/tests/mattermost/mmtest"
)

// bridge is the plugin in a real Mattermost server, configured against the Microsoft 365 emulator.
type bridge struct {
	mm  *mmtest.Server
	emu *m365.Emulator
	ctl *m365ctl.Client
}

// bridgeSettings are the plugin settings that point the bridge at the emulator, with its test CA trusted.
func bridgeSettings(emu *m365.Emulator) map[string]any {
	return map[string]any{
		"tenantId":       emu.TenantID,
		"clientId":       emu.ClientID,
		"clientSecret":   emu.ClientSecret,
		"nationalCloud":  "custom",
		"customLoginUrl": emu.LoginURL,
		"customGraphUrl": emu.GraphURL,
		"extraCaPem":     string(emu.CAPEM),
	}
}

func startBridge(t *testing.T, extra map[string]any) *bridge {
	t.Helper()
	ctx := context.Background()
	emu, err := m365.Start(ctx, m365.Options{StateDir: t.TempDir(), Logf: t.Logf})
	if err != nil {
		t.Fatalf("starting the Microsoft 365 emulator: %v", err)
	}
	t.Cleanup(func() { emu.Close() })
	settings := bridgeSettings(emu)
	for k, v := range extra {
		settings[k] = v
	}
	s := mmtest.StartT(t, mmtest.Options{Bundle: bundlePath(t), PluginSettings: settings, LogLevel: "DEBUG"})
	ctl := m365ctl.NewWithHTTPClient(emu.ControlURL, emu.HTTPClient())
	if _, err := ctl.PatchApp(ctx, m365ctl.AppPatch{
		AddRedirectURIs: []string{s.URL + "/plugins/" + pluginID + "/oauth-redirect"},
	}); err != nil {
		t.Fatalf("registering the redirect URI: %v", err)
	}
	return &bridge{mm: s, emu: emu, ctl: ctl}
}

// teamsTwin creates a Teams user with the same email address as the Mattermost user.
func (b *bridge) teamsTwin(t *testing.T, u *mmtest.User, displayName string) *m365ctl.User {
	t.Helper()
	tu, err := b.ctl.CreateUser(context.Background(), m365ctl.UserSpec{
		DisplayName:       displayName,
		Mail:              u.Email,
		UserPrincipalName: u.Email,
	})
	if err != nil {
		t.Fatalf("creating the Teams user for %s: %v", u.Username, err)
	}
	return tu
}

var noRedirects = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

// asUser sends a request to Mattermost with the user's session, without following redirects.
func asUser(ctx context.Context, u *mmtest.User, method, rawURL string) (*http.Response, string, error) {
	req, err := http.NewRequestWithContext(ctx, method, rawURL, nil)
	if err != nil {
		return nil, "", err
	}
	req.Header.Set(model.HeaderAuth, model.HeaderBearer+" "+u.Client.AuthToken)
	resp, err := noRedirects.Do(req)
	if err != nil {
		return nil, "", err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	return resp, string(body), err
}

// signIn runs the browser's part of the OAuth flow for u, signing in to Microsoft as loginHint. It returns the
// redirect URL Microsoft sent the browser back to (not yet visited).
func (b *bridge) signIn(t *testing.T, u *mmtest.User, connectPath, loginHint string) string {
	t.Helper()
	ctx := context.Background()
	resp, body, err := asUser(ctx, u, http.MethodGet, b.mm.URL+"/plugins/"+pluginID+connectPath)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusFound {
		t.Fatalf("GET %s: %d %s, want a redirect to Microsoft", connectPath, resp.StatusCode, body)
	}
	authorize, err := url.Parse(resp.Header.Get("Location"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(authorize.String(), b.emu.LoginURL+"/"+b.emu.TenantID+"/oauth2/v2.0/authorize") {
		t.Fatalf("redirected to %s, want the tenant's authorize endpoint", authorize)
	}
	q := authorize.Query()
	if q.Get("code_challenge_method") != "S256" || len(q.Get("code_challenge")) != 43 || len(q.Get("state")) < 32 {
		t.Fatalf("authorize request without PKCE S256 or a strong state: %s", authorize.RawQuery)
	}
	q.Set("login_hint", loginHint)
	authorize.RawQuery = q.Encode()
	hc := b.emu.HTTPClient()
	back, err := hc.Get(authorize.String())
	if err != nil {
		t.Fatal(err)
	}
	back.Body.Close()
	if back.StatusCode != http.StatusFound {
		t.Fatalf("Microsoft sign-in answered %d, want a redirect back", back.StatusCode)
	}
	return back.Header.Get("Location")
}

// finish visits the redirect URL as u and returns the page Mattermost shows.
func (b *bridge) finish(t *testing.T, u *mmtest.User, redirect string) (int, string) {
	t.Helper()
	if !strings.HasPrefix(redirect, b.mm.URL+"/plugins/"+pluginID+"/oauth-redirect?") {
		t.Fatalf("Microsoft redirected to %s, want the plugin's oauth-redirect", redirect)
	}
	resp, body, err := asUser(context.Background(), u, http.MethodGet, redirect)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, body
}

// connect runs the whole flow and requires success.
func (b *bridge) connect(t *testing.T, u *mmtest.User, loginHint string) string {
	t.Helper()
	status, page := b.finish(t, u, b.signIn(t, u, "/connect", loginHint))
	if status != http.StatusOK || !strings.Contains(page, "connected to Microsoft Teams") {
		t.Fatalf("connecting %s: %d %s", u.Username, status, page)
	}
	return page
}

func (b *bridge) command(t *testing.T, u *mmtest.User, channelID, cmd string) string {
	t.Helper()
	resp, err := u.Command(context.Background(), channelID, cmd)
	if err != nil {
		t.Fatalf("%s: %v", cmd, err)
	}
	return resp.Text
}

func mustContain(t *testing.T, what, text string, parts ...string) {
	t.Helper()
	for _, p := range parts {
		if !strings.Contains(text, p) {
			t.Errorf("%s: %q does not contain %q", what, text, p)
		}
	}
}
