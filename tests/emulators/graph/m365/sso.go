package m365

import (
	"crypto"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math/big"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/msteams-bridge/msteams/tests/emulators/graph/wire"
)

// Teams SSO: the emulator plays Teams' token service (control API
// POST /sso/token issues what getAuthToken() gives the tab) and Entra's
// on-behalf-of grant on the token endpoint (the tab's backend exchanges that
// token for a Graph token).

// SSOScope is the scope a Teams tab's API exposes for SSO.
const SSOScope = "access_as_user"

func pairwiseSub(uid, clientID string) string {
	sum := sha256.Sum256([]byte(uid + "|" + clientID))
	return b64url(sum[:])[:43]
}

func (e *Emulator) ctlSSOToken(w http.ResponseWriter, r *http.Request) {
	var in wire.SSOTokenRequest
	if !e.ctlDecode(w, r, &in) {
		return
	}
	tok, status, msg := e.ssoToken(in, time.Now())
	if status != 0 {
		ctlError(w, status, msg)
		return
	}
	writeJSON(w, 200, tok)
}

// ssoToken builds the token of a control request; a non-zero status is a refusal.
func (e *Emulator) ssoToken(in wire.SSOTokenRequest, now time.Time) (*wire.SSOToken, int, string) {
	e.st.mu.RLock()
	u := e.st.findUser(in.User)
	var user User
	if u != nil {
		user = *u
	}
	app := e.st.app
	e.st.mu.RUnlock()
	switch {
	case in.User == "":
		return nil, 400, "user is required"
	case u == nil || user.Deleted:
		return nil, 404, fmt.Sprintf("AADSTS50034: The user account %s does not exist in the %s directory.", in.User, e.st.domain)
	case !user.AccountEnabled && !in.DisabledUser:
		return nil, 400, "AADSTS50057: The user account is disabled."
	}
	resource := in.Resource
	if in.App != "" {
		res, status, msg := e.ssoApp(in.App, user.ID, app)
		if status != 0 {
			return nil, status, msg
		}
		if resource == "" {
			resource = res
		}
	}
	if resource == "" {
		if len(app.IdentifierURIs) != 1 {
			return nil, 400, "resource is required: the app has " + fmt.Sprint(len(app.IdentifierURIs)) + " Application ID URIs"
		}
		resource = app.IdentifierURIs[0]
	}
	if !contains(app.IdentifierURIs, resource) && in.Audience == "" {
		return nil, 400, fmt.Sprintf("AADSTS500011: The resource principal named %s was not found in the tenant named %s.", resource, e.st.tenantName)
	}
	azp := wire.TeamsDesktopClientID
	switch in.Client {
	case "", "desktop", "mobile":
	case "web":
		azp = wire.TeamsWebClientID
	default:
		return nil, 400, "client must be desktop, mobile or web"
	}
	const year = 365 * 24 * 3600
	if (in.ExpiresInSeconds != nil && (*in.ExpiresInSeconds < -year || *in.ExpiresInSeconds > year)) || in.NotBeforeSeconds < -year || in.NotBeforeSeconds > year {
		return nil, 400, "expiresInSeconds and notBeforeSeconds must be within a year of now"
	}
	lifetime := e.accessLifetime()
	if in.ExpiresInSeconds != nil {
		lifetime = time.Duration(*in.ExpiresInSeconds) * time.Second
	}
	iat := now.Add(time.Duration(in.NotBeforeSeconds) * time.Second)
	exp := now.Add(lifetime)
	if in.Expired {
		iat, exp = now.Add(-90*time.Minute), now.Add(-10*time.Minute)
	}
	if in.NotYetValid {
		iat = now.Add(10 * time.Minute)
		exp = iat.Add(time.Hour)
	}
	tid := e.TenantID
	if in.OtherTenant {
		tid = wire.OtherTenantID
	}
	aud := resource
	if in.Audience != "" {
		aud = in.Audience
	}
	scp := SSOScope
	if in.Scope != "" {
		scp = in.Scope
	}
	c := map[string]any{
		"aud": aud, "iat": iat.Unix(), "nbf": iat.Unix(), "exp": exp.Unix(), "aio": randomToken(40),
		"name": user.DisplayName, "oid": user.ID, "rh": "0.A" + randomToken(40), "scp": scp,
		"sub": pairwiseSub(user.ID, app.ClientID), "tid": tid, "uti": randomToken(22),
	}
	// A B2B guest signs in with their home identity (L entra external-id user-token): no upn, the
	// home address as email/unique_name/preferred_username, idp = the home tenant's issuer.
	guest := user.UserType == "Guest" && user.Mail != ""
	login := user.UserPrincipalName
	if guest {
		login = user.Mail
		_, domain, _ := strings.Cut(user.Mail, "@")
		c["idp"] = e.issuerV1(uuidFrom("home-tenant:" + strings.ToLower(domain)))
	}
	switch in.Version {
	case "", "2.0":
		c["iss"], c["ver"] = e.issuerV2(tid), "2.0"
		c["azp"], c["azpacr"] = azp, "0"
		c["preferred_username"] = login
	case "1.0":
		c["iss"], c["ver"] = e.issuerV1(tid), "1.0"
		c["appid"], c["appidacr"] = azp, "0"
		c["unique_name"] = login
		if guest {
			c["email"] = user.Mail
		} else {
			c["upn"] = user.UserPrincipalName
			c["idp"] = e.issuerV1(tid)
		}
		c["given_name"], c["family_name"], c["amr"] = user.GivenName, user.Surname, []string{"pwd"}
	default:
		return nil, 400, "version must be 2.0 or 1.0"
	}
	for _, oc := range in.OptionalClaims {
		switch oc {
		case "upn":
			if !guest { // a guest's upn needs include_externally_authenticated_upn, not emulated
				c["upn"] = user.UserPrincipalName
			}
		case "email":
			if user.Mail != "" {
				c["email"] = user.Mail
			}
		default:
			return nil, 400, "optionalClaims: only upn and email"
		}
	}
	var jwt string
	if in.UnknownKey {
		var err error
		if jwt, err = e.keys.signUnpublished(c); err != nil {
			return nil, 500, err.Error()
		}
	} else {
		jwt = e.signJWT(c)
	}
	return &wire.SSOToken{Token: jwt, ExpiresOn: exp.UTC().Format(time.RFC3339), Claims: c}, 0, ""
}

