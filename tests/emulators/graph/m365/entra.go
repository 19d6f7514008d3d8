package m365

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"fmt"
	"html/template"
	mrand "math/rand/v2"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/msteams-bridge/msteams/tests/emulators/graph/wire"
)

// GraphResource is the resource identifier of Microsoft Graph.
const GraphResource = "https://graph.microsoft.com"

const graphAppID = "00000003-0000-0000-c000-000000000000"

// Lifetimes configure token lifetimes (control API /lifetimes).
type Lifetimes = wire.Lifetimes

func defaultLifetimes() Lifetimes {
	return Lifetimes{RefreshTokenSeconds: 90 * 24 * 3600, CodeSeconds: 600}
}

type principal struct {
	token    string
	app      bool
	appID    string
	userID   string
	scopes   map[string]bool
	scopeStr string
	issued   time.Time
	expires  time.Time
}

func (p *principal) callerKind() (string, string) {
	if p == nil {
		return "none", ""
	}
	if p.app {
		return "app", p.appID
	}
	return "user", p.userID
}

type authCode struct {
	clientID, redirectURI, userID string
	scopes                        []string
	challenge, method, nonce      string
	expires                       time.Time
	redeemed                      bool
}

type refreshGrant struct {
	clientID, userID string
	scopes           []string // graph scopes + oidc scopes
	issued, expires  time.Time
	revoked          bool
}

type authState struct {
	mu        sync.Mutex
	lt        Lifetimes
	codes     map[string]*authCode
	refresh   map[string]*refreshGrant
	revokedAt map[string]time.Time // user id → tokens issued before are invalid

	amu    sync.RWMutex
	access map[string]*principal
}

func newAuthState(lt Lifetimes) *authState {
	return &authState{lt: lt, codes: map[string]*authCode{}, refresh: map[string]*refreshGrant{},
		revokedAt: map[string]time.Time{}, access: map[string]*principal{}}
}

func (a *authState) lifetimes() Lifetimes {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.lt
}

func (a *authState) setLifetimes(lt Lifetimes) {
	a.mu.Lock()
	if lt.RefreshTokenSeconds <= 0 {
		lt.RefreshTokenSeconds = 90 * 24 * 3600
	}
	if lt.CodeSeconds <= 0 {
		lt.CodeSeconds = 600
	}
	a.lt = lt
	a.mu.Unlock()
}

// lookup returns the principal of a bearer token, or why it is refused.
func (a *authState) lookup(tok string, now time.Time) (*principal, string) {
	a.amu.RLock()
	p := a.access[tok]
	a.amu.RUnlock()
	if p == nil {
		if strings.Count(tok, ".") != 2 {
			return nil, "IDX14100: JWT is not well formed, there are no dots (.).\nThe token needs to be in JWS or JWE Compact Serialization Format."
		}
		return nil, "Access token validation failure. Invalid audience."
	}
	if now.After(p.expires) {
		return nil, "Lifetime validation failed, the token is expired."
	}
	return p, ""
}

// revokeUser invalidates a user's refresh tokens and, if access, their access tokens.
func (a *authState) revokeUser(uid string, access bool) int {
	a.mu.Lock()
	n := 0
	for _, g := range a.refresh {
		if g.userID == uid && !g.revoked {
			g.revoked = true
			n++
		}
	}
	a.revokedAt[uid] = time.Now()
	a.mu.Unlock()
	if access {
		a.amu.Lock()
		for k, p := range a.access {
			if !p.app && p.userID == uid {
				delete(a.access, k)
				n++
			}
		}
		a.amu.Unlock()
	}
	return n
}

// revokeApp invalidates all app-only access tokens.
func (a *authState) revokeApp() int {
	a.amu.Lock()
	defer a.amu.Unlock()
	n := 0
	for k, p := range a.access {
		if p.app {
			delete(a.access, k)
			n++
		}
	}
	return n
}

func (a *authState) prune(now time.Time) {
	a.mu.Lock()
	for k, c := range a.codes {
		if now.After(c.expires) {
			delete(a.codes, k)
		}
	}
	for k, g := range a.refresh {
		if now.After(g.expires) {
			delete(a.refresh, k)
		}
	}
	a.mu.Unlock()
	a.amu.Lock()
	for k, p := range a.access {
		if now.After(p.expires.Add(time.Minute)) {
			delete(a.access, k)
		}
	}
	a.amu.Unlock()
}

// ---- JWT ----

