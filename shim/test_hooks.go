package main

// Test beds only: a stand-in for the single-sign-on sign-ins the end-to-end suites cannot perform. The Mattermost
// server they run has no SAML or AD/LDAP (those need an Enterprise build and an identity provider), so Mattermost never
// calls UserHasLoggedIn for an SSO user there. With MSTEAMS_TEST_HOOKS=1 in the server's environment, a system admin
// may POST /plugins/com.mattermost.msteams/test/user-has-logged-in?user_id=<id>: the shim reads that user as Mattermost
// stores it (its AuthService and AuthData included) and calls its own UserHasLoggedIn hook with it, as Mattermost's
// DoLogin does after a sign-in. Everything from the hook on (the event queue, the core, its Mattermost API calls) is
// the production path. Without the variable the route does not exist (the core answers 404).

import (
	"net/http"
	"os"

	"github.com/mattermost/mattermost/server/public/model"
	"github.com/mattermost/mattermost/server/public/plugin"
)

const (
	testHooksEnv        = "MSTEAMS_TEST_HOOKS"
	testUserLoggedInURL = "/test/user-has-logged-in"
)

func testHooksEnabled() bool { return os.Getenv(testHooksEnv) == "1" }

// serveTestHook answers the test-only routes; false when the request is not one of them (or they are off).
func (p *Plugin) serveTestHook(c *plugin.Context, w http.ResponseWriter, r *http.Request) bool {
	if !testHooksEnabled() || r.URL.Path != testUserLoggedInURL {
		return false
	}
	if r.Method != http.MethodPost {
		writeJSONError(w, http.StatusMethodNotAllowed, "POST only")
		return true
	}
	caller := r.Header.Get("Mattermost-User-Id")
	if caller == "" || !p.API.HasPermissionTo(caller, model.PermissionManageSystem) {
		writeJSONError(w, http.StatusForbidden, "system admins only")
		return true
	}
	user, appErr := p.API.GetUser(r.URL.Query().Get("user_id"))
	if appErr != nil {
		writeJSONError(w, appErr.StatusCode, appErr.Error())
		return true
	}
	p.API.LogInfo("test hook: UserHasLoggedIn for a user, as after a sign-in", "user_id", user.Id,
		"auth_service", user.AuthService)
	p.UserHasLoggedIn(c, user)
	w.WriteHeader(http.StatusNoContent)
	return true
}