// ssoApp checks the Teams app whose tab asks for a token as Teams would and
// returns its webApplicationInfo.resource.
func (e *Emulator) ssoApp(key, uid string, reg appReg) (string, int, string) {
	e.st.mu.RLock()
	defer e.st.mu.RUnlock()
	a := e.st.appByKey(key)
	if a == nil {
		return "", 404, "no such app in the catalog: " + key
	}
	installed := false
	for _, in := range e.st.installs[scopeKey("user", uid)] {
		installed = installed || in.AppID == a.ID
	}
	for _, t := range e.st.teamOrder {
		for _, in := range e.st.installs[scopeKey("team", t.ID)] {
			installed = installed || (in.AppID == a.ID && t.hasMember(uid))
		}
	}
	for _, ch := range e.st.chatOrder {
		for _, in := range e.st.installs[scopeKey("chat", ch.ID)] {
			installed = installed || (in.AppID == a.ID && ch.member(uid) != nil)
		}
	}
	d := a.Def
	switch {
	case !installed:
		return "", 400, fmt.Sprintf("the Teams app %s is not installed for %s (Teams shows no tab to ask from)", a.ExternalID, uid)
	case d.AzureADAppID == "":
		return "", 400, "the Teams app has no webApplicationInfo: getAuthToken() fails"
	case d.AzureADAppID != strings.ToLower(reg.ClientID):
		return "", 400, fmt.Sprintf("AADSTS700016: Application with identifier '%s' was not found in the directory '%s'.", d.AzureADAppID, e.st.tenantName)
	case !contains(reg.IdentifierURIs, d.Resource):
		return "", 400, fmt.Sprintf("AADSTS500011: The resource principal named %s was not found in the tenant named %s.", d.Resource, e.st.tenantName)
	}
	return d.Resource, 0, ""
}

// assertionError is why an on-behalf-of assertion is refused: the token
// endpoint's error, AADSTS code and description.
type assertionError struct {
	oauth string
	code  int
	desc  string
}

