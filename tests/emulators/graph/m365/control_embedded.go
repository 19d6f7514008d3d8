package m365

import (
	"encoding/base64"
	"errors"
	"net/http"
	"sort"
	"strings"
	"time"

	"github.com/msteams-bridge/msteams/tests/emulators/graph/wire"
)

// embeddedControlRoutes adds the control routes of the embedded experience:
// the signing keys, Teams SSO tokens, the app catalog and the activity feeds.
func (e *Emulator) embeddedControlRoutes(h func(string, http.HandlerFunc)) {
	h("GET /keys", func(w http.ResponseWriter, r *http.Request) { writeJSON(w, 200, ctlList(e.keys.list())) })
	h("POST /keys", e.ctlAddKey)
	h("POST /keys/{kid}/activate", e.ctlActivateKey)
	h("DELETE /keys/{kid}", e.ctlRemoveKey)
	h("POST /sso/token", e.ctlSSOToken)
	h("GET /feeds", e.ctlFeed)
	h("DELETE /feeds", e.ctlClearFeed)
	h("GET /feeds/{uid}", e.ctlFeed)
	h("DELETE /feeds/{uid}", e.ctlClearFeed)
	h("GET /apps", e.ctlListApps)
	h("POST /apps", e.ctlUploadApp)
	h("DELETE /apps/{aid}", e.ctlDeleteApp)
	for _, base := range []string{"/users/{uid}/apps", "/teams/{tid}/apps", "/chats/{chid}/apps"} {
		h("GET "+base, e.ctlListInstalls)
		h("POST "+base, e.ctlInstall)
		h("DELETE "+base+"/{aid}", e.ctlUninstall)
	}
}

func keyFail(w http.ResponseWriter, err error) {
	switch {
	case errors.Is(err, errNoSuchKey):
		ctlError(w, 404, err.Error())
	case errors.Is(err, errActiveKey), errors.Is(err, errTooManyKeys):
		ctlError(w, 409, err.Error())
	default:
		ctlError(w, 500, err.Error())
	}
}

func (e *Emulator) ctlAddKey(w http.ResponseWriter, r *http.Request) {
	var in wire.KeyAdd
	if r.ContentLength != 0 && !e.ctlDecode(w, r, &in) {
		return
	}
	if in.RetirePreviousAfterMs < 0 || in.RetirePreviousAfterMs > 7*24*3600*1000 || (in.RetirePreviousAfterMs > 0 && !in.Activate) {
		ctlError(w, 400, "retirePreviousAfterMs must be within 0..604800000 and needs activate")
		return
	}
	k, err := e.keys.add(in.Activate, time.Duration(in.RetirePreviousAfterMs)*time.Millisecond, time.Now())
	if err != nil {
		keyFail(w, err)
		return
	}
	v, _ := e.keys.describe(k.kid)
	writeJSON(w, 201, v)
}

func (e *Emulator) ctlActivateKey(w http.ResponseWriter, r *http.Request) {
	if err := e.keys.activate(r.PathValue("kid")); err != nil {
		keyFail(w, err)
		return
	}
	v, _ := e.keys.describe(r.PathValue("kid"))
	writeJSON(w, 200, v)
}

func (e *Emulator) ctlRemoveKey(w http.ResponseWriter, r *http.Request) {
	if err := e.keys.remove(r.PathValue("kid")); err != nil {
		keyFail(w, err)
		return
	}
	w.WriteHeader(204)
}

func (e *Emulator) ctlListApps(w http.ResponseWriter, r *http.Request) {
	e.st.mu.RLock()
	out := []map[string]any{}
	for _, a := range e.st.appOrder {
		out = append(out, e.teamsAppJSON(a, true))
	}
	e.st.mu.RUnlock()
	writeJSON(w, 200, ctlList(out))
}

func (e *Emulator) ctlUploadApp(w http.ResponseWriter, r *http.Request) {
	var in wire.AppUpload
	if !e.ctlDecode(w, r, &in) {
		return
	}
	pkg, err := base64.StdEncoding.DecodeString(in.PackageBase64)
	if err != nil || len(pkg) > MaxAppPackageBytes {
		ctlError(w, 400, "packageBase64 must be the base64 of a zip of at most 10 MiB")
		return
	}
	d, errs := parseAppPackage(pkg)
	if errs != nil {
		var msgs []string
		for _, e := range errs {
			msgs = append(msgs, e.Target+" | "+e.Message)
		}
		ctlError(w, 400, "UnableToParseTeamsAppManifest: "+strings.Join(msgs, "; "))
		return
	}
	e.st.mu.Lock()
	a, err := e.st.publishApp(d, in.RequiresReview)
	var out map[string]any
	if err == nil {
		out = e.teamsAppJSON(a, true)
	}
	e.st.mu.Unlock()
	if err != nil {
		ctlFail(w, err)
		return
	}
	writeJSON(w, 201, out)
}

