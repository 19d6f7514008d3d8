package m365

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"
)

func (e *Emulator) catalogRoutes(r func(string, func(*call))) {
	r("GET /v1.0/appCatalogs/teamsApps", e.listCatalogApps)
	r("POST /v1.0/appCatalogs/teamsApps", e.publishCatalogApp)
	r("GET /v1.0/appCatalogs/teamsApps/{aid}", e.getCatalogApp)
	r("DELETE /v1.0/appCatalogs/teamsApps/{aid}", e.deleteCatalogApp)
	for _, base := range []string{"/v1.0/users/{uid}/teamwork/installedApps", "/v1.0/chats/{chid}/installedApps", "/v1.0/teams/{tid}/installedApps"} {
		r("GET "+base, e.listInstalledApps)
		r("POST "+base, e.installApp)
		r("GET "+base+"/{iid}", e.getInstalledApp)
		r("DELETE "+base+"/{iid}", e.uninstallApp)
	}
}

var (
	catalogRead  = []string{"AppCatalog.Submit", "AppCatalog.Read.All", "AppCatalog.ReadWrite.All", "Directory.Read.All", "Directory.ReadWrite.All"}
	catalogReadA = []string{"AppCatalog.Read.All", "AppCatalog.ReadWrite.All"}
	catalogWrite = []string{"AppCatalog.Submit", "AppCatalog.ReadWrite.All", "Directory.ReadWrite.All"}
)

// expandSet parses $expand against the navigation properties of a type.
func (c *call) expandSet(allowed []string, typ string) (map[string]bool, bool) {
	out := map[string]bool{}
	if x := c.q.Get("$expand"); x != "" {
		for _, p := range strings.Split(x, ",") {
			p = strings.TrimSpace(p)
			found := false
			for _, a := range allowed {
				if strings.EqualFold(a, p) {
					out[a], found = true, true
				}
			}
			if !found {
				c.fail(400, "BadRequest", fmt.Sprintf("Parsing OData Select and Expand failed: Could not find a property named '%s' on type '%s'.", p, typ))
				return nil, false
			}
		}
	}
	return out, true
}

// eqFilter parses "prop eq 'v' [and …]" over the given properties (compared
// case-insensitively, as Graph does for these string properties).
func eqFilter[T any](f string, props map[string]func(T) string) (func(T) bool, error) {
	if strings.TrimSpace(f) == "" {
		return func(T) bool { return true }, nil
	}
	bad := fmt.Errorf("Invalid filter clause: the emulator supports prop eq 'value' joined by and, on %s.", strings.Join(sortedKeys(props), ", "))
	type atom struct {
		get func(T) string
		v   string
	}
	var atoms []atom
	for _, a := range splitWord(f, " and ") {
		parts := strings.SplitN(strings.TrimSpace(a), " ", 3)
		if len(parts) != 3 || !strings.EqualFold(parts[1], "eq") {
			return nil, bad
		}
		get, ok := props[parts[0]]
		v := strings.TrimSpace(parts[2])
		if !ok || len(v) < 2 || v[0] != '\'' || v[len(v)-1] != '\'' {
			return nil, bad
		}
		atoms = append(atoms, atom{get, strings.ReplaceAll(v[1:len(v)-1], "''", "'")})
	}
	return func(x T) bool {
		for _, a := range atoms {
			if !strings.EqualFold(a.get(x), a.v) {
				return false
			}
		}
		return true
	}, nil
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	for i := 1; i < len(out); i++ {
		for j := i; j > 0 && out[j] < out[j-1]; j-- {
			out[j], out[j-1] = out[j-1], out[j]
		}
	}
	return out
}

var catalogFilterProps = map[string]func(*teamsApp) string{
	"id": func(a *teamsApp) string { return a.ID }, "externalId": func(a *teamsApp) string { return a.ExternalID },
	"displayName": func(a *teamsApp) string { return a.DisplayName }, "distributionMethod": func(a *teamsApp) string { return a.Distribution },
}

