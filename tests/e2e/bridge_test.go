package e2e

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/mattermost/mattermost/server/public/model"

	"github.com/msteams-bridge/msteams/tests/e2e/harness"
	"github.com/msteams-bridge/msteams/tests/emulators/graph/m365"
	"github.com/msteams-bridge/msteams/tests/emulators/graph/m365ctl"
	"github.com/msteams-bridge/msteams/tests/mattermost/mmtest"
)

// bridge wraps harness.Bridge with helpers that fail the test.
type bridge struct {
	*harness.Bridge
	mm  *mmtest.Server
	emu *m365.Emulator
	ctl *m365ctl.Client
}

func bridgeSettings(emu *m365.Emulator) map[string]any { return harness.EmulatorSettings(emu) }

func startBridge(t *testing.T, extra map[string]any) *bridge {
	t.Helper()
	return startBridgeWithEnv(t, extra, nil)
}

// startBridgeWithEnv starts the bridge with env added to the server's environment.
func startBridgeWithEnv(t *testing.T, extra map[string]any, env []string) *bridge {
	t.Helper()
	// MSTEAMS_E2E_LOG_DIR keeps the Mattermost (with the core's lines) and PostgreSQL logs of the test's servers.
	hb, err := harness.Start(context.Background(), harness.Options{Bundle: bundlePath(t), Settings: extra,
		StateDir: t.TempDir(), Logf: t.Logf, Env: env, LogDir: os.Getenv("MSTEAMS_E2E_LOG_DIR")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("--- last 80 lines of the Mattermost log ---\n%s", hb.MM.LogTail(80))
		}
		if err := hb.Close(); err != nil {
			t.Errorf("stopping: %v", err)
		}
	})
	return &bridge{Bridge: hb, mm: hb.MM, emu: hb.Emu, ctl: hb.Ctl}
}

// user creates a Mattermost user.
func (b *bridge) user(t *testing.T, name string) *mmtest.User {
	t.Helper()
	u, err := b.mm.CreateUser(context.Background(), name)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// meganSpec is Megan Bowen, a Teams user with no Mattermost account.
var meganSpec = m365ctl.UserSpec{DisplayName: "Megan Bowen", Mail: "megan@contoso.example",
	UserPrincipalName: "megan@contoso.example"}

// megan creates Megan Bowen in Teams.
func (b *bridge) megan(t *testing.T) *m365ctl.User {
	t.Helper()
	megan, err := b.ctl.CreateUser(context.Background(), meganSpec)
	if err != nil {
		t.Fatal(err)
	}
	return megan
}

func (b *bridge) teamsTwin(t *testing.T, u *mmtest.User, displayName string) *m365ctl.User {
	t.Helper()
	tu, err := b.TeamsTwin(context.Background(), u, displayName)
	if err != nil {
		t.Fatalf("creating the Teams user for %s: %v", u.Username, err)
	}
	return tu
}

func (b *bridge) signIn(t *testing.T, u *mmtest.User, connectPath, loginHint string) string {
	t.Helper()
	redirect, err := b.SignIn(context.Background(), u, connectPath, loginHint)
	if err != nil {
		t.Fatal(err)
	}
	return redirect
}

func (b *bridge) finish(t *testing.T, u *mmtest.User, redirect string) (int, string) {
	t.Helper()
	status, page, err := b.Finish(context.Background(), u, redirect)
	if err != nil {
		t.Fatal(err)
	}
	return status, page
}

func (b *bridge) connect(t *testing.T, u *mmtest.User, loginHint string) string {
	t.Helper()
	page, err := b.Connect(context.Background(), u, loginHint)
	if err != nil {
		t.Fatal(err)
	}
	return page
}

func (b *bridge) command(t *testing.T, u *mmtest.User, channelID, cmd string) string {
	t.Helper()
	text, err := harness.Command(context.Background(), u, channelID, cmd)
	if err != nil {
		t.Fatalf("%s: %v", cmd, err)
	}
	return text
}

var asUser = harness.AsUser

func mustContain(t *testing.T, what, text string, parts ...string) {
	t.Helper()
	for _, p := range parts {
		if !strings.Contains(text, p) {
			t.Errorf("%s: %q does not contain %q", what, text, p)
		}
	}
}

// meganDM connects a new Mattermost user alice (with a Teams twin), and has Megan Bowen (a Teams user) write her
// first in a Teams one-on-one chat, so that Megan becomes a synthetic user and the chat a bridged DM. It returns alice,
// her Teams account, Megan, the Teams chat and the Mattermost DM.
func (b *bridge) meganDM(t *testing.T, first string) (*mmtest.User, *m365ctl.User, *m365ctl.User, *m365ctl.Chat,
	*model.Channel) {
	t.Helper()
	alice := b.user(t, "alice")
	aliceTeams := b.teamsTwin(t, alice, "Alice Adams")
	b.connect(t, alice, aliceTeams.ID)
	b.chatsSubscription(t, "")
	megan, dm, channel := b.teamsChat(t, alice, aliceTeams, meganSpec, first)
	return alice, aliceTeams, megan, dm, channel
}

// teamsChat creates a Teams user who writes alice first in a one-on-one chat, and returns the user, the chat and the
// Mattermost DM it became (the Teams user's synthetic Mattermost user on the other side).
func (b *bridge) teamsChat(t *testing.T, alice *mmtest.User, aliceTeams *m365ctl.User, spec m365ctl.UserSpec,
	first string) (*m365ctl.User, *m365ctl.Chat, *model.Channel) {
	t.Helper()
	ctx := context.Background()
	tu, err := b.ctl.CreateUser(ctx, spec)
	if err != nil {
		t.Fatal(err)
	}
	chat, err := b.ctl.CreateChat(ctx, m365ctl.ChatSpec{ChatType: "oneOnOne", Members: []string{tu.ID, aliceTeams.ID}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.ctl.Send(ctx, m365ctl.InChat(chat.ID), m365ctl.Post{From: tu.ID, Text: first}); err != nil {
		t.Fatal(err)
	}
	var ghost *model.User
	within(t, 20*time.Second, func() string {
		if ghost, _, err = b.mm.AdminClient.GetUserByEmail(ctx, spec.Mail, ""); err != nil {
			return "no synthetic user for " + spec.DisplayName
		}
		return ""
	})
	channel, _, err := alice.Client.CreateDirectChannel(ctx, alice.Id, ghost.Id)
	if err != nil {
		t.Fatal(err)
	}
	waitPost(t, alice, channel.Id, withText(first))
	return tu, chat, channel
}
