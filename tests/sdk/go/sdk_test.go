package sdk

// Microsoft's own Go libraries, unpatched, against the Microsoft 365 emulator started in process:
//
//   - MSAL Go (apps/confidential) gets an app-only token with AcquireTokenByCredential, adding
//     "openid offline_access profile" to the .default scope on its own, and signs a user in (authorization
//     code, PKCE S256 added by the app as MSAL Go's confidential client leaves it to the app);
//   - Kiota's Go HTTP stack (kiota-http-go's NetHttpRequestAdapter over its default middleware, the pipeline the
//     Graph Go SDK sends through) posts a chat, a subscription and a message with those tokens. Its
//     CompressionHandler gzips every request body; a RoundTripper under the middleware records what reached the
//     wire, so the tests fail if the bodies stop going out gzipped, and the emulator's control API shows that
//     what Graph stored is what was sent.
//
// Configuration only: the authority and Graph base URLs, instance discovery off, the emulator's test CA as the
// only trust anchor (TLS verified, never skipped).

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/AzureAD/microsoft-authentication-library-for-go/apps/confidential"
	abs "github.com/microsoft/kiota-abstractions-go"
	absauth "github.com/microsoft/kiota-abstractions-go/authentication"
	absser "github.com/microsoft/kiota-abstractions-go/serialization"
	kiotahttp "github.com/microsoft/kiota-http-go"
	kiotajson "github.com/microsoft/kiota-serialization-json-go"

	"github.com/msteams-bridge/msteams/tests/emulators/graph/m365"
	"github.com/msteams-bridge/msteams/tests/emulators/graph/m365ctl"
)

const (
	graphDefault = "https://graph.microsoft.com/.default"
	adele        = "adele@contoso.onmicrosoft.com"
	adeleID      = "a1b2c3d4-0001-4000-8000-000000000001"
	biancaID     = "a1b2c3d4-0002-4000-8000-000000000002"
	// A redirect URI registered on the built-in tenant's app; nothing listens there: the test reads the redirect.
	redirectURI = "http://localhost:8065/plugins/com.mattermost.msteams/oauth-redirect"
)

var userScopes = []string{"https://graph.microsoft.com/User.Read", "https://graph.microsoft.com/Chat.ReadWrite",
	"https://graph.microsoft.com/ChatMessage.Send"}

var (
	emu     *m365.Emulator
	ctl     *m365ctl.Client
	emuLogs logBuffer
)

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "sdk-go-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	emu, err = m365.Start(context.Background(), m365.Options{StateDir: dir, Logf: emuLogs.logf})
	if err != nil {
		fmt.Fprintln(os.Stderr, "starting the emulator:", err)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	ctl = m365ctl.NewWithHTTPClient(emu.ControlURL, emu.HTTPClient())
	rc := m.Run()
	emu.Close()
	os.RemoveAll(dir)
	if tail := emuLogs.tail(40); rc != 0 && tail != "" {
		fmt.Fprint(os.Stderr, "--- emulator log (last 40 lines)\n"+tail)
	}
	os.Exit(rc)
}

// ---- MSAL Go ----

// caTransport trusts the emulator's test CA and nothing else, read from the CA file as any client would.
func caTransport(t *testing.T) *http.Transport {
	t.Helper()
	pem, err := os.ReadFile(emu.CAFile)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		t.Fatal("no certificate in the emulator's CA file")
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	tr.ForceAttemptHTTP2 = true
	return tr
}

// tokenRequests records the form of every request MSAL Go sends to the token endpoint.
type tokenRequests struct {
	next http.RoundTripper
	mu   sync.Mutex
	seen []url.Values
}

func (r *tokenRequests) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.Method == http.MethodPost && strings.HasSuffix(req.URL.Path, "/oauth2/v2.0/token") && req.Body != nil {
		body, err := io.ReadAll(req.Body)
		req.Body.Close()
		if err != nil {
			return nil, err
		}
		form, err := url.ParseQuery(string(body))
		if err != nil {
			return nil, err
		}
		r.mu.Lock()
		r.seen = append(r.seen, form)
		r.mu.Unlock()
		req = req.Clone(req.Context())
		req.Body = io.NopCloser(bytes.NewReader(body))
	}
	return r.next.RoundTrip(req)
}

func (r *tokenRequests) forms() []url.Values {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.seen)
}

