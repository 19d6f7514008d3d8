package e2e

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/mattermost/mattermost/server/public/model"
	"github.com/msteams-bridge/msteams/tests/emulators/graph/m365ctl"
	"github.com/msteams-bridge/msteams/tests/emulators/graph/wire"
)

// channelMessages reads a Teams channel as the emulator stores it: roots oldest first, each with its replies.
func (b *bridge) channelMessages(t *testing.T, thread m365ctl.Thread) []m365ctl.Message {
	t.Helper()
	msgs, err := b.ctl.Messages(context.Background(), thread)
	if err != nil {
		t.Fatal(err)
	}
	return msgs
}

// waitChannel waits for a root message of the Teams channel (or a reply, with replies) that satisfies match.
func (b *bridge) waitChannel(t *testing.T, thread m365ctl.Thread, replies bool, match func(m365ctl.Message) bool) m365ctl.Message {
	t.Helper()
	var found m365ctl.Message
	within(t, 30*time.Second, func() string {
		for _, m := range b.channelMessages(t, thread) {
			candidates := []m365ctl.Message{m}
			if replies {
				candidates = m.Replies
			}
			for _, c := range candidates {
				if match(c) {
					found = c
					return ""
				}
			}
		}
		return "no matching message in the Teams channel"
	})
	return found
}

// channelSubscription waits until the emulator holds (or, with gone, no longer holds) the channel's subscription.
func (b *bridge) channelSubscription(t *testing.T, teamID, channelID string, gone bool) {
	t.Helper()
	resource := "teams/" + teamID + "/channels/" + channelID + "/messages"
	within(t, 30*time.Second, func() string {
		subs, err := b.ctl.Subscriptions(context.Background())
		if err != nil {
			return err.Error()
		}
		held := false
		for _, s := range subs {
			held = held || s.Resource == resource
		}
		if held == gone {
			return fmt.Sprintf("subscription to %s held: %v", resource, held)
		}
		return ""
	})
}

// waitHook waits until the core has logged the hook event of a post (it is then decided whether it goes to Teams).
func (b *bridge) waitHook(t *testing.T, postID string) {
	t.Helper()
	within(t, 20*time.Second, func() string {
		if len(hookEventPostIDs(t, b.mm)[postID]) == 0 {
			return "no hook event for " + postID
		}
		return ""
	})
}

