package main

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/mattermost/mattermost/server/public/model"
	"google.golang.org/protobuf/proto"

	"github.com/msteams-bridge/msteams/shim/gen/corepb"
)

// signInAPI answers what the test route asks of Mattermost: who is a system admin, and the stored users.
type signInAPI struct {
	*fakeAPI
	admins map[string]bool
	users  map[string]*model.User
}

func (a *signInAPI) HasPermissionTo(userID string, p *model.Permission) bool {
	return p.Id == model.PermissionManageSystem.Id && a.admins[userID]
}

func (a *signInAPI) GetUser(id string) (*model.User, *model.AppError) {
	if u := a.users[id]; u != nil {
		return u, nil
	}
	return nil, model.NewAppError("GetUser", "app.user.missing_account.const", nil, "", http.StatusNotFound)
}

func TestTestHookRaisesUserHasLoggedInOnlyWhenEnabledAndForAdmins(t *testing.T) {
	f := &fakeHooks{}
	authData := "megan@contoso.example"
	api := &signInAPI{fakeAPI: &fakeAPI{}, admins: map[string]bool{"admin": true},
		users: map[string]*model.User{"u1": {Id: "u1", Username: "msteams_megan", AuthService: "saml", AuthData: &authData}}}
	p := &Plugin{}
	p.SetAPI(api)
	p.start(nil, newSwitchLink(startFakeCore(t, f), true))
	t.Cleanup(func() { p.OnDeactivate() })

	call := func(method, as, userID string) int {
		r := httptest.NewRequest(method, testUserLoggedInURL+"?user_id="+userID, nil)
		if as != "" {
			r.Header.Set("Mattermost-User-Id", as)
		}
		w := httptest.NewRecorder()
		if !p.serveTestHook(testCtx, w, r) {
			return 0 // not a test route: the core would answer it
		}
		return w.Code
	}

	t.Setenv(testHooksEnv, "")
	if got := call(http.MethodPost, "admin", "u1"); got != 0 {
		t.Fatalf("without %s the route answered %d, want it left to the core", testHooksEnv, got)
	}
	t.Setenv(testHooksEnv, "1")
	if got := call(http.MethodPost, "someone", "u1"); got != http.StatusForbidden {
		t.Errorf("a user who is not a system admin: %d, want 403", got)
	}
	if got := call(http.MethodPost, "", "u1"); got != http.StatusForbidden {
		t.Errorf("anonymous: %d, want 403", got)
	}
	if got := call(http.MethodGet, "admin", "u1"); got != http.StatusMethodNotAllowed {
		t.Errorf("GET: %d, want 405", got)
	}
	if got := call(http.MethodPost, "admin", "nobody"); got != http.StatusNotFound {
		t.Errorf("an unknown user: %d, want 404", got)
	}
	if got := call(http.MethodPost, "admin", "u1"); got != http.StatusNoContent {
		t.Fatalf("an admin: %d, want 204", got)
	}
	got := f.waitEvents(t, 1)
	want := &corepb.User{Id: "u1", Username: "msteams_megan", AuthService: "saml", AuthData: "megan@contoso.example"}
	if !proto.Equal(got[0].GetUserLoggedIn(), want) {
		t.Errorf("UserHasLoggedIn carried %v, want %v", got[0].GetUserLoggedIn(), want)
	}
}
