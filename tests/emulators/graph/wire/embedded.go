package wire

// SigningKey is one key of the tenant's published key set (GET /keys): the
// kid (the certificate's x5t), whether it signs tokens now, and when it was made.
type SigningKey struct {
	Kid     string `json:"kid"`
	Active  bool   `json:"active"`
	Created string `json:"created"`
	Retires string `json:"retires,omitempty"` // RFC 3339: when it will be unpublished
}

// KeyAdd is POST /keys: publish a new key; Activate makes it sign from now on
// (otherwise it is announced only, as Entra announces keys before using them).
type KeyAdd struct {
	Activate bool `json:"activate"`
	// RetirePreviousAfterMs, with Activate, unpublishes the key that signed
	// until now this many milliseconds later (0: it stays until DELETE).
	RetirePreviousAfterMs int `json:"retirePreviousAfterMs,omitempty"`
}

// SSOTokenRequest is POST /sso/token: the emulator plays Teams' token service
// and returns the access token getAuthToken() would give the tab for User.
// Zero fields take the defaults in brackets; the rest shape tokens that a
// validator must refuse.
type SSOTokenRequest struct {
	User string `json:"user"` // id, UPN or mail (required)
	// App, when set, is the Teams app (catalog or manifest id) whose tab asks,
	// as Teams does it: the app must be installed for the user (personally, or
	// in a team or chat of theirs), its webApplicationInfo.id must be the app
	// registration's client id and its resource one of its Application ID URIs
	// (the default Resource).
	App string `json:"app,omitempty"`
	// Resource is the Application ID URI asked for [the app's only one]; it
	// must be registered (else 400 AADSTS500011), and becomes aud.
	Resource string `json:"resource,omitempty"`
	// Client is the Teams client asking: "desktop" (also mobile) or "web" [desktop]; its id is azp/appid.
	Client string `json:"client,omitempty"`
	// Version is the token format, "2.0" or "1.0" [2.0].
	Version string `json:"version,omitempty"`
	// OptionalClaims adds claims the app registration would configure: "upn", "email".
	OptionalClaims []string `json:"optionalClaims,omitempty"`
	// ExpiresInSeconds sets exp from now (negative: already expired) [Entra's 3600–5399 s].
	ExpiresInSeconds *int `json:"expiresInSeconds,omitempty"`
	// NotBeforeSeconds moves nbf (and iat) from now; positive: not yet valid.
	NotBeforeSeconds int `json:"notBeforeSeconds,omitempty"`
	// Expired is exp 10 minutes ago; NotYetValid is nbf in 10 minutes.
	Expired     bool `json:"expired,omitempty"`
	NotYetValid bool `json:"notYetValid,omitempty"`
	// Audience overrides aud outright (resource still checked unless empty).
	Audience string `json:"audience,omitempty"`
	// Scope overrides scp [access_as_user].
	Scope string `json:"scope,omitempty"`
	// OtherTenant issues it as tenant OtherTenantID would (tid, iss), still
	// signed with the published key, as Entra's keys are shared by tenants.
	OtherTenant bool `json:"otherTenant,omitempty"`
	// UnknownKey signs it with a key no key set publishes.
	UnknownKey bool `json:"unknownKey,omitempty"`
	// DisabledUser issues it even though the account is disabled (Entra would
	// refuse: 400 AADSTS50057), as a token issued before the account was disabled.
	DisabledUser bool `json:"disabledUser,omitempty"`
}

// SSOToken answers POST /sso/token.
type SSOToken struct {
	Token     string         `json:"token"`
	ExpiresOn string         `json:"expiresOn"` // RFC 3339
	Claims    map[string]any `json:"claims"`
}

// OtherTenantID is the tenant of SSOTokenRequest.OtherTenant tokens.
const OtherTenantID = "f8cdef31-a31e-4b4a-93e4-5f571e91255a"

// Teams clients' application ids (pre-authorized for the app's API).
const (
	TeamsDesktopClientID = "1fec8e78-bce4-4aaf-ab1b-5451cc387264"
	TeamsWebClientID     = "5e3ce6c0-2b1f-4285-8d4b-75ee78787346"
)

// AppUpload is POST /apps: publish a Teams app package to the tenant app
// catalog as an admin would (the package is a zip, base64 here).
type AppUpload struct {
	PackageBase64  string `json:"packageBase64"`
	RequiresReview bool   `json:"requiresReview,omitempty"`
}

// AppInstall is POST /users/{u}/apps, /teams/{t}/apps and /chats/{c}/apps:
// install a catalog app (by catalog id or manifest id) as a user would in
// Teams. Consent (default true) grants the package's resource-specific
// permissions, as the consent dialog of Teams does.
type AppInstall struct {
	App     string `json:"app"`
	Consent *bool  `json:"consent,omitempty"`
}

// FeedEntry is one notification in a user's Teams activity feed, as GET
// /feeds/{user} lists them (oldest first). A notification with the chainId of
// an earlier one from the same app replaces it (Replaced counts how often).
type FeedEntry struct {
	ID        string `json:"id"`
	Time      string `json:"time"`
	Recipient string `json:"recipient"` // user id
	// Via is the action: sendActivityNotification or sendActivityNotificationToRecipients;
	// Context is where it was sent: users/{id}, chats/{id}, teams/{id} or teamwork.
	Via     string `json:"via"`
	Context string `json:"context"`
	Topic   struct {
		Source string `json:"source"`
		Value  string `json:"value"`
		WebURL string `json:"webUrl,omitempty"`
	} `json:"topic"`
	ActivityType string `json:"activityType"`
	// PreviewText is what was sent; ShownPreviewText what Teams shows (150 characters).
	PreviewText        string     `json:"previewText"`
	ShownPreviewText   string     `json:"shownPreviewText"`
	TemplateParameters []KeyValue `json:"templateParameters"`
	// Text is the rendered Actor+Reason line: the activity type's templateText
	// with its parameters, {actor} being the sender (systemDefault: systemDefaultText).
	Text     string `json:"text"`
	Actor    string `json:"actor"`
	ChainID  *int64 `json:"chainId,omitempty"`
	Replaced int    `json:"replaced,omitempty"`
	IconID   string `json:"iconId,omitempty"`
	// SenderApp is the installed Teams app the notification came from;
	// SenderUser the signed-in user of a delegated call.
	SenderApp  FeedApp `json:"senderApp"`
	SenderUser string  `json:"senderUser,omitempty"`
}

// KeyValue is Graph's keyValuePair.
type KeyValue struct {
	Name  string `json:"name"`
	Value string `json:"value"`
}

// FeedApp names the Teams app of a feed entry.
type FeedApp struct {
	TeamsAppID   string `json:"teamsAppId"`
	ExternalID   string `json:"externalId"`
	DisplayName  string `json:"displayName"`
	AzureADAppID string `json:"azureADAppId"`
}