// verifyAssertion checks an incoming access token as Entra does before an
// on-behalf-of exchange: well formed, signed by a published key, issued by
// this tenant, within its lifetime, for this app (its client id or one of
// its Application ID URIs).
func (e *Emulator) verifyAssertion(tok string, app appReg, now time.Time) (map[string]any, *assertionError) {
	malformed := &assertionError{"invalid_request", 50027, "JWT token is invalid or malformed."}
	parts := strings.Split(tok, ".")
	if len(tok) > 16<<10 || len(parts) != 3 {
		return nil, malformed
	}
	var hdr struct{ Alg, Kid string }
	var claims map[string]any
	hb, err1 := base64.RawURLEncoding.DecodeString(parts[0])
	cb, err2 := base64.RawURLEncoding.DecodeString(parts[1])
	sig, err3 := base64.RawURLEncoding.DecodeString(parts[2])
	if err1 != nil || err2 != nil || err3 != nil || json.Unmarshal(hb, &hdr) != nil || json.Unmarshal(cb, &claims) != nil {
		return nil, malformed
	}
	if hdr.Alg != "RS256" {
		return nil, &assertionError{"invalid_grant", 50013, "Assertion failed signature validation. [Reason - The provided signature value did not match the expected signature value.]"}
	}
	pub := e.keys.publicKey(hdr.Kid)
	if pub == nil {
		return nil, &assertionError{"invalid_grant", 50013, fmt.Sprintf("Assertion failed signature validation. [Reason - The key was not found., Thumbprint of key used by client: '%s']", hdr.Kid)}
	}
	sum := sha256.Sum256([]byte(parts[0] + "." + parts[1]))
	if rsa.VerifyPKCS1v15(pub, crypto.SHA256, sum[:], sig) != nil {
		return nil, &assertionError{"invalid_grant", 50013, "Assertion failed signature validation. [Reason - The provided signature value did not match the expected signature value.]"}
	}
	num := func(k string) int64 { f, _ := claims[k].(float64); return int64(f) }
	str := func(k string) string { s, _ := claims[k].(string); return s }
	if str("tid") != e.TenantID || (str("iss") != e.issuerV2(e.TenantID) && str("iss") != e.issuerV1(e.TenantID)) {
		// (unverified) Entra's wording for a token of another tenant.
		return nil, &assertionError{"invalid_grant", 50013, fmt.Sprintf("Assertion is not valid: its issuer '%s' is not tenant '%s'.", str("iss"), e.TenantID)}
	}
	const skew = 5 * time.Minute
	if exp := time.Unix(num("exp"), 0); now.After(exp.Add(skew)) || now.Add(skew).Before(time.Unix(num("nbf"), 0)) {
		return nil, &assertionError{"invalid_grant", 500133, fmt.Sprintf("Assertion is not within its valid time range. Ensure that the access token is not expired before using it for user assertion, or request a new token. Current time: %s, expiry time of assertion %s.",
			now.UTC().Format("2006-01-02T15:04:05.0000000Z"), exp.UTC().Format("2006-01-02T15:04:05.0000000Z"))}
	}
	if aud := str("aud"); aud != app.ClientID && !contains(app.IdentifierURIs, aud) {
		return nil, &assertionError{"invalid_grant", 50013, fmt.Sprintf("Assertion audience does not match the Client app presenting the assertion. The audience in the assertion was '%s' and the expected audience is '%s' or one of the Application Id URIs of this web API registered in Azure AD.", aud, app.ClientID)}
	}
	if str("oid") == "" || str("scp") == "" {
		return nil, &assertionError{"invalid_grant", 50013, "Assertion is not a user's delegated access token."}
	}
	return claims, nil
}

