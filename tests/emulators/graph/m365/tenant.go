package m365

import (
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/msteams-bridge/msteams/tests/emulators/graph/wire"
)

// TenantFile is the JSON document that seeds a tenant (see README.md).
type TenantFile struct {
	TenantID    string     `json:"tenantId"`
	Domain      string     `json:"domain"`
	DisplayName string     `json:"displayName"`
	App         AppSpec    `json:"app"`
	Users       []UserSpec `json:"users"`
	Teams       []TeamSpec `json:"teams"`
	Chats       []ChatSpec `json:"chats"`
}

// AppSpec is the bridge's app registration.
type AppSpec struct {
	ClientID     string `json:"clientId"`
	ClientSecret string `json:"clientSecret"`
	DisplayName  string `json:"displayName"`
	// SecretExpiresAt is RFC 3339; empty means far in the future.
	SecretExpiresAt string   `json:"secretExpiresAt"`
	RedirectURIs    []string `json:"redirectUris"`
	// DelegatedPermissions are the consented delegated scopes (e.g. "Chat.ReadWrite").
	DelegatedPermissions []string `json:"delegatedPermissions"`
	// ApplicationPermissions are the granted app roles (e.g. "Chat.Read.All").
	ApplicationPermissions []string `json:"applicationPermissions"`
	// RequirePKCE refuses authorize requests without a code_challenge.
	RequirePKCE bool `json:"requirePkce"`
	// IdentifierURIs are the Application ID URIs of the app's own API, the
	// audience of Teams SSO tokens (api://<host>/<client id>); its one scope
	// is access_as_user.
	IdentifierURIs []string `json:"identifierUris"`
}

// UserSpec seeds or creates a user (control API POST /users).
type UserSpec = wire.UserSpec

// TeamSpec seeds or creates a team; members are user ids, UPNs or mails.
type TeamSpec = wire.TeamSpec

// ChannelSpec seeds or creates a channel. A team always has "General".
type ChannelSpec = wire.ChannelSpec

// ChatSpec seeds or creates a chat; members are user ids, UPNs or mails.
type ChatSpec = wire.ChatSpec

// Default identifiers of the built-in tenant.
const (
	DefaultTenantID     = "72f988bf-86f1-41af-91ab-2d7cd011db47"
	DefaultClientID     = "5c0a4f5e-2b8e-4c3f-9d1a-6f2b1e0c7a11"
	DefaultClientSecret = "emu~Secret.0123456789abcdefghijklmnopqrstuv"
)

// DefaultRedirectURIs are registered in the built-in tenant: the plugin's
// OAuth redirect on the usual local Mattermost addresses.
var DefaultRedirectURIs = []string{
	"http://localhost:8065/plugins/com.mattermost.msteams/oauth-redirect",
	"https://localhost:8065/plugins/com.mattermost.msteams/oauth-redirect",
	"http://127.0.0.1:8065/plugins/com.mattermost.msteams/oauth-redirect",
}

// DefaultIdentifierURI is the built-in app's Application ID URI: the plugin's
// tab served by a local Mattermost (the manifest's webApplicationInfo.resource).
const DefaultIdentifierURI = "api://localhost:8065/" + DefaultClientID

// DefaultDelegatedPermissions are what the bridge's app is consented for.
var DefaultDelegatedPermissions = []string{
	"User.Read", "User.ReadBasic.All", "Chat.ReadWrite", "Chat.Create", "ChatMessage.Send",
	"ChatMember.ReadWrite", "ChannelMessage.Send", "ChannelMessage.ReadWrite", "ChannelMessage.Read.All",
	"Channel.ReadBasic.All", "Team.ReadBasic.All", "Files.ReadWrite", "Files.ReadWrite.All",
	"Presence.Read.All", "TeamsActivity.Send", "offline_access",
}

// DefaultApplicationPermissions are granted to the bridge's app.
var DefaultApplicationPermissions = []string{
	"User.Read.All", "Chat.Read.All", "Chat.ReadWrite.All", "Chat.Create", "ChatMember.ReadWrite.All",
	"ChannelMessage.Read.All", "Channel.ReadBasic.All", "Team.ReadBasic.All", "Files.ReadWrite.All",
	"Presence.Read.All", "TeamsActivity.Send", "Application.Read.All", "AppCatalog.Read.All",
	"TeamsAppInstallation.ReadWriteSelfForUser.All",
}