// msalApp is a confidential client for the emulator's tenant: its authority, instance discovery off (the login
// host is not a Microsoft cloud, so MSAL must not ask login.microsoftonline.com about it; this also turns
// authority validation off), and an HTTP client that trusts the test CA.
func msalApp(t *testing.T) (confidential.Client, *tokenRequests) {
	t.Helper()
	cred, err := confidential.NewCredFromSecret(emu.ClientSecret)
	if err != nil {
		t.Fatal(err)
	}
	rec := &tokenRequests{next: caTransport(t)}
	app, err := confidential.New(emu.LoginURL+"/"+emu.TenantID, emu.ClientID, cred,
		confidential.WithHTTPClient(&http.Client{Transport: rec, Timeout: 30 * time.Second}),
		confidential.WithInstanceDiscovery(false))
	if err != nil {
		t.Fatal(err)
	}
	return app, rec
}

// jwtClaims reads a JWT's payload without checking it (enough to see what the emulator issued).
func jwtClaims(t *testing.T, token string) map[string]any {
	t.Helper()
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		t.Fatalf("not a JWT: %.40q", token)
	}
	raw, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	var claims map[string]any
	if err := json.Unmarshal(raw, &claims); err != nil {
		t.Fatal(err)
	}
	return claims
}

func TestMSALGoAppOnlyToken(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	app, rec := msalApp(t)

	res, err := app.AcquireTokenByCredential(ctx, []string{graphDefault})
	if err != nil {
		t.Fatalf("AcquireTokenByCredential: %v", err)
	}
	if res.AccessToken == "" || time.Until(res.ExpiresOn) < 50*time.Minute {
		t.Fatalf("token %.20q expires %v", res.AccessToken, res.ExpiresOn)
	}
	// What MSAL Go put on the wire: the .default scope plus the OIDC scopes it always adds.
	forms := rec.forms()
	if len(forms) != 1 {
		t.Fatalf("%d token requests, want 1", len(forms))
	}
	if f := forms[0]; f.Get("grant_type") != "client_credentials" ||
		f.Get("scope") != graphDefault+" openid offline_access profile" || f.Get("client_id") != emu.ClientID {
		t.Fatalf("MSAL Go sent grant_type=%q scope=%q client_id=%q", f.Get("grant_type"), f.Get("scope"), f.Get("client_id"))
	}
	// An app-only Graph token, as Entra issues it for that request.
	claims := jwtClaims(t, res.AccessToken)
	if claims["aud"] != m365.GraphResource || claims["tid"] != emu.TenantID || claims["appid"] != emu.ClientID ||
		claims["idtyp"] != "app" || claims["scp"] != nil {
		t.Fatalf("claims %v", claims)
	}
	roles, _ := claims["roles"].([]any)
	if !slices.Contains(roles, any("Chat.ReadWrite.All")) {
		t.Fatalf("roles %v", roles)
	}
	if len(res.GrantedScopes) != 1 || res.GrantedScopes[0] != graphDefault {
		t.Fatalf("granted scopes %q", res.GrantedScopes)
	}

	// MSAL Go answers the next request from its cache: the token it stored is usable as it was issued.
	again, err := app.AcquireTokenByCredential(ctx, []string{graphDefault})
	if err != nil {
		t.Fatalf("AcquireTokenByCredential (cached): %v", err)
	}
	if again.AccessToken != res.AccessToken || len(rec.forms()) != 1 {
		t.Fatalf("second call: same token %v, %d token requests", again.AccessToken == res.AccessToken, len(rec.forms()))
	}
}