func (e *Emulator) listCatalogApps(c *call) {
	if !c.permit(catalogRead, catalogReadA) || !c.throttle("teamGet", "") {
		return
	}
	expand, ok := c.expandSet([]string{"appDefinitions"}, "microsoft.graph.teamsApp")
	if !ok {
		return
	}
	pred, err := eqFilter(c.q.Get("$filter"), catalogFilterProps)
	if err != nil {
		c.fail(400, "BadRequest", err.Error())
		return
	}
	e.st.mu.RLock()
	items := []any{}
	for _, a := range e.st.appOrder {
		if pred(a) {
			items = append(items, e.teamsAppJSON(a, expand["appDefinitions"]))
		}
	}
	e.st.mu.RUnlock()
	c.json(200, collection(e.meta("appCatalogs/teamsApps"), items, ""))
}

func (e *Emulator) getCatalogApp(c *call) {
	if !c.permit(catalogRead, catalogReadA) || !c.throttle("teamGet", "") {
		return
	}
	expand, ok := c.expandSet([]string{"appDefinitions"}, "microsoft.graph.teamsApp")
	if !ok {
		return
	}
	e.st.mu.RLock()
	a := e.st.apps[c.r.PathValue("aid")]
	var m map[string]any
	if a != nil {
		m = e.teamsAppJSON(a, expand["appDefinitions"])
	}
	e.st.mu.RUnlock()
	if a == nil {
		c.fail(404, "NotFound", fmt.Sprintf("The app '%s' was not found in the app catalog (unverified wording).", c.r.PathValue("aid")))
		return
	}
	m["@odata.context"] = e.meta("appCatalogs/teamsApps/$entity")
	c.json(200, m)
}

// publishCatalogApp is POST /appCatalogs/teamsApps: a zip package, delegated
// only (L teamsapp-publish: application permissions are not supported).
func (e *Emulator) publishCatalogApp(c *call) {
	if !c.permit(catalogWrite, nil) || !c.throttle("teamsOther", "") {
		return
	}
	if ct := strings.ToLower(c.r.Header.Get("Content-Type")); !strings.HasPrefix(ct, "application/zip") {
		c.fail(415, "UnsupportedMediaType", "Content-Type must be application/zip (unverified wording).")
		return
	}
	review := false
	switch c.q.Get("requiresReview") {
	case "", "false":
	case "true":
		review = true
	default:
		c.fail(400, "BadRequest", "requiresReview must be true or false.")
		return
	}
	pkg, err := io.ReadAll(http.MaxBytesReader(c.w, c.r.Body, MaxAppPackageBytes))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			c.fail(413, "RequestEntityTooLarge", "Request Entity too large.")
		} else {
			c.fail(400, "BadRequest", "The request body could not be read.")
		}
		return
	}
	d, errs := parseAppPackage(pkg)
	if errs != nil {
		c.manifestErrors(errs)
		return
	}
	e.st.mu.Lock()
	a, err := e.st.publishApp(d, review)
	var m map[string]any
	if err == nil {
		m = e.teamsAppJSON(a, false)
	}
	e.st.mu.Unlock()
	if err != nil {
		c.failErr(err)
		return
	}
	m["@odata.context"] = e.meta("appCatalogs/teamsApps/$entity")
	c.w.Header().Set("Location", e.GraphURL+"/v1.0/appCatalogs/teamsApps/"+a.ID)
	c.json(201, m)
}

// manifestErrors answers a package's schema errors as Graph does (L
// teamsapp-publish, example 4): BadRequest, the errors joined in the message,
// innerError code UnableToParseTeamsAppManifest with one detail per error.
func (c *call) manifestErrors(errs []manifestError) {
	var msgs []string
	details := []any{}
	for _, e := range errs {
		msgs = append(msgs, e.Target+" | "+e.Message)
		details = append(details, map[string]any{"code": e.Code, "message": e.Message, "target": e.Target})
	}
	msg := strings.Join(msgs, "; ")
	inner := map[string]any{"code": "UnableToParseTeamsAppManifest", "message": msg, "details": details,
		"date": time.Now().UTC().Format("2006-01-02T15:04:05"), "request-id": c.reqID, "client-request-id": clientRequestID(c.r, c.reqID)}
	c.json(400, map[string]any{"error": map[string]any{"code": "BadRequest", "message": msg, "innerError": inner}})
}