func TestLinkedChannels(t *testing.T) {
	ctx := context.Background()
	b := startBridge(t, map[string]any{})
	alice, carol := b.user(t, "alice"), b.user(t, "carol")
	aliceTeams := b.teamsTwin(t, alice, "Alice Adams")
	b.connect(t, alice, aliceTeams.ID)
	teams, err := b.ctl.Teams(ctx)
	if err != nil || len(teams) == 0 || len(teams[0].Channels) < 2 {
		t.Fatalf("the emulator's team: %v %v", teams, err)
	}
	team, general, second := teams[0], teams[0].Channels[0], teams[0].Channels[1]
	megan := b.megan(t)
	relay, err := b.ctl.CreateUser(ctx, m365ctl.UserSpec{DisplayName: "Relay", Mail: "relay@tenant.example",
		UserPrincipalName: "relay@tenant.example"})
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{aliceTeams.ID, megan.ID, relay.ID} {
		if err := b.ctl.AddTeamMember(ctx, team.ID, id); err != nil {
			t.Fatal(err)
		}
	}
	// The bot's Teams account relays for carol, who is not connected.
	admin := b.mm.Admin
	if status, page := b.finish(t, admin, b.signIn(t, admin, "/connect?purpose=bot", relay.UserPrincipalName)); status != 200 {
		t.Fatalf("connecting the bot: %d %s", status, page)
	}
	channel, err := b.mm.CreateChannel(ctx, b.mm.Team.Id, "town-hall", model.ChannelTypeOpen, alice, carol)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.mm.AdminClient.UpdateChannelRoles(ctx, channel.Id, alice.Id, "channel_user channel_admin"); err != nil {
		t.Fatal(err)
	}
	inGeneral := m365ctl.InChannel(team.ID, general.ID)
	var teamsRoot m365ctl.Message // Megan's first message in Teams
	var mmRoot *model.Post        // its post in Mattermost

	t.Run("link: channel admins only, with the teams and channels the user sees suggested", func(t *testing.T) {
		mustContain(t, "member", b.command(t, carol, channel.Id, "/msteams link "+team.ID+" "+general.ID),
			"Only an admin of this channel")
		suggestions, _, err := alice.Client.ListCommandAutocompleteSuggestions(ctx, "/msteams link ", b.mm.Team.Id)
		if err != nil {
			t.Fatal(err)
		}
		found := false
		for _, s := range suggestions {
			found = found || (strings.HasSuffix(s.Complete, "link "+team.ID) && s.Description == team.DisplayName)
		}
		if !found {
			t.Errorf("no suggestion of the team %s: %+v", team.ID, suggestions)
		}
		suggestions, _, err = alice.Client.ListCommandAutocompleteSuggestions(ctx, "/msteams link "+team.ID+" ", b.mm.Team.Id)
		if err != nil {
			t.Fatal(err)
		}
		found = false
		for _, s := range suggestions {
			found = found || (strings.HasSuffix(s.Complete, team.ID+" "+general.ID) && s.Description == general.DisplayName)
		}
		if !found {
			t.Errorf("no suggestion of the channel %s: %+v", general.ID, suggestions)
		}
		mustContain(t, "link", b.command(t, alice, channel.Id, "/msteams link "+team.ID+" "+general.ID),
			"now linked", general.DisplayName)
		b.channelSubscription(t, team.ID, general.ID, false)
		mustContain(t, "show", b.command(t, carol, channel.Id, "/msteams show"), "linked", "@alice")
		mustContain(t, "show-links", b.command(t, admin, channel.Id, "/msteams show-links"), "town-hall", general.ID)
	})

	t.Run("Teams to Mattermost: roots, replies in the thread, edits, reactions, files, mentions, deletes", func(t *testing.T) {
		root, err := b.ctl.Send(ctx, inGeneral, m365ctl.Post{From: megan.ID, Subject: "Plans", Text: "hello from Teams"})
		if err != nil {
			t.Fatal(err)
		}
		teamsRoot = *root
		mmRoot = waitPost(t, alice, channel.Id, withText("hello from Teams"))
		mustContain(t, "root", mmRoot.Message, "**Plans**")
		ghost, _, err := b.mm.AdminClient.GetUser(ctx, mmRoot.UserId, "")
		if err != nil || ghost.Email != "megan@contoso.example" {
			t.Errorf("posted as %v (%v), want Megan's synthetic user", ghost, err)
		}
		if _, err := b.ctl.Send(ctx, inGeneral.Replies(root.ID), m365ctl.Post{From: megan.ID, Text: "a reply from Teams"}); err != nil {
			t.Fatal(err)
		}
		reply := waitPost(t, alice, channel.Id, withText("a reply from Teams"))
		if reply.RootId != mmRoot.Id {
			t.Errorf("the Teams reply is not in the root's thread: root %q, want %q", reply.RootId, mmRoot.Id)
		}
		if _, err := b.ctl.Edit(ctx, inGeneral, root.ID, m365ctl.Post{From: megan.ID, Text: "hello again from Teams"}); err != nil {
			t.Fatal(err)
		}
		waitPost(t, alice, channel.Id, func(p *model.Post) bool { return p.Id == mmRoot.Id && strings.Contains(p.Message, "hello again") })
		if err := b.ctl.React(ctx, inGeneral, root.ID, megan.ID, "like"); err != nil {
			t.Fatal(err)
		}
		within(t, 20*time.Second, func() string {
			reactions, _, err := alice.Client.GetReactions(ctx, mmRoot.Id)
			if err != nil {
				return err.Error()
			}
			for _, r := range reactions {
				if r.EmojiName == "+1" && r.UserId == mmRoot.UserId {
					return ""
				}
			}
			return fmt.Sprintf("no +1 from Megan among %d reactions", len(reactions))
		})
		data := bytes.Repeat([]byte("minutes\n"), 50)
		if _, err := b.ctl.Send(ctx, inGeneral, m365ctl.Post{From: megan.ID, Text: "the minutes",
			Files: []m365ctl.File{{Name: "minutes.txt", Content: data}}}); err != nil {
			t.Fatal(err)
		}
		withFile := waitPost(t, alice, channel.Id, withText("the minutes"))
		if len(withFile.FileIds) != 1 {
			t.Fatalf("files: %v", withFile.FileIds)
		}
		if got, info := readFile(t, alice, withFile.FileIds[0]); !bytes.Equal(got, data) || info.Name != "minutes.txt" {
			t.Errorf("the file: %q, %d bytes", info.Name, len(got))
		}
		// A user mention, a channel mention and a typed @channel: the user is mentioned, the channel and the typed
		// words are shown without notifying anyone.
		conversation := m365ctl.Mention{ID: 1, MentionText: "General"}
		conversation.Mentioned.Conversation = &wire.ConversationIdent{ID: general.ID, DisplayName: "General",
			ConversationIdentityType: "channel"}
		if _, err := b.ctl.Send(ctx, inGeneral, m365ctl.Post{From: megan.ID,
			HTML:     `mentions: <at id="0">Alice Adams</at> and <at id="1">General</at>, @channel and @all`,
			Mentions: []m365ctl.Mention{m365ctl.UserMention(0, "Alice Adams", aliceTeams.ID), conversation}}); err != nil {
			t.Fatal(err)
		}
		mentions := waitPost(t, alice, channel.Id, withText("mentions:"))
		mustContain(t, "mentions", mentions.Message, "@alice", "**General**")
		for _, loud := range []string{" @channel", " @all", "@here"} {
			if strings.Contains(mentions.Message, loud) {
				t.Errorf("%q would notify the whole channel: %q", loud, mentions.Message)
			}
		}
		if err := b.ctl.Delete(ctx, inGeneral.Replies(root.ID), teamsReplyID(t, b, inGeneral, root.ID, "a reply from Teams"), megan.ID); err != nil {
			t.Fatal(err)
		}
		within(t, 20*time.Second, func() string {
			for _, p := range channelPosts(t, alice, channel.Id) {
				if p.Id == reply.Id {
					return "the reply is still there"
				}
			}
			return ""
		})
	})

	t.Run("Mattermost to Teams: posts, thread replies, edits, reactions, files, mentions, deletes, the relay", func(t *testing.T) {
		post, err := alice.Post(ctx, channel.Id, "hello from **Mattermost**")
		if err != nil {
			t.Fatal(err)
		}
		m := b.waitChannel(t, inGeneral, false, bodyHas("hello from <strong>Mattermost</strong>"))
		if from(m) != aliceTeams.ID {
			t.Errorf("sent as %q, want Alice's Teams account", from(m))
		}
		if _, err := alice.Reply(ctx, post, "my own thread"); err != nil {
			t.Fatal(err)
		}
		own := b.waitChannel(t, inGeneral, true, bodyHas("my own thread"))
		if own.ReplyToID == nil || *own.ReplyToID != m.ID {
			t.Errorf("the reply is not a Teams reply to its root: %v", own.ReplyToID)
		}
		if _, err := alice.Reply(ctx, mmRoot, "answering Megan"); err != nil {
			t.Fatal(err)
		}
		answer := b.waitChannel(t, inGeneral, true, bodyHas("answering Megan"))
		if answer.ReplyToID == nil || *answer.ReplyToID != teamsRoot.ID {
			t.Errorf("the reply to Megan's thread: replyToId %v, want %s", answer.ReplyToID, teamsRoot.ID)
		}
		if _, err := alice.Edit(ctx, post.Id, "hello from Mattermost, edited"); err != nil {
			t.Fatal(err)
		}
		b.waitChannel(t, inGeneral, false, func(x m365ctl.Message) bool { return x.ID == m.ID && strings.Contains(x.Body.Content, "edited") })
		if err := alice.React(ctx, mmRoot.Id, "heart"); err != nil {
			t.Fatal(err)
		}
		b.waitChannel(t, inGeneral, false, func(x m365ctl.Message) bool {
			for _, r := range x.Reactions {
				if x.ID == teamsRoot.ID && r.ReactionType == "heart" && r.User.User != nil && r.User.User.ID == aliceTeams.ID {
					return true
				}
			}
			return false
		})
		data := bytes.Repeat([]byte("agenda\n"), 40)
		if _, err := alice.PostFile(ctx, channel.Id, "the agenda", "agenda.txt", data); err != nil {
			t.Fatal(err)
		}
		withFile := b.waitChannel(t, inGeneral, false, bodyHas("the agenda"))
		if len(withFile.Attachments) != 1 || withFile.Attachments[0].ContentType != "reference" {
			t.Errorf("file attachment: %+v", withFile.Attachments)
		}
		ghost, _, err := b.mm.AdminClient.GetUser(ctx, mmRoot.UserId, "")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := alice.Post(ctx, channel.Id, "thanks @"+ghost.Username); err != nil {
			t.Fatal(err)
		}
		thanks := b.waitChannel(t, inGeneral, false, bodyHas("thanks"))
		if len(thanks.Mentions) != 1 || thanks.Mentions[0].Mentioned.User == nil || thanks.Mentions[0].Mentioned.User.ID != megan.ID {
			t.Errorf("mentions: %+v", thanks.Mentions)
		}
		if err := alice.Delete(ctx, post.Id); err != nil {
			t.Fatal(err)
		}
		b.waitChannel(t, inGeneral, false, func(x m365ctl.Message) bool { return x.ID == m.ID && x.DeletedDateTime != nil })
		if _, err := carol.Post(ctx, channel.Id, "carol without an account"); err != nil {
			t.Fatal(err)
		}
		relayed := b.waitChannel(t, inGeneral, false, bodyHas("carol without an account"))
		if from(relayed) != relay.ID || !strings.Contains(relayed.Body.Content, "carol") {
			t.Errorf("relayed as %q: %q", from(relayed), relayed.Body.Content)
		}
		// Nothing came back as a second post.
		n := 0
		for _, p := range channelPosts(t, alice, channel.Id) {
			if strings.Contains(p.Message, "answering Megan") || strings.Contains(p.Message, "carol without an account") {
				n++
			}
		}
		if n != 2 {
			t.Errorf("%d posts of the two messages sent from Mattermost, want 2", n)
		}
	})

	t.Run("posts keep Graph's pace of one a second per channel", func(t *testing.T) {
		const n = 10
		for i := 1; i <= n; i++ {
			if _, err := alice.Post(ctx, channel.Id, fmt.Sprintf("paced %02d", i)); err != nil {
				t.Fatal(err)
			}
		}
		var times []time.Time
		within(t, 40*time.Second, func() string {
			times = times[:0]
			for _, m := range b.channelMessages(t, inGeneral) {
				if strings.HasPrefix(m.Body.Content, "<p>paced ") {
					at, err := time.Parse(time.RFC3339Nano, m.CreatedDateTime)
					if err != nil {
						t.Fatal(err)
					}
					times = append(times, at)
				}
			}
			if len(times) < n {
				return fmt.Sprintf("%d of %d in Teams", len(times), n)
			}
			return ""
		})
		// Graph's one post a second per channel, measured where Graph sees them: the ten span nine seconds (a
		// little less for the time requests take in flight), and none comes in a burst.
		sort.Slice(times, func(i, j int) bool { return times[i].Before(times[j]) })
		if span := times[len(times)-1].Sub(times[0]); span < 8500*time.Millisecond {
			t.Errorf("%d posts reached Teams within %s: faster than one a second", n, span)
		}
		for i := 1; i < len(times); i++ {
			if gap := times[i].Sub(times[i-1]); gap < 600*time.Millisecond {
				t.Errorf("posts %d and %d reached Teams %s apart", i, i+1, gap)
			}
		}
	})

	t.Run("a burst of 200 posts: paced, none lost, none twice, in order", func(t *testing.T) {
		loadExperiment(t)
		// Graph's real rates make 200 posts take over three minutes: both sides run faster here (the emulator
		// below the bridge, so that 429s happen and are waited out), the checks are the same.
		settings := b.currentSettings(t)
		settings["graphChatPostsPerMinute"] = 600
		settings["graphTeamRequestsPerMinute"] = 2400
		b.applySettings(t, settings)
		limit := m365ctl.Limit{Count: 8, PerSeconds: 1}
		if _, err := b.ctl.SetThrottle(ctx, m365ctl.ThrottleUpdate{Limits: map[string]m365ctl.Limit{
			"channelMessagePost.thread": limit, "channelMessagePost.userThread": limit,
			"channelTeam.team": {Count: 16, PerSeconds: 1}}}); err != nil {
			t.Fatal(err)
		}
		const n = 200
		for i := 1; i <= n; i++ {
			if _, err := alice.Post(ctx, channel.Id, fmt.Sprintf("burst %03d", i)); err != nil {
				t.Fatal(err)
			}
		}
		within(t, 90*time.Second, func() string {
			var got []string
			for _, m := range b.channelMessages(t, inGeneral) {
				if strings.HasPrefix(m.Body.Content, "<p>burst ") {
					got = append(got, m.Body.Content)
				}
			}
			if len(got) < n {
				return fmt.Sprintf("%d of %d in Teams", len(got), n)
			}
			for i, c := range got {
				if want := fmt.Sprintf("<p>burst %03d</p>", i+1); c != want || len(got) != n {
					return fmt.Sprintf("%d messages; position %d is %q, want %q", len(got), i, c, want)
				}
			}
			return ""
		})
		if got := allPosts(t, alice, channel.Id, "burst "); len(got) != n {
			t.Errorf("%d burst posts in Mattermost, want %d (none echoed back)", len(got), n)
		}
	})

	t.Run("past the channel's messages per day, posts wait in order and the channel is told", func(t *testing.T) {
		within(t, 20*time.Second, func() string {
			if n := b.psql(t, "SELECT count(*) FROM msteams_outbox"); n != "0" {
				return n + " items still in the outbox"
			}
			return ""
		})
		sent := b.psql(t, "SELECT count(*) FROM msteams_messages WHERE teams_thread_id = '"+general.ID+"' AND origin = 'mattermost'")
		settings := b.currentSettings(t)
		var limit int
		if _, err := fmt.Sscan(sent, &limit); err != nil {
			t.Fatal(err)
		}
		settings["channelDailyMessageLimit"] = limit + 1
		b.applySettings(t, settings)
		for i := 1; i <= 3; i++ {
			if _, err := alice.Post(ctx, channel.Id, fmt.Sprintf("capped %d", i)); err != nil {
				t.Fatal(err)
			}
		}
		waitPost(t, alice, channel.Id, withText("takes at most"))
		b.waitChannel(t, inGeneral, false, bodyHas("capped 1"))
		for _, m := range b.channelMessages(t, inGeneral) {
			if strings.Contains(m.Body.Content, "capped 2") || strings.Contains(m.Body.Content, "capped 3") {
				t.Errorf("a post past the day's limit reached Teams: %q", m.Body.Content)
			}
		}
		settings["channelDailyMessageLimit"] = 3000
		b.applySettings(t, settings)
		if _, err := alice.Post(ctx, channel.Id, "capped 4"); err != nil {
			t.Fatal(err)
		}
		within(t, 30*time.Second, func() string {
			var got []string
			for _, m := range b.channelMessages(t, inGeneral) {
				if strings.HasPrefix(m.Body.Content, "<p>capped ") {
					got = append(got, m.Body.Content)
				}
			}
			if strings.Join(got, ",") != "<p>capped 1</p>,<p>capped 2</p>,<p>capped 3</p>,<p>capped 4</p>" {
				return fmt.Sprintf("in Teams: %v", got)
			}
			return ""
		})
	})

	t.Run("unlink stops both directions at once and deletes the subscription", func(t *testing.T) {
		mustContain(t, "unlink", b.command(t, alice, channel.Id, "/msteams unlink"), "no longer linked")
		b.channelSubscription(t, team.ID, general.ID, true)
		if _, err := b.ctl.Send(ctx, inGeneral, m365ctl.Post{From: megan.ID, Text: "after unlink from Teams"}); err != nil {
			t.Fatal(err)
		}
		late, err := alice.Post(ctx, channel.Id, "after unlink from Mattermost")
		if err != nil {
			t.Fatal(err)
		}
		b.waitHook(t, late.Id)
		// Linked again, elsewhere: the channel's later posts go there, after anything of it queued before.
		mustContain(t, "relink", b.command(t, alice, channel.Id, "/msteams link "+team.ID+" "+second.ID), "now linked")
		if _, err := alice.Post(ctx, channel.Id, "linked again"); err != nil {
			t.Fatal(err)
		}
		b.waitChannel(t, m365ctl.InChannel(team.ID, second.ID), false, bodyHas("linked again"))
		if _, err := b.ctl.WaitDeliveries(ctx, 30*time.Second); err != nil {
			t.Fatal(err)
		}
		b.waitInboxDrained(t)
		for _, th := range []m365ctl.Thread{inGeneral, m365ctl.InChannel(team.ID, second.ID)} {
			for _, m := range b.channelMessages(t, th) {
				if strings.Contains(m.Body.Content, "after unlink from Mattermost") {
					t.Errorf("a post made after unlinking reached Teams: %q", m.Body.Content)
				}
			}
		}
		for _, p := range channelPosts(t, alice, channel.Id) {
			if strings.Contains(p.Message, "after unlink from Teams") {
				t.Errorf("a Teams message written after unlinking reached Mattermost")
			}
		}
	})
}