func b64url(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

func (e *Emulator) signJWT(claims map[string]any) string { return e.keys.sign(claims) }

// ---- login host ----

func (e *Emulator) loginHandler() http.Handler {
	mux := http.NewServeMux()
	h := func(pattern string, fn http.HandlerFunc) {
		mux.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) {
			sw := &statusWriter{ResponseWriter: w}
			reqID := newGUID()
			defer func() {
				st := sw.status
				if st == 0 {
					st = 200
				}
				e.counters.inc(CounterKey{Host: "login", Route: pattern, Caller: "none", Status: st})
			}()
			if e.requestFault("login", pattern, sw, r, reqID) {
				return
			}
			fn(sw, r)
		})
	}
	h("GET /{tenant}/oauth2/v2.0/authorize", e.handleAuthorize)
	h("POST /{tenant}/oauth2/v2.0/authorize", e.handleAuthorize)
	h("POST /{tenant}/oauth2/v2.0/token", e.handleToken)
	h("GET /{tenant}/v2.0/adminconsent", e.handleAdminConsent)
	h("GET /{tenant}/v2.0/.well-known/openid-configuration", e.handleOIDCConfig)
	h("GET /{tenant}/.well-known/openid-configuration", e.handleOIDCConfig)
	h("GET /{tenant}/discovery/keys", e.handleJWKS)
	h("GET /{tenant}/discovery/v2.0/keys", e.handleJWKS)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		e.counters.inc(CounterKey{Host: "login", Route: "unmatched", Caller: "none", Status: 404})
		http.Error(w, "AADSTS900561: The endpoint only accepts the documented methods and paths.", 404)
	})
	return mux
}

func (e *Emulator) tenantOK(t string) bool {
	switch strings.ToLower(t) {
	case "common", "organizations":
		return true
	}
	return strings.EqualFold(t, e.TenantID) || strings.EqualFold(t, e.st.domain)
}

// issuerV2 and issuerV1 are the issuers of v2.0 and v1.0 tokens of tenant
// tid (or the "{tenantid}" placeholder of the multi-tenant metadata): the
// production login host, as every identifier the emulator issues.
func (e *Emulator) issuerV2(tid string) string {
	return "https://" + e.cloud.issuerV2Host + "/" + tid + "/v2.0"
}

func (e *Emulator) issuerV1(tid string) string {
	return "https://" + e.cloud.issuerV1Host + "/" + tid + "/"
}

// metadataTenant resolves the {tenant} of a metadata path: the tenant id, or
// the "{tenantid}" placeholder for common and organizations; "" if unknown.
func (e *Emulator) metadataTenant(t string) string {
	switch strings.ToLower(t) {
	case "common", "organizations":
		return "{tenantid}"
	}
	if e.tenantOK(t) {
		return e.TenantID
	}
	return ""
}

func (e *Emulator) handleJWKS(w http.ResponseWriter, r *http.Request) {
	tid := e.metadataTenant(r.PathValue("tenant"))
	if tid == "" {
		writeJSON(w, 400, e.tokenErrorBody("invalid_tenant", 90002, fmt.Sprintf("Tenant '%s' not found.", r.PathValue("tenant"))))
		return
	}
	issuer := e.issuerV2(tid)
	if !strings.Contains(r.URL.Path, "/v2.0/") {
		issuer = e.issuerV1(tid)
	}
	w.Header().Set("Cache-Control", "max-age=86400, private")
	writeJSON(w, 200, e.keys.jwks(issuer))
}

// handleOIDCConfig serves the v2.0 metadata (/{tenant}/v2.0/.well-known/…)
// and the v1.0 one (/{tenant}/.well-known/…): same keys, their own issuer,
// endpoints and key-set address.
func (e *Emulator) handleOIDCConfig(w http.ResponseWriter, r *http.Request) {
	t := r.PathValue("tenant")
	tid := e.metadataTenant(t)
	if tid == "" {
		writeJSON(w, 400, e.tokenErrorBody("invalid_tenant", 90002, fmt.Sprintf("Tenant '%s' not found.", t)))
		return
	}
	base := e.LoginURL + "/" + t
	m := map[string]any{
		"response_types_supported":              []string{"code", "id_token", "code id_token", "id_token token"},
		"response_modes_supported":              []string{"query", "fragment", "form_post"},
		"subject_types_supported":               []string{"pairwise"},
		"id_token_signing_alg_values_supported": []string{"RS256"},
		"token_endpoint_auth_methods_supported": []string{"client_secret_post", "private_key_jwt", "client_secret_basic"},
		"scopes_supported":                      []string{"openid", "profile", "email", "offline_access"},
		"code_challenge_methods_supported":      []string{"plain", "S256"},
		"claims_supported": []string{"sub", "iss", "cloud_instance_name", "cloud_instance_host_name", "cloud_graph_host_name",
			"msgraph_host", "aud", "exp", "iat", "auth_time", "acr", "nonce", "preferred_username", "name", "tid", "ver",
			"at_hash", "c_hash", "email"},
		"request_uri_parameter_supported": false,
		"http_logout_supported":           true,
		"frontchannel_logout_supported":   true,
		"tenant_region_scope":             "EU",
		"cloud_instance_name":             e.cloud.instanceName,
		"cloud_graph_host_name":           e.cloud.aadGraphHost,
		"msgraph_host":                    e.cloud.msgraphHost,
		"rbac_url":                        "https://pas.windows.net",
	}
	if strings.Contains(r.URL.Path, "/v2.0/") {
		m["issuer"] = e.issuerV2(tid)
		m["authorization_endpoint"] = base + "/oauth2/v2.0/authorize"
		m["token_endpoint"] = base + "/oauth2/v2.0/token"
		m["jwks_uri"] = base + "/discovery/v2.0/keys"
		m["end_session_endpoint"] = base + "/oauth2/v2.0/logout"
		m["device_authorization_endpoint"] = base + "/oauth2/v2.0/devicecode"
		m["userinfo_endpoint"] = "https://" + e.cloud.msgraphHost + "/oidc/userinfo"
	} else {
		m["issuer"] = e.issuerV1(tid)
		m["authorization_endpoint"] = base + "/oauth2/authorize"
		m["token_endpoint"] = base + "/oauth2/token"
		m["jwks_uri"] = base + "/discovery/keys"
		m["end_session_endpoint"] = base + "/oauth2/logout"
		m["userinfo_endpoint"] = base + "/openid/userinfo"
	}
	w.Header().Set("Cache-Control", "max-age=86400, private")
	writeJSON(w, 200, m)
}