// signIn runs the authorization-code flow the way a web app does with MSAL Go's confidential client: MSAL
// builds the authorize URL, the app adds state and a PKCE S256 challenge, the emulator signs the login_hint
// user in and redirects back, and MSAL redeems the code with the verifier.
func signIn(t *testing.T, ctx context.Context, app confidential.Client, login string) confidential.AuthResult {
	t.Helper()
	// The OIDC scopes on the authorize request ask for the id token (the account MSAL caches tokens under) and
	// a refresh token; MSAL Python adds them itself, MSAL Go's confidential AuthCodeURL sends what it is given.
	authURL, err := app.AuthCodeURL(ctx, emu.ClientID, redirectURI,
		append(slices.Clone(userScopes), "openid", "offline_access", "profile"), confidential.WithLoginHint(login))
	if err != nil {
		t.Fatalf("AuthCodeURL: %v", err)
	}
	verifier := randomURLSafe(t, 32)
	sum := sha256.Sum256([]byte(verifier))
	state := randomURLSafe(t, 16)
	u, err := url.Parse(authURL)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	q.Set("state", state)
	q.Set("code_challenge", base64.RawURLEncoding.EncodeToString(sum[:]))
	q.Set("code_challenge_method", "S256")
	u.RawQuery = q.Encode()

	browser := &http.Client{Transport: caTransport(t), Timeout: 30 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := browser.Get(u.String())
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusFound {
		t.Fatalf("authorize: %d %s", resp.StatusCode, page)
	}
	back, err := url.Parse(resp.Header.Get("Location"))
	if err != nil || !strings.HasPrefix(back.String(), redirectURI+"?") {
		t.Fatalf("redirected to %q (%v)", resp.Header.Get("Location"), err)
	}
	if back.Query().Get("state") != state || back.Query().Get("code") == "" {
		t.Fatalf("redirect %q", back)
	}
	res, err := app.AcquireTokenByAuthCode(ctx, back.Query().Get("code"), redirectURI, userScopes,
		confidential.WithChallenge(verifier))
	if err != nil {
		t.Fatalf("AcquireTokenByAuthCode: %v", err)
	}
	return res
}

func randomURLSafe(t *testing.T, n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

// ---- Kiota ----

// appTokens is Kiota's AccessTokenProvider over MSAL Go's client credentials (cached by MSAL).
type appTokens struct {
	app   confidential.Client
	hosts *absauth.AllowedHostsValidator
}

func (p appTokens) GetAuthorizationToken(ctx context.Context, _ *url.URL, _ map[string]any) (string, error) {
	res, err := p.app.AcquireTokenByCredential(ctx, []string{graphDefault})
	return res.AccessToken, err
}

func (p appTokens) GetAllowedHostsValidator() *absauth.AllowedHostsValidator { return p.hosts }

// userTokens is Kiota's AccessTokenProvider over MSAL Go's token cache for a signed-in account.
type userTokens struct {
	app     confidential.Client
	account confidential.Account
	hosts   *absauth.AllowedHostsValidator
}

func (p userTokens) GetAuthorizationToken(ctx context.Context, _ *url.URL, _ map[string]any) (string, error) {
	res, err := p.app.AcquireTokenSilent(ctx, userScopes, confidential.WithSilentAccount(p.account))
	return res.AccessToken, err
}

func (p userTokens) GetAllowedHostsValidator() *absauth.AllowedHostsValidator { return p.hosts }

// wireRecorder is the bottom of the Kiota client's chain, under all of its middleware: it sees each request
// exactly as it goes on the wire.
type wireRecorder struct {
	next http.RoundTripper
	mu   sync.Mutex
	sent []wireRequest
}

type wireRequest struct {
	Method, Path, ContentEncoding, ContentType string
	Body                                       []byte // as sent
	Status                                     int
}

func (r *wireRecorder) RoundTrip(req *http.Request) (*http.Response, error) {
	w := wireRequest{Method: req.Method, Path: req.URL.EscapedPath(),
		ContentEncoding: req.Header.Get("Content-Encoding"), ContentType: req.Header.Get("Content-Type")}
	if req.Body != nil {
		body, err := io.ReadAll(req.Body)
		req.Body.Close()
		if err != nil {
			return nil, err
		}
		w.Body = body
		req = req.Clone(req.Context())
		req.Body = io.NopCloser(bytes.NewReader(body))
	}
	resp, err := r.next.RoundTrip(req)
	if resp != nil {
		w.Status = resp.StatusCode
	}
	r.mu.Lock()
	r.sent = append(r.sent, w)
	r.mu.Unlock()
	return resp, err
}

// only returns the one request that matched, failing if there were none or several (a retry, or the
// CompressionHandler's uncompressed second try after a 415).
func (r *wireRecorder) only(t *testing.T, method string, match func(path string) bool) wireRequest {
	t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	var found []wireRequest
	for _, w := range r.sent {
		if w.Method == method && match(w.Path) {
			found = append(found, w)
		}
	}
	if len(found) != 1 {
		t.Fatalf("%d %s requests on the wire, want 1: %+v", len(found), method, found)
	}
	return found[0]
}

// gzippedJSON checks that a recorded request went out gzipped and was answered with status, and returns its
// decompressed JSON body.
func gzippedJSON(t *testing.T, w wireRequest, status int) map[string]any {
	t.Helper()
	if w.Status != status {
		t.Fatalf("%s %s answered %d, want %d", w.Method, w.Path, w.Status, status)
	}
	if w.ContentEncoding != "gzip" {
		t.Fatalf("%s %s went out with Content-Encoding %q, want gzip", w.Method, w.Path, w.ContentEncoding)
	}
	zr, err := gzip.NewReader(bytes.NewReader(w.Body))
	if err != nil {
		t.Fatalf("%s %s: the body is not gzip: %v", w.Method, w.Path, err)
	}
	plain, err := io.ReadAll(zr)
	if err != nil {
		t.Fatalf("%s %s: %v", w.Method, w.Path, err)
	}
	var body map[string]any
	if err := json.Unmarshal(plain, &body); err != nil {
		t.Fatalf("%s %s: the decompressed body is not JSON: %v: %q", w.Method, w.Path, err, plain)
	}
	if !strings.HasPrefix(w.ContentType, "application/json") {
		t.Fatalf("%s %s: Content-Type %q", w.Method, w.Path, w.ContentType)
	}
	return body
}

// graphAdapter is Kiota's request adapter as the Graph Go SDK builds it: JSON serialization, the default
// middleware (retry, redirect, compression, parameter-name decoding, user agent, headers inspection) on a
// transport that trusts the test CA, with the recorder underneath.
func graphAdapter(t *testing.T, tokens absauth.AccessTokenProvider, rec *wireRecorder) *kiotahttp.NetHttpRequestAdapter {
	t.Helper()
	client := &http.Client{
		Transport:     kiotahttp.NewCustomTransportWithParentTransport(rec, kiotahttp.GetDefaultMiddlewares()...),
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		Timeout:       60 * time.Second,
	}
	adapter, err := kiotahttp.NewNetHttpRequestAdapterWithParseNodeFactoryAndSerializationWriterFactoryAndHttpClient(
		absauth.NewBaseBearerTokenAuthenticationProvider(tokens), kiotajson.NewJsonParseNodeFactory(),
		kiotajson.NewJsonSerializationWriterFactory(), client)
	if err != nil {
		t.Fatal(err)
	}
	adapter.SetBaseUrl(emu.GraphURL + "/v1.0")
	return adapter
}

// post sends item as JSON through the adapter, as a generated request builder does, and returns the answer.
func post[T interface {
	*E
	absser.Parsable
}, E any](t *testing.T, ctx context.Context, adapter *kiotahttp.NetHttpRequestAdapter, template string,
	params map[string]string, item absser.Parsable) T {
	t.Helper()
	if params == nil {
		params = map[string]string{}
	}
	ri := abs.NewRequestInformationWithMethodAndUrlTemplateAndPathParameters(abs.POST, template, params)
	ri.Headers.TryAdd("Accept", "application/json")
	if err := ri.SetContentFromParsable(ctx, adapter, "application/json", item); err != nil {
		t.Fatal(err)
	}
	res, err := adapter.Send(ctx, ri, func(absser.ParseNode) (absser.Parsable, error) { return T(new(E)), nil }, graphErrors)
	if err != nil {
		t.Fatalf("POST %s: %v", template, err)
	}
	out, ok := res.(T)
	if !ok || out == nil {
		t.Fatalf("POST %s: answer %T", template, res)
	}
	return out
}

// ---- a notification endpoint: HTTPS with a certificate from the emulator's test CA ----

type listener struct {
	srv         *httptest.Server
	mu          sync.Mutex
	validations int
	items       chan map[string]any
}

func newListener(t *testing.T) *listener {
	t.Helper()
	cfg, err := emu.TLSConfigForServer("127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	l := &listener{items: make(chan map[string]any, 100)}
	l.srv = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if token := r.URL.Query().Get("validationToken"); token != "" {
			// Graph wants the decoded token back as text/plain within 10 s.
			l.mu.Lock()
			l.validations++
			l.mu.Unlock()
			w.Header().Set("Content-Type", "text/plain")
			io.WriteString(w, token)
			return
		}
		var batch struct{ Value []map[string]any }
		if err := json.NewDecoder(r.Body).Decode(&batch); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		for _, item := range batch.Value {
			l.items <- item
		}
		w.WriteHeader(http.StatusAccepted)
	}))
	l.srv.TLS = cfg
	l.srv.StartTLS()
	t.Cleanup(l.srv.Close)
	return l
}

