package wire

// Tenant is GET /tenant and the answer of PATCH /app: the tenant, the
// bridge's app registration and the emulator's endpoints. Its fields are in
// the order the emulator has always sent them (alphabetical).
type Tenant struct {
	ApplicationPermissions []string `json:"applicationPermissions"`
	CAFile                 string   `json:"caFile"`
	Cloud                  string   `json:"cloud"`
	ClientID               string   `json:"clientId"`
	ClientSecret           string   `json:"clientSecret"`
	ControlURL             string   `json:"controlUrl"`
	DelegatedPermissions   []string `json:"delegatedPermissions"`
	DisplayName            string   `json:"displayName"`
	Domain                 string   `json:"domain"`
	GraphURL               string   `json:"graphUrl"`
	IdentifierURIs         []string `json:"identifierUris"`
	LoginURL               string   `json:"loginUrl"`
	RedirectURIs           []string `json:"redirectUris"`
	RequirePKCE            bool     `json:"requirePkce"`
	SecretExpiresAt        string   `json:"secretExpiresAt"` // RFC 3339
	TenantID               string   `json:"tenantId"`
}

// AppPatch is PATCH /app; nil and empty fields keep the current value.
// SecretExpired true makes the client secret expired, false valid for two
// more years; SecretExpiresAt (RFC 3339) sets the expiry outright.
type AppPatch struct {
	RedirectURIs           []string `json:"redirectUris,omitempty"`
	AddRedirectURIs        []string `json:"addRedirectUris,omitempty"`
	SecretExpiresAt        string   `json:"secretExpiresAt,omitempty"`
	SecretExpired          *bool    `json:"secretExpired,omitempty"`
	ClientSecret           string   `json:"clientSecret,omitempty"`
	DelegatedPermissions   []string `json:"delegatedPermissions,omitempty"`
	ApplicationPermissions []string `json:"applicationPermissions,omitempty"`
	RequirePKCE            *bool    `json:"requirePkce,omitempty"`
	// IdentifierURIs replaces the Application ID URIs (api://<host>/<client id>).
	IdentifierURIs []string `json:"identifierUris,omitempty"`
}

// Presence of a user, as in UserPatch and in the control API's user answers.
type Presence struct {
	Availability string `json:"availability"`
	Activity     string `json:"activity"`
}

// UserSpec is POST /users (and a user of a tenant file).
type UserSpec struct {
	ID                string `json:"id,omitempty"` // a GUID; default: a new one
	DisplayName       string `json:"displayName"`
	GivenName         string `json:"givenName,omitempty"`
	Surname           string `json:"surname,omitempty"`
	Mail              string `json:"mail,omitempty"`
	UserPrincipalName string `json:"userPrincipalName,omitempty"`
	UserType          string `json:"userType,omitempty"` // Member (default) or Guest
	AccountEnabled    *bool  `json:"accountEnabled,omitempty"`
	JobTitle          string `json:"jobTitle,omitempty"`
}

// UserPatch is PATCH /users/{id}; nil and empty fields keep the current value.
type UserPatch struct {
	AccountEnabled *bool     `json:"accountEnabled,omitempty"`
	DisplayName    string    `json:"displayName,omitempty"`
	Mail           *string   `json:"mail,omitempty"`     // a new mail address ("" removes it); the UPN stays
	UserType       string    `json:"userType,omitempty"` // Member or Guest
	JobTitle       *string   `json:"jobTitle,omitempty"`
	Presence       *Presence `json:"presence,omitempty"`
	Photo          *string   `json:"photo,omitempty"`     // the profile photo, base64; "" removes it
	PhotoType      string    `json:"photoType,omitempty"` // its media type, default image/jpeg
	// RequireMFA makes Conditional Access ask this user for multi-factor
	// authentication: the on-behalf-of grant answers interaction_required.
	RequireMFA *bool `json:"requireMfa,omitempty"`
}

// TeamSpec is POST /teams (and a team of a tenant file); members are user
// ids, UPNs or mails. A team always gets a General channel.
type TeamSpec struct {
	ID          string        `json:"id,omitempty"`
	DisplayName string        `json:"displayName"`
	Description string        `json:"description,omitempty"`
	Members     []string      `json:"members,omitempty"`
	Channels    []ChannelSpec `json:"channels,omitempty"`
}

// ChannelSpec is POST /teams/{id}/channels (and a channel of a TeamSpec).
type ChannelSpec struct {
	ID             string `json:"id,omitempty"`
	DisplayName    string `json:"displayName"`
	Description    string `json:"description,omitempty"`
	MembershipType string `json:"membershipType,omitempty"` // standard (default), private, shared
}

// ChatSpec is POST /chats (and a chat of a tenant file); members are user
// ids, UPNs or mails.
type ChatSpec struct {
	ID       string   `json:"id,omitempty"`
	ChatType string   `json:"chatType"` // oneOnOne or group
	Topic    string   `json:"topic,omitempty"`
	Members  []string `json:"members"`
}

// Member is POST /teams/{id}/members and POST /chats/{id}/members; the user
// is an id, UPN or mail.
type Member struct {
	UserID string `json:"userId"`
}
