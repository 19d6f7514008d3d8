package m365_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/msteams-bridge/msteams/tests/emulators/graph/m365"
	"github.com/msteams-bridge/msteams/tests/emulators/graph/m365ctl"
)

const (
	adele    = "a1b2c3d4-0001-4000-8000-000000000001"
	bianca   = "a1b2c3d4-0002-4000-8000-000000000002"
	cameron  = "a1b2c3d4-0003-4000-8000-000000000003"
	gita     = "a1b2c3d4-0006-4000-8000-000000000006"
	dora     = "a1b2c3d4-0007-4000-8000-000000000007"
	teamID   = "b2c3d4e5-0001-4000-8000-000000000001"
	redirURI = "http://localhost:8065/plugins/com.mattermost.msteams/oauth-redirect"
)

type env struct {
	t   testing.TB
	emu *m365.Emulator
	ctl *m365ctl.Client
	hc  *http.Client
	ctx context.Context
}

// start runs an emulator with throttling off unless opts says otherwise.
func start(t testing.TB, opts ...func(*m365.Options)) *env {
	t.Helper()
	o := m365.Options{}
	cfg := m365.DefaultThrottleConfig()
	cfg.Enabled = false
	o.Throttle = &cfg
	o.Delivery.RetryBase = 20 * time.Millisecond
	o.Delivery.RetryMax = 200 * time.Millisecond
	o.Delivery.SweepInterval = 50 * time.Millisecond
	for _, f := range opts {
		f(&o)
	}
	ctx, cancel := context.WithCancel(context.Background())
	emu, err := m365.Start(ctx, o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cancel(); emu.Close() })
	hc := emu.HTTPClient()
	return &env{t: t, emu: emu, ctl: m365ctl.NewWithHTTPClient(emu.ControlURL, hc), hc: hc, ctx: ctx}
}

type resp struct {
	status int
	header http.Header
	body   []byte
}

func (r resp) json(t testing.TB) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(r.body, &m); err != nil {
		t.Fatalf("status %d, body not JSON: %v: %s", r.status, err, r.body)
	}
	return m
}

// graphErr returns error.code and error.message of a Graph error body.
func (r resp) graphErr(t testing.TB) (string, string) {
	t.Helper()
	m := r.json(t)
	e, ok := m["error"].(map[string]any)
	if !ok {
		t.Fatalf("no error object in %s", r.body)
	}
	inner, ok := e["innerError"].(map[string]any)
	if !ok || inner["request-id"] == nil || inner["date"] == nil {
		t.Fatalf("error without innerError request-id/date: %s", r.body)
	}
	code, _ := e["code"].(string)
	msg, _ := e["message"].(string)
	return code, msg
}

