package m365_test

import (
	"crypto/sha1"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/msteams-bridge/msteams/tests/emulators/graph/m365"
	"github.com/msteams-bridge/msteams/tests/emulators/graph/m365ctl"
)

// jwtParts decodes a JWT's header and claims without verifying it.
func jwtParts(t *testing.T, tok string) (hdr, claims map[string]any) {
	t.Helper()
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		t.Fatalf("not a JWT: %q", tok)
	}
	for i, dst := range []*map[string]any{&hdr, &claims} {
		b, err := base64.RawURLEncoding.DecodeString(parts[i])
		if err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(b, dst); err != nil {
			t.Fatal(err)
		}
	}
	return hdr, claims
}

func (e *env) jwksKids(path string) []string {
	e.t.Helper()
	r := e.do("GET", e.emu.LoginURL+path, "", nil)
	if r.status != 200 {
		e.t.Fatalf("%s: %d %s", path, r.status, r.body)
	}
	var kids []string
	for _, k := range r.json(e.t)["keys"].([]any) {
		kids = append(kids, k.(map[string]any)["kid"].(string))
	}
	return kids
}

func TestDiscoveryDocuments(t *testing.T) {
	e := start(t)
	tid := e.emu.TenantID
	cases := []struct{ path, issuer, jwks string }{
		{"/" + tid + "/v2.0/.well-known/openid-configuration", "https://login.microsoftonline.com/" + tid + "/v2.0", "/" + tid + "/discovery/v2.0/keys"},
		{"/contoso.onmicrosoft.com/v2.0/.well-known/openid-configuration", "https://login.microsoftonline.com/" + tid + "/v2.0", "/contoso.onmicrosoft.com/discovery/v2.0/keys"},
		{"/common/v2.0/.well-known/openid-configuration", "https://login.microsoftonline.com/{tenantid}/v2.0", "/common/discovery/v2.0/keys"},
		{"/organizations/v2.0/.well-known/openid-configuration", "https://login.microsoftonline.com/{tenantid}/v2.0", "/organizations/discovery/v2.0/keys"},
		{"/" + tid + "/.well-known/openid-configuration", "https://sts.windows.net/" + tid + "/", "/" + tid + "/discovery/keys"},
	}
	for _, c := range cases {
		m := e.do("GET", e.emu.LoginURL+c.path, "", nil).json(t)
		if m["issuer"] != c.issuer || m["jwks_uri"] != e.emu.LoginURL+c.jwks {
			t.Errorf("%s: issuer %v jwks_uri %v", c.path, m["issuer"], m["jwks_uri"])
		}
		if m["token_endpoint"] == nil || m["authorization_endpoint"] == nil {
			t.Errorf("%s: endpoints missing: %v", c.path, m)
		}
		if kids := e.jwksKids(strings.TrimPrefix(m["jwks_uri"].(string), e.emu.LoginURL)); len(kids) != 1 {
			t.Errorf("%s: keys %v", c.jwks, kids)
		}
	}
	// Each key carries its certificate, and its kid is the certificate's thumbprint, as Entra's do.
	r := e.do("GET", e.emu.LoginURL+"/"+tid+"/discovery/v2.0/keys", "", nil).json(t)
	k := r["keys"].([]any)[0].(map[string]any)
	der, _ := base64.StdEncoding.DecodeString(k["x5c"].([]any)[0].(string))
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha1.Sum(der)
	if k["kid"] != base64.RawURLEncoding.EncodeToString(sum[:]) || k["x5t"] != k["kid"] || k["issuer"] != "https://login.microsoftonline.com/"+tid+"/v2.0" {
		t.Fatalf("key %v", k)
	}
	if cert.PublicKey == nil || k["kty"] != "RSA" || k["use"] != "sig" {
		t.Fatalf("key %v", k)
	}
	if r := e.do("GET", e.emu.LoginURL+"/fabrikam.example/v2.0/.well-known/openid-configuration", "", nil); r.status != 400 ||
		!strings.Contains(string(r.body), "AADSTS90002") {
		t.Fatalf("unknown tenant: %d %s", r.status, r.body)
	}
	if r := e.do("GET", e.emu.LoginURL+"/fabrikam.example/discovery/v2.0/keys", "", nil); r.status != 400 {
		t.Fatalf("unknown tenant keys: %d", r.status)
	}
}

