package e2e

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/mattermost/mattermost/server/public/model"

	"github.com/msteams-bridge/msteams/tests/emulators/graph/m365ctl"
	"github.com/msteams-bridge/msteams/tests/mattermost/mmtest"
)

// feedAppID is the manifest id of the Teams app the tests publish; the bridge's teamsAppId.
const feedAppID = "6f1c2a3b-4d5e-4f60-8a71-92b3c4d5e6f7"

// feedTypes mirrors sync::k_activity_types (core/sync/feed.hpp): the activity types the app's manifest declares.
var feedTypes = []m365ctl.ActivityType{
	{Type: "mention", Description: "You were mentioned in Mattermost", TemplateText: "{author} mentioned you in {channel}"},
	{Type: "channelMention", Description: "Everyone in a Mattermost channel was notified", TemplateText: "{author} notified everyone in {channel}"},
	{Type: "directMessage", Description: "A direct message in Mattermost", TemplateText: "{author} sent you a message"},
	{Type: "groupMessage", Description: "A group message in Mattermost", TemplateText: "{author} wrote in {channel}"},
	{Type: "threadReply", Description: "A reply in a Mattermost thread you follow", TemplateText: "{author} replied in {channel}"},
}

// feedEntries is the user's Teams activity feed, entries whose preview starts with prefix.
func (b *bridge) feedEntries(t *testing.T, teamsUserID, prefix string) []m365ctl.FeedEntry {
	t.Helper()
	all, err := b.ctl.Feed(context.Background(), teamsUserID)
	if err != nil {
		t.Fatal(err)
	}
	var out []m365ctl.FeedEntry
	for _, e := range all {
		if strings.HasPrefix(e.PreviewText, prefix) {
			out = append(out, e)
		}
	}
	return out
}

// teamsPrimary makes a Mattermost user connected to a Teams twin with the feed's app installed, Teams-primary and
// away from Mattermost.
func (b *bridge) teamsPrimary(t *testing.T, name, displayName, appID, channelID string) (*mmtest.User, *m365ctl.User) {
	t.Helper()
	ctx := context.Background()
	u := b.user(t, name)
	tu := b.teamsTwin(t, u, displayName)
	b.connect(t, u, tu.ID)
	if _, err := b.ctl.InstallApp(ctx, m365ctl.ForUser(tu.ID), appID); err != nil {
		t.Fatal(err)
	}
	mustContain(t, "primary", b.command(t, u, channelID, "/msteams primary teams"), "now Microsoft Teams")
	if _, _, err := b.mm.AdminClient.UpdateUserStatus(ctx, u.Id, &model.Status{UserId: u.Id, Status: "offline"}); err != nil {
		t.Fatal(err)
	}
	return u, tu
}

