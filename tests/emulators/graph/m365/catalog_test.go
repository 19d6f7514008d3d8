package m365_test

import (
	"archive/zip"
	"bytes"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/msteams-bridge/msteams/tests/emulators/graph/m365"
	"github.com/msteams-bridge/msteams/tests/emulators/graph/m365ctl"
)

const manifestID = "8d2b6a9e-4c1f-4e3a-9b7d-2f5e6a1c0b34"

var mention = m365ctl.ActivityType{Type: "mmMention", Description: "Mentioned in Mattermost", TemplateText: "{actor} mentioned you in {channel}"}

func (e *env) appPackage(t *testing.T, edit func(map[string]any)) []byte {
	t.Helper()
	m := m365ctl.NewAppManifest(manifestID, e.emu.ClientID, m365.DefaultIdentifierURI, true, mention)
	if edit != nil {
		edit(m)
	}
	pkg, err := m365ctl.BuildAppPackage(m)
	if err != nil {
		t.Fatal(err)
	}
	return pkg
}

// installOurApp publishes the bridge's Teams app (once) and installs it in a scope.
func (e *env) installOurApp(t *testing.T, s m365ctl.AppScope) {
	t.Helper()
	if apps, _ := e.ctl.Apps(e.ctx); len(apps) == 0 {
		if _, err := e.ctl.UploadApp(e.ctx, e.appPackage(t, nil), false); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := e.ctl.InstallApp(e.ctx, s, manifestID); err != nil {
		t.Fatal(err)
	}
}

// withPermissions gives the app registration extra delegated and application permissions.
func (e *env) withPermissions(t *testing.T, delegated, application []string) {
	t.Helper()
	ten, err := e.ctl.Tenant(e.ctx)
	if err != nil {
		t.Fatal(err)
	}
	p := m365ctl.AppPatch{DelegatedPermissions: append(ten.DelegatedPermissions, delegated...),
		ApplicationPermissions: append(ten.ApplicationPermissions, application...)}
	if _, err := e.ctl.PatchApp(e.ctx, p); err != nil {
		t.Fatal(err)
	}
}

func (e *env) publish(tok string, pkg []byte) resp {
	e.t.Helper()
	return e.graph("POST", "/appCatalogs/teamsApps", tok, pkg, "Content-Type", "application/zip")
}

func TestAppCatalog(t *testing.T) {
	e := start(t)
	e.withPermissions(t, []string{"AppCatalog.Submit"}, nil)
	user, _ := e.userToken(adele)
	app := e.appToken()
	pkg := e.appPackage(t, nil)
	if r := e.publish(app, pkg); r.status != 403 {
		t.Fatalf("app-only publish: %d %s", r.status, r.body)
	}
	if r := e.graph("POST", "/appCatalogs/teamsApps", user, pkg); r.status != 415 {
		t.Fatalf("octet-stream: %d %s", r.status, r.body)
	}
	r := e.publish(user, pkg)
	if r.status != 201 {
		t.Fatalf("publish: %d %s", r.status, r.body)
	}
	a := r.json(t)
	id, _ := a["id"].(string)
	if a["externalId"] != manifestID || a["distributionMethod"] != "organization" || a["displayName"] != "Mattermost" || len(id) != 36 ||
		r.header.Get("Location") != e.emu.GraphURL+"/v1.0/appCatalogs/teamsApps/"+id {
		t.Fatalf("published: %v %v", a, r.header)
	}
	if r := e.publish(user, pkg); r.status != 409 {
		t.Fatalf("same manifest id again: %d %s", r.status, r.body)
	}
	// Packages the catalog refuses, with Graph's error shape.
	bad := []struct {
		name   string
		edit   func(map[string]any)
		target string
	}{
		{"no version, bad URL", func(m map[string]any) {
			delete(m, "version")
			m["developer"].(map[string]any)["websiteUrl"] = "hs://www.example.com"
		}, "developer.websiteUrl"},
		{"version not x.y.z", func(m map[string]any) { m["version"] = "1.0" }, "version"},
		{"no accent colour", func(m map[string]any) { delete(m, "accentColor") }, "accentColor"},
		{"bad Entra id", func(m map[string]any) { m["webApplicationInfo"] = map[string]any{"id": "nope"} }, "webApplicationInfo.id"},
		{"systemDefault declared", func(m map[string]any) {
			m["activities"] = map[string]any{"activityTypes": []any{map[string]any{"type": "systemDefault", "description": "d", "templateText": "t"}}}
		}, "activities.activityTypes[0].type"},
		{"activities before 1.7", func(m map[string]any) { m["manifestVersion"] = "1.5" }, "activities"},
		{"icon missing", func(m map[string]any) { m["icons"] = map[string]any{"color": "big.png", "outline": "outline.png"} }, "icons.color"},
	}
	for i, b := range bad {
		m := m365ctl.NewAppManifest(fmt.Sprintf("bad-%d", i), e.emu.ClientID, m365.DefaultIdentifierURI, true, mention)
		b.edit(m)
		p, _ := m365ctl.BuildAppPackage(m)
		r := e.publish(user, p)
		code, msg := r.graphErr(t)
		inner := r.json(t)["error"].(map[string]any)["innerError"].(map[string]any)
		var targets []string
		for _, d := range inner["details"].([]any) {
			targets = append(targets, d.(map[string]any)["target"].(string))
		}
		if r.status != 400 || code != "BadRequest" || inner["code"] != "UnableToParseTeamsAppManifest" || !slices.Contains(targets, b.target) || !strings.Contains(msg, b.target+" | ") {
			t.Errorf("%s: %d %s", b.name, r.status, r.body)
		}
	}
	if r := e.publish(user, []byte("not a zip")); r.status != 400 {
		t.Errorf("not a zip: %d", r.status)
	}
	var buf bytes.Buffer
	zip.NewWriter(&buf).Close()
	if r := e.publish(user, buf.Bytes()); r.status != 400 || !strings.Contains(string(r.body), "manifest.json") {
		t.Errorf("no manifest: %d %s", r.status, r.body)
	}
	// Listing: with the app's AppCatalog.Read.All, filters and $expand=appDefinitions.
	list := func(q string) []any {
		t.Helper()
		r := e.graph("GET", "/appCatalogs/teamsApps"+q, app, nil)
		if r.status != 200 {
			t.Fatalf("list %s: %d %s", q, r.status, r.body)
		}
		return r.json(t)["value"].([]any)
	}
	if v := list(""); len(v) != 1 {
		t.Fatalf("catalog: %v", v)
	}
	if v := list("?$filter=" + url.QueryEscape("externalId eq '"+manifestID+"'")); len(v) != 1 || v[0].(map[string]any)["id"] != id {
		t.Fatalf("by externalId: %v", v)
	}
	if v := list("?$filter=" + url.QueryEscape("distributionMethod eq 'store'")); len(v) != 0 {
		t.Fatalf("store apps: %v", v)
	}
	v := list("?$expand=appDefinitions&$filter=" + url.QueryEscape("distributionMethod eq 'organization' and id eq '"+id+"'"))
	d := v[0].(map[string]any)["appDefinitions"].([]any)[0].(map[string]any)
	rsc := d["authorization"].(map[string]any)["requiredPermissionSet"].(map[string]any)["resourceSpecificPermissions"].([]any)
	if d["azureADAppId"] != e.emu.ClientID || d["version"] != "1.0.0" || d["publishingState"] != "published" || d["teamsAppId"] != id ||
		len(rsc) != 1 || rsc[0].(map[string]any)["permissionValue"] != "TeamsActivity.Send.User" {
		t.Fatalf("definition: %v", d)
	}
	if r := e.graph("GET", "/appCatalogs/teamsApps?$filter="+url.QueryEscape("startswith(displayName,'M')"), app, nil); r.status != 400 {
		t.Errorf("unsupported filter: %d", r.status)
	}
	if r := e.graph("GET", "/appCatalogs/teamsApps?$expand=bots", app, nil); r.status != 400 {
		t.Errorf("unknown expand: %d", r.status)
	}
	if r := e.graph("GET", "/appCatalogs/teamsApps/"+id, app, nil); r.status != 200 || r.json(t)["externalId"] != manifestID {
		t.Errorf("get: %d %s", r.status, r.body)
	}
	if r := e.graph("GET", "/appCatalogs/teamsApps/"+m365.DefaultClientID, app, nil); r.status != 404 {
		t.Errorf("get unknown: %d", r.status)
	}
	// Without AppCatalog permissions.
	if _, err := e.ctl.PatchApp(e.ctx, m365ctl.AppPatch{ApplicationPermissions: []string{"User.Read.All"}}); err != nil {
		t.Fatal(err)
	}
	if r := e.graph("GET", "/appCatalogs/teamsApps", e.appToken(), nil); r.status != 403 {
		t.Errorf("no AppCatalog permission: %d", r.status)
	}
	// Submitted for review: listed as such, not installable.
	rev, err := e.ctl.UploadApp(e.ctx, e.appPackage(t, func(m map[string]any) { m["id"] = "review-me" }), true)
	if err != nil || rev.AppDefinitions[0].PublishingState != "submitted" {
		t.Fatalf("review: %+v %v", rev, err)
	}
	if _, err := e.ctl.InstallApp(e.ctx, m365ctl.ForUser(bianca), "review-me"); err == nil {
		t.Errorf("a submitted app was installed")
	}
}

func TestUserAppInstallation(t *testing.T) {
	e := start(t)
	ours, err := e.ctl.UploadApp(e.ctx, e.appPackage(t, nil), false)
	if err != nil {
		t.Fatal(err)
	}
	theirs, err := e.ctl.UploadApp(e.ctx, e.appPackage(t, func(m map[string]any) {
		m["id"] = "other-app"
		m["webApplicationInfo"] = map[string]any{"id": "0f0e0d0c-0b0a-4000-8000-000000000001", "resource": "api://other.example/x"}
	}), false)
	if err != nil {
		t.Fatal(err)
	}
	app := e.appToken() // TeamsAppInstallation.ReadWriteSelfForUser.All: its own Teams app only
	base := "/users/" + bianca + "/teamwork/installedApps"
	bind := func(id string) map[string]any {
		return map[string]any{"teamsApp@odata.bind": "https://graph.microsoft.com/v1.0/appCatalogs/teamsApps/" + id}
	}
	if r := e.graph("POST", base, app, bind(ours.ID)); r.status != 201 || len(r.body) != 0 {
		t.Fatalf("install: %d %s", r.status, r.body)
	}
	if r := e.graph("POST", base, app, bind(ours.ID)); r.status != 409 {
		t.Fatalf("install twice: %d %s", r.status, r.body)
	}
	if r := e.graph("POST", base, app, bind(theirs.ID)); r.status != 403 {
		t.Fatalf("self permission installing another app: %d %s", r.status, r.body)
	}
	if r := e.graph("POST", base, app, bind(m365.DefaultClientID)); r.status != 404 {
		t.Fatalf("unknown app: %d %s", r.status, r.body)
	}
	if r := e.graph("POST", base, app, map[string]any{"teamsApp@odata.bind": "nope"}); r.status != 400 {
		t.Fatalf("bad bind: %d", r.status)
	}
	if _, err := e.ctl.InstallApp(e.ctx, m365ctl.ForUser(bianca), "other-app"); err != nil {
		t.Fatal(err)
	}
	list := func(tok, q string) []map[string]any {
		t.Helper()
		r := e.graph("GET", base+q, tok, nil)
		if r.status != 200 {
			t.Fatalf("list %s: %d %s", q, r.status, r.body)
		}
		var out []map[string]any
		for _, v := range r.json(t)["value"].([]any) {
			out = append(out, v.(map[string]any))
		}
		return out
	}
	v := list(app, "?$expand=teamsApp,teamsAppDefinition")
	if len(v) != 1 || v[0]["teamsApp"].(map[string]any)["externalId"] != manifestID ||
		v[0]["teamsAppDefinition"].(map[string]any)["azureADAppId"] != e.emu.ClientID || v[0]["@odata.type"] != "#microsoft.graph.userScopeTeamsAppInstallation" {
		t.Fatalf("self list: %v", v)
	}
	instID := v[0]["id"].(string)
	if r := e.graph("GET", base+"/"+url.PathEscape(instID), app, nil); r.status != 200 || r.json(t)["id"] != instID || r.json(t)["teamsApp"] != nil {
		t.Fatalf("get installation: %d %s", r.status, r.body)
	}
	// With the broader permission every installation is visible, and filters apply.
	e.withPermissions(t, []string{"TeamsAppInstallation.ReadForUser"}, []string{"TeamsAppInstallation.ReadWriteForUser.All", "TeamsAppInstallation.ReadWriteAndConsentSelfForUser.All"})
	app = e.appToken()
	if v := list(app, ""); len(v) != 2 {
		t.Fatalf("full list: %v", v)
	}
	if v := list(app, "?$filter="+url.QueryEscape("teamsApp/externalId eq 'other-app'")+"&$expand=teamsApp"); len(v) != 1 || v[0]["teamsApp"].(map[string]any)["id"] != theirs.ID {
		t.Fatalf("filtered: %v", v)
	}
	if r := e.graph("GET", base+"?$filter="+url.QueryEscape("teamsApp/version eq '1'"), app, nil); r.status != 400 {
		t.Fatalf("unsupported filter: %d", r.status)
	}
	// Delegated: one's own installations only.
	user, _ := e.userToken(adele)
	if r := e.graph("GET", base, user, nil); r.status != 403 {
		t.Fatalf("delegated, someone else's: %d", r.status)
	}
	if r := e.graph("GET", "/users/"+adele+"/teamwork/installedApps", user, nil); r.status != 200 {
		t.Fatalf("delegated, own: %d %s", r.status, r.body)
	}
	// Uninstall, then it is gone.
	if r := e.graph("DELETE", base+"/"+url.PathEscape(instID), app, nil); r.status != 204 {
		t.Fatalf("uninstall: %d %s", r.status, r.body)
	}
	if r := e.graph("GET", base+"/"+url.PathEscape(instID), app, nil); r.status != 404 {
		t.Fatalf("after uninstall: %d", r.status)
	}
	// Consent to the package's RSC permissions needs the …AndConsent… permission; only declared ones.
	consent := bind(ours.ID)
	consent["consentedPermissionSet"] = map[string]any{"resourceSpecificPermissions": []any{
		map[string]any{"permissionValue": "TeamsActivity.Send.User", "permissionType": "Application"}}}
	if r := e.graph("POST", base, app, consent); r.status != 201 {
		t.Fatalf("install with consent: %d %s", r.status, r.body)
	}
	insts, _ := e.ctl.InstalledApps(e.ctx, m365ctl.ForUser(bianca))
	var got []string
	for _, in := range insts {
		for _, p := range in.ConsentedPermissionSet.ResourceSpecificPermissions {
			got = append(got, in.TeamsApp.ExternalID+":"+p.PermissionValue)
		}
	}
	if !slices.Equal(got, []string{"other-app:TeamsActivity.Send.User", manifestID + ":TeamsActivity.Send.User"}) {
		t.Fatalf("consented: %v", got)
	}
	consent["consentedPermissionSet"] = map[string]any{"resourceSpecificPermissions": []any{
		map[string]any{"permissionValue": "Chat.Read.All", "permissionType": "Application"}}}
	if r := e.graph("POST", "/users/"+cameron+"/teamwork/installedApps", app, consent); r.status != 400 {
		t.Fatalf("undeclared consent: %d %s", r.status, r.body)
	}
	if _, err := e.ctl.PatchApp(e.ctx, m365ctl.AppPatch{ApplicationPermissions: []string{"TeamsAppInstallation.ReadWriteSelfForUser.All"}}); err != nil {
		t.Fatal(err)
	}
	consent["consentedPermissionSet"] = map[string]any{"resourceSpecificPermissions": []any{}}
	if r := e.graph("POST", "/users/"+cameron+"/teamwork/installedApps", e.appToken(), consent); r.status != 403 {
		t.Fatalf("consent without the consent permission: %d %s", r.status, r.body)
	}
	if _, err := e.ctl.PatchApp(e.ctx, m365ctl.AppPatch{ApplicationPermissions: []string{"User.Read.All"}}); err != nil {
		t.Fatal(err)
	}
	if r := e.graph("GET", base, e.appToken(), nil); r.status != 403 {
		t.Fatalf("no installation permission: %d", r.status)
	}
	// Control API: teams and chats, uninstall, delete from the catalog.
	chat := e.chat(adele, bianca)
	for _, s := range []m365ctl.AppScope{m365ctl.ForTeam(teamID), m365ctl.ForChat(chat)} {
		if _, err := e.ctl.InstallApp(e.ctx, s, manifestID); err != nil {
			t.Fatal(err)
		}
		if l, _ := e.ctl.InstalledApps(e.ctx, s); len(l) != 1 || l[0].TeamsApp.ID != ours.ID {
			t.Fatalf("installed: %+v", l)
		}
	}
	if err := e.ctl.UninstallApp(e.ctx, m365ctl.ForTeam(teamID), manifestID); err != nil {
		t.Fatal(err)
	}
	if err := e.ctl.DeleteApp(e.ctx, manifestID); err != nil {
		t.Fatal(err)
	}
	if l, _ := e.ctl.InstalledApps(e.ctx, m365ctl.ForUser(bianca)); len(l) != 1 || l[0].TeamsApp.ExternalID != "other-app" {
		t.Fatalf("after deleting from the catalog: %+v", l)
	}
}

func TestChatAndTeamAppInstallation(t *testing.T) {
	e := start(t)
	ours, err := e.ctl.UploadApp(e.ctx, e.appPackage(t, nil), false)
	if err != nil {
		t.Fatal(err)
	}
	theirs, err := e.ctl.UploadApp(e.ctx, e.appPackage(t, func(m map[string]any) {
		m["id"] = "other-app"
		m["webApplicationInfo"] = map[string]any{"id": "0f0e0d0c-0b0a-4000-8000-000000000001", "resource": "api://other.example/x"}
	}), false)
	if err != nil {
		t.Fatal(err)
	}
	chat, private := e.chat(adele, bianca), e.chat(bianca, cameron)
	bind := func(id string) map[string]any {
		return map[string]any{"teamsApp@odata.bind": "https://graph.microsoft.com/v1.0/appCatalogs/teamsApps/" + id}
	}
	app := e.appToken()
	if r := e.graph("POST", "/chats/"+chat+"/installedApps", app, bind(ours.ID)); r.status != 403 {
		t.Fatalf("no chat permission: %d %s", r.status, r.body)
	}
	e.withPermissions(t, []string{"TeamsAppInstallation.ReadForChat"},
		[]string{"TeamsAppInstallation.ReadWriteForChat.All", "TeamsAppInstallation.ReadWriteSelfForTeam.All"})
	app = e.appToken()
	if r := e.graph("POST", "/chats/"+chat+"/installedApps", app, bind(ours.ID)); r.status != 201 {
		t.Fatalf("chat install: %d %s", r.status, r.body)
	}
	if r := e.graph("POST", "/chats/19:nope@thread.v2/installedApps", app, bind(ours.ID)); r.status != 404 {
		t.Fatalf("unknown chat: %d %s", r.status, r.body)
	}
	r := e.graph("GET", "/chats/"+chat+"/installedApps?$expand=teamsApp", app, nil)
	v := r.json(t)["value"].([]any)
	if r.status != 200 || len(v) != 1 || v[0].(map[string]any)["@odata.type"] != "#microsoft.graph.teamsAppInstallation" ||
		v[0].(map[string]any)["teamsApp"].(map[string]any)["id"] != ours.ID {
		t.Fatalf("chat list: %d %s", r.status, r.body)
	}
	// The chat's installation lets the app notify its members.
	b := notification("systemDefault", "x")
	b["recipient"] = map[string]any{"@odata.type": "microsoft.graph.aadUserNotificationRecipient", "userId": bianca}
	if r := e.graph("POST", "/chats/"+chat+"/sendActivityNotification", app, b); r.status != 204 {
		t.Fatalf("notify after a Graph install: %d %s", r.status, r.body)
	}
	// Teams with the Self permission: its own app only.
	if r := e.graph("POST", "/teams/"+teamID+"/installedApps", app, bind(theirs.ID)); r.status != 403 {
		t.Fatalf("self, other app: %d %s", r.status, r.body)
	}
	if r := e.graph("POST", "/teams/"+teamID+"/installedApps", app, bind(ours.ID)); r.status != 201 {
		t.Fatalf("team install: %d %s", r.status, r.body)
	}
	l, _ := e.ctl.InstalledApps(e.ctx, m365ctl.ForTeam(teamID))
	if len(l) != 1 {
		t.Fatalf("team installations: %+v", l)
	}
	if r := e.graph("DELETE", "/teams/"+teamID+"/installedApps/"+url.PathEscape(l[0].ID), app, nil); r.status != 204 {
		t.Fatalf("team uninstall: %d %s", r.status, r.body)
	}
	// Delegated: members only.
	user, _ := e.userToken(adele)
	if r := e.graph("GET", "/chats/"+chat+"/installedApps", user, nil); r.status != 200 {
		t.Fatalf("delegated member: %d %s", r.status, r.body)
	}
	if r := e.graph("GET", "/chats/"+private+"/installedApps", user, nil); r.status != 403 {
		t.Fatalf("delegated non-member: %d %s", r.status, r.body)
	}
}
