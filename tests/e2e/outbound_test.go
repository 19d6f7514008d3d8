package e2e

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/mattermost/mattermost/server/public/model"
	"github.com/msteams-bridge/msteams/tests/emulators/graph/m365ctl"
)

// teamsMessages reads a chat as the emulator stores it (oldest first, deleted ones included).
func (b *bridge) teamsMessages(t *testing.T, chatID string) []m365ctl.Message {
	t.Helper()
	msgs, err := b.ctl.Messages(context.Background(), m365ctl.InChat(chatID))
	if err != nil {
		t.Fatal(err)
	}
	return msgs
}

// waitTeams waits for a message in the chat that satisfies match.
func (b *bridge) waitTeams(t *testing.T, chatID string, match func(m365ctl.Message) bool) m365ctl.Message {
	t.Helper()
	var found m365ctl.Message
	within(t, 30*time.Second, func() string {
		for _, m := range b.teamsMessages(t, chatID) {
			if match(m) {
				found = m
				return ""
			}
		}
		return "no matching Teams message in " + chatID
	})
	return found
}

func bodyHas(s string) func(m365ctl.Message) bool {
	return func(m m365ctl.Message) bool { return strings.Contains(m.Body.Content, s) }
}

func from(m m365ctl.Message) string {
	if m.From == nil || m.From.User == nil {
		return ""
	}
	return m.From.User.ID
}

// killCore kills the plugin's C++ core (the shim restarts it).
func (b *bridge) killCore(t *testing.T) {
	t.Helper()
	procs, err := b.mm.Descendants()
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range procs {
		if len(p.Cmdline) > 0 && strings.HasSuffix(p.Cmdline[0], "msteams-core") {
			if err := syscall.Kill(p.PID, syscall.SIGKILL); err != nil {
				t.Fatal(err)
			}
			return
		}
	}
	t.Fatal("no msteams-core process")
}

