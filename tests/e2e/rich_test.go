package e2e

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/mattermost/mattermost/server/public/model"
	"github.com/msteams-bridge/msteams/tests/emulators/graph/m365ctl"
)

// graphMessageReads counts the Graph requests that read chat messages (a GET of one, a listing, a delta).
func graphMessageReads(t *testing.T, b *bridge) int64 {
	t.Helper()
	counters, err := b.ctl.Counters(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var reads int64
	for _, r := range counters.Requests {
		if r.Host == "graph" && strings.HasPrefix(r.Route, "GET ") && strings.Contains(r.Route, "/messages") {
			reads += r.Count
		}
	}
	return reads
}

// forgedToken is a validation token with the claims Graph's have, signed with a key of our own under the kid of
// Microsoft's (the emulator's) published key.
func forgedToken(t *testing.T, b *bridge) string {
	t.Helper()
	resp, err := b.emu.HTTPClient().Get(b.emu.LoginURL + "/common/discovery/v2.0/keys")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var jwks struct {
		Keys []struct {
			Kid string `json:"kid"`
		} `json:"keys"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&jwks); err != nil || len(jwks.Keys) == 0 {
		t.Fatalf("the emulator's keys: %v", err)
	}
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	enc := base64.RawURLEncoding
	header, _ := json.Marshal(map[string]any{"alg": "RS256", "typ": "JWT", "kid": jwks.Keys[0].Kid})
	now := time.Now().Unix()
	claims, _ := json.Marshal(map[string]any{"aud": b.emu.ClientID, "iss": "https://sts.windows.net/" + b.emu.TenantID + "/",
		"tid": b.emu.TenantID, "appid": "0bf30f3b-4a52-48df-9a82-234910c4a086", "iat": now, "nbf": now, "exp": now + 3600})
	signed := enc.EncodeToString(header) + "." + enc.EncodeToString(claims)
	digest := sha256.Sum256([]byte(signed))
	sig, err := rsa.SignPKCS1v15(rand.Reader, key, crypto.SHA256, digest[:])
	if err != nil {
		t.Fatal(err)
	}
	return signed + "." + enc.EncodeToString(sig)
}

func TestRichNotifications(t *testing.T) {
	ctx := context.Background()
	b := startBridge(t, map[string]any{"subscriptionMode": "global-rich"})
	alice, aliceTeams, megan, dm, channel := b.meganDM(t, "hello over a rich notification")
	sub := b.chatsSubscription(t, "")
	if !sub.IncludeResourceData {
		t.Fatalf("the chats subscription does not include resource data: %+v", sub)
	}
	chat := m365ctl.InChat(dm.ID)

	t.Run("messages, an edit, a reaction and a delete arrive with no Graph read", func(t *testing.T) {
		if err := b.ctl.ResetCounters(ctx); err != nil {
			t.Fatal(err)
		}
		before := b.stats(t)["rich_applied"]
		var ids []string
		for i := 1; i <= 5; i++ {
			m, err := b.ctl.Send(ctx, chat, m365ctl.Post{From: megan.ID, HTML: fmt.Sprintf("<p>rich <b>%d</b></p>", i)})
			if err != nil {
				t.Fatal(err)
			}
			ids = append(ids, m.ID)
		}
		within(t, 20*time.Second, func() string {
			got := allPosts(t, alice, channel.Id, "rich ")
			want := []string{"rich **1**", "rich **2**", "rich **3**", "rich **4**", "rich **5**"}
			if fmt.Sprint(got) != fmt.Sprint(want) {
				return fmt.Sprintf("posts %q, want %q", got, want)
			}
			return ""
		})
		if _, err := b.ctl.Edit(ctx, chat, ids[0], m365ctl.Post{From: megan.ID, HTML: "<p>rich one, edited</p>"}); err != nil {
			t.Fatal(err)
		}
		if err := b.ctl.React(ctx, chat, ids[1], megan.ID, "like"); err != nil {
			t.Fatal(err)
		}
		if err := b.ctl.Delete(ctx, chat, ids[2], megan.ID); err != nil {
			t.Fatal(err)
		}
		within(t, 20*time.Second, func() string {
			got := allPosts(t, alice, channel.Id, "rich ")
			want := []string{"rich one, edited", "rich **2**", "rich **4**", "rich **5**"}
			if fmt.Sprint(got) != fmt.Sprint(want) {
				return fmt.Sprintf("posts %q, want %q", got, want)
			}
			post := waitPost(t, alice, channel.Id, withText("rich **2**"))
			if len(post.Metadata.Reactions) != 1 || post.Metadata.Reactions[0].EmojiName != "+1" {
				return "no +1 reaction on the second message yet"
			}
			return ""
		})
		if reads := graphMessageReads(t, b); reads != 0 {
			t.Errorf("%d Graph message reads in rich mode, want 0", reads)
		}
		if applied := b.stats(t)["rich_applied"] - before; applied < 8 {
			t.Errorf("%d changes applied from rich notifications, want at least 8", applied)
		}
	})

	t.Run("a Mattermost reply reaches Teams once, its rich echo makes no second post", func(t *testing.T) {
		if _, _, err := alice.Client.CreatePost(ctx, &model.Post{ChannelId: channel.Id, Message: "answer from Mattermost"}); err != nil {
			t.Fatal(err)
		}
		within(t, 20*time.Second, func() string {
			msgs, err := b.ctl.Messages(ctx, chat)
			if err != nil {
				return err.Error()
			}
			n := 0
			for _, m := range msgs {
				if strings.Contains(m.Body.Content, "answer from Mattermost") && from(m) == aliceTeams.ID {
					n++
				}
			}
			if n != 1 {
				return fmt.Sprintf("%d Teams messages for the reply", n)
			}
			return ""
		})
		b.waitInboxDrained(t)
		if got := allPosts(t, alice, channel.Id, "answer from Mattermost"); len(got) != 1 {
			t.Errorf("the reply is %d posts in Mattermost", len(got))
		}
	})

	t.Run("a chat without a connected member is dropped unread and leaves no trace", func(t *testing.T) {
		u1, err := b.ctl.CreateUser(ctx, m365ctl.UserSpec{DisplayName: "Nestor Wilke", Mail: "nestor@contoso.example",
			UserPrincipalName: "nestor@contoso.example"})
		if err != nil {
			t.Fatal(err)
		}
		u2, err := b.ctl.CreateUser(ctx, m365ctl.UserSpec{DisplayName: "Patti Fernandez", Mail: "patti@contoso.example",
			UserPrincipalName: "patti@contoso.example"})
		if err != nil {
			t.Fatal(err)
		}
		private, err := b.ctl.CreateChat(ctx, m365ctl.ChatSpec{ChatType: "oneOnOne", Members: []string{u1.ID, u2.ID}})
		if err != nil {
			t.Fatal(err)
		}
		before := b.stats(t)["rich_unbridged"]
		const secret = "salary talk between two Teams users"
		if _, err := b.ctl.Send(ctx, m365ctl.InChat(private.ID), m365ctl.Post{From: u1.ID, Text: secret}); err != nil {
			t.Fatal(err)
		}
		within(t, 20*time.Second, func() string {
			if b.stats(t)["rich_unbridged"] == before {
				return "the notification has not been dropped yet"
			}
			return ""
		})
		if n := b.psql(t, "SELECT count(*) FROM msteams_inbox WHERE thread_id = '"+private.ID+"'"); n != "0" {
			t.Errorf("%s inbox rows for an unbridged chat", n)
		}
		if b.mm.LogContains(private.ID) || b.mm.LogContains(secret) {
			t.Errorf("the server log mentions the unbridged chat")
		}
		if _, _, err := b.mm.AdminClient.GetUserByEmail(ctx, "nestor@contoso.example", ""); err == nil {
			t.Errorf("a synthetic user was made for a member of an unbridged chat")
		}
	})

	t.Run("a batch with a forged validation token is refused, nothing posted", func(t *testing.T) {
		before := b.stats(t)["notifications_accepted"]
		item := map[string]any{"subscriptionId": sub.ID, "clientState": b.webhookSecret(t), "changeType": "created",
			"tenantId": b.emu.TenantID, "resource": fmt.Sprintf("chats('%s')/messages('%d')", dm.ID, time.Now().UnixMilli()),
			"encryptedContent": map[string]any{"data": "AAAAAAAAAAAAAAAAAAAAAA==", "dataKey": "AAAA",
				"dataSignature": "AAAA", "encryptionCertificateId": "anything"}}
		body, _ := json.Marshal(map[string]any{"value": []any{item}, "validationTokens": []string{forgedToken(t, b)}})
		if status := b.postNotification(t, "/changes", body); status != http.StatusAccepted {
			t.Fatalf("forged batch: %d (Graph expects 202 whatever the outcome)", status)
		}
		if accepted := b.stats(t)["notifications_accepted"] - before; accepted != 0 {
			t.Errorf("%d forged items accepted", accepted)
		}
	})
}