func (e *env) do(method, u, token string, body any, hdr ...string) resp {
	e.t.Helper()
	var rd io.Reader
	ct := ""
	switch b := body.(type) {
	case nil:
	case []byte:
		rd = bytes.NewReader(b)
		ct = "application/octet-stream"
	case url.Values:
		rd = strings.NewReader(b.Encode())
		ct = "application/x-www-form-urlencoded"
	default:
		data, err := json.Marshal(b)
		if err != nil {
			e.t.Fatal(err)
		}
		rd = bytes.NewReader(data)
		ct = "application/json"
	}
	req, err := http.NewRequest(method, u, rd)
	if err != nil {
		e.t.Fatal(err)
	}
	if ct != "" {
		req.Header.Set("Content-Type", ct)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	res, err := e.hc.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer res.Body.Close()
	data, _ := io.ReadAll(res.Body)
	return resp{res.StatusCode, res.Header, data}
}

func (e *env) graph(method, path, token string, body any, hdr ...string) resp {
	e.t.Helper()
	return e.do(method, e.emu.GraphURL+"/v1.0"+path, token, body, hdr...)
}

func (e *env) tokenURL() string { return e.emu.LoginURL + "/" + e.emu.TenantID + "/oauth2/v2.0/token" }

func (e *env) appToken() string {
	e.t.Helper()
	r := e.do("POST", e.tokenURL(), "", url.Values{"grant_type": {"client_credentials"}, "client_id": {e.emu.ClientID},
		"client_secret": {e.emu.ClientSecret}, "scope": {"https://graph.microsoft.com/.default"}})
	if r.status != 200 {
		e.t.Fatalf("client_credentials: %d %s", r.status, r.body)
	}
	return r.json(e.t)["access_token"].(string)
}

func pkce() (verifier, challenge string) {
	b := make([]byte, 32)
	rand.Read(b)
	verifier = base64.RawURLEncoding.EncodeToString(b)
	sum := sha256.Sum256([]byte(verifier))
	return verifier, base64.RawURLEncoding.EncodeToString(sum[:])
}

// authorize runs /authorize with login_hint and returns the code.
func (e *env) authorize(user, challenge, scope string) string {
	e.t.Helper()
	q := url.Values{"client_id": {e.emu.ClientID}, "response_type": {"code"}, "redirect_uri": {redirURI},
		"scope": {scope}, "state": {"st-1"}, "login_hint": {user}}
	if challenge != "" {
		q.Set("code_challenge", challenge)
		q.Set("code_challenge_method", "S256")
	}
	r := e.do("GET", e.emu.LoginURL+"/"+e.emu.TenantID+"/oauth2/v2.0/authorize?"+q.Encode(), "", nil)
	if r.status != 302 {
		e.t.Fatalf("authorize: %d %s", r.status, r.body)
	}
	loc, err := url.Parse(r.header.Get("Location"))
	if err != nil || !strings.HasPrefix(loc.String(), redirURI+"?") {
		e.t.Fatalf("authorize redirected to %q", r.header.Get("Location"))
	}
	if loc.Query().Get("state") != "st-1" || loc.Query().Get("code") == "" {
		e.t.Fatalf("authorize redirect lacks code/state: %s", loc)
	}
	return loc.Query().Get("code")
}

func (e *env) redeem(code, verifier string) resp {
	e.t.Helper()
	f := url.Values{"grant_type": {"authorization_code"}, "client_id": {e.emu.ClientID}, "client_secret": {e.emu.ClientSecret},
		"code": {code}, "redirect_uri": {redirURI}}
	if verifier != "" {
		f.Set("code_verifier", verifier)
	}
	return e.do("POST", e.tokenURL(), "", f)
}

const userScopes = "openid offline_access https://graph.microsoft.com/.default"

// userToken signs a user in and returns access and refresh tokens.
func (e *env) userToken(user string) (string, string) {
	e.t.Helper()
	v, c := pkce()
	r := e.redeem(e.authorize(user, c, userScopes), v)
	if r.status != 200 {
		e.t.Fatalf("redeem: %d %s", r.status, r.body)
	}
	m := r.json(e.t)
	return m["access_token"].(string), m["refresh_token"].(string)
}

// tokenErr checks a token endpoint error and returns its AADSTS code.
func tokenErr(t testing.TB, r resp, status int, oauthErr string) int {
	t.Helper()
	if r.status != status {
		t.Fatalf("want %d, got %d %s", status, r.status, r.body)
	}
	m := r.json(t)
	if m["error"] != oauthErr {
		t.Fatalf("want error %q, got %v", oauthErr, m["error"])
	}
	codes, _ := m["error_codes"].([]any)
	if len(codes) != 1 || m["trace_id"] == nil || m["correlation_id"] == nil || m["timestamp"] == nil {
		t.Fatalf("error JSON incomplete: %s", r.body)
	}
	desc, _ := m["error_description"].(string)
	code := int(codes[0].(float64))
	if !strings.HasPrefix(desc, "AADSTS") {
		t.Fatalf("error_description does not start with AADSTS: %q", desc)
	}
	return code
}

// ---- a notification endpoint ----

type receiver struct {
	t           testing.TB
	srv         *httptest.Server
	URL         string
	wrongEcho   atomic.Bool
	failNext    atomic.Int32
	slowNext    atomic.Int32
	slowFor     time.Duration
	validations atomic.Int32
	items       chan map[string]any
	mu          sync.Mutex
	tokens      []string
	bodies      [][]byte
}

func (e *env) receiver() *receiver {
	e.t.Helper()
	r := &receiver{t: e.t, items: make(chan map[string]any, 100000), slowFor: 400 * time.Millisecond}
	srv := httptest.NewUnstartedServer(http.HandlerFunc(r.serve))
	cfg, err := e.emu.TLSConfigForServer("127.0.0.1")
	if err != nil {
		e.t.Fatal(err)
	}
	srv.TLS = cfg
	srv.StartTLS()
	e.t.Cleanup(srv.Close)
	r.srv, r.URL = srv, srv.URL
	return r
}

func (r *receiver) serve(w http.ResponseWriter, req *http.Request) {
	if tok := req.URL.Query().Get("validationToken"); tok != "" {
		r.validations.Add(1)
		if req.Header.Get("Content-Type") != "text/plain; charset=utf-8" {
			http.Error(w, "bad content type", 400)
			return
		}
		w.Header().Set("Content-Type", "text/plain")
		if r.wrongEcho.Load() {
			w.Write([]byte(url.QueryEscape(tok))) // the encoded token: wrong
			return
		}
		w.Write([]byte(tok))
		return
	}
	body, _ := io.ReadAll(req.Body)
	if r.failNext.Add(-1) >= 0 {
		w.WriteHeader(503)
		return
	}
	if r.slowNext.Add(-1) >= 0 {
		time.Sleep(r.slowFor)
	}
	var coll struct {
		Value            []map[string]any `json:"value"`
		ValidationTokens []string         `json:"validationTokens"`
	}
	if err := json.Unmarshal(body, &coll); err != nil {
		w.WriteHeader(400)
		return
	}
	r.mu.Lock()
	r.tokens = append(r.tokens, coll.ValidationTokens...)
	r.bodies = append(r.bodies, body)
	r.mu.Unlock()
	for _, it := range coll.Value {
		r.items <- it
	}
	w.WriteHeader(202)
}

// next waits for one notification.
func (r *receiver) next() map[string]any {
	r.t.Helper()
	select {
	case it := <-r.items:
		return it
	case <-time.After(10 * time.Second):
		r.t.Fatal("no notification within 10 s")
		return nil
	}
}

// none asserts that no notification arrives within d.
func (r *receiver) none(d time.Duration) {
	r.t.Helper()
	select {
	case it := <-r.items:
		r.t.Fatalf("unexpected notification: %v", it)
	case <-time.After(d):
	}
}

func (e *env) subscribe(token string, body map[string]any) resp {
	e.t.Helper()
	return e.graph("POST", "/subscriptions", token, body)
}

func soon(d time.Duration) string { return time.Now().Add(d).UTC().Format(time.RFC3339Nano) }

func (e *env) chat(members ...string) string {
	e.t.Helper()
	typ := "group"
	if len(members) == 2 {
		typ = "oneOnOne"
	}
	c, err := e.ctl.CreateChat(e.ctx, m365ctl.ChatSpec{ChatType: typ, Members: members, Topic: map[bool]string{true: "", false: "t"}[typ == "oneOnOne"]})
	if err != nil {
		e.t.Fatal(err)
	}
	return c.ID
}

func waitUntil(t testing.TB, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 10 s")
		}
		time.Sleep(50 * time.Millisecond)
	}
}
