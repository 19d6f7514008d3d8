package e2e

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/msteams-bridge/msteams/tests/e2e/harness"
	"github.com/msteams-bridge/msteams/tests/emulators/graph/m365"
	"github.com/msteams-bridge/msteams/tests/emulators/graph/m365ctl"
)

// countContaining is how many of texts contain part.
func countContaining(texts []string, part string) int {
	n := 0
	for _, t := range texts {
		if strings.Contains(t, part) {
			n++
		}
	}
	return n
}

// TestCredentials: the app's credentials are checked when the plugin starts and when its settings change, and the
// client secret's expiry is told to system admins ahead of time, once per notice.
func TestCredentials(t *testing.T) {
	ctx := context.Background()

	t.Run("a wrong client secret refuses activation, naming the setting", func(t *testing.T) {
		_, err := harness.Start(ctx, harness.Options{Bundle: bundlePath(t), StateDir: t.TempDir(), Logf: t.Logf,
			Settings: map[string]any{"clientSecret": "not-the-secret-0123456789"}})
		if err == nil {
			t.Fatal("the plugin activated with a wrong client secret")
		}
		mustContain(t, "activation error", err.Error(), "Client secret (clientSecret)", "Microsoft Entra ID refused")
		if strings.Contains(err.Error(), "not-the-secret-0123456789") {
			t.Error("the secret is in the activation error")
		}
	})

	b := startBridge(t, map[string]any{"credentialCheckIntervalSeconds": 1})
	admin := b.mm.Admin
	left := 6*24*time.Hour + time.Hour

	t.Run("admins are told once that the client secret expires in 6 days", func(t *testing.T) {
		if _, err := b.ctl.PatchApp(ctx, m365ctl.AppPatch{
			SecretExpiresAt: time.Now().Add(left).UTC().Format(time.RFC3339)}); err != nil {
			t.Fatal(err)
		}
		within(t, 30*time.Second, func() string {
			if countContaining(b.botDM(t, admin), "client secret expires in 6 days") == 1 {
				return ""
			}
			return "no notice yet"
		})
		// The check runs every second here: still one notice a few runs later.
		time.Sleep(3 * time.Second)
		dms := b.botDM(t, admin)
		if n := countContaining(dms, "client secret"); n != 1 {
			t.Errorf("%d notices, want 1: %q", n, dms)
		}
		mustContain(t, "notice", dms[len(dms)-1], "System Console > Plugins > MS Teams > Client secret")
		if strings.Contains(strings.Join(dms, "\n"), b.emu.ClientSecret) {
			t.Error("the secret is in the notice")
		}
		channel, err := b.mm.CreateChannel(ctx, b.mm.Team.Id, "cred-status", "O", admin)
		if err != nil {
			t.Fatal(err)
		}
		mustContain(t, "status", b.command(t, admin, channel.Id, "/msteams status"), "Client secret:** expires ",
			"(in 6 days)")
	})

	t.Run("a wrong secret saved later is refused: the bridge goes on, admins are told", func(t *testing.T) {
		alice := b.user(t, "alice")
		if err := b.mm.SetPluginSettings(ctx, harness.PluginID,
			withSettings(b, map[string]any{"clientSecret": "another-wrong-secret-0123"})); err != nil {
			t.Fatal(err)
		}
		within(t, 30*time.Second, func() string {
			if countContaining(b.botDM(t, admin), "Client secret (clientSecret)") >= 1 {
				return ""
			}
			return "admins not told yet"
		})
		// The previous configuration is still in force: a user can still connect.
		aliceTeams := b.teamsTwin(t, alice, "Alice Adams")
		b.connect(t, alice, aliceTeams.ID)
	})

	t.Run("a permission the configured features need and the app lacks is named to admins", func(t *testing.T) {
		var kept []string
		for _, p := range m365.DefaultApplicationPermissions {
			if p != "Presence.Read.All" {
				kept = append(kept, p)
			}
		}
		if _, err := b.ctl.PatchApp(ctx, m365ctl.AppPatch{ApplicationPermissions: kept}); err != nil {
			t.Fatal(err)
		}
		// Saved settings (the right secret again) start a new runtime, whose app token carries the new roles.
		if err := b.mm.SetPluginSettings(ctx, harness.PluginID,
			withSettings(b, map[string]any{"credentialCheckIntervalSeconds": 1})); err != nil {
			t.Fatal(err)
		}
		within(t, 30*time.Second, func() string {
			if countContaining(b.botDM(t, admin), "lacks application permissions it needs:** `Presence.Read.All`") == 1 {
				return ""
			}
			return "admins not told yet"
		})
	})
}

// withSettings is the bridge's emulator settings with changes.
func withSettings(b *bridge, changes map[string]any) map[string]any {
	s := harness.EmulatorSettings(b.emu)
	for k, v := range changes {
		s[k] = v
	}
	return s
}