func TestOutbound(t *testing.T) {
	ctx := context.Background()
	// Graph's per-chat limits are one post per second; the burst below runs with both sides at a higher budget
	// (the emulator lower than the bridge, so that 429s happen) to keep the suite short.
	b := startBridge(t, map[string]any{"graphChatPostsPerMinute": 1200})
	// Megan writes first, so that she exists in Mattermost (a synthetic user) and the DM is bridged.
	alice, aliceTeams, megan, dm, channel := b.meganDM(t, "hi from Teams")
	carol, dave := b.user(t, "carol"), b.user(t, "dave")
	carolTeams := b.teamsTwin(t, carol, "Carol Cruz")
	daveTeams := b.teamsTwin(t, dave, "Dave Diaz")
	b.connect(t, dave, daveTeams.ID)
	ghost, _, err := b.mm.AdminClient.GetUserByEmail(ctx, "megan@contoso.example", "")
	if err != nil {
		t.Fatal(err)
	}

	t.Run("a connected user's post, edit, reaction, reply, file and delete reach Teams as that user", func(t *testing.T) {
		post, err := alice.Post(ctx, channel.Id, "Hello **Megan** :smile: see `code`")
		if err != nil {
			t.Fatal(err)
		}
		m := b.waitTeams(t, dm.ID, bodyHas("Hello"))
		if from(m) != aliceTeams.ID {
			t.Errorf("sent as %q, want Alice's Teams account %s", from(m), aliceTeams.ID)
		}
		mustContain(t, "html", m.Body.Content, "<strong>Megan</strong>", "😄", "<code>code</code>")

		if _, err := alice.Edit(ctx, post.Id, "Hello again"); err != nil {
			t.Fatal(err)
		}
		b.waitTeams(t, dm.ID, func(x m365ctl.Message) bool { return x.ID == m.ID && strings.Contains(x.Body.Content, "Hello again") })

		if err := alice.React(ctx, post.Id, "+1"); err != nil {
			t.Fatal(err)
		}
		b.waitTeams(t, dm.ID, func(x m365ctl.Message) bool {
			for _, r := range x.Reactions {
				if x.ID == m.ID && r.ReactionType == "like" && r.User.User != nil && r.User.User.ID == aliceTeams.ID {
					return true
				}
			}
			return false
		})
		if err := alice.Unreact(ctx, post.Id, "+1"); err != nil {
			t.Fatal(err)
		}
		b.waitTeams(t, dm.ID, func(x m365ctl.Message) bool { return x.ID == m.ID && len(x.Reactions) == 0 })

		if _, err := alice.Reply(ctx, post, "a reply in the thread"); err != nil {
			t.Fatal(err)
		}
		reply := b.waitTeams(t, dm.ID, bodyHas("a reply in the thread"))
		quoted := false
		for _, a := range reply.Attachments {
			quoted = quoted || (a.ContentType == "messageReference" && a.ID == m.ID)
		}
		if !quoted {
			t.Errorf("the reply does not quote its root: %+v", reply.Attachments)
		}

		data := bytes.Repeat([]byte("report line\n"), 100)
		if _, err := alice.PostFile(ctx, channel.Id, "the report", "report.txt", data); err != nil {
			t.Fatal(err)
		}
		withFile := b.waitTeams(t, dm.ID, bodyHas("the report"))
		if len(withFile.Attachments) != 1 || withFile.Attachments[0].ContentType != "reference" ||
			withFile.Attachments[0].Name == nil || *withFile.Attachments[0].Name != "report.txt" {
			t.Errorf("file attachment: %+v", withFile.Attachments)
		}
		files, err := b.ctl.Files(ctx, aliceTeams.ID)
		if err != nil || len(files) != 1 {
			t.Fatalf("files in Alice's OneDrive: %v %v", files, err)
		}

		if err := alice.Delete(ctx, post.Id); err != nil {
			t.Fatal(err)
		}
		b.waitTeams(t, dm.ID, func(x m365ctl.Message) bool { return x.ID == m.ID && x.DeletedDateTime != nil })
	})

	t.Run("mentions, code blocks and tables", func(t *testing.T) {
		msg := "ping @megan-to-be\n\n```go\nx := 1\n```\n\n| a | b |\n|---|---|\n| 1 | 2 |"
		msg = strings.Replace(msg, "megan-to-be", ghost.Username, 1)
		if _, err := alice.Post(ctx, channel.Id, msg); err != nil {
			t.Fatal(err)
		}
		m := b.waitTeams(t, dm.ID, bodyHas("ping"))
		mustContain(t, "html", m.Body.Content, `<at id="0">`, `<pre><code class="language-go">x := 1`, "<table>", "<td>2</td>")
		if len(m.Mentions) != 1 || m.Mentions[0].Mentioned.User == nil || m.Mentions[0].Mentioned.User.ID != megan.ID {
			t.Errorf("mentions: %+v", m.Mentions)
		}
	})

	t.Run("a message sent from Mattermost does not come back as a second post", func(t *testing.T) {
		echoes := b.stats(t)["echoes"]
		if _, err := alice.Post(ctx, channel.Id, "round trip"); err != nil {
			t.Fatal(err)
		}
		b.waitTeams(t, dm.ID, bodyHas("round trip"))
		// Wait for the echo notification to be recognised as ours, then count.
		within(t, 20*time.Second, func() string {
			if got := b.stats(t)["echoes"]; got <= echoes {
				return fmt.Sprintf("no echo recognised yet (%d)", got)
			}
			return ""
		})
		n := 0
		for _, p := range channelPosts(t, alice, channel.Id) {
			if strings.Contains(p.Message, "round trip") {
				n++
			}
		}
		if n != 1 {
			t.Errorf("%d posts with the message", n)
		}
	})

	t.Run("a group message becomes a Teams group chat", func(t *testing.T) {
		gm, err := alice.GroupChannel(ctx, dave, carol)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := alice.Post(ctx, gm.Id, "hello group"); err != nil {
			t.Fatal(err)
		}
		var chatID string
		within(t, 30*time.Second, func() string {
			chats, err := b.ctl.Chats(ctx, aliceTeams.ID)
			if err != nil {
				return err.Error()
			}
			for _, c := range chats {
				members := map[string]bool{}
				for _, m := range c.Members {
					members[m.UserID] = true
				}
				if c.ChatType == "group" && len(c.Members) == 3 && members[carolTeams.ID] && members[daveTeams.ID] {
					for _, m := range b.teamsMessages(t, c.ID) {
						if strings.Contains(m.Body.Content, "hello group") {
							chatID = c.ID
							return ""
						}
					}
				}
			}
			return "no group chat with the message"
		})
		// Edits, reactions and thread replies in a group message follow too.
		root, err := alice.Post(ctx, gm.Id, "group **plan**")
		if err != nil {
			t.Fatal(err)
		}
		gmRoot := b.waitTeams(t, chatID, bodyHas("<strong>plan</strong>"))
		if _, err := alice.Edit(ctx, root.Id, "group **plan B**"); err != nil {
			t.Fatal(err)
		}
		b.waitTeams(t, chatID, func(x m365ctl.Message) bool { return x.ID == gmRoot.ID && strings.Contains(x.Body.Content, "plan B") })
		if err := dave.React(ctx, root.Id, "heart"); err != nil {
			t.Fatal(err)
		}
		b.waitTeams(t, chatID, func(x m365ctl.Message) bool {
			return x.ID == gmRoot.ID && len(x.Reactions) == 1 && x.Reactions[0].ReactionType == "heart" &&
				x.Reactions[0].User.User != nil && x.Reactions[0].User.User.ID == daveTeams.ID
		})
		if _, err := dave.Reply(ctx, root, "dave agrees"); err != nil {
			t.Fatal(err)
		}
		agree := b.waitTeams(t, chatID, bodyHas("dave agrees"))
		if from(agree) != daveTeams.ID || len(agree.Attachments) != 1 || agree.Attachments[0].ID != gmRoot.ID {
			t.Errorf("dave's reply: from %q, attachments %+v", from(agree), agree.Attachments)
		}
		if err := alice.Delete(ctx, root.Id); err != nil {
			t.Fatal(err)
		}
		b.waitTeams(t, chatID, func(x m365ctl.Message) bool { return x.ID == gmRoot.ID && x.DeletedDateTime != nil })

		// Carol is not connected: she is told her message did not reach Teams.
		l, err := carol.Listen(ctx)
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		if _, err := carol.Post(ctx, gm.Id, "from carol"); err != nil {
			t.Fatal(err)
		}
		wctx, cancel := context.WithTimeout(ctx, 20*time.Second)
		defer cancel()
		eph, err := l.WaitEphemeral(wctx, func(p *model.Post) bool { return strings.Contains(p.Message, "not connected") })
		if err != nil {
			t.Fatalf("no ephemeral message for carol: %v", err)
		}
		mustContain(t, "ephemeral", eph.Message, "/msteams connect")
		for _, m := range b.teamsMessages(t, chatID) {
			if strings.Contains(m.Body.Content, "from carol") {
				t.Errorf("carol's message reached Teams without her account")
			}
		}
	})

	t.Run("a burst of 200 posts arrives complete and in order despite 429s and a core restart", func(t *testing.T) {
		loadExperiment(t)
		limit := m365ctl.Limit{Count: 10, PerSeconds: 1}
		if _, err := b.ctl.SetThrottle(ctx, m365ctl.ThrottleUpdate{Limits: map[string]m365ctl.Limit{
			"chatMessagePost.thread": limit, "chatMessagePost.userThread": limit}}); err != nil {
			t.Fatal(err)
		}
		before, err := b.ctl.Counters(ctx)
		if err != nil {
			t.Fatal(err)
		}
		const n = 200
		for i := 1; i <= n; i++ {
			if _, err := alice.Post(ctx, channel.Id, fmt.Sprintf("burst %03d", i)); err != nil {
				t.Fatal(err)
			}
			if i == 60 {
				b.killCore(t)
			}
		}
		// The senders wait for their turn and for 429s with no transaction open.
		inTransaction := "0"
		within(t, 150*time.Second, func() string {
			if n := b.psql(t, "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'msteams-core' AND "+
				"state LIKE 'idle in transaction%' AND now() - state_change > interval '2 seconds'"); n != "0" {
				inTransaction = n
			}
			var got []string
			for _, m := range b.teamsMessages(t, dm.ID) {
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
		after, err := b.ctl.Counters(ctx)
		if err != nil {
			t.Fatal(err)
		}
		throttled := after.Throttled["chatMessagePost.thread"] + after.Throttled["chatMessagePost.userThread"] -
			before.Throttled["chatMessagePost.thread"] - before.Throttled["chatMessagePost.userThread"]
		if inTransaction != "0" {
			t.Errorf("%s core sessions stayed idle in transaction while sending", inTransaction)
		}
		t.Logf("429s during the burst: %d", throttled)
		if throttled == 0 {
			t.Errorf("the burst met no 429: it does not show the retries")
		}
		// No post came back into Mattermost twice either.
		count := 0
		for _, p := range channelPosts(t, alice, channel.Id) {
			if strings.HasPrefix(p.Message, "burst ") {
				count++
			}
		}
		if count != n {
			t.Errorf("%d burst posts in Mattermost, want %d", count, n)
		}
	})
}

// Graph applies a message POST but its answer comes after the bridge's request timeout: the bridge must not send it
// again (it would appear twice in Teams) but look for it first. The emulator applies every message POST and holds its
// answer far beyond the bridge's timeout (graphRequestTimeoutMs).
func TestOutboundLateAnswer(t *testing.T) {
	ctx := context.Background()
	b := startBridge(t, map[string]any{"graphRequestTimeoutMs": 1000})
	alice, carol, dave := b.user(t, "alice"), b.user(t, "carol"), b.user(t, "dave")
	aliceTeams := b.teamsTwin(t, alice, "Alice Adams")
	carolTeams := b.teamsTwin(t, carol, "Carol Cruz")
	b.teamsTwin(t, dave, "Dave Diaz")
	b.connect(t, alice, aliceTeams.ID)
	b.chatsSubscription(t, "")
	dm, err := alice.GroupChannel(ctx, carol, dave)
	if err != nil {
		t.Fatal(err)
	}
	// The bot's Teams account relays for carol, who is not connected, in a chat it is a member of.
	admin := b.mm.Admin
	mustContain(t, "connect-bot", b.command(t, admin, dm.Id, "/msteams connect-bot"), "/connect?purpose=bot")
	relay, err := b.ctl.CreateUser(ctx, m365ctl.UserSpec{DisplayName: "Relay", Mail: "relay@tenant.example",
		UserPrincipalName: "relay@tenant.example"})
	if err != nil {
		t.Fatal(err)
	}
	if status, page := b.finish(t, admin, b.signIn(t, admin, "/connect?purpose=bot", relay.UserPrincipalName)); status != 200 {
		t.Fatalf("connecting the bot: %d %s", status, page)
	}
	// Alice's first message creates the group chat (and the portal the relay needs).
	if _, err := alice.Post(ctx, dm.Id, "before the fault"); err != nil {
		t.Fatal(err)
	}
	var chatID string
	within(t, 30*time.Second, func() string {
		chats, err := b.ctl.Chats(ctx, aliceTeams.ID)
		if err != nil {
			return err.Error()
		}
		for _, c := range chats {
			for _, m := range c.Members {
				if c.ChatType == "group" && m.UserID == carolTeams.ID {
					chatID = c.ID
				}
			}
		}
		if chatID == "" {
			return "no group chat of alice, carol and dave"
		}
		return ""
	})
	b.waitTeams(t, chatID, bodyHas("before the fault"))
	if err := b.ctl.AddChatMember(ctx, chatID, relay.ID); err != nil {
		t.Fatal(err)
	}

	if err := b.ctl.SetFaults(ctx, m365ctl.Faults{LateResponseMs: 120_000, RouteContains: "POST /v1.0/chats/{chid}/messages"}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = b.ctl.SetFaults(context.Background(), m365ctl.Faults{}) })
	var posts []string
	p, err := alice.Post(ctx, dm.Id, "late text")
	if err != nil {
		t.Fatal(err)
	}
	posts = append(posts, p.Id)
	if p, err = carol.Post(ctx, dm.Id, "late relayed"); err != nil {
		t.Fatal(err)
	}
	posts = append(posts, p.Id)
	if p, err = alice.PostFile(ctx, dm.Id, "late file", "late.txt", []byte("late file contents\n")); err != nil {
		t.Fatal(err)
	}
	posts = append(posts, p.Id)

	// Done when every post is linked to its Teams message and the outbox is empty.
	within(t, 150*time.Second, func() string {
		linked := b.psql(t, fmt.Sprintf("select count(*) from msteams_messages where mm_post_id in ('%s')",
			strings.Join(posts, "','")))
		left := b.psql(t, "select count(*) from msteams_outbox")
		if linked != "3" || left != "0" {
			return fmt.Sprintf("%s of 3 posts linked, %s outbox items left", linked, left)
		}
		return ""
	})
	count := func(text string) (n int, last m365ctl.Message) {
		for _, m := range b.teamsMessages(t, chatID) {
			if strings.Contains(m.Body.Content, text) && m.DeletedDateTime == nil {
				n++
				last = m
			}
		}
		return n, last
	}
	if n, m := count("late text"); n != 1 || from(m) != aliceTeams.ID {
		t.Errorf("%d Teams messages with the text post (from %q)", n, from(m))
	}
	if n, m := count("late relayed"); n != 1 || from(m) != relay.ID || !strings.Contains(m.Body.Content, "(from Mattermost)") {
		t.Errorf("%d Teams messages with the relayed post (from %q): %+v", n, from(m), m.Body)
	}
	n, withFile := count("late file")
	if n != 1 || len(withFile.Attachments) != 1 || withFile.Attachments[0].Name == nil ||
		*withFile.Attachments[0].Name != "late.txt" {
		t.Errorf("%d Teams messages with the file post; attachments %+v", n, withFile.Attachments)
	}
	if files, err := b.ctl.Files(ctx, aliceTeams.ID); err != nil || len(files) != 1 {
		t.Errorf("files in Alice's OneDrive: %d %v (one upload per file, however many tries)", len(files), err)
	}
	// Nothing came back into Mattermost twice either: the echoes end at the links.
	if err := b.ctl.SetFaults(ctx, m365ctl.Faults{}); err != nil {
		t.Fatal(err)
	}
	if _, err := alice.Post(ctx, dm.Id, "after the fault"); err != nil {
		t.Fatal(err)
	}
	b.waitTeams(t, chatID, bodyHas("after the fault"))
	within(t, 30*time.Second, func() string {
		if b.stats(t)["echoes"] < 5 { // one per message sent from Mattermost
			return "the echoes have not all been handled"
		}
		return ""
	})
	for _, text := range []string{"late text", "late relayed", "late file"} {
		n := 0
		for _, p := range channelPosts(t, alice, dm.Id) {
			if strings.Contains(p.Message, text) {
				n++
			}
		}
		if n != 1 {
			t.Errorf("%d Mattermost posts with %q", n, text)
		}
	}
}