func (l *listener) next(t *testing.T, timeout time.Duration) map[string]any {
	t.Helper()
	select {
	case item := <-l.items:
		return item
	case <-time.After(timeout):
		t.Fatalf("no notification within %v", timeout)
		return nil
	}
}

func TestKiotaGoGzipRequestBodies(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	app, _ := msalApp(t)
	signedIn := signIn(t, ctx, app, adele)
	if signedIn.Account.PreferredUsername != adele || signedIn.IDToken.Oid != adeleID {
		t.Fatalf("signed in as %q (oid %q)", signedIn.Account.PreferredUsername, signedIn.IDToken.Oid)
	}
	graphHost, err := url.Parse(emu.GraphURL)
	if err != nil {
		t.Fatal(err)
	}
	hosts := absauth.NewAllowedHostsValidator([]string{graphHost.Hostname()})
	rec := &wireRecorder{next: caTransport(t)}
	asApp := graphAdapter(t, appTokens{app: app, hosts: &hosts}, rec)
	asAdele := graphAdapter(t, userTokens{app: app, account: signedIn.Account, hosts: &hosts}, rec)

	// A one-on-one chat, created by the signed-in user.
	created := post[*chat](t, ctx, asAdele, "{+baseurl}/chats", nil, &chat{ChatType: "oneOnOne", Members: []*conversationMember{
		{UserID: adeleID, Roles: []string{"owner"}, base: emu.GraphURL + "/v1.0"},
		{UserID: biancaID, Roles: []string{"owner"}, base: emu.GraphURL + "/v1.0"},
	}})
	if created.ID == "" || created.ChatType != "oneOnOne" {
		t.Fatalf("chat %+v", created)
	}
	body := gzippedJSON(t, rec.only(t, "POST", func(p string) bool { return p == "/v1.0/chats" }), http.StatusCreated)
	if body["chatType"] != "oneOnOne" || len(body["members"].([]any)) != 2 {
		t.Fatalf("POST /chats sent %v", body)
	}

	// A subscription to the chat's messages, app-only.
	l := newListener(t)
	want := subscription{ChangeType: "created", NotificationURL: l.srv.URL + "/notifications",
		Resource: "chats/" + created.ID + "/messages", ClientState: "sdk-go-" + randomURLSafe(t, 6),
		ExpirationDateTime: time.Now().Add(50 * time.Minute).UTC().Truncate(time.Second)}
	sub := post[*subscription](t, ctx, asApp, "{+baseurl}/subscriptions", nil, &want)
	if sub.ID == "" || sub.Resource != want.Resource || sub.ClientState != want.ClientState {
		t.Fatalf("subscription %+v", sub)
	}
	body = gzippedJSON(t, rec.only(t, "POST", func(p string) bool { return p == "/v1.0/subscriptions" }), http.StatusCreated)
	if body["resource"] != want.Resource || body["notificationUrl"] != want.NotificationURL {
		t.Fatalf("POST /subscriptions sent %v", body)
	}
	l.mu.Lock()
	validations := l.validations
	l.mu.Unlock()
	if validations != 1 {
		t.Fatalf("%d validation requests, want 1", validations)
	}
	subs, err := ctl.Subscriptions(ctx)
	if err != nil {
		t.Fatal(err)
	}
	i := slices.IndexFunc(subs, func(s m365ctl.Subscription) bool { return s.ID == sub.ID })
	if i < 0 {
		t.Fatalf("subscription %s is not in the emulator (%d there)", sub.ID, len(subs))
	}
	stored := subs[i]
	expires, err := time.Parse(time.RFC3339Nano, stored.ExpirationDateTime)
	if err != nil || !expires.Equal(want.ExpirationDateTime) {
		t.Fatalf("stored expirationDateTime %q (%v), sent %v", stored.ExpirationDateTime, err, want.ExpirationDateTime)
	}
	if stored.ChangeType != want.ChangeType || stored.NotificationURL != want.NotificationURL ||
		stored.Resource != want.Resource || stored.ClientState != want.ClientState ||
		stored.ApplicationID != emu.ClientID || stored.IncludeResourceData {
		t.Fatalf("stored subscription %+v, sent %+v", stored, want)
	}

	// A message, posted by the signed-in user (Graph takes chat messages from delegated callers only).
	text := "hello from kiota-http-go " + randomURLSafe(t, 6)
	sent := post[*chatMessage](t, ctx, asAdele, "{+baseurl}/chats/{chat%2Did}/messages",
		map[string]string{"chat%2Did": created.ID}, &chatMessage{Body: &itemBody{ContentType: "text", Content: text}})
	if sent.ID == "" || sent.Body == nil || sent.Body.Content != text || sent.From == nil || sent.From.User == nil ||
		sent.From.User.ID != adeleID {
		t.Fatalf("message %+v", sent)
	}
	body = gzippedJSON(t, rec.only(t, "POST", func(p string) bool {
		return strings.HasPrefix(p, "/v1.0/chats/") && strings.HasSuffix(p, "/messages")
	}), http.StatusCreated)
	if b, _ := body["body"].(map[string]any); b["content"] != text || b["contentType"] != "text" {
		t.Fatalf("POST /chats/{id}/messages sent %v", body)
	}
	msgs, err := ctl.Messages(ctx, m365ctl.InChat(created.ID))
	if err != nil {
		t.Fatal(err)
	}
	j := slices.IndexFunc(msgs, func(m m365ctl.Message) bool { return m.ID == sent.ID })
	if j < 0 {
		t.Fatalf("message %s is not in chat %s (%d there)", sent.ID, created.ID, len(msgs))
	}
	if m := msgs[j]; m.Body.Content != text || m.Body.ContentType != "text" || m.From == nil || m.From.User == nil ||
		m.From.User.ID != adeleID {
		t.Fatalf("stored message %+v", m)
	}

	// The subscription works: the message's change notification reaches the listener.
	note := l.next(t, 15*time.Second)
	data, _ := note["resourceData"].(map[string]any)
	if note["subscriptionId"] != sub.ID || note["changeType"] != "created" || note["clientState"] != want.ClientState ||
		data["id"] != sent.ID {
		t.Fatalf("notification %v", note)
	}

	// The recorder tells a compressed body from a plain one: the same middleware with compression switched off
	// for one request (a per-request option, as the SDK offers it) puts it on the wire as plain JSON, and
	// Graph takes that too.
	renewed := time.Now().Add(55 * time.Minute).UTC().Truncate(time.Second)
	ri := abs.NewRequestInformationWithMethodAndUrlTemplateAndPathParameters(abs.PATCH,
		"{+baseurl}/subscriptions/{subscription%2Did}", map[string]string{"subscription%2Did": sub.ID})
	ri.Headers.TryAdd("Accept", "application/json")
	ri.AddRequestOptions([]abs.RequestOption{kiotahttp.NewCompressionOptionsReference(false)})
	if err := ri.SetContentFromParsable(ctx, asApp, "application/json", &subscription{ExpirationDateTime: renewed}); err != nil {
		t.Fatal(err)
	}
	if _, err := asApp.Send(ctx, ri, factory(newSubscription), graphErrors); err != nil {
		t.Fatalf("PATCH /subscriptions/{id}: %v", err)
	}
	patch := rec.only(t, "PATCH", func(p string) bool { return strings.HasPrefix(p, "/v1.0/subscriptions/") })
	var patched map[string]any
	if patch.ContentEncoding != "" || json.Unmarshal(patch.Body, &patched) != nil || patch.Status != http.StatusOK {
		t.Fatalf("uncompressed PATCH went out with Content-Encoding %q, status %d, body %q", patch.ContentEncoding, patch.Status, patch.Body)
	}
	subs, err = ctl.Subscriptions(ctx)
	if err != nil {
		t.Fatal(err)
	}
	i = slices.IndexFunc(subs, func(s m365ctl.Subscription) bool { return s.ID == sub.ID })
	if i < 0 {
		t.Fatal("the subscription is gone after the PATCH")
	}
	if expires, err := time.Parse(time.RFC3339Nano, subs[i].ExpirationDateTime); err != nil || !expires.Equal(renewed) {
		t.Fatalf("expirationDateTime after PATCH %q, sent %v", subs[i].ExpirationDateTime, renewed)
	}
}

// ---- the emulator's log, shown when a test fails ----

type logBuffer struct {
	mu    sync.Mutex
	lines []string
}

func (b *logBuffer) logf(format string, args ...any) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.lines = append(b.lines, fmt.Sprintf(format, args...))
	if len(b.lines) > 1000 {
		b.lines = slices.Clone(b.lines[len(b.lines)-200:])
	}
}

func (b *logBuffer) tail(n int) string {
	b.mu.Lock()
	defer b.mu.Unlock()
	var out strings.Builder
	for _, l := range b.lines[max(0, len(b.lines)-n):] {
		out.WriteString(strings.TrimSuffix(l, "\n") + "\n")
	}
	return out.String()
}
