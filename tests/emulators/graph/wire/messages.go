package wire

// The chatMessage parts below are Graph's shapes. The control API's post
// takes them as Graph's POST …/messages does, and the emulator keeps them
// as they are in its messages, so its Graph answers carry them too.

// Body is a chatMessage body; ContentType is text or html.
type Body struct {
	ContentType string `json:"contentType"`
	Content     string `json:"content"`
}

// Identity is a Graph identity (user, application, teamworkUserIdentity).
type Identity struct {
	ID                      string `json:"id"`
	DisplayName             string `json:"displayName"`
	UserIdentityType        string `json:"userIdentityType,omitempty"`
	ApplicationIdentityType string `json:"applicationIdentityType,omitempty"`
	TenantID                string `json:"tenantId,omitempty"`
}

// ConversationIdent is a mentioned conversation (channel, chat or team).
type ConversationIdent struct {
	ID                       string `json:"id"`
	DisplayName              string `json:"displayName"`
	ConversationIdentityType string `json:"conversationIdentityType"`
}

// MentionedIdent is the identity set of a mention; one member is set.
type MentionedIdent struct {
	Application  *Identity          `json:"application"`
	Device       *Identity          `json:"device"`
	Conversation *ConversationIdent `json:"conversation"`
	User         *Identity          `json:"user"`
}

// Mention of a chatMessage; the body refers to it as <at id="{ID}">.
type Mention struct {
	ID          int            `json:"id"`
	MentionText string         `json:"mentionText"`
	Mentioned   MentionedIdent `json:"mentioned"`
}

// Attachment of a chatMessage (reference, messageReference, cards, ...);
// the body refers to it as <attachment id="{ID}">.
type Attachment struct {
	ID           string  `json:"id"`
	ContentType  string  `json:"contentType"`
	ContentURL   *string `json:"contentUrl"`
	Content      *string `json:"content"`
	Name         *string `json:"name"`
	ThumbnailURL *string `json:"thumbnailUrl"`
	TeamsAppID   *string `json:"teamsAppId"`
}

// HostedContentInput is an inline image sent with a new message; the HTML
// body refers to it as <img src="../hostedContents/{TemporaryID}/$value">.
type HostedContentInput struct {
	TemporaryID  string `json:"@microsoft.graph.temporaryId"`
	ContentBytes string `json:"contentBytes"` // base64
	ContentType  string `json:"contentType"`
}

// MessageInput is the body of Graph's POST …/messages, which the control
// API's PostMessage extends.
type MessageInput struct {
	Body           *Body                `json:"body"`
	Subject        string               `json:"subject,omitempty"`
	Importance     string               `json:"importance,omitempty"`
	Mentions       []Mention            `json:"mentions,omitempty"`
	Attachments    []Attachment         `json:"attachments,omitempty"`
	HostedContents []HostedContentInput `json:"hostedContents,omitempty"`
}

// FileInput is POST /users/{id}/files, and a file of a PostMessage: it is
// stored in the user's OneDrive as Teams would.
type FileInput struct {
	Name          string `json:"name"`
	Folder        string `json:"folder,omitempty"` // default "Microsoft Teams Chat Files"
	ContentBase64 string `json:"contentBase64"`
	ContentType   string `json:"contentType,omitempty"`
}

// PostMessage is POST …/messages of the control API: a message sent as the
// Teams user From (an id, UPN or mail). Files are uploaded to From's
// OneDrive and attached as Teams does. PATCH …/messages/{id} takes the same
// shape without Files and HostedContents, read as Graph's PATCH: only the
// fields present change.
type PostMessage struct {
	From string `json:"from"`
	MessageInput
	Files []FileInput `json:"files,omitempty"`
}

// ReactionInput is POST …/messages/{id}/reactions (DELETE takes the same as
// query parameters).
type ReactionInput struct {
	From         string `json:"from"`
	ReactionType string `json:"reactionType"`
}

// Activity is one sendActivityNotification call the bridge made, as listed
// by GET /activity.
type Activity struct {
	Time        string         `json:"time"`
	Target      string         `json:"target"` // users/{id}, chats/{id}, teams/{id}
	Recipients  []string       `json:"recipients"`
	CallerAppID string         `json:"callerAppId"`
	CallerUser  string         `json:"callerUserId,omitempty"`
	Body        map[string]any `json:"body"`
}
