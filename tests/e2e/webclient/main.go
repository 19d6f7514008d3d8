// Stages the plugin for a look in a real Mattermost web client: the Microsoft 365 emulator and a Mattermost server
// with the bundle, enforcement of connected accounts on, a connected user (alice) who has a DM with a Teams person
// (a synthetic user with a Teams photo), and two users who are not connected yet (bob and carol, who have Teams
// accounts to pick).
// It writes KEY=value lines (URLs, user names and passwords) to -env and keeps running until SIGINT/SIGTERM.
//
// The server is whatever $MMTEST_SERVER_DIR (or build.sh) gives; tests/webclient/run.sh points it at a copy of the
// server whose client/ directory holds a web client. Not part of any test suite.
package main

import (
	"context"
	"crypto/tls"
	"encoding/base64"
	"flag"
	"fmt"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"os/signal"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/mattermost/mattermost/server/public/model"
	"github.com/msteams-bridge/msteams/tests/e2e/harness"
	"github.com/msteams-bridge/msteams/tests/emulators/graph/m365"
	"github.com/msteams-bridge/msteams/tests/emulators/graph/m365ctl"
	"github.com/msteams-bridge/msteams/tests/mattermost/mmtest"
)

func main() {
	bundle := flag.String("bundle", "", "the plugin bundle (.tar.gz)")
	envPath := flag.String("env", "", "where to write the KEY=value lines once everything is ready")
	logDir := flag.String("log-dir", "", "keep the Mattermost and PostgreSQL logs here")
	flag.Parse()
	if *bundle == "" || *envPath == "" {
		fmt.Fprintln(os.Stderr, "usage: webclient -bundle BUNDLE -env FILE [-log-dir DIR]")
		os.Exit(2)
	}
	if err := run(*bundle, *envPath, *logDir); err != nil {
		fmt.Fprintf(os.Stderr, "webclient stage: %v\n", err)
		os.Exit(1)
	}
}

func run(bundle, envPath, logDir string) error {
	ctx, cancel := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer cancel()
	logf := func(format string, args ...any) { fmt.Fprintf(os.Stderr, format+"\n", args...) }

	b, err := harness.Start(ctx, harness.Options{Bundle: bundle, LogDir: logDir, LogLevel: "INFO", Logf: logf,
		Settings: map[string]any{
			"enforceConnectedAccounts":   true,
			"allowSkipConnectAccounts":   true,
			"profileSyncIntervalSeconds": 2,
		}})
	if err != nil {
		return err
	}
	defer b.Close()
	mm, ctl := b.MM, b.Ctl

	// Microsoft's sign-in pages have been reported to send Cross-Origin-Opener-Policy: same-origin, which the
	// emulator does not. The plugin reaches the login host through a proxy that adds that header while it is on.
	coop, err := startCOOPProxy(b.Emu)
	if err != nil {
		return err
	}
	defer coop.close()

	// The first admin would otherwise be sent to the workspace set-up wizard on the first login.
	if _, err := mm.AdminClient.CompleteOnboarding(ctx, &model.CompleteOnboardingRequest{Organization: "Contoso"}); err != nil {
		logf("completing the onboarding: %v (the web client may show the set-up wizard)", err)
	}

	alice, err := mm.CreateUser(ctx, "alice")
	if err != nil {
		return err
	}
	bob, err := mm.CreateUser(ctx, "bob")
	if err != nil {
		return err
	}
	aliceTeams, err := b.TeamsTwin(ctx, alice, "Alice Teams")
	if err != nil {
		return err
	}
	if _, err := b.TeamsTwin(ctx, bob, "Bob Teams"); err != nil {
		return err
	}
	// carol is like bob: for a second look at the connect flow.
	carol, err := mm.CreateUser(ctx, "carol")
	if err != nil {
		return err
	}
	if _, err := b.TeamsTwin(ctx, carol, "Carol Teams"); err != nil {
		return err
	}
	// Mattermost's own first-run panels (the admin's "Welcome to Mattermost" task list, the channel tours) would
	// cover what is being looked at.
	for _, u := range []*mmtest.User{mm.Admin, alice, bob, carol} {
		prefs := model.Preferences{
			{UserId: u.Id, Category: "onboarding_task_list", Name: "onboarding_task_list_show", Value: "false"},
			{UserId: u.Id, Category: "onboarding_task_list", Name: "onboarding_task_list_open", Value: "false"},
			{UserId: u.Id, Category: model.PreferenceCategoryTutorialSteps, Name: u.Id, Value: "999"},
		}
		if _, err := u.Client.UpdatePreferences(ctx, u.Id, prefs); err != nil {
			logf("quieting the first-run panels of %s: %v", u.Username, err)
		}
	}
	if _, err := mm.CreateChannel(ctx, mm.Team.Id, "bridge-ui", model.ChannelTypeOpen, alice, bob); err != nil {
		return err
	}
	if _, err := b.Connect(ctx, alice, alice.Email); err != nil {
		return err
	}
	logf("alice connected")
	// From now on through the proxy (harness.Connect wants the emulator's own address).
	if err := mm.UpdateConfig(ctx, func(cfg *model.Config) {
		cfg.PluginSettings.Plugins[harness.PluginID]["customloginurl"] = coop.url
	}); err != nil {
		return err
	}

	if err := harness.WaitFor(ctx, 60*time.Second, 250*time.Millisecond, func() (bool, error) {
		subs, err := ctl.Subscriptions(ctx)
		if err != nil {
			return false, err
		}
		for _, s := range subs {
			if strings.HasPrefix(s.Resource, "chats/getAllMessages") {
				return true, nil
			}
		}
		return false, nil
	}); err != nil {
		return fmt.Errorf("no chats subscription: %w", err)
	}

	// Megan has no Mattermost account: her first message makes her a synthetic user with her Teams photo.
	megan, err := ctl.CreateUser(ctx, m365ctl.UserSpec{DisplayName: "Megan Bowen", Mail: "megan@contoso.example",
		UserPrincipalName: "megan@contoso.example", JobTitle: "Marketing Manager"})
	if err != nil {
		return err
	}
	photo := base64.StdEncoding.EncodeToString(harness.PNGSquare(96))
	busy := m365ctl.Presence{Availability: "Busy", Activity: "InAMeeting"}
	if _, err := ctl.PatchUser(ctx, megan.ID, m365ctl.UserPatch{Photo: &photo, PhotoType: "image/png", Presence: &busy}); err != nil {
		return err
	}
	chat, err := ctl.CreateChat(ctx, m365ctl.ChatSpec{ChatType: "oneOnOne", Members: []string{megan.ID, aliceTeams.ID}})
	if err != nil {
		return err
	}
	if _, err := ctl.Send(ctx, m365ctl.InChat(chat.ID), m365ctl.Post{From: megan.ID, HTML: "<p>Hello from <b>Teams</b>!</p>"}); err != nil {
		return err
	}
	var ghost *model.User
	var dm *model.Channel
	if err := harness.WaitFor(ctx, 60*time.Second, 250*time.Millisecond, func() (bool, error) {
		u, _, err := mm.AdminClient.GetUserByEmail(ctx, "megan@contoso.example", "")
		if err != nil {
			return false, nil
		}
		ghost = u
		ch, _, err := alice.Client.CreateDirectChannel(ctx, alice.Id, u.Id)
		if err != nil {
			return false, nil
		}
		posts, err := alice.Posts(ctx, ch.Id)
		if err != nil || len(posts) == 0 {
			return false, nil
		}
		dm = ch
		return u.LastPictureUpdate > 0, nil
	}); err != nil {
		if ghost == nil || dm == nil {
			return fmt.Errorf("no synthetic user or no DM with her: %w", err)
		}
		logf("the synthetic user has no picture yet: %v", err)
	}
	logf("synthetic user %s (%s), DM %s", ghost.Username, ghost.Id, dm.Id)

	lines := []string{
		"MM_URL=" + mm.URL,
		"MM_TEAM=" + mm.Team.Name,
		"MM_ADMIN_USER=" + mm.Admin.Username,
		"MM_ADMIN_PASSWORD=" + mm.Admin.Password,
		"MM_ADMIN_TOKEN=" + mm.AdminToken,
		"MM_ALICE_PASSWORD=" + alice.Password,
		"MM_BOB_PASSWORD=" + bob.Password,
		"MM_CAROL_PASSWORD=" + carol.Password,
		"MM_GHOST_USERNAME=" + ghost.Username,
		"MM_GHOST_ID=" + ghost.Id,
		"MM_GHOST_DM=" + dm.Id,
		"MM_LOG=" + mm.LogPath(),
		"MM_RUN_DIR=" + mm.RunDir,
		"M365_LOGIN_URL=" + coop.url,
		"M365_COOP_SWITCH=" + coop.url + coopSwitchPath,
		"M365_CONTROL_URL=" + b.Emu.ControlURL,
		"M365_CA_FILE=" + b.Emu.CAFile,
		"M365_CLIENT_SECRET=" + b.Emu.ClientSecret,
	}
	if err := os.WriteFile(envPath, []byte(strings.Join(lines, "\n")+"\n"), 0o600); err != nil {
		return err
	}
	logf("ready: %s", envPath)
	select {
	case <-ctx.Done():
	case <-mm.Done():
		return fmt.Errorf("mattermost exited")
	}
	return nil
}