func (e *Emulator) deleteCatalogApp(c *call) {
	if !c.permit([]string{"AppCatalog.Submit", "AppCatalog.ReadWrite.All", "Directory.ReadWrite.All"}, []string{"AppCatalog.ReadWrite.All"}) || !c.throttle("teamsOther", "") {
		return
	}
	e.st.mu.Lock()
	ok := e.st.removeApp(c.r.PathValue("aid"))
	e.st.mu.Unlock()
	if !ok {
		c.fail(404, "NotFound", fmt.Sprintf("The app '%s' was not found in the app catalog (unverified wording).", c.r.PathValue("aid")))
		return
	}
	c.w.WriteHeader(204)
}

// installScope resolves the scope of an installedApps path: a user (a
// delegated caller only themselves), a chat or a team (a delegated caller must
// be a member); the permission suffix is ForUser, ForChat or ForTeam.
func (c *call) installScope() (scope, id, perm string, ok bool) {
	switch {
	case c.r.PathValue("chid") != "":
		c.e.st.mu.RLock()
		ch, ok := c.chat()
		c.e.st.mu.RUnlock()
		if !ok {
			return "", "", "", false
		}
		return "chat", ch.ID, "ForChat", true
	case c.r.PathValue("tid") != "":
		c.e.st.mu.RLock()
		t, ok := c.team()
		c.e.st.mu.RUnlock()
		if !ok {
			return "", "", "", false
		}
		return "team", t.ID, "ForTeam", true
	}
	uid, ok := c.subject(true)
	return "user", uid, "ForUser", ok
}

// installPermit checks the TeamsAppInstallation permissions of an
// installedApps call (perm: ForUser, ForChat, ForTeam); self is true when the
// caller holds only the …Self… ones, which reach its own Teams app
// (webApplicationInfo.id = the caller's app id) and no other.
func (c *call) installPermit(perm string, write, consent bool) (self, ok bool) {
	p := "TeamsAppInstallation."
	full := []string{p + "ReadWrite" + perm, p + "ReadWriteAndConsent" + perm}
	selfs := []string{p + "ReadWriteSelf" + perm, p + "ReadWriteAndConsentSelf" + perm}
	if !write {
		full = append([]string{p + "Read" + perm}, full...)
	}
	if consent {
		full, selfs = full[len(full)-1:], selfs[1:]
	}
	suffix := func(l []string) []string {
		out := make([]string, len(l))
		for i, s := range l {
			out[i] = s + ".All"
		}
		return out
	}
	del := append(append([]string{}, full...), selfs...)
	if !c.permit(del, suffix(del)) {
		return false, false
	}
	held := full
	if c.p.app {
		held = suffix(full)
	}
	for _, s := range held {
		if c.p.scopes[s] {
			return false, true
		}
	}
	return true, true
}

var installFilterProps = map[string]func(*installView) string{
	"teamsApp/id": func(v *installView) string { return v.app.ID }, "teamsApp/externalId": func(v *installView) string { return v.app.ExternalID },
	"teamsApp/displayName":            func(v *installView) string { return v.app.DisplayName },
	"teamsAppDefinition/azureADAppId": func(v *installView) string { return v.app.Def.AzureADAppID },
}

type installView struct {
	in  *appInstall
	app *teamsApp
}

func installType(scope string) string {
	if scope == "user" {
		return "microsoft.graph.userScopeTeamsAppInstallation"
	}
	return "microsoft.graph.teamsAppInstallation"
}

// installContext is the @odata.context path of a scope's installedApps.
func installContext(scope, id string) string {
	switch scope {
	case "chat":
		return "chats('" + id + "')/installedApps"
	case "team":
		return "teams('" + id + "')/installedApps"
	}
	return "users('" + id + "')/teamwork/installedApps"
}

func (e *Emulator) listInstalledApps(c *call) {
	scope, id, perm, ok := c.installScope()
	if !ok {
		return
	}
	self, ok := c.installPermit(perm, false, false)
	if !ok || !c.throttle("teamGet", "") {
		return
	}
	expand, ok := c.expandSet([]string{"teamsApp", "teamsAppDefinition"}, installType(scope))
	if !ok {
		return
	}
	pred, err := eqFilter(c.q.Get("$filter"), installFilterProps)
	if err != nil {
		c.fail(400, "BadRequest", err.Error())
		return
	}
	e.st.mu.RLock()
	items := []any{}
	for _, in := range e.st.installs[scopeKey(scope, id)] {
		v := &installView{in, e.st.apps[in.AppID]}
		if v.app == nil || (self && v.app.Def.AzureADAppID != strings.ToLower(c.p.appID)) || !pred(v) {
			continue
		}
		items = append(items, e.installJSON(in, expand))
	}
	e.st.mu.RUnlock()
	c.json(200, collection(e.meta(installContext(scope, id)), items, ""))
}