func TestActivityFeed(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a Mattermost server and the Microsoft 365 emulator")
	}
	ctx := context.Background()
	// Graph's feed budget is 5 a second per tenant; here both sides allow 10, to keep the burst short.
	b := startBridge(t, map[string]any{"activityFeed": true, "teamsAppId": feedAppID, "feedDelaySeconds": 1, "graphFeedPerSecond": 10})
	if _, err := b.ctl.SetThrottle(ctx, m365ctl.ThrottleUpdate{Limits: map[string]m365ctl.Limit{
		"activity.app": {Count: 10, PerSeconds: 1}}}); err != nil {
		t.Fatal(err)
	}
	pkg, err := m365ctl.BuildAppPackage(m365ctl.NewAppManifest(feedAppID, b.emu.ClientID,
		"api://chat.example/"+b.emu.ClientID, false, feedTypes...))
	if err != nil {
		t.Fatal(err)
	}
	app, err := b.ctl.UploadApp(ctx, pkg, false)
	if err != nil {
		t.Fatal(err)
	}
	alice := b.user(t, "alice")
	bob := b.user(t, "bob")
	bobTeams := b.teamsTwin(t, bob, "Bob Brown")
	b.connect(t, bob, bobTeams.ID)
	if _, err := b.ctl.InstallApp(ctx, m365ctl.ForUser(bobTeams.ID), app.ID); err != nil {
		t.Fatal(err)
	}
	general, _, err := alice.Client.GetChannelByName(ctx, "town-square", b.mm.Team.Id, "")
	if err != nil {
		t.Fatal(err)
	}
	mustContain(t, "primary", b.command(t, bob, general.Id, "/msteams primary teams"), "Teams activity feed")
	// Teams notifies Bob now: Mattermost's email and push are off.
	u, _, err := b.mm.AdminClient.GetUser(ctx, bob.Id, "")
	if err != nil {
		t.Fatal(err)
	}
	if u.NotifyProps["email"] != "false" || u.NotifyProps["push"] != "none" {
		t.Fatalf("bob's notify props while Teams is primary: email %q push %q", u.NotifyProps["email"], u.NotifyProps["push"])
	}
	// Bob's status would be online from the command: he is away from Mattermost.
	if _, _, err := b.mm.AdminClient.UpdateUserStatus(ctx, bob.Id, &model.Status{UserId: bob.Id, Status: "offline"}); err != nil {
		t.Fatal(err)
	}

	t.Run("a mention reaches the feed once with a link to the post, a read one does not", func(t *testing.T) {
		first, err := alice.Post(ctx, general.Id, "hello @bob, one")
		if err != nil {
			t.Fatal(err)
		}
		within(t, 30*time.Second, func() string {
			if n := len(b.feedEntries(t, bobTeams.ID, "hello @bob, one")); n != 1 {
				return fmt.Sprintf("%d entries for the first mention", n)
			}
			return ""
		})
		// Bob reads the second in Mattermost before the delay is over; the third shows the second was handled.
		if _, err := alice.Post(ctx, general.Id, "hello @bob, two"); err != nil {
			t.Fatal(err)
		}
		if _, _, err := bob.Client.ViewChannel(ctx, bob.Id, &model.ChannelView{ChannelId: general.Id}); err != nil {
			t.Fatal(err)
		}
		if _, _, err := b.mm.AdminClient.UpdateUserStatus(ctx, bob.Id, &model.Status{UserId: bob.Id, Status: "offline"}); err != nil {
			t.Fatal(err)
		}
		if _, err := alice.Post(ctx, general.Id, "hello @bob, three"); err != nil {
			t.Fatal(err)
		}
		within(t, 30*time.Second, func() string {
			if n := len(b.feedEntries(t, bobTeams.ID, "hello @bob, three")); n != 1 {
				return fmt.Sprintf("%d entries for the third mention", n)
			}
			return ""
		})
		got := b.feedEntries(t, bobTeams.ID, "hello @bob")
		if len(got) != 2 || got[0].PreviewText == "hello @bob, two" || got[1].PreviewText == "hello @bob, two" {
			t.Fatalf("bob's feed: %+v", got)
		}
		var e m365ctl.FeedEntry
		for _, x := range got {
			if x.PreviewText == "hello @bob, one" {
				e = x
			}
		}
		if e.ActivityType != "mention" || e.Topic.Value != "Town Square" || !strings.Contains(e.Text, "mentioned you in Town Square") {
			t.Fatalf("the entry: %+v", e)
		}
		if !strings.HasPrefix(e.Topic.WebURL, "https://teams.microsoft.com/l/entity/"+feedAppID+"/mattermost?context=") ||
			!strings.Contains(e.Topic.WebURL, first.Id) {
			t.Fatalf("the deep link %q does not open post %s", e.Topic.WebURL, first.Id)
		}
	})

	t.Run("a burst of 200 mentions is delivered once within the budget across a kill -9 of the core", func(t *testing.T) {
		loadExperiment(t)
		before, err := b.ctl.Counters(ctx)
		if err != nil {
			t.Fatal(err)
		}
		const n = 200
		start := time.Now()
		for i := 1; i <= n; i++ {
			if _, err := alice.Post(ctx, general.Id, fmt.Sprintf("burst @bob %03d", i)); err != nil {
				t.Fatal(err)
			}
		}
		within(t, 20*time.Second, func() string {
			if got := len(b.feedEntries(t, bobTeams.ID, "burst")); got < 40 {
				return fmt.Sprintf("%d delivered before the kill", got)
			}
			return ""
		})
		b.killCore(t)
		within(t, 60*time.Second, func() string {
			got := b.feedEntries(t, bobTeams.ID, "burst")
			seen := map[string]int{}
			for _, e := range got {
				seen[e.PreviewText]++
			}
			if len(got) != n || len(seen) != n {
				return fmt.Sprintf("%d entries, %d distinct of %d", len(got), len(seen), n)
			}
			return ""
		})
		after, err := b.ctl.Counters(ctx)
		if err != nil {
			t.Fatal(err)
		}
		route := "POST /v1.0/users/{uid}/teamwork/sendActivityNotification"
		// One core keeps the budget; the restarted core starts with a fresh one, whose first second (a burst of 10)
		// may overlap the killed core's last second at Graph: only those may be throttled (and are sent again).
		if throttled := after.Count("graph", route, "", 429) - before.Count("graph", route, "", 429); throttled > 10 {
			t.Errorf("%d notifications were throttled: the bridge did not keep the budget", throttled)
		}
		if took := time.Since(start); took < (n/10-2)*time.Second {
			t.Errorf("200 notifications in %v: faster than the budget of 10 a second", took)
		}
	})

	t.Run("a user without the app installed is told once and counted for admins", func(t *testing.T) {
		carol := b.user(t, "carol")
		carolTeams := b.teamsTwin(t, carol, "Carol Chen")
		b.connect(t, carol, carolTeams.ID)
		mustContain(t, "primary", b.command(t, carol, general.Id, "/msteams primary teams"), "now Microsoft Teams")
		if _, _, err := b.mm.AdminClient.UpdateUserStatus(ctx, carol.Id, &model.Status{UserId: carol.Id, Status: "offline"}); err != nil {
			t.Fatal(err)
		}
		for _, m := range []string{"@carol first", "@carol second"} {
			if _, err := alice.Post(ctx, general.Id, m); err != nil {
				t.Fatal(err)
			}
		}
		within(t, 30*time.Second, func() string {
			status := b.command(t, b.mm.Admin, general.Id, "/msteams status")
			if !strings.Contains(status, "**1 user** with Teams as primary platform cannot be notified") {
				return "the admin's status does not count carol yet"
			}
			return ""
		})
		within(t, 10*time.Second, func() string {
			if b.psql(t, "SELECT count(*) FROM msteams_feed WHERE state = 'queued' AND mm_user_id = '"+carol.Id+"'") != "0" {
				return "carol's notifications are still queued"
			}
			return ""
		})
		told := countContaining(b.botDM(t, carol), "select **Apps**")
		if told != 1 {
			t.Fatalf("carol was told %d times: %q", told, b.botDM(t, carol))
		}
		if u, _, err := b.mm.AdminClient.GetUser(ctx, carol.Id, ""); err != nil || u.NotifyProps["push"] == "none" {
			t.Fatalf("carol's Mattermost notifications are not back: %v %v", u.NotifyProps, err)
		}
	})

	t.Run("a reply notifies a Teams-primary participant of the thread, a channel-wide mention goes out in bulk", func(t *testing.T) {
		// Bob replied in Alice's thread: he follows it, and hears of Alice's next reply there.
		root, err := alice.Post(ctx, general.Id, "thread root from alice")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := bob.Reply(ctx, root, "a reply from bob"); err != nil {
			t.Fatal(err)
		}
		if _, _, err := b.mm.AdminClient.UpdateUserStatus(ctx, bob.Id, &model.Status{UserId: bob.Id, Status: "offline"}); err != nil {
			t.Fatal(err)
		}
		if _, err := alice.Reply(ctx, root, "thread reply from alice"); err != nil {
			t.Fatal(err)
		}
		within(t, 30*time.Second, func() string {
			got := b.feedEntries(t, bobTeams.ID, "thread reply from alice")
			if len(got) != 1 || got[0].ActivityType != "threadReply" {
				return fmt.Sprintf("bob's feed has %+v for the reply", got)
			}
			return ""
		})

		// Dora and Eve are Teams-primary too. A first @channel reaches each of them alone (Microsoft's answer for one
		// user tells whether Teams notifies them); the next reaches Bob, Dora and Eve in one recipients request.
		_, doraTeams := b.teamsPrimary(t, "dora", "Dora Diaz", app.ID, general.Id)
		_, eveTeams := b.teamsPrimary(t, "eve", "Eve Evans", app.ID, general.Id)
		if _, _, err := b.mm.AdminClient.UpdateUserStatus(ctx, bob.Id, &model.Status{UserId: bob.Id, Status: "offline"}); err != nil {
			t.Fatal(err)
		}
		feeds := []string{bobTeams.ID, doraTeams.ID, eveTeams.ID}
		var before *m365ctl.Counters
		for _, msg := range []string{"@channel first call", "@channel second call"} {
			if before, err = b.ctl.Counters(ctx); err != nil {
				t.Fatal(err)
			}
			if _, err := alice.Post(ctx, general.Id, msg); err != nil {
				t.Fatal(err)
			}
			within(t, 30*time.Second, func() string {
				for _, id := range feeds {
					if n := len(b.feedEntries(t, id, msg)); n != 1 {
						return fmt.Sprintf("%d entries for %q in the feed of %s", n, msg, id)
					}
				}
				return ""
			})
		}
		after, err := b.ctl.Counters(ctx)
		if err != nil {
			t.Fatal(err)
		}
		bulk := "POST /v1.0/teamwork/sendActivityNotificationToRecipients"
		single := "POST /v1.0/users/{uid}/teamwork/sendActivityNotification"
		if n := after.Count("graph", bulk, "", 202) - before.Count("graph", bulk, "", 202); n != 1 {
			t.Errorf("%d recipients requests for the second @channel, want 1", n)
		}
		// Carol (blocked: the app is not installed for her) is the only one still asked alone.
		if n := after.Count("graph", single, "", 204) - before.Count("graph", single, "", 204); n != 0 {
			t.Errorf("%d single notifications accepted for the second @channel, want 0", n)
		}
		for _, id := range feeds {
			if e := b.feedEntries(t, id, "@channel second call"); e[0].Via != "sendActivityNotificationToRecipients" || e[0].ActivityType != "channelMention" {
				t.Errorf("the feed of %s: %+v", id, e[0])
			}
		}
	})
}
