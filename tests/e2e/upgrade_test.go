package e2e

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/mattermost/mattermost/server/public/model"

	"github.com/msteams-bridge/msteams/tests/e2e/harness"
	"github.com/msteams-bridge/msteams/tests/emulators/graph/m365ctl"
	"github.com/msteams-bridge/msteams/tests/mattermost/mmtest"
)

// The upgrade in place from the official Mattermost MS Teams plugin on the real Mattermost: with the plugin disabled,
// the database is seeded the way the official plugin left it (its v1.15 migrations' tables, a connected user whose
// token is encrypted its way, a Teams user it mapped, a channel link, the post map of a DM), then the plugin is
// enabled: the user is connected without connecting, messages flow both ways in the chat, and an edit of a post
// bridged before the upgrade reaches its Teams message. docs/upgrade.md has the facts.

// The official plugin's encryptionKey (32 characters: its AES-256 key's bytes), set for both plugins.
const upgradeKey = "eyPBz0mBhwfGGwce9hp4TWaYzgY7MdIB"

// officialSchema is what the official plugin's migrations 1–15 (v1.15 and later) create, in their order.
var officialSchema = []string{
	`CREATE TABLE IF NOT EXISTS msteamssync_system_settings (id VARCHAR(100), value TEXT, PRIMARY KEY(id))`,
	`CREATE TABLE IF NOT EXISTS msteamssync_subscriptions (subscriptionID VARCHAR(255) PRIMARY KEY, type VARCHAR(255),
		msTeamsTeamID VARCHAR(255), msTeamsChannelID VARCHAR(255), msTeamsUserID VARCHAR(255), secret VARCHAR(255),
		expiresOn BIGINT)`,
	`CREATE TABLE IF NOT EXISTS msteamssync_links (mmChannelID VARCHAR(255) PRIMARY KEY, mmTeamID VARCHAR(255),
		msTeamsChannelID VARCHAR(255), msTeamsTeamID VARCHAR(255), creator VARCHAR(255))`,
	`ALTER TABLE msteamssync_links ADD COLUMN IF NOT EXISTS creator VARCHAR(255)`,
	`CREATE TABLE IF NOT EXISTS msteamssync_users (mmUserID VARCHAR(255), msTeamsUserID VARCHAR(255), token TEXT,
		PRIMARY KEY(mmUserID, msTeamsUserID))`,
	`CREATE TABLE IF NOT EXISTS msteamssync_posts (mmPostID VARCHAR(255) PRIMARY KEY, msTeamsPostID VARCHAR(255),
		msTeamsChannelID VARCHAR(255), msTeamsLastUpdateAt BIGINT)`,
	`CREATE INDEX IF NOT EXISTS idx_msteamssync_links_msteamsteamid_msteamschannelid ON msteamssync_links
		(msTeamsTeamID, msTeamsChannelID)`,
	`CREATE INDEX IF NOT EXISTS idx_msteamssync_users_msteamsuserid ON msteamssync_users (msTeamsUserID)`,
	`CREATE INDEX IF NOT EXISTS idx_msteamssync_posts_msteamschannelid_msteamspostid ON msteamssync_posts
		(msTeamsChannelID, msTeamsPostID)`,
	`ALTER TABLE msteamssync_subscriptions ADD COLUMN IF NOT EXISTS certificate TEXT`,
	`ALTER TABLE msteamssync_subscriptions ADD COLUMN IF NOT EXISTS lastActivityAt BIGINT`,
	`CREATE TABLE IF NOT EXISTS msteamssync_invited_users (mmUserID VARCHAR(255) PRIMARY KEY)`,
	`ALTER TABLE msteamssync_invited_users ADD COLUMN IF NOT EXISTS invitePendingSince BIGINT`,
	`ALTER TABLE msteamssync_invited_users ADD COLUMN IF NOT EXISTS inviteLastSentAt BIGINT`,
	`ALTER TABLE msteamssync_users ADD COLUMN IF NOT EXISTS lastConnectAt BIGINT NOT NULL DEFAULT 0`,
	`ALTER TABLE msteamssync_users ADD COLUMN IF NOT EXISTS lastDisconnectAt BIGINT NOT NULL DEFAULT 0`,
	`CREATE TABLE IF NOT EXISTS msteamssync_whitelist (mmUserID VARCHAR(255) PRIMARY KEY)`,
	`CREATE UNIQUE INDEX IF NOT EXISTS idx_msteamssync_users_msteamsuserid_unq ON msteamssync_users (msTeamsUserID)`,
	`DROP TABLE IF EXISTS msteamssync_whitelisted_users`,
	`ALTER TABLE msteamssync_users ADD COLUMN IF NOT EXISTS LastChatSentAt BIGINT NOT NULL DEFAULT 0`,
	`ALTER TABLE msteamssync_users ADD COLUMN IF NOT EXISTS LastChatReceivedAt BIGINT NOT NULL DEFAULT 0`,
}

