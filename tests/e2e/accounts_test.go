package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/mattermost/mattermost/server/public/model"
	"github.com/msteams-bridge/msteams/tests/emulators/graph/m365ctl"
	"github.com/msteams-bridge/msteams/tests/mattermost/mmtest"
)

type connectionStatus struct {
	Connected        bool   `json:"connected"`
	TeamsUserID      string `json:"teams_user_id"`
	TeamsEmail       string `json:"teams_email"`
	TeamsDisplayName string `json:"teams_display_name"`
	CanConnect       bool   `json:"can_connect"`
}

var jwtPattern = regexp.MustCompile(`eyJ[A-Za-z0-9_-]+\.eyJ[A-Za-z0-9_-]+`)

func (b *bridge) connectionStatus(t *testing.T, u *mmtest.User) connectionStatus {
	t.Helper()
	resp, err := b.mm.PluginRequest(context.Background(), u, http.MethodGet, "/api/v1/connection-status", nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("connection-status: %d %s", resp.StatusCode, resp.Body)
	}
	var st connectionStatus
	if err := json.Unmarshal(resp.Body, &st); err != nil {
		t.Fatal(err)
	}
	return st
}

// psql runs one query against the Mattermost database and returns its unaligned output.
func (b *bridge) psql(t *testing.T, query string) string {
	t.Helper()
	out, err := exec.Command("psql", b.mm.DataSource, "-X", "-At", "-c", query).CombinedOutput()
	if err != nil {
		t.Fatalf("psql %q: %v\n%s", query, err, out)
	}
	return strings.TrimSpace(string(out))
}

// botDM returns the messages the msteams bot sent the user in their direct channel.
func (b *bridge) botDM(t *testing.T, u *mmtest.User) []string {
	t.Helper()
	ctx := context.Background()
	bot, _, err := b.mm.AdminClient.GetUserByUsername(ctx, "msteams", "")
	if err != nil {
		t.Fatalf("the msteams bot: %v", err)
	}
	ch, _, err := u.Client.CreateDirectChannel(ctx, u.Id, bot.Id)
	if err != nil {
		t.Fatal(err)
	}
	posts, err := u.Posts(ctx, ch.Id)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, p := range posts {
		if p.UserId == bot.Id {
			out = append(out, p.Message)
		}
	}
	return out
}

