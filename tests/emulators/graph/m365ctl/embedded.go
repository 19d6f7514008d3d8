package m365ctl

import (
	"archive/zip"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"net/url"
	"time"

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

// RotateKeyRetiring rotates and unpublishes the previous key after the given time.
func (c *Client) RotateKeyRetiring(ctx context.Context, after time.Duration) (*SigningKey, error) {
	var k SigningKey
	in := wire.KeyAdd{Activate: true, RetirePreviousAfterMs: int(after / time.Millisecond)}
	return &k, c.do(ctx, "POST", "/keys", in, &k)
}

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

// ---- Teams app catalog and installations ----

// TeamsApp is a catalog app as Graph shows it, with its definition.
type TeamsApp struct {
	ID                 string          `json:"id"`
	ExternalID         string          `json:"externalId"`
	DisplayName        string          `json:"displayName"`
	DistributionMethod string          `json:"distributionMethod"`
	AppDefinitions     []AppDefinition `json:"appDefinitions"`
}

// AppDefinition is a teamsAppDefinition (version, Entra app, RSC permissions).
type AppDefinition struct {
	ID              string  `json:"id"`
	TeamsAppID      string  `json:"teamsAppId"`
	AzureADAppID    *string `json:"azureADAppId"`
	DisplayName     string  `json:"displayName"`
	Version         string  `json:"version"`
	PublishingState string  `json:"publishingState"`
	Authorization   struct {
		RequiredPermissionSet PermissionSet `json:"requiredPermissionSet"`
	} `json:"authorization"`
}

// PermissionSet lists resource-specific permissions.
type PermissionSet struct {
	ResourceSpecificPermissions []struct {
		PermissionValue string `json:"permissionValue"`
		PermissionType  string `json:"permissionType"`
	} `json:"resourceSpecificPermissions"`
}

// Installation is a teamsAppInstallation with its app and definition.
type Installation struct {
	ID                     string        `json:"id"`
	ConsentedPermissionSet PermissionSet `json:"consentedPermissionSet"`
	TeamsApp               TeamsApp      `json:"teamsApp"`
	TeamsAppDefinition     AppDefinition `json:"teamsAppDefinition"`
}

// AppScope is where an app is installed: ForUser, ForTeam or ForChat.
type AppScope struct{ path string }

// ForUser is a user's personal scope; ForTeam a team; ForChat a chat.
func ForUser(id string) AppScope { return AppScope{"/users/" + url.PathEscape(id)} }
func ForTeam(id string) AppScope { return AppScope{"/teams/" + url.PathEscape(id)} }
func ForChat(id string) AppScope { return AppScope{"/chats/" + url.PathEscape(id)} }

// UploadApp publishes a Teams app package (a zip) to the tenant catalog as an admin.
func (c *Client) UploadApp(ctx context.Context, pkg []byte, requiresReview bool) (*TeamsApp, error) {
	var a TeamsApp
	in := wire.AppUpload{PackageBase64: base64.StdEncoding.EncodeToString(pkg), RequiresReview: requiresReview}
	return &a, c.do(ctx, "POST", "/apps", in, &a)
}

// Apps lists the tenant catalog.
func (c *Client) Apps(ctx context.Context) ([]TeamsApp, error) {
	var l list[TeamsApp]
	return l.Value, c.do(ctx, "GET", "/apps", nil, &l)
}

// DeleteApp removes an app (catalog or manifest id) and its installations.
func (c *Client) DeleteApp(ctx context.Context, app string) error {
	return c.do(ctx, "DELETE", "/apps/"+url.PathEscape(app), nil, nil)
}

// InstallApp installs a catalog app (catalog or manifest id) in a scope, as a
// user would in Teams, consenting to its resource-specific permissions.
func (c *Client) InstallApp(ctx context.Context, s AppScope, app string) (*Installation, error) {
	var in Installation
	return &in, c.do(ctx, "POST", s.path+"/apps", wire.AppInstall{App: app}, &in)
}

// InstallAppWithoutConsent installs it without granting its RSC permissions.
func (c *Client) InstallAppWithoutConsent(ctx context.Context, s AppScope, app string) (*Installation, error) {
	var in Installation
	no := false
	return &in, c.do(ctx, "POST", s.path+"/apps", wire.AppInstall{App: app, Consent: &no}, &in)
}

// UninstallApp removes an app (catalog or manifest id) from a scope.
func (c *Client) UninstallApp(ctx context.Context, s AppScope, app string) error {
	return c.do(ctx, "DELETE", s.path+"/apps/"+url.PathEscape(app), nil, nil)
}

// InstalledApps lists the apps installed in a scope.
func (c *Client) InstalledApps(ctx context.Context, s AppScope) ([]Installation, error) {
	var l list[Installation]
	return l.Value, c.do(ctx, "GET", s.path+"/apps", nil, &l)
}

// ActivityType declares an activity type in a manifest (NewAppManifest).
type ActivityType struct {
	Type         string `json:"type"`
	Description  string `json:"description"`
	TemplateText string `json:"templateText"`
}

// NewAppManifest returns a minimal valid Teams app manifest (schema 1.17) for
// the Entra app clientID whose API is resource (api://<host>/<client id>),
// declaring the activity types and, when rsc is set, the RSC permission
// TeamsActivity.Send.User. Change the map before BuildAppPackage as needed.
func NewAppManifest(manifestID, clientID, resource string, rsc bool, types ...ActivityType) map[string]any {
	m := map[string]any{
		"$schema":         "https://developer.microsoft.com/json-schemas/teams/v1.17/MicrosoftTeams.schema.json",
		"manifestVersion": "1.17", "version": "1.0.0", "id": manifestID,
		"name":        map[string]any{"short": "Mattermost", "full": "Mattermost for Microsoft Teams"},
		"description": map[string]any{"short": "Mattermost in Teams", "full": "Mattermost channels and notifications in Microsoft Teams."},
		"developer": map[string]any{"name": "Mattermost", "websiteUrl": "https://mattermost.com",
			"privacyUrl": "https://mattermost.com/privacy", "termsOfUseUrl": "https://mattermost.com/terms"},
		"icons":              map[string]any{"color": "color.png", "outline": "outline.png"},
		"accentColor":        "#1E325C",
		"webApplicationInfo": map[string]any{"id": clientID, "resource": resource},
	}
	if len(types) > 0 {
		m["activities"] = map[string]any{"activityTypes": types}
	}
	if rsc {
		m["authorization"] = map[string]any{"permissions": map[string]any{"resourceSpecific": []any{
			map[string]any{"name": "TeamsActivity.Send.User", "type": "Application"}}}}
	}
	return m
}

// BuildAppPackage zips a manifest with the two icons it names (placeholder PNGs).
func BuildAppPackage(manifest any) ([]byte, error) {
	data, err := json.MarshalIndent(manifest, "", "  ")
	if err != nil {
		return nil, err
	}
	png := []byte("\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00\x1f\x15\xc4\x89")
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for _, f := range []struct {
		name string
		data []byte
	}{{"manifest.json", data}, {"color.png", png}, {"outline.png", png}} {
		w, err := zw.Create(f.name)
		if err != nil {
			return nil, err
		}
		if _, err := w.Write(f.data); err != nil {
			return nil, err
		}
	}
	if err := zw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// ---- activity feeds ----

// FeedEntry is one notification in a user's Teams activity feed.
type FeedEntry = wire.FeedEntry

// KeyValue is a template parameter.
type KeyValue = wire.KeyValue

// Feed lists what a user's activity feed received, oldest first.
func (c *Client) Feed(ctx context.Context, user string) ([]FeedEntry, error) {
	var l list[FeedEntry]
	return l.Value, c.do(ctx, "GET", "/feeds/"+url.PathEscape(user), nil, &l)
}

// Feeds lists every feed's entries in arrival order.
func (c *Client) Feeds(ctx context.Context) ([]FeedEntry, error) {
	var l list[FeedEntry]
	return l.Value, c.do(ctx, "GET", "/feeds", nil, &l)
}

// ClearFeed empties a user's feed ("" empties every feed).
func (c *Client) ClearFeed(ctx context.Context, user string) error {
	p := "/feeds"
	if user != "" {
		p += "/" + url.PathEscape(user)
	}
	return c.do(ctx, "DELETE", p, nil, nil)
}

// ClearActivity empties the log of activity-notification calls (GET /activity).
func (c *Client) ClearActivity(ctx context.Context) error {
	return c.do(ctx, "DELETE", "/activity", nil, nil)
}
