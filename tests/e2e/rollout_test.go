package e2e

import (
	"context"
	"encoding/csv"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/mattermost/mattermost/server/public/model"

	"github.com/msteams-bridge/msteams/tests/emulators/graph/m365ctl"
)

// Rollout controls and per-user choices on the real Mattermost: selective sync, the allow list and the invite pool,
// the connected-users report, and notifications-only mode per user.

// dmPosts are the messages of the DM between two Mattermost users, as `as` sees them.
func dmPosts(t *testing.T, as *model.User, with *model.User, client *model.Client4) []string {
	t.Helper()
	ctx := context.Background()
	ch, _, err := client.CreateDirectChannel(ctx, as.Id, with.Id)
	if err != nil {
		t.Fatal(err)
	}
	// A DM the bridge has just made can be refused for a moment: Mattermost checks channel membership against a
	// per-user cache that is dropped only after the channel's creation is committed. Wait until it is readable.
	var list *model.PostList
	for deadline := time.Now().Add(10 * time.Second); ; {
		l, resp, err := client.GetPostsForChannel(ctx, ch.Id, 0, 200, "", false, false)
		if err == nil {
			list = l
			break
		}
		if resp == nil || resp.StatusCode != http.StatusForbidden || time.Now().After(deadline) {
			t.Fatal(err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	var out []string
	for _, id := range list.Order {
		out = append(out, list.Posts[id].Message)
	}
	return out
}

func TestRolloutSelectiveSync(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a Mattermost server and the Microsoft 365 emulator")
	}
	ctx := context.Background()
	b := startBridge(t, map[string]any{"selectiveSync": true})
	// Alice uses both apps and reads her chats in Teams; Carol has a Teams account but never connected: she reads
	// her chats in Mattermost.
	alice := b.user(t, "alice")
	aliceTeams := b.teamsTwin(t, alice, "Alice Adams")
	b.connect(t, alice, aliceTeams.ID)
	carol := b.user(t, "carol")
	carolTeams := b.teamsTwin(t, carol, "Carol Chen")
	b.chatsSubscription(t, "")
	town := b.mm.Team
	general, _, err := alice.Client.GetChannelByName(ctx, "town-square", town.Id, "")
	if err != nil {
		t.Fatal(err)
	}
	mustContain(t, "primary", b.command(t, alice, general.Id, "/msteams primary teams"), "now Microsoft Teams")

	// Megan is only on Teams: a chat between her and Alice is read in Teams by both, so it is not bridged.
	megan := b.megan(t)
	withMegan, err := b.ctl.CreateChat(ctx, m365ctl.ChatSpec{ChatType: "oneOnOne", Members: []string{megan.ID, aliceTeams.ID}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.ctl.Send(ctx, m365ctl.InChat(withMegan.ID), m365ctl.Post{From: megan.ID, Text: "teams only please"}); err != nil {
		t.Fatal(err)
	}
	// Carol writes Alice from Teams: Carol reads the chat in Mattermost, so it is bridged.
	withCarol, err := b.ctl.CreateChat(ctx, m365ctl.ChatSpec{ChatType: "oneOnOne", Members: []string{carolTeams.ID, aliceTeams.ID}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.ctl.Send(ctx, m365ctl.InChat(withCarol.ID), m365ctl.Post{From: carolTeams.ID, Text: "hello from carol"}); err != nil {
		t.Fatal(err)
	}
	within(t, 30*time.Second, func() string {
		for _, m := range dmPosts(t, alice.User, carol.User, alice.Client) {
			if m == "hello from carol" {
				return ""
			}
		}
		return "Carol's message did not reach the Mattermost DM"
	})
	b.waitInboxDrained(t)
	if n := b.stats(t)["skipped_selective"]; n < 1 {
		t.Errorf("skipped_selective = %d, want the chat with Megan left alone", n)
	}
	ghost, _, err := b.mm.AdminClient.GetUserByEmail(ctx, meganSpec.Mail, "")
	if err != nil {
		t.Fatalf("Megan's synthetic user: %v", err)
	}
	if posts := dmPosts(t, alice.User, ghost, alice.Client); len(posts) != 0 {
		t.Errorf("the chat with Megan was bridged: %q", posts)
	}
	if n := b.psql(t, "SELECT count(*) FROM msteams_portals WHERE teams_thread_id = '"+withMegan.ID+"'"); n != "0" {
		t.Errorf("%s portals for the chat with Megan", n)
	}

	// /msteams status in each DM says why.
	megaDM, _, err := alice.Client.CreateDirectChannel(ctx, alice.Id, ghost.Id)
	if err != nil {
		t.Fatal(err)
	}
	mustContain(t, "status with Megan", b.command(t, alice, megaDM.Id, "/msteams status"),
		"everyone in this chat uses Microsoft Teams as their primary platform")
	carolDM, _, err := alice.Client.CreateDirectChannel(ctx, alice.Id, carol.Id)
	if err != nil {
		t.Fatal(err)
	}
	mustContain(t, "status with Carol", b.command(t, alice, carolDM.Id, "/msteams status"),
		"This chat is bridged with Microsoft Teams")

	// Back to Mattermost as primary: the chat with Megan is bridged from the next message on.
	mustContain(t, "primary", b.command(t, alice, general.Id, "/msteams primary mattermost"), "now Mattermost")
	if _, err := b.ctl.Send(ctx, m365ctl.InChat(withMegan.ID), m365ctl.Post{From: megan.ID, Text: "bridged now"}); err != nil {
		t.Fatal(err)
	}
	within(t, 30*time.Second, func() string {
		for _, m := range dmPosts(t, alice.User, ghost, alice.Client) {
			if m == "bridged now" {
				return ""
			}
		}
		return "the chat with Megan is still not bridged"
	})
}

func TestRolloutControls(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a Mattermost server and the Microsoft 365 emulator")
	}
	ctx := context.Background()
	b := startBridge(t, map[string]any{"connectAllowList": "@alice, @developers", "invitePoolSize": 1})
	alice, bob, carol := b.user(t, "alice"), b.user(t, "bob"), b.user(t, "carol")
	aliceTeams := b.teamsTwin(t, alice, "Alice Adams")
	bobTeams := b.teamsTwin(t, bob, "Bob Brown")
	carolTeams := b.teamsTwin(t, carol, "=cmd|' /C calc'!A0")
	general, _, err := alice.Client.GetChannelByName(ctx, "town-square", b.mm.Team.Id, "")
	if err != nil {
		t.Fatal(err)
	}
	admin := b.mm.Admin

	t.Run("the allow list admits its users", func(t *testing.T) {
		b.connect(t, alice, aliceTeams.ID)
	})
	t.Run("a group on the allow list admits its members", func(t *testing.T) {
		// A group as AD/LDAP group sync creates it (custom groups need a license the test server does not have).
		dave := b.user(t, "dave")
		daveTeams := b.teamsTwin(t, dave, "Dave Dunn")
		if _, err := b.Connect(ctx, dave, daveTeams.ID); err == nil {
			t.Fatalf("dave connected before he was in the group")
		}
		b.psql(t, `INSERT INTO usergroups (id, name, displayname, description, source, remoteid, createat, updateat, deleteat, allowreference)
			VALUES ('developersgroup00000000000', 'developers', 'Developers', '', 'ldap', 'cn=developers', 1, 1, 0, false)`)
		b.psql(t, `INSERT INTO groupmembers (groupid, userid, createat, deleteat) VALUES ('developersgroup00000000000', '`+dave.User.Id+`', 1, 0)`)
		b.connect(t, dave, daveTeams.ID)
	})
	t.Run("others are refused at connect time until invited", func(t *testing.T) {
		mustContain(t, "connect command", b.command(t, bob, general.Id, "/msteams connect"), "by invitation")
		resp, page, err := asUser(ctx, bob, http.MethodGet, b.mm.URL+"/plugins/com.mattermost.msteams/connect")
		if err != nil {
			t.Fatal(err)
		}
		if resp.StatusCode != http.StatusForbidden || !strings.Contains(page, "by invitation") {
			t.Errorf("connect page for bob: %d %s", resp.StatusCode, page)
		}
		if st := b.connectionStatus(t, bob); st.CanConnect {
			t.Errorf("connection-status says bob can connect")
		}
		mustContain(t, "invite", b.command(t, admin, general.Id, "/msteams invite @bob"), "@bob is invited")
		mustContain(t, "pool full", b.command(t, admin, general.Id, "/msteams invite @carol"), "invite pool is full")
		b.connect(t, bob, bobTeams.ID)
		if _, err := b.Connect(ctx, carol, carolTeams.ID); err == nil {
			t.Errorf("carol connected without an invitation")
		}
		// Taking Bob's invitation back frees the seat for Carol; Bob stays connected.
		mustContain(t, "uninvite", b.command(t, admin, general.Id, "/msteams uninvite @bob"), "no longer invited")
		mustContain(t, "invite", b.command(t, admin, general.Id, "/msteams invite @carol"), "@carol is invited")
		b.connect(t, carol, carolTeams.ID)
		if !b.connectionStatus(t, bob).Connected {
			t.Errorf("bob was disconnected when his invitation was taken back")
		}
	})
	t.Run("the connected-users report is for admins, as CSV", func(t *testing.T) {
		mustContain(t, "link", b.command(t, admin, general.Id, "/msteams connected-users"),
			"4 users are connected", "/plugins/com.mattermost.msteams/admin/connected-users.csv")
		mustContain(t, "not admin", b.command(t, bob, general.Id, "/msteams connected-users"), "system admins only")
		resp, _, err := asUser(ctx, bob, http.MethodGet, b.mm.URL+"/plugins/com.mattermost.msteams/admin/connected-users.csv")
		if err != nil {
			t.Fatal(err)
		}
		if resp.StatusCode != http.StatusForbidden {
			t.Errorf("report for a non-admin: %d", resp.StatusCode)
		}
		resp, body, err := asUser(ctx, admin, http.MethodGet, b.mm.URL+"/plugins/com.mattermost.msteams/admin/connected-users.csv")
		if err != nil {
			t.Fatal(err)
		}
		if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/csv") {
			t.Fatalf("report: %d %s %s", resp.StatusCode, resp.Header.Get("Content-Type"), body)
		}
		rows, err := csv.NewReader(strings.NewReader(body)).ReadAll()
		if err != nil {
			t.Fatalf("report is not CSV: %v\n%s", err, body)
		}
		if len(rows) != 5 || rows[0][0] != "Mattermost user" || rows[0][7] != "Token health" {
			t.Fatalf("report rows: %q", rows)
		}
		byUser := map[string][]string{}
		for _, r := range rows[1:] {
			byUser[r[0]] = r
		}
		for _, name := range []string{"alice", "bob", "carol"} {
			r := byUser[name]
			if r == nil || r[7] != "ok" || !strings.HasSuffix(r[5], "UTC") {
				t.Errorf("report row for %s: %q", name, r)
			}
		}
		if got := byUser["carol"][2]; got != "'=cmd|' /C calc'!A0" {
			t.Errorf("a formula in a display name is not escaped: %q", got)
		}
	})
}

func TestRolloutNotificationsPerUser(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a Mattermost server and the Microsoft 365 emulator")
	}
	ctx := context.Background()
	// The presence read for one message is trusted for a second (60 s by default).
	b := startBridge(t, map[string]any{"presenceCacheSeconds": 1})
	alice := b.user(t, "alice")
	aliceTeams := b.teamsTwin(t, alice, "Alice Adams")
	b.connect(t, alice, aliceTeams.ID)
	b.chatsSubscription(t, "")
	general, _, err := alice.Client.GetChannelByName(ctx, "town-square", b.mm.Team.Id, "")
	if err != nil {
		t.Fatal(err)
	}
	presence := func(availability string) {
		if _, err := b.ctl.PatchUser(ctx, aliceTeams.ID, m365ctl.UserPatch{Presence: &m365ctl.Presence{
			Availability: availability, Activity: availability}}); err != nil {
			t.Fatal(err)
		}
	}
	presence("Offline")
	mustContain(t, "notifications on", b.command(t, alice, general.Id, "/msteams notifications on"), "Notifications only is on")
	megan := b.megan(t)
	chat, err := b.ctl.CreateChat(ctx, m365ctl.ChatSpec{ChatType: "oneOnOne", Members: []string{megan.ID, aliceTeams.ID}})
	if err != nil {
		t.Fatal(err)
	}
	send := func(text string) {
		if _, err := b.ctl.Send(ctx, m365ctl.InChat(chat.ID), m365ctl.Post{From: megan.ID, Text: text}); err != nil {
			t.Fatal(err)
		}
	}
	noted := func(part string) int {
		n := 0
		for _, m := range b.botDM(t, alice) {
			if strings.Contains(m, part) {
				n++
			}
		}
		return n
	}
	send("first while away")
	within(t, 30*time.Second, func() string {
		if noted("first while away") != 1 {
			return "no notification from the bot"
		}
		return ""
	})
	mustContain(t, "notification", b.botDM(t, alice)[len(b.botDM(t, alice))-1], "**Megan Bowen** sent you a message in Microsoft Teams")
	if n := b.psql(t, "SELECT count(*) FROM msteams_portals WHERE teams_thread_id = '"+chat.ID+"'"); n != "0" {
		t.Errorf("the chat was mirrored in notifications-only mode (%s portals)", n)
	}

	// Active in Teams: not told. The presence read for the first message (done before its notification, seen
	// above) is past its second in the cache after this.
	presence("Available")
	time.Sleep(1100 * time.Millisecond)
	send("second while in Teams")
	b.waitInboxDrained(t)
	within(t, 20*time.Second, func() string {
		if b.stats(t)["notifications_skipped_active"] < 1 {
			return "the message was not skipped for presence"
		}
		return ""
	})
	if noted("second while in Teams") != 0 {
		t.Errorf("told of a message while active in Teams")
	}

	// Off: the chat is mirrored.
	mustContain(t, "notifications off", b.command(t, alice, general.Id, "/msteams notifications off"), "mirrored again")
	send("mirrored now")
	within(t, 30*time.Second, func() string {
		ghost, _, err := b.mm.AdminClient.GetUserByEmail(ctx, meganSpec.Mail, "")
		if err != nil {
			return "no synthetic user for Megan"
		}
		for _, m := range dmPosts(t, alice.User, ghost, alice.Client) {
			if m == "mirrored now" {
				return ""
			}
		}
		return "not mirrored after notifications off"
	})
}
