package m365_test

import (
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"net"
	"net/url"
	"strings"
	"testing"

	"github.com/msteams-bridge/msteams/tests/emulators/graph/m365"
	"github.com/msteams-bridge/msteams/tests/emulators/graph/m365ctl"
)

func TestTLSHostNamesAreVerified(t *testing.T) {
	e := start(t)
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(e.emu.CAPEM)
	dial := func(base, serverName string) error {
		u, _ := url.Parse(base)
		_, port, _ := net.SplitHostPort(u.Host)
		c, err := tls.Dial("tcp", "127.0.0.1:"+port, &tls.Config{RootCAs: pool, ServerName: serverName})
		if err == nil {
			c.Close()
		}
		return err
	}
	if !strings.HasPrefix(e.emu.LoginURL, "https://localhost:") || !strings.HasPrefix(e.emu.GraphURL, "https://127.0.0.1:") {
		t.Fatalf("unexpected URLs %s %s", e.emu.LoginURL, e.emu.GraphURL)
	}
	if err := dial(e.emu.LoginURL, "localhost"); err != nil {
		t.Fatalf("login host should verify as localhost: %v", err)
	}
	if err := dial(e.emu.LoginURL, "127.0.0.1"); err == nil {
		t.Fatal("login certificate must not be valid for 127.0.0.1")
	}
	if err := dial(e.emu.GraphURL, "127.0.0.1"); err != nil {
		t.Fatalf("graph host should verify as 127.0.0.1: %v", err)
	}
	if err := dial(e.emu.GraphURL, "localhost"); err == nil {
		t.Fatal("graph certificate must not be valid for localhost")
	}
	// an untrusting client fails
	_, err := tls.Dial("tcp", strings.TrimPrefix(e.emu.GraphURL, "https://"), &tls.Config{RootCAs: x509.NewCertPool()})
	if err == nil {
		t.Fatal("a client without the test CA must fail")
	}
}

func TestPKCE(t *testing.T) {
	e := start(t)
	v, c := pkce()
	// accepted with the right verifier
	r := e.redeem(e.authorize("adele@contoso.onmicrosoft.com", c, userScopes), v)
	if r.status != 200 {
		t.Fatalf("right verifier refused: %d %s", r.status, r.body)
	}
	m := r.json(t)
	if m["token_type"] != "Bearer" || m["refresh_token"] == nil || m["id_token"] == nil || m["expires_in"].(float64) < 3599 || m["expires_in"].(float64) > 5400 {
		t.Fatalf("token response: %v", m)
	}
	// Graph accepts the token and knows who it is
	me := e.graph("GET", "/me", m["access_token"].(string), nil)
	if me.status != 200 || me.json(t)["id"] != adele {
		t.Fatalf("/me: %d %s", me.status, me.body)
	}
	// wrong verifier
	code := e.authorize("adele@contoso.onmicrosoft.com", c, userScopes)
	other, _ := pkce()
	if got := tokenErr(t, e.redeem(code, other), 400, "invalid_grant"); got != 501481 {
		t.Fatalf("wrong verifier: AADSTS%d", got)
	}
	// the refused code was not consumed... but a missing verifier is refused too
	code = e.authorize("adele@contoso.onmicrosoft.com", c, userScopes)
	if got := tokenErr(t, e.redeem(code, ""), 400, "invalid_grant"); got != 501481 {
		t.Fatalf("missing verifier: AADSTS%d", got)
	}
	// a redeemed code cannot be redeemed again
	code = e.authorize("adele@contoso.onmicrosoft.com", c, userScopes)
	if r := e.redeem(code, v); r.status != 200 {
		t.Fatalf("redeem: %s", r.body)
	}
	if got := tokenErr(t, e.redeem(code, v), 400, "invalid_grant"); got != 54005 {
		t.Fatalf("code reuse: AADSTS%d", got)
	}
}