func TestAccounts(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a Mattermost server and the Microsoft 365 emulator")
	}
	ctx := context.Background()
	b := startBridge(t, nil)
	alice := b.user(t, "alice")
	bob := b.user(t, "bob")
	teamsAlice := b.teamsTwin(t, alice, "Alice Teams")
	b.teamsTwin(t, bob, "Bob Teams")
	channel, err := b.mm.CreateChannel(ctx, b.mm.Team.Id, "accounts", model.ChannelTypeOpen, alice, bob)
	if err != nil {
		t.Fatal(err)
	}

	t.Run("not connected at first", func(t *testing.T) {
		mustContain(t, "status", b.command(t, alice, channel.Id, "/msteams status"), "not connected")
		if st := b.connectionStatus(t, alice); st.Connected || !st.CanConnect {
			t.Errorf("connection-status %+v, want not connected and able to connect", st)
		}
		mustContain(t, "connect", b.command(t, alice, channel.Id, "/msteams connect"),
			b.mm.URL+"/plugins/"+pluginID+"/connect")
	})

	t.Run("alice connects through the OAuth flow, and the webapp is told", func(t *testing.T) {
		ws, err := alice.Listen(ctx)
		if err != nil {
			t.Fatal(err)
		}
		defer ws.Close()
		redirect := b.signIn(t, alice, "/connect", alice.Email)
		status, page := b.finish(t, alice, redirect)
		if status != http.StatusOK {
			t.Fatalf("redirect: %d %s", status, page)
		}
		mustContain(t, "page", page, "connected to Microsoft Teams as Alice Teams", `data-outcome="connected"`,
			"window.opener", ">Back to Mattermost</a>")
		wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		ev, err := ws.WaitFor(wctx, func(ev *model.WebSocketEvent) bool {
			return ev.EventType() == model.WebsocketEventType("custom_"+pluginID+"_connection_changed")
		})
		if err != nil {
			t.Fatalf("no connection_changed event: %v", err)
		}
		if ev.GetData()["connected"] != true || ev.GetData()["teams_display_name"] != "Alice Teams" {
			t.Errorf("event data %v", ev.GetData())
		}
		st := b.connectionStatus(t, alice)
		if !st.Connected || st.TeamsUserID != teamsAlice.ID || !strings.EqualFold(st.TeamsEmail, alice.Email) {
			t.Errorf("connection-status %+v", st)
		}
		mustContain(t, "status", b.command(t, alice, channel.Id, "/msteams status"), "connected to Microsoft Teams as Alice Teams")

		// The same redirect again: the state is single-use.
		status, page = b.finish(t, alice, redirect)
		if status == http.StatusOK {
			t.Fatalf("a replayed redirect connected again: %s", page)
		}
		mustContain(t, "replay", page, "not valid or was already used")
	})

	t.Run("tokens are sealed at rest", func(t *testing.T) {
		sealed := b.psql(t, fmt.Sprintf("select token_sealed from msteams_accounts where mm_user_id = '%s'", alice.Id))
		if !strings.HasPrefix(sealed, "v1.") || len(sealed) < 100 {
			t.Fatalf("stored token %q is not a sealed value", sealed)
		}
		// A JWT is base64url segments joined by dots ("eyJ…" is `{"`); the sealed value's body is base64url, which
		// has no dots, so a plaintext token cannot hide in it. (Checking for "eyJ" alone fails on about one random
		// sealed value in a hundred.)
		if jwtPattern.MatchString(sealed) || strings.Contains(strings.ToLower(sealed), "refresh") {
			t.Errorf("the stored token looks readable: %q", sealed)
		}
		if n := b.psql(t, "select count(*) from msteams_oauth_states"); n != "0" {
			t.Errorf("%s OAuth states left after a finished flow", n)
		}
	})

	t.Run("refused: another user's email, a flow started by someone else", func(t *testing.T) {
		ws, err := bob.Listen(ctx)
		if err != nil {
			t.Fatal(err)
		}
		defer ws.Close()
		// bob signs in to Microsoft as alice: the email does not match his.
		status, page := b.finish(t, bob, b.signIn(t, bob, "/connect", alice.Email))
		if status != http.StatusForbidden {
			t.Errorf("mismatched email: %d, want 403", status)
		}
		mustContain(t, "mismatched email", page, "does not have the same email address", bob.Email,
			`data-outcome="refused"`, `data-message="The Microsoft account`)
		// His Mattermost windows are told too: Microsoft's sign-in pages cut the pop-up off from them.
		wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		ev, err := ws.WaitFor(wctx, func(ev *model.WebSocketEvent) bool {
			return ev.EventType() == model.WebsocketEventType("custom_"+pluginID+"_connect_outcome")
		})
		if err != nil {
			t.Fatalf("no connect_outcome event: %v", err)
		}
		if ev.GetData()["outcome"] != "refused" ||
			!strings.Contains(fmt.Sprint(ev.GetData()["message"]), "does not have the same email address") {
			t.Errorf("connect_outcome data %v", ev.GetData())
		}

		// A redirect for bob's flow visited in alice's session.
		status, page = b.finish(t, alice, b.signIn(t, bob, "/connect", bob.Email))
		if status != http.StatusForbidden {
			t.Errorf("another user's flow: %d, want 403", status)
		}
		mustContain(t, "another user's flow", page, "started by another Mattermost user")
		if st := b.connectionStatus(t, bob); st.Connected {
			t.Errorf("bob got connected: %+v", st)
		}

		// Neither alice's code nor her cancel spends bob's pending state: it stays for bob.
		b.psql(t, "delete from msteams_oauth_states")
		redirect := b.signIn(t, bob, "/connect", bob.Email)
		parsed, err := url.Parse(redirect)
		if err != nil {
			t.Fatal(err)
		}
		state := parsed.Query().Get("state")
		status, page = b.finish(t, alice, redirect)
		if status != http.StatusForbidden {
			t.Errorf("another user's code: %d, want 403", status)
		}
		mustContain(t, "another user's code", page, "started by another Mattermost user")
		status, page = b.finish(t, alice, b.RedirectURI()+"?error=access_denied&state="+url.QueryEscape(state))
		if status != http.StatusForbidden {
			t.Errorf("another user's cancel: %d, want 403", status)
		}
		mustContain(t, "another user's cancel", page, "started by another Mattermost user")
		bobs := fmt.Sprintf("select count(*) from msteams_oauth_states where mm_user_id = '%s'", bob.Id)
		if n := b.psql(t, bobs); n != "1" {
			t.Errorf("bob's pending state after alice's visits: %s rows, want 1", n)
		}
		b.psql(t, "delete from msteams_oauth_states")
	})

	t.Run("refused: an expired state, and a PKCE verifier that is not the flow's own", func(t *testing.T) {
		// A flow left pending for more than 5 minutes (its expiry moved into the past).
		redirect := b.signIn(t, bob, "/connect", bob.Email)
		b.psql(t, "update msteams_oauth_states set expires_at = 1")
		status, page := b.finish(t, bob, redirect)
		if status != http.StatusBadRequest {
			t.Errorf("expired state: %d, want 400", status)
		}
		mustContain(t, "expired state", page, "expired")

		// Two flows of bob's with their sealed verifiers swapped: the code of the first is redeemed with the
		// second's verifier, and Microsoft refuses it (AADSTS501481).
		first := b.signIn(t, bob, "/connect", bob.Email)
		b.signIn(t, bob, "/connect", bob.Email) // the second flow, left pending
		b.psql(t, `update msteams_oauth_states s set verifier_sealed = o.verifier_sealed
			from msteams_oauth_states o where s.state <> o.state`)
		status, page = b.finish(t, bob, first)
		if status < 400 {
			t.Errorf("swapped verifier: %d %s", status, page)
		}
		mustContain(t, "swapped verifier", page, "refused the sign-in")
		within(t, 10*time.Second, func() string { // log lines reach the server log asynchronously
			if !b.mm.LogContains("AADSTS501481") {
				return "the server log does not name Entra's PKCE refusal (AADSTS501481)"
			}
			return ""
		})
		if st := b.connectionStatus(t, bob); st.Connected {
			t.Errorf("bob got connected: %+v", st)
		}
		if n := b.psql(t, fmt.Sprintf("select count(*) from msteams_accounts where mm_user_id = '%s'", bob.Id)); n != "0" {
			t.Errorf("a refused flow stored %s account rows", n)
		}
		b.psql(t, "delete from msteams_oauth_states")

		// The user cancels at Microsoft: the redirect carries an error; the page says so and the state is spent.
		redirect = b.signIn(t, bob, "/connect", bob.Email)
		parsed, err := url.Parse(redirect)
		if err != nil {
			t.Fatal(err)
		}
		state := parsed.Query().Get("state")
		// A long description: the log cuts it at 300 bytes, here inside an "é", and must still log it.
		description := "AADSTS65004: x" + strings.Repeat("é", 200)
		status, page = b.finish(t, bob, b.RedirectURI()+"?error=access_denied&error_description="+
			url.QueryEscape(description)+"&state="+url.QueryEscape(state))
		if status != http.StatusBadRequest {
			t.Errorf("cancelled sign-in: %d", status)
		}
		mustContain(t, "cancelled sign-in", page, "cancelled", `data-outcome="cancelled"`)
		within(t, 10*time.Second, func() string {
			if !b.mm.LogContains("AADSTS65004") {
				return "the server log lacks the sign-in error (a log line cut inside a character is lost)"
			}
			return ""
		})
		if n := b.psql(t, "select count(*) from msteams_oauth_states"); n != "0" {
			t.Errorf("a cancelled sign-in left %s states", n)
		}
		status, page = b.finish(t, bob, redirect)
		mustContain(t, "code after cancel", page, "not valid or was already used")
	})

	t.Run("a user who is connected is told so instead of starting again", func(t *testing.T) {
		mustContain(t, "connect", b.command(t, alice, channel.Id, "/msteams connect"), "already connected")
		resp, body, err := asUser(ctx, alice, http.MethodGet, b.mm.URL+"/plugins/"+pluginID+"/connect")
		if err != nil {
			t.Fatal(err)
		}
		if resp.StatusCode != http.StatusConflict || !strings.Contains(body, "already connected") {
			t.Errorf("/connect while connected: %d %s", resp.StatusCode, body)
		}
	})

	t.Run("the connected-users limit", func(t *testing.T) {
		settings := bridgeSettings(b.emu)
		settings["connectedUsersAllowed"] = 1
		current, err := b.mm.PluginSettings(ctx, pluginID)
		if err != nil {
			t.Fatal(err)
		}
		for _, k := range []string{"encryptionkey", "webhooksecret"} {
			settings[k] = current[k]
		}
		if err := b.mm.SetPluginSettings(ctx, pluginID, settings); err != nil {
			t.Fatal(err)
		}
		err = eventually(ctx, 10*time.Second, func() error {
			if st := b.connectionStatus(t, bob); st.CanConnect {
				return fmt.Errorf("bob can still connect: %+v", st)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		mustContain(t, "connect at the limit", b.command(t, bob, channel.Id, "/msteams connect"), "limit")
		resp, body, err := asUser(ctx, bob, http.MethodGet, b.mm.URL+"/plugins/"+pluginID+"/connect")
		if err != nil {
			t.Fatal(err)
		}
		if resp.StatusCode != http.StatusForbidden || !strings.Contains(body, "limit") {
			t.Errorf("/connect at the limit: %d %s", resp.StatusCode, body)
		}
		settings["connectedUsersAllowed"] = 1000
		if err := b.mm.SetPluginSettings(ctx, pluginID, settings); err != nil {
			t.Fatal(err)
		}
		if err := eventually(ctx, 10*time.Second, func() error {
			if !b.connectionStatus(t, bob).CanConnect {
				return fmt.Errorf("bob still cannot connect")
			}
			return nil
		}); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("admin-only commands are refused to users", func(t *testing.T) {
		mustContain(t, "connect-bot", b.command(t, bob, channel.Id, "/msteams connect-bot"), "system admins only")
		mustContain(t, "disconnect-bot", b.command(t, bob, channel.Id, "/msteams disconnect-bot"), "system admins only")
		mustContain(t, "bad argument", b.command(t, bob, channel.Id, "/msteams status now"), "takes no arguments")
	})

	t.Run("tokens near expiry are refreshed and the rotated refresh token is kept", func(t *testing.T) {
		// Access tokens that live a minute are always within the refresh margin: every use refreshes.
		if err := b.ctl.SetLifetimes(ctx, m365ctl.Lifetimes{AccessTokenSeconds: 60, RefreshTokenSeconds: 86400,
			CodeSeconds: 600, RevokeRotatedRefreshTokens: true}); err != nil {
			t.Fatal(err)
		}
		b.connect(t, bob, bob.Email)
		query := fmt.Sprintf("select token_sealed from msteams_accounts where mm_user_id = '%s'", bob.Id)
		before := b.psql(t, query)
		for i := 0; i < 2; i++ { // with rotated tokens revoked on use, a lost rotation would fail the second time
			mustContain(t, "status with a refresh", b.command(t, bob, channel.Id, "/msteams status"), "connected to Microsoft Teams as Bob Teams")
		}
		if after := b.psql(t, query); after == before {
			t.Error("the stored token did not change after a refresh")
		}
	})

	t.Run("a revoked refresh token disconnects the user, who is told by the bot", func(t *testing.T) {
		if _, err := b.ctl.RevokeTokens(ctx, m365ctl.Revoke{UserID: teamsUserID(t, b, bob), KeepAccessTokens: true}); err != nil {
			t.Fatal(err)
		}
		mustContain(t, "status after revocation", b.command(t, bob, channel.Id, "/msteams status"), "stopped working")
		if st := b.connectionStatus(t, bob); st.Connected {
			t.Errorf("still connected after the grant was revoked: %+v", st)
		}
		dms := b.botDM(t, bob)
		// The last one (the first is the welcome when bob connected).
		if len(dms) == 0 || !strings.Contains(dms[len(dms)-1], "/plugins/"+pluginID+"/connect") {
			t.Errorf("bot DMs %q, want a reconnect link", dms)
		}
		if got := b.psql(t, fmt.Sprintf("select coalesce(token_sealed, 'NULL') from msteams_accounts where mm_user_id = '%s'", bob.Id)); got != "NULL" {
			t.Errorf("the token was not cleared: %q", got)
		}
		if err := b.ctl.SetLifetimes(ctx, m365ctl.Lifetimes{AccessTokenSeconds: 3600, RefreshTokenSeconds: 86400,
			CodeSeconds: 600}); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("a changed encryption key makes tokens unreadable: the user is asked to reconnect", func(t *testing.T) {
		current, err := b.mm.PluginSettings(ctx, pluginID)
		if err != nil {
			t.Fatal(err)
		}
		current["encryptionkey"] = "a-completely-different-key-0123456789"
		if err := b.mm.SetPluginSettings(ctx, pluginID, current); err != nil {
			t.Fatal(err)
		}
		err = eventually(ctx, 10*time.Second, func() error {
			text := b.command(t, alice, channel.Id, "/msteams status")
			if !strings.Contains(text, "stopped working") {
				return fmt.Errorf("status %q", text)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		// Connecting again works with the new key.
		b.connect(t, alice, alice.Email)
		mustContain(t, "status", b.command(t, alice, channel.Id, "/msteams status"), "connected to Microsoft Teams as Alice Teams")
	})

	t.Run("disconnect", func(t *testing.T) {
		mustContain(t, "disconnect", b.command(t, alice, channel.Id, "/msteams disconnect"), "has been disconnected")
		mustContain(t, "status", b.command(t, alice, channel.Id, "/msteams status"), "not connected")
		mustContain(t, "disconnect again", b.command(t, alice, channel.Id, "/msteams disconnect"), "not connected")
		// The mapping stays (history keeps its author); the token is gone.
		if got := b.psql(t, fmt.Sprintf("select teams_user_id || '|' || coalesce(token_sealed, 'NULL') from msteams_accounts where mm_user_id = '%s'", alice.Id)); got != teamsAlice.ID+"|NULL" {
			t.Errorf("after disconnect the row is %q", got)
		}
	})

	t.Run("the admin connects the bot", func(t *testing.T) {
		admin := b.mm.Admin
		mustContain(t, "connect-bot", b.command(t, admin, channel.Id, "/msteams connect-bot"), "/connect?purpose=bot")
		relay, err := b.ctl.CreateUser(ctx, m365ctl.UserSpec{DisplayName: "Relay", Mail: "relay@tenant.example", UserPrincipalName: "relay@tenant.example"})
		if err != nil {
			t.Fatal(err)
		}
		// One Teams account, one Mattermost user: bob's connected Teams account cannot become the bot's.
		b.connect(t, bob, bob.Email)
		status, page := b.finish(t, admin, b.signIn(t, admin, "/connect?purpose=bot", bob.Email))
		if status != http.StatusConflict {
			t.Errorf("bot as bob's Teams account: %d, want 409", status)
		}
		mustContain(t, "taken account", page, "already connected to another Mattermost user")
		status, page = b.finish(t, admin, b.signIn(t, admin, "/connect?purpose=bot", relay.UserPrincipalName))
		if status != http.StatusOK {
			t.Fatalf("connecting the bot: %d %s", status, page)
		}
		mustContain(t, "bot page", page, "bot is now connected as Relay")
		mustContain(t, "disconnect-bot", b.command(t, admin, channel.Id, "/msteams disconnect-bot"), "has been disconnected")
		// A user cannot start the bot's flow.
		resp, body, err := asUser(ctx, bob, http.MethodGet, b.mm.URL+"/plugins/"+pluginID+"/connect?purpose=bot")
		if err != nil {
			t.Fatal(err)
		}
		if resp.StatusCode != http.StatusForbidden {
			t.Errorf("a user starting the bot flow: %d %s", resp.StatusCode, body)
		}
	})
}

func teamsUserID(t *testing.T, b *bridge, u *mmtest.User) string {
	t.Helper()
	id := b.psql(t, fmt.Sprintf("select teams_user_id from msteams_accounts where mm_user_id = '%s'", u.Id))
	if id == "" {
		t.Fatalf("%s has no Teams mapping", u.Username)
	}
	return id
}