var oidcScopes = map[string]bool{"openid": true, "profile": true, "email": true, "offline_access": true}

// parseScopes splits a scope string into Graph permission names and OIDC
// scopes. It refuses scopes of other resources.
func parseScopes(s string) (graph []string, oidc []string, dflt bool, badResource string) {
	for _, sc := range strings.Fields(s) {
		if oidcScopes[sc] {
			oidc = append(oidc, sc)
			continue
		}
		name := sc
		for _, prefix := range []string{GraphResource + "/", "https://graph.microsoft.com//", graphAppID + "/"} {
			if strings.HasPrefix(strings.ToLower(sc), strings.ToLower(prefix)) {
				name = sc[len(prefix):]
				break
			}
		}
		if strings.Contains(name, "://") || strings.Contains(name, "/") {
			if badResource == "" {
				badResource = sc
			}
			continue
		}
		if name == ".default" {
			dflt = true
			continue
		}
		graph = append(graph, name)
	}
	return
}

type signInPage struct {
	Tenant  string
	Params  map[string]string
	Users   []*User
	Message string
}

var signInTmpl = template.Must(template.New("signin").Parse(`<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>Sign in to your account</title>
<style>body{font-family:Segoe UI,Arial,sans-serif;background:#f2f2f2}main{background:#fff;width:440px;margin:60px auto;padding:44px;box-shadow:0 2px 6px rgba(0,0,0,.2)}
button{display:block;width:100%;text-align:left;margin:6px 0;padding:10px;border:1px solid #ccc;background:#fff;cursor:pointer}button:disabled{color:#999}
small{color:#666}</style></head>
<body><main><h1>Pick an account</h1><p><small>Microsoft 365 emulator · tenant {{.Tenant}}</small></p>
{{if .Message}}<p role="alert">{{.Message}}</p>{{end}}
<form method="post">{{range $k, $v := .Params}}<input type="hidden" name="{{$k}}" value="{{$v}}">{{end}}
{{range .Users}}<button type="submit" name="emu_user" value="{{.ID}}" data-upn="{{.UserPrincipalName}}" {{if not .AccountEnabled}}disabled{{end}}>
<b>{{.DisplayName}}</b><br><small>{{.UserPrincipalName}}{{if eq .UserType "Guest"}} · guest{{end}}{{if not .AccountEnabled}} · disabled{{end}}</small></button>
{{end}}</form></main></body></html>`))

func (e *Emulator) errorPage(w http.ResponseWriter, status int, code int, msg string) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	fmt.Fprintf(w, "<!DOCTYPE html><html><head><title>Sign in to your account</title></head><body><h1>Sorry, but we’re having trouble signing you in.</h1><p id=\"error\">AADSTS%d: %s</p></body></html>",
		code, template.HTMLEscapeString(msg))
}