func (e *Emulator) getInstalledApp(c *call) {
	scope, id, perm, ok := c.installScope()
	if !ok {
		return
	}
	self, ok := c.installPermit(perm, false, false)
	if !ok || !c.throttle("teamGet", "") {
		return
	}
	expand, ok := c.expandSet([]string{"teamsApp", "teamsAppDefinition"}, installType(scope))
	if !ok {
		return
	}
	e.st.mu.RLock()
	var m map[string]any
	for _, in := range e.st.installs[scopeKey(scope, id)] {
		if a := e.st.apps[in.AppID]; in.ID == c.r.PathValue("iid") && a != nil && (!self || a.Def.AzureADAppID == strings.ToLower(c.p.appID)) {
			m = e.installJSON(in, expand)
		}
	}
	e.st.mu.RUnlock()
	if m == nil {
		c.fail(404, "NotFound", "The app installation was not found (unverified wording).")
		return
	}
	m["@odata.context"] = e.meta(installContext(scope, id) + "/$entity")
	c.json(200, m)
}

// installApp is POST …/installedApps: {"teamsApp@odata.bind":
// "…/appCatalogs/teamsApps/{id}"} and, with the …AndConsent… permissions, a
// consentedPermissionSet granting the package's RSC permissions; 201, no body.
func (e *Emulator) installApp(c *call) {
	var body struct {
		Bind    string `json:"teamsApp@odata.bind"`
		Consent *struct {
			RSC []rscPermission `json:"resourceSpecificPermissions"`
		} `json:"consentedPermissionSet"`
	}
	scope, id, perm, ok := c.installScope()
	if !ok || !c.decode(&body) {
		return
	}
	self, ok := c.installPermit(perm, true, body.Consent != nil)
	if !ok || !c.throttle("teamsOther", "") {
		return
	}
	_, appID, found := strings.Cut(body.Bind, "appCatalogs/teamsApps/")
	appID = strings.Trim(appID, "/'()")
	if !found || appID == "" {
		c.fail(400, "BadRequest", "teamsApp@odata.bind must reference appCatalogs/teamsApps/{id}.")
		return
	}
	e.st.mu.Lock()
	defer e.st.mu.Unlock()
	a := e.st.apps[appID]
	if a != nil && self && a.Def.AzureADAppID != strings.ToLower(c.p.appID) {
		c.fail(403, "Forbidden", "The …Self… permissions only allow an app to install itself (unverified wording).")
		return
	}
	var consented []rscPermission
	if body.Consent != nil && a != nil {
		for _, p := range body.Consent.RSC {
			declared := false
			for _, d := range a.Def.RSC {
				declared = declared || (strings.EqualFold(d.Value, p.Value) && strings.EqualFold(d.Type, p.Type))
			}
			if !declared {
				c.fail(400, "BadRequest", fmt.Sprintf("The permission '%s' (%s) is not declared in the app's manifest (unverified wording).", p.Value, p.Type))
				return
			}
			consented = append(consented, rscPermission{p.Value, strings.ToLower(p.Type)})
		}
	}
	if _, err := e.st.install(scope, id, appID, consented); err != nil {
		c.failErr(err)
		return
	}
	c.w.WriteHeader(201)
}

func (e *Emulator) uninstallApp(c *call) {
	scope, id, perm, ok := c.installScope()
	if !ok {
		return
	}
	self, ok := c.installPermit(perm, true, false)
	if !ok || !c.throttle("teamsOther", "") {
		return
	}
	e.st.mu.Lock()
	defer e.st.mu.Unlock()
	for _, in := range e.st.installs[scopeKey(scope, id)] {
		if in.ID != c.r.PathValue("iid") {
			continue
		}
		if a := e.st.apps[in.AppID]; self && (a == nil || a.Def.AzureADAppID != strings.ToLower(c.p.appID)) {
			break
		}
		e.st.uninstall(scope, id, in.ID)
		c.w.WriteHeader(204)
		return
	}
	c.fail(404, "NotFound", "The app installation was not found (unverified wording).")
}
