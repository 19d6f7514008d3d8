package m365_test

import (
	"errors"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/msteams-bridge/msteams/tests/emulators/graph/m365"
	"github.com/msteams-bridge/msteams/tests/emulators/graph/m365ctl"
)

const adeleUPN = "adele@contoso.onmicrosoft.com"

func (e *env) sso(req m365ctl.SSOTokenRequest) string {
	e.t.Helper()
	tok, err := e.ctl.SSOToken(e.ctx, req)
	if err != nil {
		e.t.Fatalf("sso token %+v: %v", req, err)
	}
	return tok.Token
}

func (e *env) obo(assertion, scope string) resp {
	e.t.Helper()
	return e.do("POST", e.tokenURL(), "", url.Values{"grant_type": {"urn:ietf:params:oauth:grant-type:jwt-bearer"},
		"client_id": {e.emu.ClientID}, "client_secret": {e.emu.ClientSecret}, "assertion": {assertion},
		"scope": {scope}, "requested_token_use": {"on_behalf_of"}})
}

func unixClaim(c map[string]any, k string) time.Time { return time.Unix(int64(c[k].(float64)), 0) }

func TestSSOTokenForTheTab(t *testing.T) {
	e := start(t)
	tid := e.emu.TenantID
	now := time.Now()
	c := verifyJWT(t, e, e.sso(m365ctl.SSOTokenRequest{User: adeleUPN}))
	want := map[string]any{"aud": m365.DefaultIdentifierURI, "iss": "https://login.microsoftonline.com/" + tid + "/v2.0",
		"ver": "2.0", "scp": "access_as_user", "azp": m365ctl.TeamsDesktopClientID, "tid": tid, "oid": adele,
		"preferred_username": adeleUPN, "name": "Adele Vance"}
	for k, v := range want {
		if c[k] != v {
			t.Errorf("claim %s = %v, want %v", k, c[k], v)
		}
	}
	if c["upn"] != nil || c["email"] != nil || c["sub"] == nil || c["sub"] == adele {
		t.Errorf("v2 token claims: %v", c)
	}
	if nbf, exp := unixClaim(c, "nbf"), unixClaim(c, "exp"); nbf.After(now.Add(time.Second)) || exp.Sub(now) < 59*time.Minute || exp.Sub(now) > 91*time.Minute {
		t.Errorf("lifetime nbf %v exp %v", nbf, exp)
	}
	c = verifyJWT(t, e, e.sso(m365ctl.SSOTokenRequest{User: adele, Client: "web", Version: "1.0", OptionalClaims: []string{"email"}}))
	if c["iss"] != "https://sts.windows.net/"+tid+"/" || c["ver"] != "1.0" || c["appid"] != m365ctl.TeamsWebClientID ||
		c["upn"] != adeleUPN || c["email"] != adeleUPN || c["aud"] != m365.DefaultIdentifierURI {
		t.Errorf("v1 web token: %v", c)
	}
	// A B2B guest: their home identity, no upn.
	c = verifyJWT(t, e, e.sso(m365ctl.SSOTokenRequest{User: gita, OptionalClaims: []string{"upn", "email"}}))
	if c["preferred_username"] != "gita@fabrikam.example" || c["upn"] != nil || c["email"] != "gita@fabrikam.example" ||
		c["idp"] == nil || c["idp"] == "https://sts.windows.net/"+tid+"/" || c["oid"] != gita {
		t.Errorf("guest v2: %v", c)
	}
	c = verifyJWT(t, e, e.sso(m365ctl.SSOTokenRequest{User: gita, Version: "1.0"}))
	if c["upn"] != nil || c["unique_name"] != "gita@fabrikam.example" || c["email"] != "gita@fabrikam.example" {
		t.Errorf("guest v1: %v", c)
	}
	// Tokens a validator must refuse.
	if c := verifyJWT(t, e, e.sso(m365ctl.SSOTokenRequest{User: adele, Expired: true})); !unixClaim(c, "exp").Before(now) {
		t.Errorf("expired: %v", c)
	}
	if c := verifyJWT(t, e, e.sso(m365ctl.SSOTokenRequest{User: adele, NotYetValid: true})); !unixClaim(c, "nbf").After(now) {
		t.Errorf("not yet valid: %v", c)
	}
	secs := 30
	if c := verifyJWT(t, e, e.sso(m365ctl.SSOTokenRequest{User: adele, ExpiresInSeconds: &secs, NotBeforeSeconds: -60})); unixClaim(c, "exp").Sub(unixClaim(c, "nbf")) != 90*time.Second {
		t.Errorf("explicit lifetime: %v", c)
	}
	if c := verifyJWT(t, e, e.sso(m365ctl.SSOTokenRequest{User: adele, Audience: "api://elsewhere.example/x"})); c["aud"] != "api://elsewhere.example/x" {
		t.Errorf("audience: %v", c)
	}
	if c := verifyJWT(t, e, e.sso(m365ctl.SSOTokenRequest{User: adele, OtherTenant: true})); c["tid"] != m365ctl.OtherTenantID ||
		c["iss"] != "https://login.microsoftonline.com/"+m365ctl.OtherTenantID+"/v2.0" {
		t.Errorf("other tenant: %v", c)
	}
	hdr, _ := jwtParts(t, e.sso(m365ctl.SSOTokenRequest{User: adele, UnknownKey: true}))
	for _, kid := range e.jwksKids("/common/discovery/v2.0/keys") {
		if kid == hdr["kid"] {
			t.Fatalf("unknown key %v is published", kid)
		}
	}
	// What Teams cannot get.
	var ce *m365ctl.Error
	for _, c := range []struct {
		req    m365ctl.SSOTokenRequest
		status int
		text   string
	}{
		{m365ctl.SSOTokenRequest{User: adele, Resource: "api://other.example/" + e.emu.ClientID}, 400, "AADSTS500011"},
		{m365ctl.SSOTokenRequest{User: dora}, 400, "AADSTS50057"},
		{m365ctl.SSOTokenRequest{User: "nobody@contoso.onmicrosoft.com"}, 404, "AADSTS50034"},
		{m365ctl.SSOTokenRequest{User: adele, Version: "3.0"}, 400, "version"},
		{m365ctl.SSOTokenRequest{User: adele, NotBeforeSeconds: 1 << 40}, 400, "within a year"},
	} {
		if _, err := e.ctl.SSOToken(e.ctx, c.req); !errors.As(err, &ce) || ce.Status != c.status || !strings.Contains(ce.Message, c.text) {
			t.Errorf("%+v: %v", c.req, err)
		}
	}
	if c := verifyJWT(t, e, e.sso(m365ctl.SSOTokenRequest{User: dora, DisabledUser: true})); c["oid"] != dora {
		t.Errorf("disabled user's token: %v", c)
	}
	// Asked from a Teams app's tab: installed for the user, its webApplicationInfo matching the registration.
	if _, err := e.ctl.SSOToken(e.ctx, m365ctl.SSOTokenRequest{User: adele, App: "nope"}); !errors.As(err, &ce) || ce.Status != 404 {
		t.Errorf("unknown app: %v", err)
	}
	if _, err := e.ctl.UploadApp(e.ctx, e.appPackage(t, nil), false); err != nil {
		t.Fatal(err)
	}
	if _, err := e.ctl.SSOToken(e.ctx, m365ctl.SSOTokenRequest{User: adele, App: manifestID}); !errors.As(err, &ce) || !strings.Contains(ce.Message, "not installed") {
		t.Errorf("not installed: %v", err)
	}
	e.installOurApp(t, m365ctl.ForUser(adele))
	e.installOurApp(t, m365ctl.ForTeam(teamID))
	for _, u := range []string{adele, cameron} { // personally; through the team
		if c := verifyJWT(t, e, e.sso(m365ctl.SSOTokenRequest{User: u, App: manifestID})); c["aud"] != m365.DefaultIdentifierURI || c["oid"] != u {
			t.Errorf("from the tab, %s: %v", u, c)
		}
	}
	for name, wai := range map[string]map[string]any{
		"AADSTS500011": {"id": e.emu.ClientID, "resource": "api://elsewhere.example/" + e.emu.ClientID},
		"AADSTS700016": {"id": "0f0e0d0c-0b0a-4000-8000-000000000001", "resource": m365.DefaultIdentifierURI},
	} {
		id := "tab-" + name
		if _, err := e.ctl.UploadApp(e.ctx, e.appPackage(t, func(m map[string]any) { m["id"], m["webApplicationInfo"] = id, wai }), false); err != nil {
			t.Fatal(err)
		}
		if _, err := e.ctl.InstallApp(e.ctx, m365ctl.ForUser(adele), id); err != nil {
			t.Fatal(err)
		}
		if _, err := e.ctl.SSOToken(e.ctx, m365ctl.SSOTokenRequest{User: adele, App: id}); !errors.As(err, &ce) || ce.Status != 400 || !strings.Contains(ce.Message, name) {
			t.Errorf("%s: %v", name, err)
		}
	}
	// A second Application ID URI must be named.
	uris := []string{m365.DefaultIdentifierURI, "api://mm.example.com/" + e.emu.ClientID}
	if _, err := e.ctl.PatchApp(e.ctx, m365ctl.AppPatch{IdentifierURIs: uris}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.ctl.SSOToken(e.ctx, m365ctl.SSOTokenRequest{User: adele}); !errors.As(err, &ce) || ce.Status != 400 {
		t.Errorf("two URIs, none named: %v", err)
	}
	if c := verifyJWT(t, e, e.sso(m365ctl.SSOTokenRequest{User: adele, Resource: uris[1]})); c["aud"] != uris[1] {
		t.Errorf("second URI: %v", c)
	}
}

func TestOnBehalfOf(t *testing.T) {
	e := start(t)
	sso := e.sso(m365ctl.SSOTokenRequest{User: adeleUPN})
	r := e.obo(sso, "https://graph.microsoft.com/.default offline_access")
	if r.status != 200 {
		t.Fatalf("obo: %d %s", r.status, r.body)
	}
	m := r.json(t)
	if m["refresh_token"] == nil || m["token_type"] != "Bearer" {
		t.Fatalf("obo answer: %v", m)
	}
	graphTok := m["access_token"].(string)
	if c := verifyJWT(t, e, graphTok); c["aud"] != "https://graph.microsoft.com" || c["oid"] != adele || c["appid"] != e.emu.ClientID {
		t.Fatalf("graph token claims: %v", c)
	}
	if me := e.graph("GET", "/me", graphTok, nil); me.status != 200 || me.json(t)["id"] != adele {
		t.Fatalf("/me with the OBO token: %d %s", me.status, me.body)
	}
	// A narrower scope; a v1 SSO token is accepted as well.
	if r := e.obo(e.sso(m365ctl.SSOTokenRequest{User: adele, Version: "1.0"}), "https://graph.microsoft.com/User.Read"); r.status != 200 ||
		!strings.Contains(r.json(t)["scope"].(string), "User.Read") || r.json(t)["refresh_token"] != nil {
		t.Fatalf("narrow obo: %d %s", r.status, r.body)
	}
	// Consent missing for the scope: invalid_grant + suberror consent_required, AADSTS65001.
	r = e.obo(sso, "https://graph.microsoft.com/Mail.Read")
	if code := tokenErr(t, r, 400, "invalid_grant"); code != 65001 || r.json(t)["suberror"] != "consent_required" {
		t.Fatalf("consent: %d %s", code, r.body)
	}
	// Assertions Entra refuses.
	cases := []struct {
		name      string
		assertion string
		oauth     string
		code      int
		text      string
	}{
		{"expired", e.sso(m365ctl.SSOTokenRequest{User: adele, Expired: true}), "invalid_grant", 500133, "not within its valid time range"},
		{"not yet valid", e.sso(m365ctl.SSOTokenRequest{User: adele, NotYetValid: true}), "invalid_grant", 500133, "valid time range"},
		{"other audience", e.sso(m365ctl.SSOTokenRequest{User: adele, Audience: "api://elsewhere.example/x"}), "invalid_grant", 50013, "audience"},
		{"other tenant", e.sso(m365ctl.SSOTokenRequest{User: adele, OtherTenant: true}), "invalid_grant", 50013, m365ctl.OtherTenantID},
		{"unknown key", e.sso(m365ctl.SSOTokenRequest{User: adele, UnknownKey: true}), "invalid_grant", 50013, "The key was not found"},
		{"tampered", sso[:len(sso)-4] + "AAAA", "invalid_grant", 50013, "signature"},
		{"garbage", "not-a-jwt", "invalid_request", 50027, "malformed"},
		{"disabled user", e.sso(m365ctl.SSOTokenRequest{User: dora, DisabledUser: true}), "invalid_grant", 50057, "disabled"},
	}
	for _, c := range cases {
		r := e.obo(c.assertion, "https://graph.microsoft.com/.default")
		if code := tokenErr(t, r, 400, c.oauth); code != c.code || !strings.Contains(string(r.body), c.text) {
			t.Errorf("%s: %d %s", c.name, code, r.body)
		}
	}
	// A user disabled after the token was issued; a user whose sessions were revoked.
	bi := e.sso(m365ctl.SSOTokenRequest{User: bianca})
	off := false
	if _, err := e.ctl.PatchUser(e.ctx, bianca, m365ctl.UserPatch{AccountEnabled: &off}); err != nil {
		t.Fatal(err)
	}
	if code := tokenErr(t, e.obo(bi, "https://graph.microsoft.com/.default"), 400, "invalid_grant"); code != 50057 {
		t.Errorf("disabled since: %d", code)
	}
	ca := e.sso(m365ctl.SSOTokenRequest{User: cameron, NotBeforeSeconds: -5})
	if _, err := e.ctl.RevokeTokens(e.ctx, m365ctl.Revoke{UserID: cameron}); err != nil {
		t.Fatal(err)
	}
	if code := tokenErr(t, e.obo(ca, "https://graph.microsoft.com/.default"), 400, "invalid_grant"); code != 50173 {
		t.Errorf("revoked: %d", code)
	}
	// Conditional Access wanting MFA: interaction_required with a claims challenge.
	on := true
	if _, err := e.ctl.PatchUser(e.ctx, adele, m365ctl.UserPatch{RequireMFA: &on}); err != nil {
		t.Fatal(err)
	}
	r = e.obo(sso, "https://graph.microsoft.com/.default")
	if code := tokenErr(t, r, 400, "interaction_required"); code != 50076 || !strings.Contains(r.json(t)["claims"].(string), "capolids") {
		t.Fatalf("mfa: %d %s", code, r.body)
	}
	off = false
	if _, err := e.ctl.PatchUser(e.ctx, adele, m365ctl.UserPatch{RequireMFA: &off}); err != nil {
		t.Fatal(err)
	}
	// After a rotation that removed the old key, its tokens no longer verify.
	old := e.sso(m365ctl.SSOTokenRequest{User: adele})
	keys, _ := e.ctl.Keys(e.ctx)
	if _, err := e.ctl.RotateKey(e.ctx); err != nil {
		t.Fatal(err)
	}
	if r := e.obo(old, "https://graph.microsoft.com/.default"); r.status != 200 {
		t.Fatalf("old key still published: %d %s", r.status, r.body)
	}
	if err := e.ctl.RemoveKey(e.ctx, keys[0].Kid); err != nil {
		t.Fatal(err)
	}
	if code := tokenErr(t, e.obo(old, "https://graph.microsoft.com/.default"), 400, "invalid_grant"); code != 50013 {
		t.Errorf("removed key: %d", code)
	}
	// Malformed requests.
	f := url.Values{"grant_type": {"urn:ietf:params:oauth:grant-type:jwt-bearer"}, "client_id": {e.emu.ClientID},
		"client_secret": {e.emu.ClientSecret}, "assertion": {sso}, "scope": {"https://graph.microsoft.com/.default"}}
	if code := tokenErr(t, e.do("POST", e.tokenURL(), "", f), 400, "invalid_request"); code != 900144 {
		t.Errorf("no requested_token_use: %d", code)
	}
	f.Set("client_secret", "wrong")
	f.Set("requested_token_use", "on_behalf_of")
	if code := tokenErr(t, e.do("POST", e.tokenURL(), "", f), 401, "invalid_client"); code != 7000215 {
		t.Errorf("wrong secret: %d", code)
	}
}

func TestNationalCloudIssuers(t *testing.T) {
	for _, c := range []struct{ cloud, v1, v2, graph string }{
		{"usgov", "https://sts.windows.net/", "https://login.microsoftonline.us/", "graph.microsoft.us"},
		{"usgovdod", "https://sts.windows.net/", "https://login.microsoftonline.us/", "dod-graph.microsoft.us"},
		{"china", "https://sts.chinacloudapi.cn/", "https://login.partner.microsoftonline.cn/", "microsoftgraph.chinacloudapi.cn"},
	} {
		t.Run(c.cloud, func(t *testing.T) {
			e := start(t, func(o *m365.Options) { o.Cloud = c.cloud })
			tid := e.emu.TenantID
			v2 := e.do("GET", e.emu.LoginURL+"/"+tid+"/v2.0/.well-known/openid-configuration", "", nil).json(t)
			v1 := e.do("GET", e.emu.LoginURL+"/"+tid+"/.well-known/openid-configuration", "", nil).json(t)
			if v2["issuer"] != c.v2+tid+"/v2.0" || v1["issuer"] != c.v1+tid+"/" || v2["msgraph_host"] != c.graph {
				t.Fatalf("discovery: %v / %v / %v", v2["issuer"], v1["issuer"], v2["msgraph_host"])
			}
			sso := e.sso(m365ctl.SSOTokenRequest{User: adele})
			if claims := verifyJWT(t, e, sso); claims["iss"] != v2["issuer"] {
				t.Fatalf("SSO issuer %v", claims["iss"])
			}
			if r := e.obo(sso, "https://graph.microsoft.com/.default"); r.status != 200 {
				t.Fatalf("obo: %d %s", r.status, r.body)
			}
			if ten, _ := e.ctl.Tenant(e.ctx); ten.Cloud != c.cloud {
				t.Fatalf("tenant cloud %q", ten.Cloud)
			}
		})
	}
	if _, err := m365.Start(t.Context(), m365.Options{Cloud: "germany"}); err == nil || !strings.Contains(err.Error(), "germany") {
		t.Fatalf("unknown cloud: %v", err)
	}
}
