package e2e

import (
	"context"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/mattermost/mattermost/server/public/model"

	"github.com/msteams-bridge/msteams/tests/emulators/graph/m365ctl"
)

// The user sync job and automatic promotion on the real Mattermost, against the Microsoft 365 emulator's directory.
//
// What is faked: the single sign-on. This Mattermost is a Team Edition build without an identity provider, so nobody
// can sign in through SAML or AD/LDAP, and Mattermost never raises UserHasLoggedIn for such a user here. The test sets
// the sign-in the bridge gave a synthetic user (AuthService saml, AuthData its Teams mail) as Mattermost stores it, and
// asks the shim's test-only route (MSTEAMS_TEST_HOOKS=1, system admins) to raise UserHasLoggedIn with that stored user,
// as Mattermost's DoLogin does after a sign-in. From the hook on, everything is the production path: the shim's event
// queue, the core, and its Mattermost API calls.
func TestUserSyncAndAutomaticPromotion(t *testing.T) {
	ctx := context.Background()
	b := startBridgeWithEnv(t, map[string]any{
		"syncUsersIntervalSeconds":           2,
		"syncUsersDomains":                   "contoso.example, fabrikam.example",
		"automaticallyPromoteSyntheticUsers": true,
		"syntheticUserAuthService":           "saml",
		"syntheticUserAuthData":              "Mail",
	}, []string{"MSTEAMS_TEST_HOOKS=1"})

	// alice is connected and in two teams: synthetic users join both.
	alice := b.user(t, "alice")
	aliceTeams := b.teamsTwin(t, alice, "Alice Adams")
	b.connect(t, alice, aliceTeams.ID)
	second, err := b.mm.CreateTeam(ctx, "second", alice)
	if err != nil {
		t.Fatal(err)
	}
	newUser := func(spec m365ctl.UserSpec) *m365ctl.User {
		u, err := b.ctl.CreateUser(ctx, spec)
		if err != nil {
			t.Fatal(err)
		}
		return u
	}
	// Nestor's mail is not his UPN; Grace is a guest (guests are not synced); Olga is outside the domains.
	nestor := newUser(m365ctl.UserSpec{DisplayName: "Nestor Wilke", Mail: "nestor@contoso.example",
		UserPrincipalName: "nwilke@contoso.onmicrosoft.com"})
	patti := newUser(m365ctl.UserSpec{DisplayName: "Patti Fernandez", Mail: "patti@contoso.example",
		UserPrincipalName: "patti@contoso.example"})
	newUser(m365ctl.UserSpec{DisplayName: "Grace Guest", Mail: "grace@fabrikam.example",
		UserPrincipalName: "grace_fabrikam.example#EXT#@contoso.onmicrosoft.com", UserType: "Guest"})
	newUser(m365ctl.UserSpec{DisplayName: "Olga Outside", Mail: "olga@northwind.example",
		UserPrincipalName: "olga@northwind.example"})

	mmUser := func(email string) *model.User {
		u, _, err := b.mm.AdminClient.GetUserByEmail(ctx, email, "")
		if err != nil {
			return nil
		}
		return u
	}
	member := func(teamID, userID string) bool {
		m, _, err := b.mm.AdminClient.GetTeamMember(ctx, teamID, userID, "")
		return err == nil && m.DeleteAt == 0
	}

	var nestorMM, pattiMM *model.User
	t.Run("the sync creates synthetic users for the tenant's members and adds them to the connected users' teams",
		func(t *testing.T) {
			within(t, 60*time.Second, func() string {
				if nestorMM, pattiMM = mmUser("nestor@contoso.example"), mmUser("patti@contoso.example"); nestorMM == nil || pattiMM == nil {
					return "no synthetic users for Nestor and Patti yet"
				}
				for _, u := range []*model.User{nestorMM, pattiMM} {
					for _, team := range []string{b.mm.Team.Id, second.Id} {
						if !member(team, u.Id) {
							return fmt.Sprintf("%s is not a member of team %s yet", u.Username, team)
						}
					}
				}
				return ""
			})
			if nestorMM.Username != "msteams_nestor.wilke" || nestorMM.Position != "Microsoft Teams" ||
				nestorMM.FirstName != "Nestor Wilke" {
				t.Errorf("Nestor's synthetic user: %q %q %q", nestorMM.Username, nestorMM.Position, nestorMM.FirstName)
			}
			// Automatic promotion: the SSO identity the person will sign in with (their Teams mail). Read as stored:
			// Mattermost 9.11's API hides AuthData even from admins.
			if got := b.authOf(t, nestorMM.Id); got != "saml|nestor@contoso.example" {
				t.Errorf("Nestor's sign-in: %q", got)
			}
			if got := b.psql(t, "select synthetic, upn from msteams_users where teams_user_id = '"+nestor.ID+"'"); got != "t|nwilke@contoso.onmicrosoft.com" {
				t.Errorf("Nestor's row: %q", got)
			}
			// Not synced: a guest, someone outside the domains, the connected user, the tenant's other domain.
			for _, email := range []string{"grace@fabrikam.example", "olga@northwind.example", "adele@contoso.onmicrosoft.com"} {
				if u := mmUser(email); u != nil {
					t.Errorf("%s has a Mattermost user %q", email, u.Username)
				}
			}
			if n := b.psql(t, "select count(*) from msteams_users where synthetic"); n != "2" {
				t.Errorf("%s synthetic users, want 2", n)
			}
		})

	deleted := func(id string) bool {
		u, _, err := b.mm.AdminClient.GetUser(ctx, id, "")
		if err != nil {
			t.Fatal(err)
		}
		return u.DeleteAt != 0
	}
	t.Run("a disabled or deleted Teams account deactivates the synthetic user, and its return reactivates it",
		func(t *testing.T) {
			off, on := false, true
			if _, err := b.ctl.PatchUser(ctx, patti.ID, m365ctl.UserPatch{AccountEnabled: &off, DisplayName: "Patti F."}); err != nil {
				t.Fatal(err)
			}
			within(t, 30*time.Second, func() string {
				if !deleted(pattiMM.Id) {
					return "Patti's synthetic user is still active"
				}
				return ""
			})
			if _, err := b.ctl.PatchUser(ctx, patti.ID, m365ctl.UserPatch{AccountEnabled: &on}); err != nil {
				t.Fatal(err)
			}
			within(t, 30*time.Second, func() string {
				u, _, err := b.mm.AdminClient.GetUser(ctx, pattiMM.Id, "")
				if err != nil {
					return err.Error()
				}
				if u.DeleteAt != 0 || u.FirstName != "Patti F." {
					return fmt.Sprintf("Patti's synthetic user: deleted at %d, name %q", u.DeleteAt, u.FirstName)
				}
				return ""
			})
			if _, err := b.ctl.DeleteUser(ctx, patti.ID); err != nil {
				t.Fatal(err)
			}
			within(t, 30*time.Second, func() string {
				if !deleted(pattiMM.Id) {
					return "Patti's synthetic user is still active after her account was deleted"
				}
				return ""
			})
			if _, err := b.ctl.RestoreUser(ctx, patti.ID); err != nil {
				t.Fatal(err)
			}
			within(t, 30*time.Second, func() string {
				if deleted(pattiMM.Id) {
					return "Patti's synthetic user is still deactivated after her account was restored"
				}
				return ""
			})
		})

	signIn := func(t *testing.T, userID string) {
		t.Helper()
		r, err := b.mm.PluginRequest(ctx, b.mm.Admin, http.MethodPost, "/test/user-has-logged-in?user_id="+userID, nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		if r.StatusCode != http.StatusNoContent {
			t.Fatalf("the faked sign-in: %d %s", r.StatusCode, r.Body)
		}
	}
	t.Run("a synthetic user's SSO sign-in with their Teams identity makes it theirs, history and mappings kept",
		func(t *testing.T) {
			// Only system admins may raise the hook.
			r, err := b.mm.PluginRequest(ctx, alice, http.MethodPost, "/test/user-has-logged-in?user_id="+nestorMM.Id, nil, nil)
			if err != nil {
				t.Fatal(err)
			}
			if r.StatusCode != http.StatusForbidden {
				t.Errorf("alice raising the hook: %d, want 403", r.StatusCode)
			}
			// Nestor writes alice first in Teams: a DM with his synthetic user.
			chat, err := b.ctl.CreateChat(ctx, m365ctl.ChatSpec{ChatType: "oneOnOne", Members: []string{nestor.ID, aliceTeams.ID}})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := b.ctl.Send(ctx, m365ctl.InChat(chat.ID), m365ctl.Post{From: nestor.ID, Text: "before my first sign-in"}); err != nil {
				t.Fatal(err)
			}
			dm, _, err := alice.Client.CreateDirectChannel(ctx, alice.Id, nestorMM.Id)
			if err != nil {
				t.Fatal(err)
			}
			before := waitPost(t, alice, dm.Id, withText("before my first sign-in"))

			// (A sign-in with another identity promotes nobody: tests/unit/sync/user_sync_test.cpp. Here the sync,
			// which runs every two seconds, would set such a user's identity back while the test raised the hook.)

			// Nestor signs in with his Teams identity, as his synthetic user carries it.
			signIn(t, nestorMM.Id)
			var promoted *model.User
			within(t, 20*time.Second, func() string {
				if got := b.psql(t, "select synthetic, promoted_at is not null from msteams_users where teams_user_id = '"+nestor.ID+"'"); got != "f|t" {
					return "Nestor's row: " + got
				}
				var err error
				if promoted, _, err = b.mm.AdminClient.GetUser(ctx, nestorMM.Id, ""); err != nil {
					return err.Error()
				}
				if promoted.Username != "nestor" {
					return "Nestor's username is still " + promoted.Username
				}
				return ""
			})
			if _, ok := promoted.Props["msteams_user_id"]; ok || promoted.NotifyProps["desktop"] != "mention" {
				t.Errorf("the promoted user: props %v, notify %v", promoted.Props, promoted.NotifyProps)
			}
			if got := b.authOf(t, nestorMM.Id); got != "saml|nestor@contoso.example" {
				t.Errorf("the promoted user's sign-in: %q", got)
			}
			// The same user: the history is theirs, and Teams messages keep arriving as them.
			if before.UserId != nestorMM.Id {
				t.Errorf("the earlier post is by %s, want %s", before.UserId, nestorMM.Id)
			}
			if _, err := b.ctl.Send(ctx, m365ctl.InChat(chat.ID), m365ctl.Post{From: nestor.ID, Text: "after my first sign-in"}); err != nil {
				t.Fatal(err)
			}
			if after := waitPost(t, alice, dm.Id, withText("after my first sign-in")); after.UserId != nestorMM.Id {
				t.Errorf("after promotion the post is by %s, want %s", after.UserId, nestorMM.Id)
			}
			// Promoted users are the person's own: the sync leaves them alone even when their Teams account is disabled.
			off := false
			if _, err := b.ctl.PatchUser(ctx, nestor.ID, m365ctl.UserPatch{AccountEnabled: &off}); err != nil {
				t.Fatal(err)
			}
			runs := b.stats(t)["user_sync_runs"]
			within(t, 30*time.Second, func() string {
				if n := b.stats(t)["user_sync_runs"]; n < runs+2 {
					return fmt.Sprintf("%d runs since, want 2", n-runs)
				}
				return ""
			})
			if deleted(nestorMM.Id) {
				t.Error("the sync deactivated a promoted user")
			}
		})

	stats := b.stats(t)
	for _, k := range []string{"user_sync_runs", "user_sync_users_listed", "synthetic_users_deactivated",
		"synthetic_users_reactivated", "synthetic_team_memberships", "synthetic_users_promoted", "synthetic_users_updated"} {
		if stats[k] == 0 {
			t.Errorf("counter %s is 0", k)
		}
	}
	if !b.mm.LogContains("user sync: the run finished") {
		t.Error("the log does not say a user sync run finished")
	}
}

// authOf is a user's sign-in as Mattermost stores it: "service|data".
func (b *bridge) authOf(t *testing.T, userID string) string {
	t.Helper()
	return b.psql(t, "select authservice || '|' || coalesce(authdata, '') from users where id = '"+userID+"'")
}
