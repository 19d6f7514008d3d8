package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/mattermost/mattermost/server/public/model"
	"github.com/msteams-bridge/msteams/tests/emulators/graph/m365ctl"
	"github.com/msteams-bridge/msteams/tests/mattermost/mmtest"
)

// within polls check until it returns "" or the timeout passes; then it fails with check's last complaint.
func within(t *testing.T, timeout time.Duration, check func() string) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	last := ""
	for time.Now().Before(deadline) {
		if last = check(); last == "" {
			return
		}
		time.Sleep(150 * time.Millisecond)
	}
	t.Fatalf("after %s: %s", timeout, last)
}

// waitInboxDrained waits until the inbound workers handled every stored notification (a notification answered 202
// is in the inbox): the condition to wait on before counting what replays did, instead of a fixed sleep.
func (b *bridge) waitInboxDrained(t *testing.T) {
	t.Helper()
	within(t, 30*time.Second, func() string {
		if n := b.psql(t, "select count(*) from msteams_inbox"); n != "0" {
			return n + " notifications still in the inbox"
		}
		return ""
	})
}

// stats reads the plugin's counters as a system admin.
func (b *bridge) stats(t *testing.T) map[string]int64 {
	t.Helper()
	resp, err := b.mm.PluginRequest(context.Background(), b.mm.Admin, http.MethodGet, "/api/v1/stats", nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("stats: %d %s", resp.StatusCode, resp.Body)
	}
	out := map[string]int64{}
	if err := json.Unmarshal(resp.Body, &out); err != nil {
		t.Fatal(err)
	}
	return out
}

// chatsSubscription waits until the bridge holds the global chats subscription and returns it.
func (b *bridge) chatsSubscription(t *testing.T, not string) m365ctl.Subscription {
	t.Helper()
	var found m365ctl.Subscription
	within(t, 30*time.Second, func() string {
		subs, err := b.ctl.Subscriptions(context.Background())
		if err != nil {
			return err.Error()
		}
		for _, s := range subs {
			if strings.HasPrefix(s.Resource, "chats/getAllMessages") && s.ID != not {
				found = s
				return ""
			}
		}
		return fmt.Sprintf("no chats subscription among %d", len(subs))
	})
	return found
}

// channelPosts returns the channel's posts (oldest first), as `as` sees them.
func channelPosts(t *testing.T, as *mmtest.User, channelID string) []*model.Post {
	t.Helper()
	posts, err := as.Posts(context.Background(), channelID)
	if err != nil {
		t.Fatal(err)
	}
	return posts
}

// waitPost waits for a post in the channel whose message satisfies match.
func waitPost(t *testing.T, as *mmtest.User, channelID string, match func(*model.Post) bool) *model.Post {
	t.Helper()
	var found *model.Post
	within(t, 20*time.Second, func() string {
		for _, p := range channelPosts(t, as, channelID) {
			if match(p) {
				found = p
				return ""
			}
		}
		return "no matching post in channel " + channelID
	})
	return found
}

// readFile downloads a post's file. Mattermost 9.11 attaches files to a post just after saving it, so a file of a
// post that has just appeared may be unreadable for a moment.
func readFile(t *testing.T, as *mmtest.User, fileID string) ([]byte, *model.FileInfo) {
	t.Helper()
	var data []byte
	var info *model.FileInfo
	within(t, 10*time.Second, func() string {
		var err error
		if data, info, err = as.File(context.Background(), fileID); err != nil {
			return err.Error()
		}
		return ""
	})
	return data, info
}

// allPosts returns the messages of every post in the channel that start with prefix, oldest first, page by page.
func allPosts(t *testing.T, as *mmtest.User, channelID, prefix string) []string {
	t.Helper()
	var posts []*model.Post
	for page := 0; ; page++ {
		list, _, err := as.Client.GetPostsForChannel(context.Background(), channelID, page, 200, "", false, false)
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range list.Posts {
			if strings.HasPrefix(p.Message, prefix) {
				posts = append(posts, p)
			}
		}
		if len(list.Order) < 200 {
			break
		}
	}
	sort.Slice(posts, func(i, j int) bool { return posts[i].CreateAt < posts[j].CreateAt })
	out := make([]string, 0, len(posts))
	for _, p := range posts {
		out = append(out, p.Message)
	}
	return out
}

func withText(s string) func(*model.Post) bool {
	return func(p *model.Post) bool { return strings.Contains(p.Message, s) }
}