func boolPtr(b bool) *bool { return &b }

// DefaultTenant returns the built-in tenant: seven people (one guest, one
// disabled), one team with two channels, and no chats.
func DefaultTenant() *TenantFile {
	u := func(id, given, sur, login string) UserSpec {
		return UserSpec{ID: id, DisplayName: given + " " + sur, GivenName: given, Surname: sur,
			Mail: login + "@contoso.onmicrosoft.com", UserPrincipalName: login + "@contoso.onmicrosoft.com"}
	}
	users := []UserSpec{
		u("a1b2c3d4-0001-4000-8000-000000000001", "Adele", "Vance", "adele"),
		u("a1b2c3d4-0002-4000-8000-000000000002", "Bianca", "Pisani", "bianca"),
		u("a1b2c3d4-0003-4000-8000-000000000003", "Cameron", "White", "cameron"),
		u("a1b2c3d4-0004-4000-8000-000000000004", "Diego", "Siciliani", "diego"),
		u("a1b2c3d4-0005-4000-8000-000000000005", "Emily", "Braun", "emily"),
	}
	guest := UserSpec{ID: "a1b2c3d4-0006-4000-8000-000000000006", DisplayName: "Gita Guest", GivenName: "Gita", Surname: "Guest",
		Mail: "gita@fabrikam.example", UserPrincipalName: "gita_fabrikam.example#EXT#@contoso.onmicrosoft.com", UserType: "Guest"}
	disabled := u("a1b2c3d4-0007-4000-8000-000000000007", "Dora", "Disabled", "dora")
	disabled.AccountEnabled = boolPtr(false)
	users = append(users, guest, disabled)
	return &TenantFile{
		TenantID:    DefaultTenantID,
		Domain:      "contoso.onmicrosoft.com",
		DisplayName: "Contoso",
		App: AppSpec{
			ClientID: DefaultClientID, ClientSecret: DefaultClientSecret, DisplayName: "Mattermost Teams Bridge",
			RedirectURIs:           append([]string(nil), DefaultRedirectURIs...),
			IdentifierURIs:         []string{DefaultIdentifierURI},
			DelegatedPermissions:   append([]string(nil), DefaultDelegatedPermissions...),
			ApplicationPermissions: append([]string(nil), DefaultApplicationPermissions...),
		},
		Users: users,
		Teams: []TeamSpec{{
			ID: "b2c3d4e5-0001-4000-8000-000000000001", DisplayName: "Contoso", Description: "Everyone at Contoso",
			Members:  []string{users[0].ID, users[1].ID, users[2].ID, users[3].ID, users[4].ID, guest.ID},
			Channels: []ChannelSpec{{DisplayName: "Engineering"}},
		}},
	}
}

// LoadTenantFile reads and validates a tenant file.
func LoadTenantFile(path string) (*TenantFile, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var t TenantFile
	dec := json.NewDecoder(strings.NewReader(string(data)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&t); err != nil {
		return nil, fmt.Errorf("tenant file %s: %w", path, err)
	}
	return &t, nil
}

func (t *TenantFile) normalise() error {
	if t.TenantID == "" {
		t.TenantID = newGUID()
	}
	if !isGUID(t.TenantID) {
		return fmt.Errorf("tenantId %q is not a GUID", t.TenantID)
	}
	if t.Domain == "" {
		t.Domain = "contoso.onmicrosoft.com"
	}
	if t.DisplayName == "" {
		t.DisplayName = "Contoso"
	}
	if t.App.ClientID == "" {
		t.App.ClientID = newGUID()
	}
	if t.App.ClientSecret == "" {
		t.App.ClientSecret = randomToken(30)
	}
	if t.App.DisplayName == "" {
		t.App.DisplayName = "Mattermost Teams Bridge"
	}
	if t.App.SecretExpiresAt != "" {
		if _, err := time.Parse(time.RFC3339, t.App.SecretExpiresAt); err != nil {
			return fmt.Errorf("app.secretExpiresAt: %w", err)
		}
	}
	return nil
}