// grantOnBehalfOf is grant_type urn:ietf:params:oauth:grant-type:jwt-bearer
// with requested_token_use=on_behalf_of (MG §1.3): a Graph token for the
// user of the assertion, with Entra's errors.
func (e *Emulator) grantOnBehalfOf(w http.ResponseWriter, f url.Values, app appReg) {
	switch {
	case f.Get("requested_token_use") == "":
		e.tokenError(w, 400, "invalid_request", 900144, "The request body must contain the following parameter: 'requested_token_use'.")
		return
	case f.Get("requested_token_use") != "on_behalf_of":
		e.tokenError(w, 400, "invalid_request", 900144, "The value of the parameter 'requested_token_use' is not valid: on_behalf_of is the only one (unverified wording).")
		return
	case f.Get("assertion") == "":
		e.tokenError(w, 400, "invalid_request", 900144, "The request body must contain the following parameter: 'assertion'.")
		return
	case strings.TrimSpace(f.Get("scope")) == "":
		e.tokenError(w, 400, "invalid_request", 900144, "The request body must contain the following parameter: 'scope'.")
		return
	}
	claims, bad := e.verifyAssertion(f.Get("assertion"), app, time.Now())
	if bad != nil {
		e.tokenError(w, 400, bad.oauth, bad.code, bad.desc)
		return
	}
	oid, _ := claims["oid"].(string)
	e.st.mu.RLock()
	u := e.st.users[oid]
	var enabled, deleted, mfa bool
	if u != nil {
		enabled, deleted, mfa = u.AccountEnabled, u.Deleted, u.RequireMFA
	}
	e.st.mu.RUnlock()
	switch {
	case u == nil || deleted:
		e.tokenError(w, 400, "invalid_grant", 50034, fmt.Sprintf("The user account %s does not exist in the %s directory.", oid, e.st.domain))
		return
	case !enabled:
		e.tokenError(w, 400, "invalid_grant", 50057, "The user account is disabled.")
		return
	}
	if mfa {
		// MG §1.3: Conditional Access needing interaction gives interaction_required plus a claims challenge,
		// which the middle tier passes back to the client (L tab-sso-graph-api: fall back to a popup).
		body := e.tokenErrorBody("interaction_required", 50076, fmt.Sprintf("Due to a configuration change made by your administrator, or because you moved to a new location, you must use multi-factor authentication to access '%s'.", graphAppID))
		body["suberror"] = "basic_action"
		body["claims"] = `{"access_token":{"capolids":{"essential":true,"values":["` + uuidFrom("mfa-policy:"+e.TenantID) + `"]}}}`
		w.Header().Set("Cache-Control", "no-store, no-cache")
		writeJSON(w, 400, body)
		return
	}
	if iat, _ := claims["iat"].(float64); e.revokedSince(oid, time.Unix(int64(iat), 0)) {
		e.tokenError(w, 400, "invalid_grant", 50173, "The provided grant has expired due to it being revoked, a fresh auth token is needed. The user might have changed or reset their password.")
		return
	}
	gscopes, oidc, dflt, badRes := parseScopes(f.Get("scope"))
	if badRes != "" {
		e.tokenError(w, 400, "invalid_resource", 500011, fmt.Sprintf("The resource principal named %s was not found in the tenant named %s.", badRes, e.st.tenantName))
		return
	}
	for _, s := range gscopes {
		if !app.Delegated[s] {
			body := e.tokenErrorBody("invalid_grant", 65001, fmt.Sprintf("The user or administrator has not consented to use the application with ID '%s' named '%s'. Send an interactive authorization request for this user and resource.", app.ClientID, app.DisplayName))
			body["suberror"] = "consent_required"
			w.Header().Set("Cache-Control", "no-store, no-cache")
			writeJSON(w, 400, body)
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
	if len(gscopes) == 0 {
		e.tokenError(w, 400, "invalid_scope", 70011, "The provided value for the input parameter 'scope' is not valid. An on-behalf-of request needs a scope of a resource.")
		return
	}
	e.issueUserTokens(w, app, oid, dedupe(append(gscopes, oidc...)), "")
}

// revokedSince tells whether the user's sessions were revoked after t.
func (e *Emulator) revokedSince(uid string, t time.Time) bool {
	e.auth.mu.Lock()
	defer e.auth.mu.Unlock()
	at, ok := e.auth.revokedAt[uid]
	return ok && at.Truncate(time.Second).After(t)
}

// publicKey returns the published key with this kid, or nil.
func (r *keyRing) publicKey(kid string) *rsa.PublicKey {
	r.mu.RLock()
	defer r.mu.RUnlock()
	if _, k := r.find(kid); k != nil {
		pub := k.key.PublicKey
		return &rsa.PublicKey{N: new(big.Int).Set(pub.N), E: pub.E}
	}
	return nil
}
