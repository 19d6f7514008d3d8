package e2e

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/mattermost/mattermost/server/public/model"
	"github.com/msteams-bridge/msteams/tests/e2e/harness"
	"github.com/msteams-bridge/msteams/tests/emulators/graph/m365"
	"github.com/msteams-bridge/msteams/tests/emulators/graph/m365ctl"
	"github.com/msteams-bridge/msteams/tests/mattermost/mmtest"
)

// suggestions returns what the server's autocomplete offers u for the input: complete inputs as the client would
// fill them in ("msteams", "msteams connect"), in the server's order.
func suggestions(t *testing.T, s *mmtest.Server, u *mmtest.User, input string) []string {
	t.Helper()
	got, _, err := u.Client.ListCommandAutocompleteSuggestions(context.Background(), input, s.Team.Id)
	if err != nil {
		t.Fatalf("autocomplete %q as %s: %v", input, u.Username, err)
	}
	var out []string
	for _, sg := range got {
		out = append(out, sg.Complete)
	}
	return out
}

// TestUX checks what users and admins meet first: autocomplete, command replies, masked secrets.
func TestUX(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a Mattermost server and the Microsoft 365 emulator")
	}
	ctx := context.Background()
	b := startBridge(t, map[string]any{"profileSyncIntervalSeconds": 2})
	alice := b.user(t, "alice")

	t.Run("autocomplete offers /msteams and the user sub-commands to every user, admin ones to admins", func(t *testing.T) {
		userSubs := []string{"msteams connect", "msteams disconnect", "msteams status", "msteams help"}
		adminSubs := []string{"msteams connect-bot", "msteams disconnect-bot", "msteams show-links", "msteams promote"}
		for _, who := range []*mmtest.User{alice, b.mm.Admin} {
			if top := suggestions(t, b.mm, who, "/ms"); !slices.Contains(top, "msteams") {
				t.Errorf("%s typing /ms is offered %q, want msteams among them", who.Username, top)
			}
			subs := suggestions(t, b.mm, who, "/msteams ")
			for _, want := range userSubs {
				if !slices.Contains(subs, want) {
					t.Errorf("%s typing /msteams is offered %q, want %q among them", who.Username, subs, want)
				}
			}
			for _, admin := range adminSubs {
				if isAdmin := who == b.mm.Admin; slices.Contains(subs, admin) != isAdmin {
					t.Errorf("%s (admin %v) typing /msteams is offered %q: %q shown %v", who.Username, isAdmin,
						subs, admin, !isAdmin)
				}
			}
		}
	})

	channel, err := b.mm.CreateChannel(ctx, b.mm.Team.Id, "ux", model.ChannelTypeOpen, alice)
	if err != nil {
		t.Fatal(err)
	}
	bot, _, err := b.mm.AdminClient.GetUserByUsername(ctx, "msteams", "")
	if err != nil {
		t.Fatal(err)
	}

	t.Run("command replies come from the MS Teams bot, not System", func(t *testing.T) {
		reply, err := harness.CommandReply(ctx, alice, channel.Id, "/msteams status")
		if err != nil {
			t.Fatal(err)
		}
		if reply.UserId != bot.Id {
			t.Errorf("the reply %q is from user %q, want the msteams bot %s", reply.Message, reply.UserId, bot.Id)
		}
		mustContain(t, "status", reply.Message, "not connected")
	})

	var aliceTeams *m365ctl.User
	t.Run("a user who connects gets a welcome from the bot saying what happens to their chats", func(t *testing.T) {
		aliceTeams = b.teamsTwin(t, alice, "Alice Teams")
		b.connect(t, alice, alice.Email)
		var dm []string
		err := eventually(ctx, 10*time.Second, func() error {
			if dm = b.botDM(t, alice); len(dm) == 0 {
				return errors.New("no message from the bot")
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		mustContain(t, "welcome", dm[len(dm)-1], "You are now connected to Microsoft Teams as **Alice Teams**",
			"your Teams chats appear here", "/msteams disconnect")
	})

	var ghostDM *model.Channel
	t.Run("a synthetic user is marked as a Microsoft Teams person", func(t *testing.T) {
		if aliceTeams == nil {
			t.Skip("alice did not connect")
		}
		b.chatsSubscription(t, "")
		megan := b.megan(t)
		// In Teams she has a photo and is busy: in Mattermost she has that photo as avatar and is on do-not-disturb.
		photo := base64.StdEncoding.EncodeToString(harness.PNGSquare(96))
		busy := m365ctl.Presence{Availability: "Busy", Activity: "InAMeeting"}
		if _, err := b.ctl.PatchUser(ctx, megan.ID, m365ctl.UserPatch{Photo: &photo, PhotoType: "image/png",
			Presence: &busy}); err != nil {
			t.Fatal(err)
		}
		dm, err := b.ctl.CreateChat(ctx, m365ctl.ChatSpec{ChatType: "oneOnOne", Members: []string{megan.ID, aliceTeams.ID}})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := b.ctl.Send(ctx, m365ctl.InChat(dm.ID), m365ctl.Post{From: megan.ID, Text: "hello from Teams"}); err != nil {
			t.Fatal(err)
		}
		var ghost *model.User
		err = eventually(ctx, 20*time.Second, func() error {
			ghost, _, err = b.mm.AdminClient.GetUserByEmail(ctx, "megan@contoso.example", "")
			return err
		})
		if err != nil {
			t.Fatalf("no synthetic user: %v", err)
		}
		if ghost.Position != "Microsoft Teams" {
			t.Errorf("the synthetic user's position is %q, want Microsoft Teams (shown in the profile card)", ghost.Position)
		}
		// Her photo is set right after she is created.
		if err := eventually(ctx, 20*time.Second, func() error {
			u, _, err := b.mm.AdminClient.GetUser(ctx, ghost.Id, "")
			if err != nil || u.LastPictureUpdate <= 0 {
				return fmt.Errorf("the synthetic user has Mattermost's generated avatar, not her Teams photo (%v)", err)
			}
			return nil
		}); err != nil {
			t.Error(err)
		}
		// Her Mattermost status follows her Teams presence.
		waitStatus := func(want, why string) {
			t.Helper()
			if err := eventually(ctx, 20*time.Second, func() error {
				st, _, err := b.mm.AdminClient.GetUserStatus(ctx, ghost.Id, "")
				if err != nil {
					return err
				}
				if st.Status != want {
					return fmt.Errorf("her status is %s, want %s (%s in Teams)", st.Status, want, why)
				}
				return nil
			}); err != nil {
				t.Error(err)
			}
		}
		waitStatus(model.StatusDnd, "busy")
		away := m365ctl.Presence{Availability: "BeRightBack", Activity: "BeRightBack"}
		if _, err := b.ctl.PatchUser(ctx, megan.ID, m365ctl.UserPatch{Presence: &away}); err != nil {
			t.Fatal(err)
		}
		waitStatus(model.StatusAway, "be right back")
		err = eventually(ctx, 20*time.Second, func() error {
			ch, _, err := alice.Client.CreateDirectChannel(ctx, alice.Id, ghost.Id)
			if err != nil {
				return err
			}
			if posts, err := alice.Posts(ctx, ch.Id); err != nil || len(posts) == 0 {
				return fmt.Errorf("no post in alice's DM with the synthetic user yet (%v)", err)
			}
			ghostDM = ch
			return nil
		})
		if err != nil {
			t.Errorf("alice's DM with the synthetic user: %v", err)
		}
	})

	t.Run("a DM bridged to a Teams chat says so to its members, and to nobody else", func(t *testing.T) {
		if ghostDM == nil {
			t.Skip("no synthetic user's DM")
		}
		bridged := func(u *mmtest.User, channelID string) (int, string) {
			req, _ := http.NewRequestWithContext(ctx, http.MethodGet,
				b.mm.URL+"/plugins/"+pluginID+"/api/v1/channel-bridged?channel_id="+channelID, nil)
			req.Header.Set(model.HeaderAuth, model.HeaderBearer+" "+u.Client.AuthToken)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			body, _ := io.ReadAll(resp.Body)
			return resp.StatusCode, strings.TrimSpace(string(body))
		}
		err := eventually(ctx, 10*time.Second, func() error {
			if code, body := bridged(alice, ghostDM.Id); code != http.StatusOK || body != `{"bridged":true}` {
				return fmt.Errorf("alice's DM with the synthetic user: %d %s", code, body)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		bob, err := b.mm.CreateUser(ctx, "bob")
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range []struct {
			who     *mmtest.User
			channel string
			want    string
		}{
			{bob, ghostDM.Id, `{"bridged":false}`},   // not a member
			{alice, channel.Id, `{"bridged":false}`}, // an open channel
		} {
			if code, body := bridged(c.who, c.channel); code != http.StatusOK || body != c.want {
				t.Errorf("%s asking about %s: %d %s, want %s", c.who.Username, c.channel, code, body, c.want)
			}
		}
		if code, _ := bridged(alice, "not-an-id"); code != http.StatusBadRequest {
			t.Errorf("a bad id: %d, want 400", code)
		}
	})

	t.Run("GET /api/v4/config returns no secret of the plugin's", func(t *testing.T) {
		// Mattermost masks the settings a plugin marks secret since 10.x (MM-57194); older servers show every plugin
		// setting to system admins, whatever the plugin says (README: Security).
		if major, err := strconv.Atoi(strings.SplitN(b.mm.Version, ".", 2)[0]); err == nil && major < 10 {
			t.Skipf("Mattermost %s does not mask plugin secrets", b.mm.Version)
		}
		stored, err := b.mm.StoredPluginSettings(pluginID)
		if err != nil {
			t.Fatal(err)
		}
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, b.mm.URL+"/api/v4/config", nil)
		req.Header.Set(model.HeaderAuth, model.HeaderBearer+" "+b.mm.AdminToken)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil || resp.StatusCode != http.StatusOK {
			t.Fatalf("GET /api/v4/config: %d %v", resp.StatusCode, err)
		}
		var cfg model.Config
		if err := json.Unmarshal(body, &cfg); err != nil {
			t.Fatal(err)
		}
		shown := cfg.PluginSettings.Plugins[pluginID]
		for _, key := range []string{"clientsecret", "encryptionkey", "webhooksecret"} {
			value, _ := stored[key].(string)
			if len(value) < 16 {
				t.Fatalf("stored %s is %q, want a real secret", key, value)
			}
			if shown[key] != model.FakeSetting {
				t.Errorf("GET /api/v4/config shows %s as %v, want it masked", key, shown[key])
			}
			if strings.Contains(string(body), value) {
				t.Errorf("GET /api/v4/config contains the value of %s", key)
			}
		}
		// Saving the configuration as System Console does (masks included) keeps the secrets and the bridge.
		if err := b.mm.UpdateConfig(ctx, func(*model.Config) {}); err != nil {
			t.Fatal(err)
		}
		after, err := b.mm.StoredPluginSettings(pluginID)
		if err != nil {
			t.Fatal(err)
		}
		for _, key := range []string{"clientsecret", "encryptionkey", "webhooksecret"} {
			if after[key] != stored[key] {
				t.Errorf("saving the masked configuration changed %s", key)
			}
		}
		mustContain(t, "status after saving", b.command(t, alice, channel.Id, "/msteams status"),
			"connected to Microsoft Teams as Alice Teams")
	})

	t.Run("invalid settings are refused on save, naming every problem", func(t *testing.T) {
		stored, err := b.mm.StoredPluginSettings(pluginID)
		if err != nil {
			t.Fatal(err)
		}
		bad := map[string]any{}
		for k, v := range stored {
			bad[k] = v
		}
		bad["graphchatreadsperminute"] = 20000
		bad["reconcileintervalminutes"] = 2000
		bad["maxfilesizetomattermostmb"] = -5
		err = b.mm.SetPluginSettings(ctx, pluginID, bad)
		if err == nil {
			t.Fatal("the server saved invalid settings")
		}
		mustContain(t, "refusal", err.Error(), "Graph reads per chat per minute (graphChatReadsPerMinute)",
			"Reconcile recently active chats every (minutes) (reconcileIntervalMinutes)",
			"Largest Teams file to copy into Mattermost (MB) (maxFileSizeToMattermostMb)")
		after, err := b.mm.StoredPluginSettings(pluginID)
		if err != nil {
			t.Fatal(err)
		}
		if fmt.Sprint(after["graphchatreadsperminute"]) == "20000" {
			t.Error("the refused settings were stored")
		}
	})

	t.Run("settings saved around the check (config.json edited) are reported to system admins", func(t *testing.T) {
		path := b.mm.RunDir + "/config.json"
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		var raw map[string]any
		if err := json.Unmarshal(data, &raw); err != nil {
			t.Fatal(err)
		}
		plugins := raw["PluginSettings"].(map[string]any)["Plugins"].(map[string]any)
		settings := plugins[pluginID].(map[string]any)
		settings["graphchatreadsperminute"] = 20000
		settings["reconcileintervalminutes"] = 2000
		if data, err = json.MarshalIndent(raw, "", "  "); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
		if _, err := b.mm.AdminClient.ReloadConfig(ctx); err != nil {
			t.Fatal(err)
		}
		var dm []string
		err = eventually(ctx, 15*time.Second, func() error {
			dm = b.botDM(t, b.mm.Admin)
			for _, m := range dm {
				if strings.Contains(m, "were not applied") {
					return nil
				}
			}
			return fmt.Errorf("no DM about the invalid settings: %q", dm)
		})
		if err != nil {
			t.Fatal(err)
		}
		last := dm[len(dm)-1]
		mustContain(t, "admin DM", last, "graphChatReadsPerMinute", "reconcileIntervalMinutes")
		mustContain(t, "admin status", b.command(t, b.mm.Admin, channel.Id, "/msteams status"),
			"were not applied", "graphChatReadsPerMinute", "reconcileIntervalMinutes")
		if reply := b.command(t, alice, channel.Id, "/msteams status"); strings.Contains(reply, "graphChatReadsPerMinute") {
			t.Errorf("a user is told about the settings: %q", reply)
		}
	})
}

// TestUnconfigured follows the admin guide's order: upload and enable the plugin first, then enter the app's details.
func TestUnconfigured(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a Mattermost server and the Microsoft 365 emulator")
	}
	ctx := context.Background()
	emu, err := m365.Start(ctx, m365.Options{StateDir: t.TempDir(), Logf: t.Logf, AllowHTTPNotifications: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { emu.Close() })
	// No settings at all: enabling must work.
	s := mmtest.StartT(t, mmtest.Options{Bundle: bundlePath(t), LogLevel: "DEBUG", Logf: t.Logf})
	b := &bridge{Bridge: &harness.Bridge{MM: s, Emu: emu, Ctl: m365ctl.NewWithHTTPClient(emu.ControlURL, emu.HTTPClient())},
		mm: s, emu: emu}
	b.ctl = b.Ctl
	alice, err := s.CreateUser(ctx, "alice")
	if err != nil {
		t.Fatal(err)
	}
	channel, err := s.CreateChannel(ctx, s.Team.Id, "setup", model.ChannelTypeOpen, alice)
	if err != nil {
		t.Fatal(err)
	}

	t.Run("enabled with no settings, the plugin runs and /msteams says it is not set up yet", func(t *testing.T) {
		st, err := s.PluginStatus(ctx, pluginID)
		if err != nil {
			t.Fatal(err)
		}
		if st.State != model.PluginStateRunning {
			t.Fatalf("plugin state %d (%s), want running", st.State, st.Error)
		}
		reply := b.command(t, alice, channel.Id, "/msteams connect")
		mustContain(t, "user", reply, "not set up yet")
		if strings.Contains(reply, "System Console") {
			t.Errorf("a user is told about System Console: %q", reply)
		}
		mustContain(t, "admin", b.command(t, s.Admin, channel.Id, "/msteams connect"), "not set up yet",
			"Tenant ID (tenantId)", "Client ID (clientId)", "Client secret (clientSecret)",
			s.URL+"/plugins/"+pluginID+"/oauth-redirect")
	})

	t.Run("endpoints set but no app details yet: still waiting, nothing calls Microsoft", func(t *testing.T) {
		endpoints := harness.EmulatorSettings(emu)
		for _, k := range []string{"tenantId", "clientId", "clientSecret"} {
			delete(endpoints, k)
		}
		if err := s.SetPluginSettings(ctx, pluginID, endpoints); err != nil {
			t.Fatal(err)
		}
		if err := s.WaitForLog(ctx, "waiting to be set up"); err != nil {
			t.Fatal(err)
		}
		mustContain(t, "connect", b.command(t, alice, channel.Id, "/msteams connect"), "not set up yet")
		counters, err := b.ctl.Counters(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range counters.Requests {
			if (r.Host == "login" || r.Host == "graph") && r.Count > 0 {
				t.Errorf("a request reached Microsoft before the plugin was set up: %s %s (%d)", r.Host, r.Route, r.Count)
			}
		}
	})

	t.Run("entering the tenant's details starts the bridge without enabling again: a user connects", func(t *testing.T) {
		if err := s.SetPluginSettings(ctx, pluginID, harness.EmulatorSettings(emu)); err != nil {
			t.Fatal(err)
		}
		if _, err := b.ctl.PatchApp(ctx, m365ctl.AppPatch{AddRedirectURIs: []string{b.RedirectURI()}}); err != nil {
			t.Fatal(err)
		}
		err := eventually(ctx, 20*time.Second, func() error {
			if reply := b.command(t, alice, channel.Id, "/msteams connect"); !strings.Contains(reply, "/connect") {
				return fmt.Errorf("connect answers %q", reply)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		b.teamsTwin(t, alice, "Alice Teams")
		b.connect(t, alice, alice.Email)
		mustContain(t, "status", b.command(t, alice, channel.Id, "/msteams status"),
			"connected to Microsoft Teams as Alice Teams")
	})
}