// postNotification sends a change-notification batch to the plugin the way Graph does.
// webhookSecret is the clientState Graph sends: the stored setting (Mattermost masks it in the config it serves).
func (b *bridge) webhookSecret(t *testing.T) string {
	t.Helper()
	settings, err := b.mm.StoredPluginSettings(pluginID)
	if err != nil {
		t.Fatal(err)
	}
	secret, _ := settings["webhooksecret"].(string)
	if secret == "" {
		t.Fatal("no webhook secret in the stored settings")
	}
	return secret
}

func (b *bridge) postNotification(t *testing.T, path string, body []byte) int {
	t.Helper()
	resp, err := http.Post(b.mm.URL+"/plugins/"+pluginID+path, "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

func TestInbound(t *testing.T) {
	ctx := context.Background()
	b := startBridge(t, nil)
	alice := b.user(t, "alice")
	carol := b.user(t, "carol")
	aliceTeams := b.teamsTwin(t, alice, "Alice Adams")
	carolTeams := b.teamsTwin(t, carol, "Carol Cruz") // carol has a Mattermost account but never connects
	b.connect(t, alice, aliceTeams.ID)
	megan := b.megan(t)
	nestor, err := b.ctl.CreateUser(ctx, m365ctl.UserSpec{DisplayName: "Nestor Wilke", Mail: "nestor@contoso.example",
		UserPrincipalName: "nestor@contoso.example"})
	if err != nil {
		t.Fatal(err)
	}
	sub := b.chatsSubscription(t, "")
	dm, err := b.ctl.CreateChat(ctx, m365ctl.ChatSpec{ChatType: "oneOnOne", Members: []string{megan.ID, aliceTeams.ID}})
	if err != nil {
		t.Fatal(err)
	}
	chat := m365ctl.InChat(dm.ID)
	send := func(p m365ctl.Post) *m365ctl.Message {
		t.Helper()
		if p.From == "" {
			p.From = megan.ID
		}
		m, err := b.ctl.Send(ctx, chat, p)
		if err != nil {
			t.Fatal(err)
		}
		return m
	}

	var channelID string
	t.Run("a Teams user's first message opens a DM with a synthetic user", func(t *testing.T) {
		send(m365ctl.Post{HTML: "<p>Hello <b>Alice</b>, <i>welcome</i> @channel</p>"})
		ghost, _, err := b.mm.AdminClient.GetUserByEmail(ctx, "megan@contoso.example", "")
		var post *model.Post
		within(t, 20*time.Second, func() string {
			ghost, _, err = b.mm.AdminClient.GetUserByEmail(ctx, "megan@contoso.example", "")
			if err != nil {
				return "no synthetic user yet: " + err.Error()
			}
			ch, _, err := alice.Client.CreateDirectChannel(ctx, alice.Id, ghost.Id)
			if err != nil {
				return err.Error()
			}
			channelID = ch.Id
			for _, p := range channelPosts(t, alice, channelID) {
				if strings.Contains(p.Message, "Alice") {
					post = p
					return ""
				}
			}
			return "no post yet"
		})
		if !strings.HasPrefix(ghost.Username, "msteams_megan") || ghost.FirstName != "Megan Bowen" {
			t.Errorf("synthetic user: username %q, first name %q", ghost.Username, ghost.FirstName)
		}
		if ghost.NotifyProps["email"] != "false" {
			t.Errorf("the synthetic user would get emails: notify props %v", ghost.NotifyProps)
		}
		if post.UserId != ghost.Id {
			t.Errorf("the post is by %s, want the synthetic user %s", post.UserId, ghost.Id)
		}
		if !strings.Contains(post.Message, "**Alice**") || !strings.Contains(post.Message, "*welcome*") {
			t.Errorf("formatting lost: %q", post.Message)
		}
		if strings.Contains(post.Message, " @channel") {
			t.Errorf("a Teams @channel became a Mattermost @channel: %q", post.Message)
		}
	})
	if channelID == "" {
		t.Fatal("no DM; the rest depends on it")
	}

	t.Run("edit, reaction and delete follow", func(t *testing.T) {
		m := send(m365ctl.Post{Text: "first version"})
		post := waitPost(t, alice, channelID, withText("first version"))
		if _, err := b.ctl.Edit(ctx, chat, m.ID, m365ctl.Post{From: megan.ID, Text: "second version"}); err != nil {
			t.Fatal(err)
		}
		waitPost(t, alice, channelID, func(p *model.Post) bool { return p.Id == post.Id && p.Message == "second version" })
		if err := b.ctl.React(ctx, chat, m.ID, megan.ID, "like"); err != nil {
			t.Fatal(err)
		}
		within(t, 20*time.Second, func() string {
			rs, _, err := alice.Client.GetReactions(ctx, post.Id)
			if err != nil {
				return err.Error()
			}
			for _, r := range rs {
				if r.EmojiName == "+1" {
					return ""
				}
			}
			return fmt.Sprintf("no +1 reaction among %d", len(rs))
		})
		if err := b.ctl.Unreact(ctx, chat, m.ID, megan.ID, "like"); err != nil {
			t.Fatal(err)
		}
		within(t, 20*time.Second, func() string {
			rs, _, _ := alice.Client.GetReactions(ctx, post.Id)
			if len(rs) != 0 {
				return fmt.Sprintf("%d reactions left", len(rs))
			}
			return ""
		})
		if err := b.ctl.Delete(ctx, chat, m.ID, megan.ID); err != nil {
			t.Fatal(err)
		}
		within(t, 20*time.Second, func() string {
			for _, p := range channelPosts(t, alice, channelID) {
				if p.Id == post.Id {
					return "the post is still there"
				}
			}
			return ""
		})
	})

	t.Run("a Teams delete of a post already gone in Mattermost does not wedge the chat", func(t *testing.T) {
		// What a crash between deleting the post and recording it leaves behind: the deletion is applied again to a
		// post that is already gone, and Mattermost answers 400 app.post.get.app_error. That is success.
		m := send(m365ctl.Post{Text: "deleted on both sides"})
		post := waitPost(t, alice, channelID, withText("deleted on both sides"))
		if _, err := b.mm.AdminClient.DeletePost(ctx, post.Id); err != nil {
			t.Fatal(err)
		}
		if err := b.ctl.Delete(ctx, chat, m.ID, megan.ID); err != nil {
			t.Fatal(err)
		}
		send(m365ctl.Post{Text: "after the double delete"})
		waitPost(t, alice, channelID, withText("after the double delete"))
		if n := b.stats(t)["dead_lettered"]; n != 0 {
			t.Errorf("%d changes set aside as dead letters; deleting a deleted post is success", n)
		}
	})

	t.Run("a forged deleted notification does not delete a bridged post", func(t *testing.T) {
		m := send(m365ctl.Post{Text: "still here after a forged delete"})
		post := waitPost(t, alice, channelID, withText("still here after a forged delete"))
		secret := b.webhookSecret(t)
		before := b.stats(t)
		item := map[string]any{"subscriptionId": sub.ID, "clientState": secret, "changeType": "deleted",
			"resource": fmt.Sprintf("chats('%s')/messages('%s')", dm.ID, m.ID), "tenantId": b.emu.TenantID}
		body, _ := json.Marshal(map[string]any{"value": []any{item}})
		if status := b.postNotification(t, "/changes", body); status != http.StatusAccepted {
			t.Fatalf("notification: %d", status)
		}
		// Wait until the notification was handled: accepted, and the chat's inbox is empty again.
		within(t, 20*time.Second, func() string {
			if b.stats(t)["notifications_accepted"] <= before["notifications_accepted"] {
				return "not accepted yet"
			}
			if n := b.psql(t, "SELECT count(*) FROM msteams_inbox WHERE thread_id = '"+dm.ID+"'"); n != "0" {
				return n + " inbox items left"
			}
			return ""
		})
		got, _, err := alice.Client.GetPost(ctx, post.Id, "")
		if err != nil || got.DeleteAt != 0 {
			t.Errorf("a forged deletion deleted the post: %v %v", got, err)
		}
	})

	t.Run("400 redeliveries of bridged messages cost no Graph request and hold nothing up", func(t *testing.T) {
		var bridged []string
		for i := 0; i < 4; i++ {
			text := fmt.Sprintf("bridged before the replays %d", i)
			bridged = append(bridged, send(m365ctl.Post{Text: text}).ID)
			waitPost(t, alice, channelID, withText(text))
		}
		secret := b.webhookSecret(t)
		var replays []any
		for i := 0; i < 400; i++ {
			replays = append(replays, map[string]any{"subscriptionId": sub.ID, "clientState": secret,
				"changeType": "created", "tenantId": b.emu.TenantID,
				"resource": fmt.Sprintf("chats('%s')/messages('%s')", dm.ID, bridged[i%len(bridged)])})
		}
		body, _ := json.Marshal(map[string]any{"value": replays})
		if err := b.ctl.ResetCounters(ctx); err != nil {
			t.Fatal(err)
		}
		before := b.stats(t)["notifications_accepted"]
		if status := b.postNotification(t, "/changes", body); status != http.StatusAccepted {
			t.Fatalf("replays: %d", status)
		}
		if accepted := b.stats(t)["notifications_accepted"] - before; accepted != int64(len(replays)) {
			t.Fatalf("%d of %d replays accepted (a replay refused as forged tests nothing)", accepted, len(replays))
		}
		const fresh = 3
		for i := 0; i < fresh; i++ {
			send(m365ctl.Post{Text: fmt.Sprintf("new after the replays %d", i)})
		}
		inTransaction := "0"
		within(t, 20*time.Second, func() string {
			if n := b.psql(t, "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'msteams-core' AND "+
				"state LIKE 'idle in transaction%' AND now() - state_change > interval '2 seconds'"); n != "0" {
				inTransaction = n
			}
			for i := 0; i < fresh; i++ {
				text := fmt.Sprintf("new after the replays %d", i)
				found := false
				for _, p := range channelPosts(t, alice, channelID) {
					found = found || strings.Contains(p.Message, text)
				}
				if !found {
					return "missing: " + text
				}
			}
			return ""
		})
		if inTransaction != "0" {
			t.Errorf("%s core sessions stayed idle in transaction", inTransaction)
		}
		reads := graphMessageReads(t, b)
		// One read per new message at most (a read forward from the cursor may cover several); the replays cost none
		// (before, each batch of them cost a read: at least 4 for 400).
		if reads > fresh {
			t.Errorf("%d Graph message reads for %d new messages and 400 redeliveries", reads, fresh)
		}
	})

	t.Run("a file and a pasted image arrive as files", func(t *testing.T) {
		report := []byte("quarterly numbers\n1,2,3\n")
		send(m365ctl.Post{HTML: "<p>see attached</p>", Files: []m365ctl.File{{Name: "report.csv", Content: report,
			ContentType: "text/csv"}}})
		post := waitPost(t, alice, channelID, withText("see attached"))
		if len(post.FileIds) != 1 {
			t.Fatalf("files: %v", post.FileIds)
		}
		data, info := readFile(t, alice, post.FileIds[0])
		if info.Name != "report.csv" || !bytes.Equal(data, report) {
			t.Errorf("file %q with %q", info.Name, data)
		}
		png := []byte("\x89PNG\r\n\x1a\nnot really an image")
		send(m365ctl.Post{HTML: `<p>look</p><p><img src="../hostedContents/1/$value"></p>`,
			HostedContents: []m365ctl.HostedContent{{TemporaryID: "1", Content: png, ContentType: "image/png"}}})
		pasted := waitPost(t, alice, channelID, withText("look"))
		if len(pasted.FileIds) != 1 {
			t.Fatalf("pasted image files: %v", pasted.FileIds)
		}
		data, _ = readFile(t, alice, pasted.FileIds[0])
		if !bytes.Equal(data, png) {
			t.Errorf("pasted image: %q", data)
		}
	})

	t.Run("mentions, quoted replies, tables and code blocks", func(t *testing.T) {
		send(m365ctl.Post{HTML: `<p>hi <at id="0">Alice Adams</at></p>`,
			Mentions: []m365ctl.Mention{m365ctl.UserMention(0, "Alice Adams", aliceTeams.ID)}})
		waitPost(t, alice, channelID, withText("hi @alice"))

		root := send(m365ctl.Post{Text: "the question"})
		rootPost := waitPost(t, alice, channelID, withText("the question"))
		ref := fmt.Sprintf(`{"messageId":%q,"messagePreview":"the question"}`, root.ID)
		send(m365ctl.Post{HTML: fmt.Sprintf(`<attachment id="%s"></attachment><p>the answer</p>`, root.ID),
			Attachments: []m365ctl.Attachment{{ID: root.ID, ContentType: "messageReference", Content: &ref}}})
		reply := waitPost(t, alice, channelID, withText("the answer"))
		if reply.RootId != rootPost.Id {
			t.Errorf("the quoted reply is not in the thread of %s: root %q", rootPost.Id, reply.RootId)
		}

		send(m365ctl.Post{HTML: `<table><tr><th>Name</th><th>Qty</th></tr><tr><td>apples</td><td>3</td></tr></table>`})
		table := waitPost(t, alice, channelID, withText("apples"))
		if !strings.Contains(table.Message, "| Name | Qty |") || !strings.Contains(table.Message, "| apples | 3 |") {
			t.Errorf("table: %q", table.Message)
		}
		send(m365ctl.Post{HTML: `<pre><code class="language-go">func main() { x := "*a*" }</code></pre>`})
		code := waitPost(t, alice, channelID, withText("func main()"))
		if !strings.Contains(code.Message, "```") || !strings.Contains(code.Message, `x := "*a*"`) {
			t.Errorf("code block: %q", code.Message)
		}
	})

	t.Run("a group chat becomes a group message with the matched and synthetic users", func(t *testing.T) {
		g, err := b.ctl.CreateChat(ctx, m365ctl.ChatSpec{ChatType: "group", Topic: "Plans",
			Members: []string{megan.ID, aliceTeams.ID, carolTeams.ID}})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := b.ctl.Send(ctx, m365ctl.InChat(g.ID), m365ctl.Post{From: carolTeams.ID, Text: "group hello"}); err != nil {
			t.Fatal(err)
		}
		var post *model.Post
		within(t, 20*time.Second, func() string {
			chans, _, err := alice.Client.GetChannelsForUserWithLastDeleteAt(ctx, alice.Id, 0)
			if err != nil {
				return err.Error()
			}
			for _, c := range chans {
				if c.Type != model.ChannelTypeGroup {
					continue
				}
				// The channel can be listed before alice may read it (her membership is still being added):
				// that is "not yet", never a failure.
				posts, err := alice.Posts(ctx, c.Id)
				if err != nil {
					return "group channel " + c.Id + " not readable yet: " + err.Error()
				}
				for _, p := range posts {
					if p.Message == "group hello" {
						post = p
						return ""
					}
				}
			}
			return "no group message yet"
		})
		if post.UserId != carol.Id {
			t.Errorf("the group message is by %s, want carol (matched by email) %s", post.UserId, carol.Id)
		}
	})

	t.Run("a chat without connected members costs no Graph request", func(t *testing.T) {
		quiet, err := b.ctl.CreateChat(ctx, m365ctl.ChatSpec{ChatType: "oneOnOne", Members: []string{megan.ID, nestor.ID}})
		if err != nil {
			t.Fatal(err)
		}
		before := b.stats(t)["skipped_no_connected_member"]
		if err := b.ctl.ResetCounters(ctx); err != nil {
			t.Fatal(err)
		}
		if _, err := b.ctl.Send(ctx, m365ctl.InChat(quiet.ID), m365ctl.Post{From: megan.ID, Text: "not for the bridge"}); err != nil {
			t.Fatal(err)
		}
		within(t, 20*time.Second, func() string {
			if got := b.stats(t)["skipped_no_connected_member"]; got <= before {
				return fmt.Sprintf("skipped_no_connected_member still %d", got)
			}
			return ""
		})
		counters, err := b.ctl.Counters(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range counters.Requests {
			if r.Host == "graph" && strings.Contains(r.Route, "/chats/") && r.Caller != "none" {
				t.Errorf("Graph request for a chat without connected members: %s by %s (%d)", r.Route, r.Caller, r.Count)
			}
		}
	})

	t.Run("the same notification five times, and forged ones, make at most one post", func(t *testing.T) {
		m := send(m365ctl.Post{Text: "only once please"})
		waitPost(t, alice, channelID, withText("only once please"))
		secret := b.webhookSecret(t)
		item := map[string]any{"subscriptionId": sub.ID, "clientState": secret, "changeType": "created",
			"resource": fmt.Sprintf("chats('%s')/messages('%s')", dm.ID, m.ID), "tenantId": b.emu.TenantID}
		body, _ := json.Marshal(map[string]any{"value": []any{item}})
		for i := 0; i < 5; i++ {
			if status := b.postNotification(t, "/changes", body); status != http.StatusAccepted {
				t.Fatalf("replay %d: %d", i, status)
			}
		}
		forged := map[string]any{"subscriptionId": sub.ID, "clientState": "guess", "changeType": "created",
			"resource": fmt.Sprintf("chats('%s')/messages('%s')", dm.ID, "999")}
		unknown := map[string]any{"subscriptionId": "00000000-0000-0000-0000-000000000000", "clientState": secret,
			"changeType": "created", "resource": fmt.Sprintf("chats('%s')/messages('%s')", dm.ID, "998"),
			"tenantId": b.emu.TenantID}
		otherTenant := map[string]any{"subscriptionId": sub.ID, "clientState": secret, "changeType": "deleted",
			"resource": fmt.Sprintf("chats('%s')/messages('%s')", dm.ID, m.ID),
			"tenantId": "00000000-1111-4222-8333-444444444444"}
		before := b.stats(t)
		fb, _ := json.Marshal(map[string]any{"value": []any{forged, unknown, otherTenant}})
		if status := b.postNotification(t, "/changes", fb); status != http.StatusAccepted {
			t.Errorf("forged batch: %d", status)
		}
		if status := b.postNotification(t, "/changes", []byte(`{"value": [`)); status != http.StatusBadRequest {
			t.Errorf("malformed JSON: %d", status)
		}
		if status := b.postNotification(t, "/changes", bytes.Repeat([]byte(" "), 2<<20)); status != http.StatusRequestEntityTooLarge {
			t.Errorf("oversize body: %d", status)
		}
		after := b.stats(t)
		if after["notifications_bad_client_state"] != before["notifications_bad_client_state"]+1 ||
			after["notifications_unknown_subscription"] != before["notifications_unknown_subscription"]+1 ||
			after["notifications_wrong_tenant"] != before["notifications_wrong_tenant"]+1 {
			t.Errorf("forged notifications not counted: before %v after %v", before, after)
		}
		b.waitInboxDrained(t) // the workers handled the replays
		n := 0
		for _, p := range channelPosts(t, alice, channelID) {
			if p.Message == "only once please" {
				n++
			}
		}
		if n != 1 {
			t.Errorf("%d posts for one message", n)
		}
	})

	t.Run("the subscription is renewed when Graph asks and recreated when Graph removes it", func(t *testing.T) {
		old := sub.ExpirationDateTime
		time.Sleep(1100 * time.Millisecond) // a renewal must move the expiry
		if _, err := b.ctl.SendLifecycle(ctx, sub.ID, "reauthorizationRequired"); err != nil {
			t.Fatal(err)
		}
		within(t, 20*time.Second, func() string {
			subs, _ := b.ctl.Subscriptions(ctx)
			for _, s := range subs {
				if s.ID == sub.ID && s.ExpirationDateTime != old {
					return ""
				}
			}
			return "not renewed"
		})
		if _, err := b.ctl.RemoveSubscription(ctx, sub.ID); err != nil {
			t.Fatal(err)
		}
		replaced := b.chatsSubscription(t, sub.ID)
		send(m365ctl.Post{Text: "after the new subscription"})
		waitPost(t, alice, channelID, withText("after the new subscription"))
		sub = replaced

		// A new webhook secret takes effect without a restart: the subscription is replaced with the new clientState.
		settings, err := b.mm.PluginSettings(ctx, pluginID)
		if err != nil {
			t.Fatal(err)
		}
		settings["webhooksecret"] = "a-regenerated-webhook-secret-0123456789"
		if err := b.mm.SetPluginSettings(ctx, pluginID, settings); err != nil {
			t.Fatal(err)
		}
		within(t, 30*time.Second, func() string {
			subs, _ := b.ctl.Subscriptions(ctx)
			for _, s := range subs {
				if strings.HasPrefix(s.Resource, "chats/getAllMessages") && s.ClientState == "a-regenerated-webhook-secret-0123456789" {
					sub = s
					return ""
				}
			}
			return "the subscription still has the old clientState"
		})
		send(m365ctl.Post{Text: "after the new secret"})
		waitPost(t, alice, channelID, withText("after the new secret"))
	})

	t.Run("admins promote a synthetic user and list linked channels, others are refused", func(t *testing.T) {
		channel, err := b.mm.CreateChannel(ctx, b.mm.Team.Id, "admin-cmds", model.ChannelTypeOpen, b.mm.Admin, alice)
		if err != nil {
			t.Fatal(err)
		}
		ghost, _, err := b.mm.AdminClient.GetUserByEmail(ctx, "megan@contoso.example", "")
		if err != nil {
			t.Fatal(err)
		}
		mustContain(t, "show-links", b.command(t, b.mm.Admin, channel.Id, "/msteams show-links"), "No channels are linked")
		mustContain(t, "show-links as a user", b.command(t, alice, channel.Id, "/msteams show-links"), "system admin")
		mustContain(t, "promote as a user", b.command(t, alice, channel.Id, "/msteams promote "+ghost.Username+" megan"),
			"system admin")
		mustContain(t, "promote a real user", b.command(t, b.mm.Admin, channel.Id, "/msteams promote carol carol2"),
			"not a synthetic user")
		mustContain(t, "promote to a bad name", b.command(t, b.mm.Admin, channel.Id, "/msteams promote "+ghost.Username+" Megan!"),
			"not a valid username")
		mustContain(t, "promote to a taken name", b.command(t, b.mm.Admin, channel.Id, "/msteams promote "+ghost.Username+" alice"),
			"taken")
		mustContain(t, "promote", b.command(t, b.mm.Admin, channel.Id, "/msteams promote "+ghost.Username+" megan.bowen"),
			"@megan.bowen is now a normal Mattermost user")
		promoted, _, err := b.mm.AdminClient.GetUser(ctx, ghost.Id, "")
		if err != nil {
			t.Fatal(err)
		}
		if promoted.Username != "megan.bowen" || promoted.AuthService != "saml" {
			t.Errorf("promoted user: username %q, auth service %q", promoted.Username, promoted.AuthService)
		}
		// Teams messages keep arriving as the same, now promoted, user.
		send(m365ctl.Post{Text: "still me"})
		post := waitPost(t, alice, channelID, withText("still me"))
		if post.UserId != ghost.Id {
			t.Errorf("after promotion the post is by %s, want %s", post.UserId, ghost.Id)
		}
	})

	t.Run("messages sent while the plugin is off arrive in order, once", func(t *testing.T) {
		if err := b.mm.DisablePlugin(ctx, pluginID); err != nil {
			t.Fatal(err)
		}
		for i := 1; i <= 50; i++ {
			send(m365ctl.Post{Text: fmt.Sprintf("offline %02d", i)})
		}
		if err := b.mm.EnablePlugin(ctx, pluginID); err != nil {
			t.Fatal(err)
		}
		within(t, 60*time.Second, func() string {
			var got []string
			for _, p := range channelPosts(t, alice, channelID) {
				if strings.HasPrefix(p.Message, "offline ") {
					got = append(got, p.Message)
				}
			}
			if len(got) < 50 {
				return fmt.Sprintf("%d of 50 arrived", len(got))
			}
			for i, m := range got {
				if want := fmt.Sprintf("offline %02d", i+1); m != want || len(got) != 50 {
					return fmt.Sprintf("position %d is %q (want %q), %d posts", i, m, want, len(got))
				}
			}
			return ""
		})
	})

	t.Run("a chat created while the plugin is off is found, its messages in order", func(t *testing.T) {
		if err := b.mm.DisablePlugin(ctx, pluginID); err != nil {
			t.Fatal(err)
		}
		// Its notifications are lost for good (not retried later): only discovery can find the chat.
		if err := b.ctl.SetFaults(ctx, m365ctl.Faults{DropDeliveries: 1000}); err != nil {
			t.Fatal(err)
		}
		fresh, err := b.ctl.CreateChat(ctx, m365ctl.ChatSpec{ChatType: "oneOnOne", Members: []string{nestor.ID, aliceTeams.ID}})
		if err != nil {
			t.Fatal(err)
		}
		for i := 1; i <= 5; i++ {
			if _, err := b.ctl.Send(ctx, m365ctl.InChat(fresh.ID), m365ctl.Post{From: nestor.ID,
				Text: fmt.Sprintf("new chat %d", i)}); err != nil {
				t.Fatal(err)
			}
		}
		within(t, 20*time.Second, func() string {
			if f, err := b.ctl.GetFaults(ctx); err != nil || f.DropDeliveries > 1000-5 {
				return fmt.Sprintf("the 5 notifications are not dropped yet: %+v %v", f, err)
			}
			return ""
		})
		if err := b.ctl.ClearFaults(ctx); err != nil {
			t.Fatal(err)
		}
		if err := b.mm.EnablePlugin(ctx, pluginID); err != nil {
			t.Fatal(err)
		}
		within(t, 60*time.Second, func() string {
			ghost, _, err := b.mm.AdminClient.GetUserByEmail(ctx, "nestor@contoso.example", "")
			if err != nil {
				return "no synthetic user for Nestor yet: " + err.Error()
			}
			ch, _, err := alice.Client.CreateDirectChannel(ctx, alice.Id, ghost.Id)
			if err != nil {
				return err.Error()
			}
			got := allPosts(t, alice, ch.Id, "new chat ")
			want := []string{"new chat 1", "new chat 2", "new chat 3", "new chat 4", "new chat 5"}
			if fmt.Sprint(got) != fmt.Sprint(want) {
				return fmt.Sprintf("posts %q, want %q", got, want)
			}
			return ""
		})
	})

	t.Run("1,100 messages sent while the plugin is off all arrive, in order, once", func(t *testing.T) {
		loadExperiment(t)
		// More than one read (1,000 messages) holds: the gap is read oldest first, chunk by chunk.
		const n = 1100
		if err := b.mm.DisablePlugin(ctx, pluginID); err != nil {
			t.Fatal(err)
		}
		for i := 1; i <= n; i++ {
			send(m365ctl.Post{Text: fmt.Sprintf("gap %04d", i)})
		}
		if err := b.mm.EnablePlugin(ctx, pluginID); err != nil {
			t.Fatal(err)
		}
		within(t, 5*time.Minute, func() string {
			got := allPosts(t, alice, channelID, "gap ")
			if len(got) < n {
				return fmt.Sprintf("%d of %d arrived", len(got), n)
			}
			for i, m := range got {
				if want := fmt.Sprintf("gap %04d", i+1); m != want || len(got) != n {
					return fmt.Sprintf("position %d is %q (want %q), %d posts", i, m, want, len(got))
				}
			}
			return ""
		})
	})
}

func TestNotificationsOnly(t *testing.T) {
	ctx := context.Background()
	b := startBridge(t, map[string]any{"chatSync": "notifications"})
	alice := b.user(t, "alice")
	aliceTeams := b.teamsTwin(t, alice, "Alice Adams")
	b.connect(t, alice, aliceTeams.ID)
	megan := b.megan(t)
	sub := b.chatsSubscription(t, "")
	dm, err := b.ctl.CreateChat(ctx, m365ctl.ChatSpec{ChatType: "oneOnOne", Members: []string{megan.ID, aliceTeams.ID}})
	if err != nil {
		t.Fatal(err)
	}
	m, err := b.ctl.Send(ctx, m365ctl.InChat(dm.ID), m365ctl.Post{From: megan.ID, HTML: "<p>lunch at <b>noon</b>?</p>"})
	if err != nil {
		t.Fatal(err)
	}
	var notes []string
	within(t, 20*time.Second, func() string {
		notes = nil
		for _, n := range b.botDM(t, alice) {
			if strings.Contains(n, "Megan Bowen") {
				notes = append(notes, n)
			}
		}
		if len(notes) == 0 {
			return "no notification from the bot"
		}
		return ""
	})
	mustContain(t, "notification", notes[0], "**Megan Bowen** sent you a message in Microsoft Teams", "lunch at **noon**?",
		"https://teams.microsoft.com/l/message/")
	// Delivered again by Graph: still one notification. No synthetic user and no mirrored DM either.
	secret := b.webhookSecret(t)
	body, _ := json.Marshal(map[string]any{"value": []any{map[string]any{"subscriptionId": sub.ID, "clientState": secret,
		"changeType": "created", "resource": fmt.Sprintf("chats('%s')/messages('%s')", dm.ID, m.ID),
		"tenantId": b.emu.TenantID}}})
	if status := b.postNotification(t, "/changes", body); status != http.StatusAccepted {
		t.Fatalf("replay: %d", status)
	}
	b.waitInboxDrained(t) // the replay was handled
	count := 0
	for _, n := range b.botDM(t, alice) {
		if strings.Contains(n, "lunch at") {
			count++
		}
	}
	if count != 1 {
		t.Errorf("%d notifications for one message", count)
	}
	if _, _, err := b.mm.AdminClient.GetUserByEmail(ctx, "megan@contoso.example", ""); err == nil {
		t.Errorf("notifications-only mode created a synthetic user")
	}
}

func TestReconciliation(t *testing.T) {
	ctx := context.Background()
	b := startBridge(t, map[string]any{"reconcileIntervalSeconds": 3})
	alice, _, megan, dm, channel := b.meganDM(t, "before the losses")
	channelID := channel.Id
	chat := m365ctl.InChat(dm.ID)
	send := func(text string) {
		t.Helper()
		if _, err := b.ctl.Send(ctx, chat, m365ctl.Post{From: megan.ID, Text: text}); err != nil {
			t.Fatal(err)
		}
	}

	t.Run("notifications Graph loses without a word still arrive within the interval, in order", func(t *testing.T) {
		if err := b.ctl.SetFaults(ctx, m365ctl.Faults{DropDeliveries: 100}); err != nil {
			t.Fatal(err)
		}
		defer b.ctl.ClearFaults(ctx)
		for i := 1; i <= 3; i++ {
			send(fmt.Sprintf("lost notification %d", i))
		}
		within(t, 30*time.Second, func() string {
			got := allPosts(t, alice, channelID, "lost notification ")
			want := []string{"lost notification 1", "lost notification 2", "lost notification 3"}
			if fmt.Sprint(got) != fmt.Sprint(want) {
				return fmt.Sprintf("posts %q, want %q", got, want)
			}
			return ""
		})
		f, err := b.ctl.GetFaults(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if f.DropDeliveries >= 100 {
			t.Errorf("no delivery was dropped (%d left): the test did not test anything", f.DropDeliveries)
		}
		if b.stats(t)["reconciles"] == 0 {
			t.Errorf("no reconciliation counted")
		}
	})
}
