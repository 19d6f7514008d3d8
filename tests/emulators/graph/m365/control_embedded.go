package m365

import (
	"errors"
	"net/http"
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
	k, err := e.keys.add(in.Activate, time.Now())
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