func TestSigningKeyRotation(t *testing.T) {
	e := start(t)
	keysPath := "/" + e.emu.TenantID + "/discovery/v2.0/keys"
	first := e.jwksKids(keysPath)
	if len(first) != 1 {
		t.Fatalf("keys at start: %v", first)
	}
	kidOf := func(tok string) string { h, _ := jwtParts(t, tok); return h["kid"].(string) }
	if kid := kidOf(e.appToken()); kid != first[0] {
		t.Fatalf("token kid %s, published %v", kid, first)
	}
	// Announced: published beside the old key, which still signs.
	next, err := e.ctl.AddKey(e.ctx, false)
	if err != nil || next.Active {
		t.Fatalf("add: %+v %v", next, err)
	}
	if kids := e.jwksKids(keysPath); len(kids) != 2 || kids[0] != next.Kid || kids[1] != first[0] {
		t.Fatalf("after announcing: %v", kids)
	}
	if kid := kidOf(e.appToken()); kid != first[0] {
		t.Fatalf("announced key signed already: %s", kid)
	}
	// Switched: the new key signs, the old one stays published; tokens it signed still verify.
	old := e.appToken()
	if err := e.ctl.ActivateKey(e.ctx, next.Kid); err != nil {
		t.Fatal(err)
	}
	tok := e.appToken()
	if kidOf(tok) != next.Kid {
		t.Fatalf("after activation: %s", kidOf(tok))
	}
	verifyJWT(t, e, tok)
	verifyJWT(t, e, old)
	// The active key cannot go; the old one can, and then it is gone from every key set.
	var ce *m365ctl.Error
	if err := e.ctl.RemoveKey(e.ctx, next.Kid); !errors.As(err, &ce) || ce.Status != 409 {
		t.Fatalf("remove active: %v", err)
	}
	if err := e.ctl.RemoveKey(e.ctx, first[0]); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{keysPath, "/common/discovery/v2.0/keys", "/common/discovery/keys"} {
		if kids := e.jwksKids(p); len(kids) != 1 || kids[0] != next.Kid {
			t.Fatalf("%s after removal: %v", p, kids)
		}
	}
	if err := e.ctl.RemoveKey(e.ctx, first[0]); !errors.As(err, &ce) || ce.Status != 404 {
		t.Fatalf("remove twice: %v", err)
	}
	keys, _ := e.ctl.Keys(e.ctx)
	if len(keys) != 1 || !keys[0].Active {
		t.Fatalf("keys: %+v", keys)
	}
	// RotateKey is add + activate in one call.
	rot, err := e.ctl.RotateKey(e.ctx)
	if err != nil || !rot.Active || kidOf(e.appToken()) != rot.Kid {
		t.Fatalf("rotate: %+v %v", rot, err)
	}
	// Retiring the previous key after a while: published until then, gone after.
	prev := rot.Kid
	next2, err := e.ctl.RotateKeyRetiring(e.ctx, 300*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	if l, _ := e.ctl.Keys(e.ctx); !slices.ContainsFunc(l, func(k m365ctl.SigningKey) bool { return k.Kid == prev && k.Retires != "" }) {
		t.Fatalf("previous key not scheduled for retirement: %+v", l)
	}
	waitUntil(t, func() bool { return !slices.Contains(e.jwksKids(keysPath), prev) })
	if !slices.Contains(e.jwksKids(keysPath), next2.Kid) {
		t.Fatalf("active key gone")
	}
	if _, err := e.ctl.AddKey(e.ctx, false); err != nil {
		t.Fatal(err)
	}
	keys, _ = e.ctl.Keys(e.ctx)
	// The key set is bounded.
	for n := len(keys); n < m365.MaxSigningKeys; n++ {
		if _, err := e.ctl.AddKey(e.ctx, false); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := e.ctl.AddKey(e.ctx, false); !errors.As(err, &ce) || ce.Status != 409 {
		t.Fatalf("key %d: %v", m365.MaxSigningKeys+1, err)
	}
}