func TestRefreshTokenRotation(t *testing.T) {
	e := start(t)
	_, rt1 := e.userToken(bianca)
	refresh := func(rt string) resp {
		return e.do("POST", e.tokenURL(), "", url.Values{"grant_type": {"refresh_token"}, "client_id": {e.emu.ClientID},
			"client_secret": {e.emu.ClientSecret}, "refresh_token": {rt}})
	}
	r := refresh(rt1)
	if r.status != 200 {
		t.Fatalf("refresh: %d %s", r.status, r.body)
	}
	m := r.json(t)
	rt2 := m["refresh_token"].(string)
	if rt2 == "" || rt2 == rt1 {
		t.Fatal("refresh did not rotate the refresh token")
	}
	if e.graph("GET", "/me", m["access_token"].(string), nil).json(t)["id"] != bianca {
		t.Fatal("refreshed access token is not Bianca's")
	}
	if r := refresh(rt2); r.status != 200 {
		t.Fatalf("the new refresh token must work: %s", r.body)
	}
	// Entra leaves the old one valid; the strict mode makes it single-use
	if r := refresh(rt1); r.status != 200 {
		t.Fatalf("Entra keeps old refresh tokens valid: %s", r.body)
	}
	if err := e.ctl.SetLifetimes(e.ctx, m365ctl.Lifetimes{RevokeRotatedRefreshTokens: true}); err != nil {
		t.Fatal(err)
	}
	_, rt3 := e.userToken(bianca)
	if r := refresh(rt3); r.status != 200 {
		t.Fatal(string(r.body))
	}
	if got := tokenErr(t, refresh(rt3), 400, "invalid_grant"); got != 70008 {
		t.Fatalf("rotated token reuse: AADSTS%d", got)
	}
	if got := tokenErr(t, refresh("garbage"), 400, "invalid_grant"); got != 9002313 {
		t.Fatalf("garbage refresh token: AADSTS%d", got)
	}
}

func TestClientCredentialsAndClientErrors(t *testing.T) {
	e := start(t)
	tok := e.appToken()
	if r := e.graph("GET", "/users", tok, nil); r.status != 200 {
		t.Fatalf("app GET /users: %d %s", r.status, r.body)
	}
	form := func(mut func(url.Values)) url.Values {
		f := url.Values{"grant_type": {"client_credentials"}, "client_id": {e.emu.ClientID}, "client_secret": {e.emu.ClientSecret},
			"scope": {"https://graph.microsoft.com/.default"}}
		mut(f)
		return f
	}
	cases := []struct {
		name   string
		url    string
		mut    func(url.Values)
		status int
		err    string
		code   int
	}{
		{"wrong secret", e.tokenURL(), func(f url.Values) { f.Set("client_secret", "nope") }, 401, "invalid_client", 7000215},
		{"no secret", e.tokenURL(), func(f url.Values) { f.Del("client_secret") }, 401, "invalid_client", 7000218},
		{"unknown app", e.tokenURL(), func(f url.Values) { f.Set("client_id", "00000000-0000-0000-0000-000000000001") }, 400, "unauthorized_client", 700016},
		{"not .default", e.tokenURL(), func(f url.Values) { f.Set("scope", "https://graph.microsoft.com/User.Read.All") }, 400, "invalid_scope", 1002012},
		{"other resource", e.tokenURL(), func(f url.Values) { f.Set("scope", "api://other/.default") }, 400, "invalid_resource", 500011},
		{"OIDC scopes only", e.tokenURL(), func(f url.Values) { f.Set("scope", "openid offline_access profile") }, 400, "invalid_scope", 1002012},
		{"two resources", e.tokenURL(), func(f url.Values) {
			f.Set("scope", "https://graph.microsoft.com/.default api://other/.default openid")
		}, 400, "invalid_scope", 1002012},
		{"common", e.emu.LoginURL + "/common/oauth2/v2.0/token", func(url.Values) {}, 400, "invalid_request", 9001023},
		{"bad grant", e.tokenURL(), func(f url.Values) { f.Set("grant_type", "password") }, 400, "unsupported_grant_type", 70003},
	}
	for _, c := range cases {
		if got := tokenErr(t, e.do("POST", c.url, "", form(c.mut)), c.status, c.err); got != c.code {
			t.Errorf("%s: AADSTS%d, want %d", c.name, got, c.code)
		}
	}
	// expired client secret, as a fault
	if err := e.ctl.ExpireClientSecret(e.ctx, true); err != nil {
		t.Fatal(err)
	}
	if got := tokenErr(t, e.do("POST", e.tokenURL(), "", form(func(url.Values) {})), 401, "invalid_client"); got != 7000222 {
		t.Fatalf("expired secret: AADSTS%d", got)
	}
	e.ctl.ExpireClientSecret(e.ctx, false)
	if r := e.do("POST", e.tokenURL(), "", form(func(url.Values) {})); r.status != 200 {
		t.Fatalf("secret valid again: %s", r.body)
	}
}