func (e *Emulator) ctlDeleteApp(w http.ResponseWriter, r *http.Request) {
	e.st.mu.Lock()
	ok := false
	if a := e.st.appByKey(r.PathValue("aid")); a != nil {
		ok = e.st.removeApp(a.ID)
	}
	e.st.mu.Unlock()
	if !ok {
		ctlError(w, 404, "no such app")
		return
	}
	w.WriteHeader(204)
}

// ctlScope resolves the scope of a control path (/users/{u}, /teams/{t},
// /chats/{c}); st.mu held.
func (e *Emulator) ctlScope(r *http.Request) (scope, id string, err error) {
	switch {
	case r.PathValue("uid") != "":
		u := e.st.findUser(r.PathValue("uid"))
		if u == nil {
			return "", "", notFound("no such user")
		}
		return "user", u.ID, nil
	case r.PathValue("tid") != "":
		if e.st.teams[r.PathValue("tid")] == nil {
			return "", "", notFound("no such team")
		}
		return "team", r.PathValue("tid"), nil
	default:
		if e.st.chats[r.PathValue("chid")] == nil {
			return "", "", notFound("no such chat")
		}
		return "chat", r.PathValue("chid"), nil
	}
}

var bothExpanded = map[string]bool{"teamsApp": true, "teamsAppDefinition": true}

func (e *Emulator) ctlListInstalls(w http.ResponseWriter, r *http.Request) {
	e.st.mu.RLock()
	defer e.st.mu.RUnlock()
	scope, id, err := e.ctlScope(r)
	if err != nil {
		ctlFail(w, err)
		return
	}
	out := []map[string]any{}
	for _, in := range e.st.installs[scopeKey(scope, id)] {
		out = append(out, e.installJSON(in, bothExpanded))
	}
	writeJSON(w, 200, ctlList(out))
}

func (e *Emulator) ctlInstall(w http.ResponseWriter, r *http.Request) {
	var in wire.AppInstall
	if !e.ctlDecode(w, r, &in) {
		return
	}
	e.st.mu.Lock()
	defer e.st.mu.Unlock()
	scope, id, err := e.ctlScope(r)
	if err != nil {
		ctlFail(w, err)
		return
	}
	a := e.st.appByKey(in.App)
	if a == nil {
		ctlError(w, 404, "no such app in the catalog: "+in.App)
		return
	}
	var consented []rscPermission
	if in.Consent == nil || *in.Consent {
		consented = append(consented, a.Def.RSC...)
	}
	inst, err := e.st.install(scope, id, a.ID, consented)
	if err != nil {
		ctlFail(w, err)
		return
	}
	writeJSON(w, 201, e.installJSON(inst, bothExpanded))
}

func (e *Emulator) ctlUninstall(w http.ResponseWriter, r *http.Request) {
	e.st.mu.Lock()
	defer e.st.mu.Unlock()
	scope, id, err := e.ctlScope(r)
	if err != nil {
		ctlFail(w, err)
		return
	}
	a := e.st.appByKey(r.PathValue("aid"))
	if a == nil || !e.st.uninstall(scope, id, installID(id, a.ID)) {
		ctlError(w, 404, "the app is not installed there")
		return
	}
	w.WriteHeader(204)
}

// ctlFeed lists one user's activity feed (oldest first), or every feed's
// entries in the order they arrived.
func (e *Emulator) ctlFeed(w http.ResponseWriter, r *http.Request) {
	e.st.mu.RLock()
	defer e.st.mu.RUnlock()
	out := []wire.FeedEntry{}
	if key := r.PathValue("uid"); key != "" {
		u := e.st.findUser(key)
		if u == nil {
			ctlError(w, 404, "no such user")
			return
		}
		if f := e.st.feeds[u.ID]; f != nil {
			for _, en := range f.entries {
				out = append(out, *en)
			}
		}
		writeJSON(w, 200, ctlList(out))
		return
	}
	for _, f := range e.st.feeds {
		for _, en := range f.entries {
			out = append(out, *en)
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Time < out[j].Time })
	writeJSON(w, 200, ctlList(out))
}

func (e *Emulator) ctlClearFeed(w http.ResponseWriter, r *http.Request) {
	e.st.mu.Lock()
	defer e.st.mu.Unlock()
	if key := r.PathValue("uid"); key != "" {
		u := e.st.findUser(key)
		if u == nil {
			ctlError(w, 404, "no such user")
			return
		}
		delete(e.st.feeds, u.ID)
	} else {
		e.st.feeds = map[string]*feed{}
	}
	w.WriteHeader(204)
}