func (e *Emulator) handleAuthorize(w http.ResponseWriter, r *http.Request) {
	if r.Method == http.MethodPost {
		r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
		if err := r.ParseForm(); err != nil {
			e.errorPage(w, 400, 900144, "The request is malformed.")
			return
		}
	}
	q := r.URL.Query()
	if r.Method == http.MethodPost {
		q = r.Form
	}
	tenant := r.PathValue("tenant")
	if !e.tenantOK(tenant) {
		e.errorPage(w, 400, 90002, fmt.Sprintf("Tenant '%s' not found. Check to make sure you have the correct tenant ID and are signing into the correct cloud.", tenant))
		return
	}
	clientID := q.Get("client_id")
	e.st.mu.RLock()
	app := e.st.app
	e.st.mu.RUnlock()
	if clientID == "" {
		e.errorPage(w, 400, 900144, "The request body must contain the following parameter: 'client_id'.")
		return
	}
	if clientID != app.ClientID {
		e.errorPage(w, 400, 700016, fmt.Sprintf("Application with identifier '%s' was not found in the directory '%s'.", clientID, e.st.tenantName))
		return
	}
	redirect := q.Get("redirect_uri")
	registered := false
	for _, u := range app.RedirectURIs {
		if u == redirect {
			registered = true
		}
	}
	if !registered {
		e.errorPage(w, 400, 50011, fmt.Sprintf("The redirect URI '%s' specified in the request does not match the redirect URIs configured for the application '%s'.", redirect, clientID))
		return
	}
	mode := q.Get("response_mode")
	if mode == "" {
		mode = "query"
	}
	state := q.Get("state")
	fail := func(code, desc string) {
		v := url.Values{"error": {code}, "error_description": {desc}}
		if state != "" {
			v.Set("state", state)
		}
		e.redirectBack(w, redirect, mode, v)
	}
	if mode != "query" && mode != "fragment" && mode != "form_post" {
		fail("invalid_request", "AADSTS900144: The value of 'response_mode' is not valid.")
		return
	}
	rt := strings.Fields(q.Get("response_type"))
	hasCode := false
	for _, t := range rt {
		if t == "code" {
			hasCode = true
		}
	}
	if !hasCode {
		fail("unsupported_response_type", "AADSTS700054: response_type 'code' is required by this emulator.")
		return
	}
	scope := q.Get("scope")
	if strings.TrimSpace(scope) == "" {
		fail("invalid_request", "AADSTS900144: The request body must contain the following parameter: 'scope'.")
		return
	}
	gscopes, oidc, dflt, badRes := parseScopes(scope)
	if badRes != "" {
		fail("invalid_resource", fmt.Sprintf("AADSTS500011: The resource principal named %s was not found in the tenant named %s.", badRes, e.st.tenantName))
		return
	}
	for _, s := range gscopes {
		if !app.Delegated[s] {
			fail("consent_required", fmt.Sprintf("AADSTS65001: The user or administrator has not consented to use the application with ID '%s' named '%s'. Send an interactive authorization request for this user and resource. Missing scope: %s.", clientID, app.DisplayName, s))
			return
		}
	}
	if dflt {
		for s := range app.Delegated {
			if !oidcScopes[s] {
				gscopes = append(gscopes, s)
			}
		}
	}
	challenge, method := q.Get("code_challenge"), q.Get("code_challenge_method")
	if method != "" && challenge == "" {
		fail("invalid_request", "AADSTS501491: Invalid size of Code_Challenge parameter.")
		return
	}
	if challenge != "" {
		if method == "" {
			method = "plain"
		}
		if method != "S256" && method != "plain" {
			fail("invalid_request", "AADSTS501471: Invalid code_challenge_method.")
			return
		}
		if len(challenge) < 43 || len(challenge) > 128 {
			fail("invalid_request", "AADSTS501491: Invalid size of Code_Challenge parameter.")
			return
		}
	} else if app.RequirePKCE {
		fail("invalid_request", "AADSTS9002325: Proof Key for Code Exchange is required for cross-origin authorization code redemption.")
		return
	}
	// Who signs in: a picked account (POST), a login_hint, or the page.
	var user *User
	pick := q.Get("emu_user")
	hint := q.Get("login_hint")
	e.st.mu.RLock()
	if pick != "" {
		user = e.st.users[pick]
	} else if hint != "" {
		user = e.st.findUser(hint)
	}
	var users []*User
	if user == nil {
		users = append(users, e.st.userOrder...)
	}
	e.st.mu.RUnlock()
	prompt := q.Get("prompt")
	if user == nil {
		if prompt == "none" {
			fail("login_required", "AADSTS50058: A silent sign-in request was sent but no user is signed in.")
			return
		}
		params := map[string]string{}
		for k, v := range q {
			if k != "emu_user" && len(v) > 0 {
				params[k] = v[0]
			}
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		msg := ""
		if hint != "" || pick != "" {
			msg = "We couldn't find an account with that username."
		}
		signInTmpl.Execute(w, signInPage{Tenant: e.st.tenantName, Params: params, Users: users, Message: msg})
		return
	}
	if !user.AccountEnabled {
		e.errorPage(w, 400, 50057, "The user account is disabled.")
		return
	}
	lt := e.auth.lifetimes()
	code := randomToken(48)
	all := append(append([]string{}, gscopes...), oidc...)
	e.auth.mu.Lock()
	e.auth.codes[code] = &authCode{clientID: clientID, redirectURI: redirect, userID: user.ID, scopes: dedupe(all),
		challenge: challenge, method: method, nonce: q.Get("nonce"),
		expires: time.Now().Add(time.Duration(lt.CodeSeconds) * time.Second)}
	e.auth.mu.Unlock()
	v := url.Values{"code": {code}}
	if state != "" {
		v.Set("state", state)
	}
	v.Set("session_state", newGUID())
	e.redirectBack(w, redirect, mode, v)
}

func dedupe(in []string) []string {
	seen := map[string]bool{}
	var out []string
	for _, s := range in {
		if !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	sort.Strings(out)
	return out
}

func (e *Emulator) redirectBack(w http.ResponseWriter, redirect, mode string, v url.Values) {
	switch mode {
	case "form_post":
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprintf(w, `<html><head><title>Working...</title></head><body><form method="POST" name="hiddenform" action="%s">`, template.HTMLEscapeString(redirect))
		for k, vals := range v {
			fmt.Fprintf(w, `<input type="hidden" name="%s" value="%s" />`, template.HTMLEscapeString(k), template.HTMLEscapeString(vals[0]))
		}
		fmt.Fprint(w, `<noscript><p>Script is disabled. Click Submit to continue.</p><input type="submit" value="Submit" /></noscript></form><script>document.forms[0].submit()</script></body></html>`)
	case "fragment":
		w.Header().Set("Location", redirect+"#"+v.Encode())
		w.WriteHeader(http.StatusFound)
	default:
		sep := "?"
		if strings.Contains(redirect, "?") {
			sep = "&"
		}
		w.Header().Set("Location", redirect+sep+v.Encode())
		w.WriteHeader(http.StatusFound)
	}
}

func (e *Emulator) handleAdminConsent(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	if q.Get("client_id") != e.ClientID {
		e.errorPage(w, 400, 700016, fmt.Sprintf("Application with identifier '%s' was not found in the directory.", q.Get("client_id")))
		return
	}
	redirect := q.Get("redirect_uri")
	e.st.mu.RLock()
	ok := false
	for _, u := range e.st.app.RedirectURIs {
		ok = ok || u == redirect
	}
	e.st.mu.RUnlock()
	if !ok {
		e.errorPage(w, 400, 50011, "The redirect URI specified in the request does not match the redirect URIs configured for the application.")
		return
	}
	v := url.Values{"tenant": {e.TenantID}, "admin_consent": {"True"}}
	if s := q.Get("state"); s != "" {
		v.Set("state", s)
	}
	e.redirectBack(w, redirect, "query", v)
}

// ---- token endpoint ----

func (e *Emulator) tokenErrorBody(errCode string, aadsts int, desc string) map[string]any {
	now := time.Now().UTC()
	trace, corr := newGUID(), newGUID()
	full := fmt.Sprintf("AADSTS%d: %s Trace ID: %s Correlation ID: %s Timestamp: %s", aadsts, desc, trace, corr, now.Format("2006-01-02 15:04:05Z"))
	return map[string]any{
		"error": errCode, "error_description": full, "error_codes": []int{aadsts},
		"timestamp": now.Format("2006-01-02 15:04:05Z"), "trace_id": trace, "correlation_id": corr,
		"error_uri": fmt.Sprintf("%s/error?code=%d", e.LoginURL, aadsts),
	}
}

func (e *Emulator) tokenError(w http.ResponseWriter, status int, errCode string, aadsts int, desc string) {
	w.Header().Set("Cache-Control", "no-store, no-cache")
	writeJSON(w, status, e.tokenErrorBody(errCode, aadsts, desc))
}

func (e *Emulator) handleToken(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 256<<10)
	if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(strings.ToLower(ct), "application/x-www-form-urlencoded") {
		e.tokenError(w, 400, "invalid_request", 900144, "The request body must contain the following parameter: 'grant_type'.")
		return
	}
	if err := r.ParseForm(); err != nil {
		e.tokenError(w, 400, "invalid_request", 900144, "The request body is malformed.")
		return
	}
	f := r.PostForm
	tenant := r.PathValue("tenant")
	if !e.tenantOK(tenant) {
		e.tokenError(w, 400, "invalid_request", 90002, fmt.Sprintf("Tenant '%s' not found.", tenant))
		return
	}
	grant := f.Get("grant_type")
	if grant == "" {
		e.tokenError(w, 400, "invalid_request", 900144, "The request body must contain the following parameter: 'grant_type'.")
		return
	}
	clientID, secret := f.Get("client_id"), f.Get("client_secret")
	if u, p, ok := r.BasicAuth(); ok {
		if uu, err := url.QueryUnescape(u); err == nil {
			u = uu
		}
		if pp, err := url.QueryUnescape(p); err == nil {
			p = pp
		}
		if clientID != "" && clientID != u {
			e.tokenError(w, 401, "invalid_client", 7000215, "Client id in the body and the Authorization header differ.")
			return
		}
		clientID, secret = u, p
	}
	if clientID == "" {
		e.tokenError(w, 400, "invalid_request", 900144, "The request body must contain the following parameter: 'client_id'.")
		return
	}
	e.st.mu.RLock()
	app := e.st.app
	e.st.mu.RUnlock()
	if clientID != app.ClientID {
		e.tokenError(w, 400, "unauthorized_client", 700016, fmt.Sprintf("Application with identifier '%s' was not found in the directory '%s'.", clientID, e.st.tenantName))
		return
	}
	if secret == "" {
		if f.Get("client_assertion") != "" {
			e.tokenError(w, 401, "invalid_client", 700027, "Client assertion failed signature validation (certificate credentials are not registered in this emulator).")
			return
		}
		e.tokenError(w, 401, "invalid_client", 7000218, "The request body must contain the following parameter: 'client_assertion' or 'client_secret'.")
		return
	}
	if subtle.ConstantTimeCompare([]byte(secret), []byte(app.ClientSecret)) != 1 {
		e.tokenError(w, 401, "invalid_client", 7000215, fmt.Sprintf("Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID, for a secret added to app '%s'.", clientID))
		return
	}
	if time.Now().After(app.SecretExpiresAt) {
		e.tokenError(w, 401, "invalid_client", 7000222, fmt.Sprintf("The provided client secret keys for app '%s' are expired. Visit the Azure portal to create new keys for your app.", clientID))
		return
	}
	switch grant {
	case "authorization_code":
		e.grantCode(w, f, app)
	case "refresh_token":
		e.grantRefresh(w, f, app)
	case "client_credentials":
		e.grantClientCredentials(w, f, app, tenant)
	case "urn:ietf:params:oauth:grant-type:jwt-bearer":
		e.grantOnBehalfOf(w, f, app)
	default:
		e.tokenError(w, 400, "unsupported_grant_type", 70003, fmt.Sprintf("The app requested an unsupported grant type '%s'.", grant))
	}
}

// verifierOK compares the code_verifier with the code_challenge of the authorize request, and nothing else.
// RFC 7636 §4.1 describes a verifier of 43-128 characters of [A-Za-z0-9-._~], but Entra enforces sizes on the
// code_challenge only: its error reference (ED reference-error-codes.md) has AADSTS501491 "Invalid size of
// Code_Challenge parameter" and, for the verifier, only AADSTS501481 "The Code_Verifier doesn't match the
// code_challenge" (no size or character error). So a verifier whose S256 transform matches is accepted
// whatever its length, as Entra does (unverified beyond the error reference); with "plain" the verifier equals
// the challenge, whose 43-128 size /authorize already checked.
func verifierOK(c *authCode, verifier string) bool {
	want := c.challenge
	got := verifier
	if c.method == "S256" {
		sum := sha256.Sum256([]byte(verifier))
		got = base64.RawURLEncoding.EncodeToString(sum[:])
	}
	return subtle.ConstantTimeCompare([]byte(got), []byte(want)) == 1
}

func (e *Emulator) grantCode(w http.ResponseWriter, f url.Values, app appReg) {
	code := f.Get("code")
	if code == "" {
		e.tokenError(w, 400, "invalid_request", 900144, "The request body must contain the following parameter: 'code'.")
		return
	}
	e.auth.mu.Lock()
	c := e.auth.codes[code]
	var errStatus, aad int
	var errCode, desc string
	switch {
	case c == nil:
		errStatus, errCode, aad, desc = 400, "invalid_grant", 70000, "Provided grant is invalid or malformed."
	case c.redeemed:
		errStatus, errCode, aad, desc = 400, "invalid_grant", 54005, "OAuth2 Authorization code was already redeemed, please retry with a new valid code or use an existing refresh token."
	case time.Now().After(c.expires):
		errStatus, errCode, aad, desc = 400, "invalid_grant", 70008, "The provided authorization code or refresh token has expired due to inactivity. Send a new interactive authorization request for this user and resource."
	case c.clientID != f.Get("client_id") && f.Get("client_id") != "":
		errStatus, errCode, aad, desc = 400, "invalid_grant", 70000, "The provided authorization code was issued to a different client."
	case f.Get("redirect_uri") != c.redirectURI:
		errStatus, errCode, aad, desc = 400, "invalid_grant", 50011, fmt.Sprintf("The redirect URI '%s' specified in the request does not match the redirect URI used to request the authorization code.", f.Get("redirect_uri"))
	case c.challenge != "" && f.Get("code_verifier") == "":
		errStatus, errCode, aad, desc = 400, "invalid_grant", 501481, "The Code_Verifier does not match the code_challenge supplied in the authorization request. (code_verifier missing)"
	case c.challenge != "" && !verifierOK(c, f.Get("code_verifier")):
		errStatus, errCode, aad, desc = 400, "invalid_grant", 501481, "The Code_Verifier does not match the code_challenge supplied in the authorization request."
	}
	if c != nil && errCode == "" {
		c.redeemed = true
	}
	e.auth.mu.Unlock()
	if errCode != "" {
		e.tokenError(w, errStatus, errCode, aad, desc)
		return
	}
	e.st.mu.RLock()
	u := e.st.users[c.userID]
	enabled := u != nil && u.AccountEnabled
	e.st.mu.RUnlock()
	if !enabled {
		e.tokenError(w, 400, "invalid_grant", 50057, "The user account is disabled.")
		return
	}
	scopes := c.scopes
	if s := f.Get("scope"); s != "" {
		gs, _, _, bad := parseScopes(s)
		if bad != "" {
			e.tokenError(w, 400, "invalid_resource", 500011, fmt.Sprintf("The resource principal named %s was not found in the tenant.", bad))
			return
		}
		for _, g := range gs {
			if !contains(c.scopes, g) && !app.Delegated[g] {
				e.tokenError(w, 400, "invalid_scope", 70011, fmt.Sprintf("The provided value for the input parameter 'scope' is not valid. The scope %s is not valid.", g))
				return
			}
		}
	}
	e.issueUserTokens(w, app, c.userID, scopes, c.nonce)
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func (e *Emulator) grantRefresh(w http.ResponseWriter, f url.Values, app appReg) {
	rt := f.Get("refresh_token")
	if rt == "" {
		e.tokenError(w, 400, "invalid_request", 900144, "The request body must contain the following parameter: 'refresh_token'.")
		return
	}
	now := time.Now()
	e.auth.mu.Lock()
	g := e.auth.refresh[rt]
	var aad int
	var code, desc string
	switch {
	case g == nil:
		code, aad, desc = "invalid_grant", 9002313, "Invalid request. Request is malformed or invalid."
	case g.revoked:
		code, aad, desc = "invalid_grant", 70008, "The provided authorization code or refresh token has expired due to inactivity or was revoked. Send a new interactive authorization request for this user and resource."
	case now.After(g.expires):
		code, aad, desc = "invalid_grant", 700082, "The refresh token has expired due to inactivity. The token was issued on "+g.issued.UTC().Format(time.RFC3339)+" and was inactive for too long."
	case g.clientID != f.Get("client_id") && f.Get("client_id") != "":
		code, aad, desc = "invalid_grant", 70000, "The refresh token was issued to a different client."
	}
	var scopes []string
	if code == "" {
		scopes = g.scopes
		if s := f.Get("scope"); s != "" {
			gs, oidc, dflt, bad := parseScopes(s)
			if bad != "" {
				code, aad, desc = "invalid_resource", 500011, "The resource principal named "+bad+" was not found in the tenant."
			}
			var want []string
			for _, x := range gs {
				// A refresh token is bound to the user and the app, not to the scopes first asked for: Entra issues
				// any scope the app has consent for now (a permission an admin granted since included), and refuses
				// one it has not, or no longer has (AADSTS65001).
				if !app.Delegated[x] {
					code, aad, desc = "invalid_grant", 65001, fmt.Sprintf("The user or administrator has not consented to use the application with ID '%s'. Missing scope: %s.", app.ClientID, x)
				}
				want = append(want, x)
			}
			if !dflt && len(want) > 0 {
				// keep the OIDC scopes of the original grant; narrow the Graph scopes
				keep := want
				for _, x := range g.scopes {
					if oidcScopes[x] {
						keep = append(keep, x)
					}
				}
				keep = append(keep, oidc...)
				scopes = dedupe(keep)
			}
		}
	}
	if code == "" && e.auth.lt.RevokeRotatedRefreshTokens {
		g.revoked = true
	}
	e.auth.mu.Unlock()
	if code != "" {
		e.tokenError(w, 400, code, aad, desc)
		return
	}
	e.st.mu.RLock()
	u := e.st.users[g.userID]
	enabled := u != nil && u.AccountEnabled
	e.st.mu.RUnlock()
	if !enabled {
		e.tokenError(w, 400, "invalid_grant", 50057, "The user account is disabled.")
		return
	}
	e.issueUserTokens(w, app, g.userID, scopes, "")
}

func (e *Emulator) grantClientCredentials(w http.ResponseWriter, f url.Values, app appReg, tenant string) {
	lt := strings.ToLower(tenant)
	if lt == "common" || lt == "consumers" || lt == "organizations" {
		e.tokenError(w, 400, "invalid_request", 9001023, "The grant type is not supported over the /common or /consumers endpoints. Please use the /organizations or tenant-specific endpoint.")
		return
	}
	scope := strings.TrimSpace(f.Get("scope"))
	if scope == "" {
		e.tokenError(w, 400, "invalid_request", 900144, "The request body must contain the following parameter: 'scope'.")
		return
	}
	// MSAL Go appends "openid offline_access profile" to every token request, client credentials included
	// (apps/internal/oauth/ops/accesstokens: FromClientSecret -> addScopeQueryParam -> AppendDefaultScopes), and
	// Entra issues the app-only token all the same: OIDC scopes are set aside (no user, so no id_token and no
	// refresh token), and what remains must be one resource's /.default.
	var fields []string
	for _, f := range strings.Fields(scope) {
		if !oidcScopes[f] {
			fields = append(fields, f)
		}
	}
	if len(fields) != 1 || !strings.HasSuffix(fields[0], "/.default") {
		e.tokenError(w, 400, "invalid_scope", 1002012, fmt.Sprintf("The provided value for scope %s is not valid. Client credential flows must have a scope value with /.default suffixed to the resource identifier (application ID URI).", scope))
		return
	}
	res := strings.TrimSuffix(fields[0], "/.default")
	if !strings.EqualFold(res, GraphResource) && !strings.EqualFold(res, graphAppID) && !strings.EqualFold(res, GraphResource+"/") {
		e.tokenError(w, 400, "invalid_resource", 500011, fmt.Sprintf("The resource principal named %s was not found in the tenant named %s.", res, e.st.tenantName))
		return
	}
	var roles []string
	for r := range app.Application {
		roles = append(roles, r)
	}
	sort.Strings(roles)
	now := time.Now()
	exp := now.Add(e.accessLifetime())
	claims := map[string]any{
		"aud": GraphResource, "iss": e.issuerV1(e.TenantID),
		"iat": now.Unix(), "nbf": now.Unix(), "exp": exp.Unix(),
		"appid": app.ClientID, "app_displayname": app.DisplayName, "appidacr": "1", "idtyp": "app",
		"oid": app.ClientID, "sub": app.ClientID, "tid": e.TenantID, "roles": roles, "ver": "1.0", "uti": randomToken(16),
	}
	at := e.signJWT(claims)
	e.auth.amu.Lock()
	e.auth.access[at] = &principal{token: at, app: true, appID: app.ClientID, scopes: setOf(roles), scopeStr: strings.Join(roles, " "), issued: now, expires: exp}
	e.auth.amu.Unlock()
	secs := int(exp.Sub(now).Seconds())
	writeJSON(w, 200, map[string]any{"token_type": "Bearer", "expires_in": secs, "ext_expires_in": secs, "access_token": at})
}

func (e *Emulator) accessLifetime() time.Duration {
	lt := e.auth.lifetimes()
	if lt.AccessTokenSeconds > 0 {
		return time.Duration(lt.AccessTokenSeconds) * time.Second
	}
	return time.Duration(3600+mrand.IntN(1800)) * time.Second
}

func (e *Emulator) issueUserTokens(w http.ResponseWriter, app appReg, uid string, scopes []string, nonce string) {
	e.st.mu.RLock()
	u := *e.st.users[uid]
	e.st.mu.RUnlock()
	var gs []string
	hasOffline, hasOpenID := false, false
	for _, s := range scopes {
		switch {
		case s == "offline_access":
			hasOffline = true
		case s == "openid":
			hasOpenID = true
		case oidcScopes[s]:
		default:
			gs = append(gs, s)
		}
	}
	if len(gs) == 0 {
		gs = []string{"User.Read"}
	}
	now := time.Now()
	exp := now.Add(e.accessLifetime())
	scp := strings.Join(gs, " ")
	claims := map[string]any{
		"aud": GraphResource, "iss": e.issuerV1(e.TenantID),
		"iat": now.Unix(), "nbf": now.Unix(), "exp": exp.Unix(),
		"appid": app.ClientID, "app_displayname": app.DisplayName, "appidacr": "1", "idtyp": "user",
		"oid": u.ID, "sub": u.ID, "tid": e.TenantID, "upn": u.UserPrincipalName, "unique_name": u.UserPrincipalName,
		"name": u.DisplayName, "given_name": u.GivenName, "family_name": u.Surname,
		"scp": scp, "ver": "1.0", "uti": randomToken(16), "amr": []string{"pwd"},
	}
	at := e.signJWT(claims)
	e.auth.amu.Lock()
	e.auth.access[at] = &principal{token: at, appID: app.ClientID, userID: u.ID, scopes: setOf(gs), scopeStr: scp, issued: now, expires: exp}
	e.auth.amu.Unlock()
	secs := int(exp.Sub(now).Seconds())
	var scopeOut []string
	for _, s := range gs {
		scopeOut = append(scopeOut, GraphResource+"/"+s)
	}
	for _, s := range scopes {
		if oidcScopes[s] {
			scopeOut = append(scopeOut, s)
		}
	}
	resp := map[string]any{"token_type": "Bearer", "scope": strings.Join(scopeOut, " "), "expires_in": secs,
		"ext_expires_in": secs, "access_token": at}
	if hasOffline {
		lt := e.auth.lifetimes()
		rt := "1.AQ" + randomToken(64)
		e.auth.mu.Lock()
		e.auth.refresh[rt] = &refreshGrant{clientID: app.ClientID, userID: u.ID, scopes: append([]string(nil), scopes...),
			issued: now, expires: now.Add(time.Duration(lt.RefreshTokenSeconds) * time.Second)}
		e.auth.mu.Unlock()
		resp["refresh_token"] = rt
	}
	if hasOpenID {
		idc := map[string]any{
			"aud": app.ClientID, "iss": e.issuerV2(e.TenantID),
			"iat": now.Unix(), "nbf": now.Unix(), "exp": now.Add(time.Hour).Unix(),
			"oid": u.ID, "sub": u.ID, "tid": e.TenantID, "name": u.DisplayName, "preferred_username": u.UserPrincipalName,
			"ver": "2.0",
		}
		if u.Mail != "" {
			idc["email"] = u.Mail
		}
		if nonce != "" {
			idc["nonce"] = nonce
		}
		resp["id_token"] = e.signJWT(idc)
	}
	w.Header().Set("Cache-Control", "no-store, no-cache")
	writeJSON(w, 200, resp)
}