// officialToken is golang.org/x/oauth2's Token as JSON, encrypted as the official plugin did: AES-GCM with the key's
// bytes, a random nonce before the sealed bytes, base64 with the URL alphabet and padding.
func officialToken(t *testing.T, access, refresh string, expiry time.Time) string {
	t.Helper()
	plain, err := json.Marshal(map[string]any{"access_token": access, "token_type": "Bearer", "refresh_token": refresh,
		"expiry": expiry.Format(time.RFC3339Nano)})
	if err != nil {
		t.Fatal(err)
	}
	block, err := aes.NewCipher([]byte(upgradeKey))
	if err != nil {
		t.Fatal(err)
	}
	gcm, err := cipher.NewGCM(block)
	if err != nil {
		t.Fatal(err)
	}
	nonce := make([]byte, gcm.NonceSize())
	if _, err := io.ReadFull(rand.Reader, nonce); err != nil {
		t.Fatal(err)
	}
	return base64.URLEncoding.EncodeToString(append(nonce, gcm.Seal(nil, nonce, plain, nil)...))
}

// entraToken signs u in at the emulator's Entra as loginHint for the app, with the delegated scopes the plugin asks
// for (read from its own authorize request), as the official plugin's sign-in did; the plugin never sees the code.
func entraToken(t *testing.T, b *bridge, u *mmtest.User, loginHint string) (access, refresh string) {
	t.Helper()
	ctx := context.Background()
	resp, body, err := asUser(ctx, u, http.MethodGet, b.mm.URL+"/plugins/"+harness.PluginID+"/connect")
	if err != nil || resp.StatusCode != http.StatusFound {
		t.Fatalf("connect: %v %s", err, body)
	}
	authorize, err := url.Parse(resp.Header.Get("Location"))
	if err != nil {
		t.Fatal(err)
	}
	verifier := strings.Repeat("v", 43)
	sum := sha256.Sum256([]byte(verifier))
	q := authorize.Query()
	q.Set("code_challenge", base64.RawURLEncoding.EncodeToString(sum[:]))
	q.Set("state", "the-official-plugins-own-sign-in")
	q.Set("login_hint", loginHint)
	authorize.RawQuery = q.Encode()
	back, err := b.emu.HTTPClient().Get(authorize.String())
	if err != nil {
		t.Fatal(err)
	}
	back.Body.Close()
	location, err := url.Parse(back.Header.Get("Location"))
	if err != nil || location.Query().Get("code") == "" {
		t.Fatalf("sign-in: %d %s", back.StatusCode, back.Header.Get("Location"))
	}
	form := url.Values{"grant_type": {"authorization_code"}, "code": {location.Query().Get("code")},
		"redirect_uri": {q.Get("redirect_uri")}, "code_verifier": {verifier}, "client_id": {b.emu.ClientID},
		"client_secret": {b.emu.ClientSecret}}
	tr, err := b.emu.HTTPClient().PostForm(b.emu.LoginURL+"/"+b.emu.TenantID+"/oauth2/v2.0/token", form)
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Body.Close()
	var tok struct {
		Access  string `json:"access_token"`
		Refresh string `json:"refresh_token"`
	}
	if err := json.NewDecoder(tr.Body).Decode(&tok); err != nil || tok.Refresh == "" {
		t.Fatalf("token: %d %v", tr.StatusCode, err)
	}
	return tok.Access, tok.Refresh
}