// teamsReplyID finds the id of a reply in a Teams channel thread by its text.
func teamsReplyID(t *testing.T, b *bridge, thread m365ctl.Thread, rootID, text string) string {
	t.Helper()
	for _, m := range b.channelMessages(t, thread) {
		if m.ID != rootID {
			continue
		}
		for _, r := range m.Replies {
			if strings.Contains(r.Body.Content, text) {
				return r.ID
			}
		}
	}
	t.Fatalf("no reply %q under %s", text, rootID)
	return ""
}

// currentSettings is the plugin's settings as stored, the generated secrets included (Mattermost masks them in the
// configuration it serves).
func (b *bridge) currentSettings(t *testing.T) map[string]any {
	t.Helper()
	settings := bridgeSettings(b.emu)
	current, err := b.mm.PluginSettings(context.Background(), pluginID)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range current {
		settings[k] = v
	}
	stored, err := b.mm.StoredPluginSettings(pluginID)
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"encryptionkey", "webhooksecret", "clientsecret"} {
		if v, ok := stored[k]; ok {
			settings[k] = v
		}
	}
	return settings
}

// applySettings saves the plugin's settings and waits until the core applied them.
func (b *bridge) applySettings(t *testing.T, settings map[string]any) {
	t.Helper()
	applied := func() int {
		data, err := os.ReadFile(b.mm.LogPath())
		if err != nil {
			t.Fatal(err)
		}
		return strings.Count(string(data), "configuration applied")
	}
	before := applied()
	if err := b.mm.SetPluginSettings(context.Background(), pluginID, settings); err != nil {
		t.Fatal(err)
	}
	within(t, 20*time.Second, func() string {
		if applied() == before {
			return "the new settings are not applied yet"
		}
		return ""
	})
}