// MSAL Go sends "openid offline_access profile" after the .default scope on every client-credentials
// request (AppendDefaultScopes); Entra issues the app-only token, with no refresh or id token.
func TestClientCredentialsWithTheScopesMSALAdds(t *testing.T) {
	e := start(t)
	for _, scope := range []string{
		"https://graph.microsoft.com/.default openid offline_access profile",
		"openid https://graph.microsoft.com/.default email",
		"00000003-0000-0000-c000-000000000000/.default offline_access",
	} {
		r := e.do("POST", e.tokenURL(), "", url.Values{"grant_type": {"client_credentials"}, "client_id": {e.emu.ClientID},
			"client_secret": {e.emu.ClientSecret}, "scope": {scope}})
		if r.status != 200 {
			t.Fatalf("%q: %d %s", scope, r.status, r.body)
		}
		m := r.json(t)
		if m["token_type"] != "Bearer" || m["refresh_token"] != nil || m["id_token"] != nil {
			t.Errorf("%q: token response %v", scope, m)
		}
		tok, _ := m["access_token"].(string)
		if r := e.graph("GET", "/users", tok, nil); r.status != 200 {
			t.Errorf("%q: the app token on GET /users: %d %s", scope, r.status, r.body)
		}
		if r := e.graph("GET", "/me", tok, nil); r.status != 400 {
			t.Errorf("%q: an app token must stay app-only (GET /me): %d", scope, r.status)
		}
	}
}

// Entra checks the size of the code_challenge (AADSTS501491) and that the verifier matches it (AADSTS501481),
// and documents no size or character rule for the verifier itself.
func TestPKCEVerifierIsOnlyMatchedAgainstTheChallenge(t *testing.T) {
	e := start(t)
	s256 := func(v string) string {
		sum := sha256.Sum256([]byte(v))
		return base64.RawURLEncoding.EncodeToString(sum[:])
	}
	for _, v := range []string{
		"short-verifier",                 // 14 characters, under RFC 7636's 43
		strings.Repeat("0123456789", 20), // 200 characters, over its 128
		"verifier with spaces+and/slashes=and-more-than-43-characters",
	} {
		if r := e.redeem(e.authorize(adele, s256(v), userScopes), v); r.status != 200 {
			t.Errorf("verifier %q matching its S256 challenge refused: %d %s", v, r.status, r.body)
		}
		if got := tokenErr(t, e.redeem(e.authorize(adele, s256(v), userScopes), v+"x"), 400, "invalid_grant"); got != 501481 {
			t.Errorf("verifier %q plus one character: AADSTS%d", v, got)
		}
	}
	// The challenge keeps its size rule on /authorize.
	q := url.Values{"client_id": {e.emu.ClientID}, "response_type": {"code"}, "redirect_uri": {redirURI}, "scope": {userScopes},
		"login_hint": {adele}, "code_challenge": {"too-short"}, "code_challenge_method": {"S256"}}
	r := e.do("GET", e.emu.LoginURL+"/"+e.emu.TenantID+"/oauth2/v2.0/authorize?"+q.Encode(), "", nil)
	loc, _ := url.Parse(r.header.Get("Location"))
	if r.status != 302 || !strings.Contains(loc.Query().Get("error_description"), "AADSTS501491") {
		t.Errorf("a 9-character challenge: %d %s", r.status, r.header.Get("Location"))
	}
}

