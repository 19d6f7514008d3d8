package m365ctl

import (
	"context"
	"net/url"

	"github.com/msteams-bridge/msteams/tests/emulators/graph/wire"
)

// ---- signing keys ----

// SigningKey is one key of the tenant's published key set.
type SigningKey = wire.SigningKey

// Keys lists the published keys (oldest first) and which one signs.
func (c *Client) Keys(ctx context.Context) ([]SigningKey, error) {
	var l list[SigningKey]
	return l.Value, c.do(ctx, "GET", "/keys", nil, &l)
}

// AddKey publishes a new key; activate makes it sign every token from now on.
func (c *Client) AddKey(ctx context.Context, activate bool) (*SigningKey, error) {
	var k SigningKey
	return &k, c.do(ctx, "POST", "/keys", wire.KeyAdd{Activate: activate}, &k)
}

// ActivateKey makes a published key the one that signs.
func (c *Client) ActivateKey(ctx context.Context, kid string) error {
	return c.do(ctx, "POST", "/keys/"+url.PathEscape(kid)+"/activate", nil, nil)
}

// RemoveKey unpublishes a key (not the active one: 409).
func (c *Client) RemoveKey(ctx context.Context, kid string) error {
	return c.do(ctx, "DELETE", "/keys/"+url.PathEscape(kid), nil, nil)
}

// RotateKey publishes a new key, makes it sign, and returns it; the key that
// signed before stays published until RemoveKey.
func (c *Client) RotateKey(ctx context.Context) (*SigningKey, error) { return c.AddKey(ctx, true) }

// ---- Teams SSO ----

// SSOTokenRequest asks for the token getAuthToken() gives a tab (see wire).
type SSOTokenRequest = wire.SSOTokenRequest

// SSOToken is the token and its claims.
type SSOToken = wire.SSOToken

// Teams' client ids and the foreign tenant of SSOTokenRequest.OtherTenant.
const (
	OtherTenantID        = wire.OtherTenantID
	TeamsDesktopClientID = wire.TeamsDesktopClientID
	TeamsWebClientID     = wire.TeamsWebClientID
)

// SSOToken returns the access token Teams would give the tab for a user.
func (c *Client) SSOToken(ctx context.Context, req SSOTokenRequest) (*SSOToken, error) {
	var t SSOToken
	return &t, c.do(ctx, "POST", "/sso/token", req, &t)
}
