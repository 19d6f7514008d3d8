// Package harness runs the plugin in a real Mattermost server configured against the Microsoft 365 emulator,
// and drives both sides as users would. The end-to-end suites and `make demo` use it.
package harness

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/mattermost/mattermost/server/public/model"
	"github.com/msteams-bridge/msteams/tests/emulators/graph/m365"
	"github.com/msteams-bridge/msteams/tests/emulators/graph/m365ctl"
	"github.com/msteams-bridge/msteams/tests/mattermost/mmtest"
)

// PluginID is the plugin under test.
const PluginID = "com.mattermost.msteams"

// Bridge is the plugin in a real Mattermost server, configured against the Microsoft 365 emulator.
type Bridge struct {
	MM  *mmtest.Server
	Emu *m365.Emulator
	Ctl *m365ctl.Client
	// With Options.Balanced: the load balancer at the SiteURL, and every node behind it (MM first).
	LB    *mmtest.Balancer
	Nodes []*mmtest.Server
}

// Options say what to start.
type Options struct {
	Bundle   string         // the plugin bundle (.tar.gz)
	Settings map[string]any // added to (and overriding) EmulatorSettings
	StateDir string         // the emulator's state directory (its CA); a temp dir when empty
	LogDir   string         // keeps the Mattermost and PostgreSQL logs when set
	LogLevel string         // the server's log level; DEBUG when empty
	Env      []string       // added to the server's environment (e.g. MM_METRICSSETTINGS_ENABLE=true)
	// Balanced puts a load balancer in front of the server, at the SiteURL: Microsoft's notifications and the OAuth
	// redirect go through it, and AddNode adds servers behind it.
	Balanced bool
	Logf     func(format string, args ...any)
}