func TestAuthorizePageAndErrors(t *testing.T) {
	e := start(t)
	base := e.emu.LoginURL + "/" + e.emu.TenantID + "/oauth2/v2.0/authorize?"
	q := url.Values{"client_id": {e.emu.ClientID}, "response_type": {"code"}, "redirect_uri": {redirURI}, "scope": {userScopes}, "state": {"s"}}
	// sign-in page lists the tenant's users
	r := e.do("GET", base+q.Encode(), "", nil)
	if r.status != 200 || !strings.Contains(string(r.body), "adele@contoso.onmicrosoft.com") || !strings.Contains(string(r.body), "Gita Guest") {
		t.Fatalf("sign-in page: %d %s", r.status, r.body)
	}
	// picking an account (the page's form) redirects with a code
	f := url.Values{}
	for k, v := range q {
		f[k] = v
	}
	f.Set("emu_user", cameron)
	r = e.do("POST", base, "", f)
	if r.status != 302 || !strings.Contains(r.header.Get("Location"), "code=") {
		t.Fatalf("pick account: %d %s", r.status, r.header.Get("Location"))
	}
	// a redirect URI that is not registered: error page, no redirect
	bad := url.Values{}
	for k, v := range q {
		bad[k] = v
	}
	bad.Set("redirect_uri", "https://evil.example/cb")
	r = e.do("GET", base+bad.Encode(), "", nil)
	if r.status != 400 || !strings.Contains(string(r.body), "AADSTS50011") || r.header.Get("Location") != "" {
		t.Fatalf("redirect mismatch: %d %s", r.status, r.body)
	}
	// disabled account
	q.Set("login_hint", "dora@contoso.onmicrosoft.com")
	r = e.do("GET", base+q.Encode(), "", nil)
	if r.status != 400 || !strings.Contains(string(r.body), "AADSTS50057") {
		t.Fatalf("disabled user: %d %s", r.status, r.body)
	}
	// a scope the app is not consented for comes back as an error redirect
	q.Set("login_hint", adele)
	q.Set("scope", "openid https://graph.microsoft.com/Mail.Read")
	r = e.do("GET", base+q.Encode(), "", nil)
	loc, _ := url.Parse(r.header.Get("Location"))
	if r.status != 302 || loc.Query().Get("error") == "" || !strings.Contains(loc.Query().Get("error_description"), "AADSTS65001") || loc.Query().Get("state") != "s" {
		t.Fatalf("unconsented scope: %d %s", r.status, r.header.Get("Location"))
	}
}

func TestRevokedTokens(t *testing.T) {
	e := start(t)
	at, rt := e.userToken(adele)
	if e.graph("GET", "/me", at, nil).status != 200 {
		t.Fatal("token should work")
	}
	n, err := e.ctl.RevokeTokens(e.ctx, m365ctl.Revoke{UserID: adele})
	if err != nil || n < 2 {
		t.Fatalf("revoke: %d %v", n, err)
	}
	r := e.graph("GET", "/me", at, nil)
	if code, _ := r.graphErr(t); r.status != 401 || code != "InvalidAuthenticationToken" {
		t.Fatalf("revoked access token: %d %s", r.status, r.body)
	}
	if r.header.Get("WWW-Authenticate") == "" {
		t.Fatal("401 without WWW-Authenticate")
	}
	got := tokenErr(t, e.do("POST", e.tokenURL(), "", url.Values{"grant_type": {"refresh_token"}, "client_id": {e.emu.ClientID},
		"client_secret": {e.emu.ClientSecret}, "refresh_token": {rt}}), 400, "invalid_grant")
	if got != 70008 {
		t.Fatalf("revoked refresh: AADSTS%d", got)
	}
	// no token, bad token
	if r := e.graph("GET", "/me", "", nil); r.status != 401 {
		t.Fatalf("no token: %d", r.status)
	}
	if r := e.graph("GET", "/me", "not-a-jwt", nil); r.status != 401 {
		t.Fatalf("bad token: %d", r.status)
	}
}