const coopSwitchPath = "/__webclient/coop"

// coopProxy is an HTTPS reverse proxy to the emulator's login host (with a certificate from the emulator's CA,
// which the plugin trusts) that adds Cross-Origin-Opener-Policy: same-origin to every answer while it is on.
// GET <url>/__webclient/coop?on=1 (or 0) switches it.
type coopProxy struct {
	url    string
	on     atomic.Bool
	server *http.Server
}

func startCOOPProxy(emu *m365.Emulator) (*coopProxy, error) {
	target, err := url.Parse(emu.LoginURL)
	if err != nil {
		return nil, err
	}
	p := &coopProxy{}
	rp := httputil.NewSingleHostReverseProxy(target)
	base := rp.Director
	rp.Director = func(r *http.Request) {
		base(r)
		r.Host = target.Host
	}
	rp.Transport = &http.Transport{TLSClientConfig: &tls.Config{RootCAs: emu.CertPool(), MinVersion: tls.VersionTLS12}}
	rp.ModifyResponse = func(r *http.Response) error {
		if p.on.Load() {
			r.Header.Set("Cross-Origin-Opener-Policy", "same-origin")
		}
		return nil
	}
	mux := http.NewServeMux()
	mux.HandleFunc(coopSwitchPath, func(w http.ResponseWriter, r *http.Request) {
		p.on.Store(r.URL.Query().Get("on") == "1")
		fmt.Fprintf(w, "coop=%v\n", p.on.Load())
	})
	mux.Handle("/", rp)
	cfg, err := emu.TLSConfigForServer("localhost")
	if err != nil {
		return nil, err
	}
	ln, err := tls.Listen("tcp", "127.0.0.1:0", cfg)
	if err != nil {
		return nil, err
	}
	p.url = fmt.Sprintf("https://localhost:%d", ln.Addr().(*net.TCPAddr).Port)
	p.server = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = p.server.Serve(ln) }()
	return p, nil
}

func (p *coopProxy) close() { _ = p.server.Close() }