// EmulatorSettings are the plugin settings that point the bridge at the emulator, with its test CA trusted.
func EmulatorSettings(emu *m365.Emulator) map[string]any {
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

// Start starts the emulator and a Mattermost server with the bundle installed, enabled and configured, and
// registers the server's OAuth redirect URI with the emulator's app registration.
func Start(ctx context.Context, opts Options) (_ *Bridge, err error) {
	// The test server speaks plain HTTP, so the emulator must accept http:// notification URLs (Graph would not).
	emu, err := m365.Start(ctx, m365.Options{StateDir: opts.StateDir, Logf: opts.Logf, AllowHTTPNotifications: true})
	if err != nil {
		return nil, fmt.Errorf("starting the Microsoft 365 emulator: %w", err)
	}
	defer func() {
		if err != nil {
			emu.Close()
		}
	}()
	settings := EmulatorSettings(emu)
	for k, v := range opts.Settings {
		settings[k] = v
	}
	level := opts.LogLevel
	if level == "" {
		level = "DEBUG"
	}
	var lb *mmtest.Balancer
	siteURL := ""
	if opts.Balanced {
		if lb, err = mmtest.StartBalancer(); err != nil {
			return nil, err
		}
		defer func() {
			if err != nil {
				lb.Close()
			}
		}()
		siteURL = lb.URL
	}
	s, err := mmtest.Start(ctx, mmtest.Options{Bundle: opts.Bundle, PluginSettings: settings, LogLevel: level,
		LogDir: opts.LogDir, Logf: opts.Logf, Env: opts.Env, SiteURL: siteURL})
	if err != nil {
		return nil, err
	}
	b := &Bridge{MM: s, Emu: emu, Ctl: m365ctl.NewWithHTTPClient(emu.ControlURL, emu.HTTPClient()), LB: lb,
		Nodes: []*mmtest.Server{s}}
	if lb != nil {
		lb.Add(s)
	}
	if _, err := b.Ctl.PatchApp(ctx, m365ctl.AppPatch{AddRedirectURIs: []string{b.RedirectURI()}}); err != nil {
		s.Stop()
		return nil, fmt.Errorf("registering the redirect URI: %w", err)
	}
	return b, nil
}

// AddNode starts another Mattermost server on the same database and file store, with env in its environment, and
// puts it behind the load balancer (Options.Balanced).
func (b *Bridge) AddNode(ctx context.Context, env []string) (*mmtest.Server, error) {
	if b.LB == nil {
		return nil, fmt.Errorf("AddNode needs Options.Balanced")
	}
	s, err := b.MM.StartPeer(ctx, env)
	if err != nil {
		return nil, err
	}
	b.Nodes = append(b.Nodes, s)
	b.LB.Add(s)
	return s, nil
}

// Close stops the servers (peers first), the load balancer and the emulator.
func (b *Bridge) Close() error {
	var errs []error
	for i := len(b.Nodes) - 1; i >= 0; i-- {
		errs = append(errs, b.Nodes[i].Stop())
	}
	if b.LB != nil {
		b.LB.Close()
	}
	b.Emu.Close()
	return errors.Join(errs...)
}

// RedirectURI is the plugin's OAuth redirect URI at the SiteURL.
func (b *Bridge) RedirectURI() string {
	return b.MM.SiteURL + "/plugins/" + PluginID + "/oauth-redirect"
}

// TeamsTwin creates a Teams user with the same email address as the Mattermost user.
func (b *Bridge) TeamsTwin(ctx context.Context, u *mmtest.User, displayName string) (*m365ctl.User, error) {
	return b.Ctl.CreateUser(ctx, m365ctl.UserSpec{DisplayName: displayName, Mail: u.Email, UserPrincipalName: u.Email})
}

var noRedirects = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

// AsUser sends a request to Mattermost with the user's session, without following redirects, and returns the
// response (its body already read) and the body.
func AsUser(ctx context.Context, u *mmtest.User, method, rawURL string) (*http.Response, string, error) {
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

// SignIn runs the browser's part of the OAuth flow for u: the plugin's connect route (connectPath, e.g.
// "/connect"), then Microsoft's sign-in as loginHint. It checks the authorize request carries PKCE S256 and a
// strong state, and returns the URL Microsoft sent the browser back to (not yet visited).
func (b *Bridge) SignIn(ctx context.Context, u *mmtest.User, connectPath, loginHint string) (string, error) {
	resp, body, err := AsUser(ctx, u, http.MethodGet, b.MM.URL+"/plugins/"+PluginID+connectPath)
	if err != nil {
		return "", err
	}
	if resp.StatusCode != http.StatusFound {
		return "", fmt.Errorf("GET %s: %d %s, want a redirect to Microsoft", connectPath, resp.StatusCode, body)
	}
	authorize, err := url.Parse(resp.Header.Get("Location"))
	if err != nil {
		return "", err
	}
	if !strings.HasPrefix(authorize.String(), b.Emu.LoginURL+"/"+b.Emu.TenantID+"/oauth2/v2.0/authorize") {
		return "", fmt.Errorf("redirected to %s, want the tenant's authorize endpoint", authorize)
	}
	q := authorize.Query()
	if q.Get("code_challenge_method") != "S256" || len(q.Get("code_challenge")) != 43 || len(q.Get("state")) < 32 {
		return "", fmt.Errorf("authorize request without PKCE S256 or a strong state: %s", authorize.RawQuery)
	}
	q.Set("login_hint", loginHint)
	authorize.RawQuery = q.Encode()
	back, err := b.Emu.HTTPClient().Get(authorize.String())
	if err != nil {
		return "", err
	}
	back.Body.Close()
	if back.StatusCode != http.StatusFound {
		return "", fmt.Errorf("Microsoft sign-in answered %d, want a redirect back", back.StatusCode)
	}
	return back.Header.Get("Location"), nil
}

// Finish visits the redirect URL as u and returns the status and page Mattermost shows.
func (b *Bridge) Finish(ctx context.Context, u *mmtest.User, redirect string) (int, string, error) {
	if !strings.HasPrefix(redirect, b.RedirectURI()+"?") {
		return 0, "", fmt.Errorf("Microsoft redirected to %s, want the plugin's oauth-redirect", redirect)
	}
	resp, body, err := AsUser(ctx, u, http.MethodGet, redirect)
	if err != nil {
		return 0, "", err
	}
	return resp.StatusCode, body, nil
}

// Connect runs the whole flow for u, signing in as loginHint, and requires success.
func (b *Bridge) Connect(ctx context.Context, u *mmtest.User, loginHint string) (string, error) {
	redirect, err := b.SignIn(ctx, u, "/connect", loginHint)
	if err != nil {
		return "", err
	}
	status, page, err := b.Finish(ctx, u, redirect)
	if err != nil {
		return "", err
	}
	if status != http.StatusOK || !strings.Contains(page, "connected to Microsoft Teams") {
		return "", fmt.Errorf("connecting %s: %d %s", u.Username, status, page)
	}
	return page, nil
}

// CommandReply runs a slash command as u in the channel and returns the plugin's reply: the ephemeral post the
// plugin sends (from the msteams bot), or, for a reply Mattermost posts itself, a post carrying only its text.
func CommandReply(ctx context.Context, u *mmtest.User, channelID, command string) (*model.Post, error) {
	ws, err := u.Listen(ctx)
	if err != nil {
		return nil, err
	}
	defer ws.Close()
	resp, err := u.Command(ctx, channelID, command)
	if err != nil {
		return nil, err
	}
	if resp.Text != "" {
		return &model.Post{ChannelId: channelID, Message: resp.Text}, nil
	}
	wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	post, err := ws.WaitEphemeral(wctx, func(p *model.Post) bool { return p.ChannelId == channelID })
	if err != nil {
		return nil, fmt.Errorf("no reply to %q: %w", command, err)
	}
	return post, nil
}

// Command is CommandReply's text.
func Command(ctx context.Context, u *mmtest.User, channelID, command string) (string, error) {
	post, err := CommandReply(ctx, u, channelID, command)
	if err != nil {
		return "", err
	}
	return post.Message, nil
}