func TestShortAccessTokenLifetime(t *testing.T) {
	e := start(t)
	if err := e.ctl.SetLifetimes(e.ctx, m365ctl.Lifetimes{AccessTokenSeconds: 1}); err != nil {
		t.Fatal(err)
	}
	r := e.do("POST", e.tokenURL(), "", url.Values{"grant_type": {"client_credentials"}, "client_id": {e.emu.ClientID},
		"client_secret": {e.emu.ClientSecret}, "scope": {"https://graph.microsoft.com/.default"}})
	m := r.json(t)
	if m["expires_in"].(float64) != 1 {
		t.Fatalf("expires_in %v", m["expires_in"])
	}
	waitUntil(t, func() bool {
		r := e.graph("GET", "/users", m["access_token"].(string), nil)
		if r.status != 401 {
			return false
		}
		_, msg := r.graphErr(t)
		return strings.Contains(msg, "expired")
	})
}

// A refresh token is bound to the user and the app, not to the scopes first asked for: a permission the app was
// granted since comes with the next refresh (no new sign-in), one it was never granted is refused with AADSTS65001.
func TestRefreshIssuesScopesConsentedSince(t *testing.T) {
	e := start(t)
	const g = "https://graph.microsoft.com/"
	v, c := pkce()
	r := e.redeem(e.authorize(bianca, c, "openid offline_access "+g+"ChannelMessage.Send"), v)
	if r.status != 200 {
		t.Fatalf("redeem: %d %s", r.status, r.body)
	}
	rt := r.json(t)["refresh_token"].(string)
	refresh := func(scope string) resp {
		return e.do("POST", e.tokenURL(), "", url.Values{"grant_type": {"refresh_token"}, "client_id": {e.emu.ClientID},
			"client_secret": {e.emu.ClientSecret}, "refresh_token": {rt}, "scope": {scope}})
	}
	r = refresh("openid offline_access " + g + "ChannelMessage.Send " + g + "ChannelMessage.ReadWrite")
	if r.status != 200 {
		t.Fatalf("refresh with a consented scope: %d %s", r.status, r.body)
	}
	m := r.json(t)
	if !strings.Contains(m["scope"].(string), g+"ChannelMessage.ReadWrite") {
		t.Fatalf("the refreshed token lacks the scope granted since: %q", m["scope"])
	}
	rt = m["refresh_token"].(string)
	// The app is not consented for ChannelMessage.ReadWrite any more: refused, and the grant still works without it.
	var kept []string
	for _, p := range m365.DefaultDelegatedPermissions {
		if p != "ChannelMessage.ReadWrite" {
			kept = append(kept, p)
		}
	}
	if _, err := e.ctl.PatchApp(e.ctx, m365ctl.AppPatch{DelegatedPermissions: kept}); err != nil {
		t.Fatal(err)
	}
	r = refresh("openid offline_access " + g + "ChannelMessage.Send " + g + "ChannelMessage.ReadWrite")
	if got := tokenErr(t, r, 400, "invalid_grant"); got != 65001 {
		t.Fatalf("unconsented scope: AADSTS%d", got)
	}
	if r := refresh("openid offline_access " + g + "ChannelMessage.Send"); r.status != 200 {
		t.Fatalf("the grant without the unconsented scope: %d %s", r.status, r.body)
	}
}