func TestUpgradeFromOfficialPlugin(t *testing.T) {
	b := startBridge(t, map[string]any{"encryptionKey": upgradeKey})
	ctx := context.Background()

	// Teams: Alice (connected in the official plugin), Megan, their one-on-one chat with a message Alice wrote in
	// Mattermost before the upgrade, which the official plugin bridged.
	alice := b.user(t, "alice")
	aliceTeams := b.teamsTwin(t, alice, "Alice Adams")
	megan := b.megan(t)
	meganMM := b.user(t, "msteams_megan") // the Mattermost user the official plugin made for Megan
	chat, err := b.ctl.CreateChat(ctx, m365ctl.ChatSpec{ChatType: "oneOnOne", Members: []string{megan.ID, aliceTeams.ID}})
	if err != nil {
		t.Fatal(err)
	}
	old, err := b.ctl.Send(ctx, m365ctl.InChat(chat.ID), m365ctl.Post{From: aliceTeams.ID, Text: "before the upgrade"})
	if err != nil {
		t.Fatal(err)
	}
	access, refresh := entraToken(t, b, alice, aliceTeams.ID)
	linked, err := b.mm.CreateChannel(ctx, b.mm.Team.Id, "linked", model.ChannelTypeOpen, alice)
	if err != nil {
		t.Fatal(err)
	}

	// The official plugin ran here: its tables, its rows, and the DM post it bridged (made while ours was off).
	if err := b.mm.DisablePlugin(ctx, harness.PluginID); err != nil {
		t.Fatal(err)
	}
	dm, err := alice.DirectChannel(ctx, meganMM)
	if err != nil {
		t.Fatal(err)
	}
	before, err := alice.Post(ctx, dm.Id, "before the upgrade")
	if err != nil {
		t.Fatal(err)
	}
	for _, stmt := range officialSchema {
		b.psql(t, stmt)
	}
	// Alice's token expired an hour ago: the first use after the upgrade refreshes it.
	token := officialToken(t, access, refresh, time.Now().Add(-time.Hour))
	b.psql(t, fmt.Sprintf(`INSERT INTO msteamssync_users (mmUserID, msTeamsUserID, token, lastConnectAt) VALUES
		('%s', '%s', '%s', %d), ('%s', '%s', '', 0)`, alice.Id, aliceTeams.ID, token, time.Now().Add(-48*time.Hour).UnixMicro(),
		meganMM.Id, megan.ID))
	b.psql(t, fmt.Sprintf(`INSERT INTO msteamssync_posts (mmPostID, msTeamsPostID, msTeamsChannelID, msTeamsLastUpdateAt)
		VALUES ('%s', '%s', '%s', %d)`, before.Id, old.ID, chat.ID, time.Now().UnixMicro()))
	b.psql(t, fmt.Sprintf(`INSERT INTO msteamssync_links (mmChannelID, mmTeamID, msTeamsChannelID, msTeamsTeamID, creator)
		VALUES ('%s', '%s', '19:linked@thread.tacv2', 'teams-team-1', '%s')`, linked.Id, b.mm.Team.Id, alice.Id))
	theirs := func() string {
		return b.psql(t, `SELECT (SELECT string_agg(u::text, '|' ORDER BY mmuserid) FROM msteamssync_users u) ||
			(SELECT string_agg(p::text, '|') FROM msteamssync_posts p) || (SELECT string_agg(l::text, '|') FROM msteamssync_links l)`)
	}
	seeded := theirs()

	// The upgrade: the plugin is enabled again and finds the official plugin's tables.
	if err := b.mm.EnablePlugin(ctx, harness.PluginID); err != nil {
		t.Fatal(err)
	}
	within(t, 30*time.Second, func() string {
		if n := b.psql(t, "SELECT count(*) FROM msteams_legacy_import WHERE done AND step <> 'settings'"); n != "4" {
			return n + " import steps done"
		}
		return ""
	})
	if got := b.psql(t, fmt.Sprintf("SELECT teams_user_id FROM msteams_accounts WHERE mm_user_id = '%s' AND token_sealed IS NOT NULL", alice.Id)); got != aliceTeams.ID {
		t.Fatalf("alice's account after the import: %q", got)
	}
	if got := b.psql(t, "SELECT kind || ' ' || teams_thread_id || ' ' || mm_channel_id FROM msteams_portals WHERE kind = 'channel'"); got != "channel 19:linked@thread.tacv2 "+linked.Id {
		t.Errorf("the linked channel's portal: %q", got)
	}
	if got := b.psql(t, fmt.Sprintf("SELECT teams_message_id || ' ' || origin FROM msteams_messages WHERE mm_post_id = '%s'", before.Id)); got != old.ID+" mattermost" {
		t.Errorf("the pre-upgrade post's map: %q", got)
	}
	mustContain(t, "alice's status", b.command(t, alice, dm.Id, "/msteams status"), "connected to Microsoft Teams")
	b.chatsSubscription(t, "")

	// Teams → Mattermost: Megan writes; it arrives in the same DM as the Mattermost user the official plugin made.
	if _, err := b.ctl.Send(ctx, m365ctl.InChat(chat.ID), m365ctl.Post{From: megan.ID, Text: "hello after the upgrade"}); err != nil {
		t.Fatal(err)
	}
	got := waitPost(t, alice, dm.Id, withText("hello after the upgrade"))
	if got.UserId != meganMM.Id {
		t.Errorf("Megan's message came from %s, want the imported mapping's %s", got.UserId, meganMM.Id)
	}

	// Mattermost → Teams: Alice answers, as herself, in the same chat.
	if _, err := alice.Post(ctx, dm.Id, "answer after the upgrade"); err != nil {
		t.Fatal(err)
	}
	answer := b.waitTeams(t, chat.ID, bodyHas("answer after the upgrade"))
	if from(answer) != aliceTeams.ID {
		t.Errorf("the answer reached Teams from %q, want Alice %q", from(answer), aliceTeams.ID)
	}

	// An edit of the post bridged before the upgrade reaches that Teams message.
	if _, err := alice.Edit(ctx, before.Id, "before the upgrade, edited after it"); err != nil {
		t.Fatal(err)
	}
	within(t, 30*time.Second, func() string {
		m, err := b.ctl.Message(ctx, m365ctl.InChat(chat.ID), old.ID)
		if err != nil {
			return err.Error()
		}
		if !strings.Contains(m.Body.Content, "edited after it") {
			return "the Teams message still says " + m.Body.Content
		}
		return ""
	})
	for _, m := range b.teamsMessages(t, chat.ID) {
		if strings.Contains(m.Body.Content, "edited after it") && m.ID != old.ID {
			t.Errorf("the edit was sent as a new message %s", m.ID)
		}
	}

	// System admins are told, once, and /msteams status says so; the official plugin's tables are as they were.
	within(t, 30*time.Second, func() string {
		if n := countContaining(b.botDM(t, b.mm.Admin), "has been imported"); n != 1 {
			return fmt.Sprintf("%d import reports to the admin", n)
		}
		return ""
	})
	report := b.botDM(t, b.mm.Admin)
	mustContain(t, "admin report", strings.Join(report, "\n"), "**Connected users:** 1 stay connected",
		"**Linked channels:** 1 imported", "**Message map:** 1 messages imported")
	town, _, err := b.mm.AdminClient.GetChannelByName(ctx, "town-square", b.mm.Team.Id, "")
	if err != nil {
		t.Fatal(err)
	}
	mustContain(t, "admin status", b.command(t, b.mm.Admin, town.Id, "/msteams status"),
		"Upgrade from the official MS Teams plugin:** imported", "1 connected users, 1 Teams users, 1 linked channels, 1 messages")
	if theirs() != seeded {
		t.Error("the official plugin's tables changed")
	}

	// Enabled once more, nothing is imported again and nobody is told again.
	if err := b.mm.DisablePlugin(ctx, harness.PluginID); err != nil {
		t.Fatal(err)
	}
	if err := b.mm.EnablePlugin(ctx, harness.PluginID); err != nil {
		t.Fatal(err)
	}
	time.Sleep(2 * time.Second)
	if n := countContaining(b.botDM(t, b.mm.Admin), "has been imported"); n != 1 {
		t.Errorf("%d import reports after enabling again, want 1", n)
	}
	if n := b.psql(t, "SELECT imported FROM msteams_legacy_import WHERE step = 'messages'"); n != "1" {
		t.Errorf("messages imported after enabling again: %s", n)
	}
}
