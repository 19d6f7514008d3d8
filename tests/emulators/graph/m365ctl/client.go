// Package m365ctl is a client for the Microsoft 365 emulator's control API
// (see README.md in the module root). It has no dependency on the emulator
// itself, so it can drive an emulator started by the CLI in another process.
//
// The control API's request and answer shapes come from package wire, which
// the emulator uses too; this package re-exports them under its own names
// (UserSpec, Faults, Counters, ...). The Graph resources the control API
// answers with (User, Team, Chat, Message, DriveItem, Subscription) are read
// views declared here.
package m365ctl

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/msteams-bridge/msteams/tests/emulators/graph/wire"
)

// Client talks to one emulator's control API.
type Client struct {
	BaseURL string
	HTTP    *http.Client
}

// New returns a client for baseURL trusting the CA in caPEM.
func New(baseURL string, caPEM []byte) (*Client, error) {
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(caPEM) {
		return nil, errors.New("m365ctl: no certificate in CA PEM")
	}
	return NewWithHTTPClient(baseURL, &http.Client{Timeout: 70 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}, MaxIdleConnsPerHost: 16}}), nil
}

// NewFromCAFile reads the CA file the emulator wrote (M365_CA_FILE).
func NewFromCAFile(baseURL, caFile string) (*Client, error) {
	pem, err := os.ReadFile(caFile)
	if err != nil {
		return nil, err
	}
	return New(baseURL, pem)
}

// NewWithHTTPClient uses a ready HTTP client (e.g. Emulator.HTTPClient()).
func NewWithHTTPClient(baseURL string, hc *http.Client) *Client {
	return &Client{BaseURL: strings.TrimSuffix(baseURL, "/"), HTTP: hc}
}

// Error is a non-2xx answer of the control API.
type Error struct {
	Status  int
	Message string
}

func (e *Error) Error() string { return fmt.Sprintf("m365ctl: %d %s", e.Status, e.Message) }

func (c *Client) do(ctx context.Context, method, path string, in, out any) error {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return err
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.BaseURL+path, body)
	if err != nil {
		return err
	}
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.HTTP.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 256<<20))
	if err != nil {
		return err
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		var e wire.Error
		json.Unmarshal(data, &e)
		if e.Error == "" {
			e.Error = strings.TrimSpace(string(data))
		}
		return &Error{Status: resp.StatusCode, Message: e.Error}
	}
	if out == nil || len(data) == 0 {
		return nil
	}
	if raw, ok := out.(*[]byte); ok {
		*raw = data
		return nil
	}
	return json.Unmarshal(data, out)
}

type list[T any] = wire.List[T]

// ---- tenant and directory ----

// Tenant is GET /tenant: the tenant, the app registration and the endpoints.
type Tenant = wire.Tenant

// AppPatch changes the app registration (PATCH /app); nil/empty fields are kept.
type AppPatch = wire.AppPatch

// Tenant returns the tenant and app registration.
func (c *Client) Tenant(ctx context.Context) (*Tenant, error) {
	var t Tenant
	return &t, c.do(ctx, "GET", "/tenant", nil, &t)
}

// PatchApp changes the app registration.
func (c *Client) PatchApp(ctx context.Context, p AppPatch) (*Tenant, error) {
	var t Tenant
	return &t, c.do(ctx, "PATCH", "/app", p, &t)
}

// ExpireClientSecret makes the client secret expired (true) or valid again.
func (c *Client) ExpireClientSecret(ctx context.Context, expired bool) error {
	_, err := c.PatchApp(ctx, AppPatch{SecretExpired: &expired})
	return err
}

// User is a directory user.
type User struct {
	ID                string   `json:"id"`
	DisplayName       string   `json:"displayName"`
	GivenName         *string  `json:"givenName"`
	Surname           *string  `json:"surname"`
	Mail              *string  `json:"mail"`
	UserPrincipalName string   `json:"userPrincipalName"`
	UserType          string   `json:"userType"`
	AccountEnabled    bool     `json:"accountEnabled"`
	Presence          Presence `json:"presence"`
	Deleted           bool     `json:"deleted"`
}

// Presence of a user.
type Presence = wire.Presence

// UserSpec creates a user.
type UserSpec = wire.UserSpec

// UserPatch changes a user.
type UserPatch = wire.UserPatch

// Users lists all users.
func (c *Client) Users(ctx context.Context) ([]User, error) {
	var l list[User]
	return l.Value, c.do(ctx, "GET", "/users", nil, &l)
}

// CreateUser creates a user (a guest with UserType "Guest", a disabled one
// with AccountEnabled false).
func (c *Client) CreateUser(ctx context.Context, s UserSpec) (*User, error) {
	var u User
	return &u, c.do(ctx, "POST", "/users", s, &u)
}

// PatchUser changes a user (enable/disable, presence, ...).
func (c *Client) PatchUser(ctx context.Context, id string, p UserPatch) (*User, error) {
	var u User
	return &u, c.do(ctx, "PATCH", "/users/"+url.PathEscape(id), p, &u)
}

// DeleteUser deletes a user as an admin would: Graph no longer lists them and answers 404 for them; their chats stay.
func (c *Client) DeleteUser(ctx context.Context, id string) (*User, error) {
	var u User
	return &u, c.do(ctx, "DELETE", "/users/"+url.PathEscape(id), nil, &u)
}

// RestoreUser brings a deleted user back (as /directory/deletedItems/{id}/restore).
func (c *Client) RestoreUser(ctx context.Context, id string) (*User, error) {
	var u User
	return &u, c.do(ctx, "POST", "/users/"+url.PathEscape(id)+"/restore", nil, &u)
}

// Team is a team with its channels and member ids.
type Team struct {
	ID          string    `json:"id"`
	DisplayName string    `json:"displayName"`
	Description string    `json:"description"`
	Channels    []Channel `json:"channels"`
	Members     []string  `json:"members"`
}

// Channel is a channel.
type Channel struct {
	ID             string `json:"id"`
	DisplayName    string `json:"displayName"`
	Description    string `json:"description"`
	MembershipType string `json:"membershipType"`
}

// TeamSpec creates a team (it gets a General channel).
type TeamSpec = wire.TeamSpec

// ChannelSpec creates a channel.
type ChannelSpec = wire.ChannelSpec

// Teams lists teams.
func (c *Client) Teams(ctx context.Context) ([]Team, error) {
	var l list[Team]
	return l.Value, c.do(ctx, "GET", "/teams", nil, &l)
}

// CreateTeam creates a team.
func (c *Client) CreateTeam(ctx context.Context, s TeamSpec) (*Team, error) {
	var t Team
	return &t, c.do(ctx, "POST", "/teams", s, &t)
}

// CreateChannel adds a channel to a team.
func (c *Client) CreateChannel(ctx context.Context, teamID string, s ChannelSpec) (*Channel, error) {
	var ch Channel
	return &ch, c.do(ctx, "POST", "/teams/"+url.PathEscape(teamID)+"/channels", s, &ch)
}

// AddTeamMember adds a user to a team.
func (c *Client) AddTeamMember(ctx context.Context, teamID, userID string) error {
	return c.do(ctx, "POST", "/teams/"+url.PathEscape(teamID)+"/members", wire.Member{UserID: userID}, nil)
}

// RemoveTeamMember removes a user from a team.
func (c *Client) RemoveTeamMember(ctx context.Context, teamID, userID string) error {
	return c.do(ctx, "DELETE", "/teams/"+url.PathEscape(teamID)+"/members/"+url.PathEscape(userID), nil, nil)
}

// Chat is a chat with members (Graph's JSON shape).
type Chat struct {
	ID                  string       `json:"id"`
	Topic               *string      `json:"topic"`
	ChatType            string       `json:"chatType"`
	CreatedDateTime     string       `json:"createdDateTime"`
	LastUpdatedDateTime string       `json:"lastUpdatedDateTime"`
	Members             []ChatMember `json:"members"`
}

// ChatMember is an aadUserConversationMember.
type ChatMember struct {
	ID          string   `json:"id"`
	UserID      string   `json:"userId"`
	DisplayName string   `json:"displayName"`
	Roles       []string `json:"roles"`
}

// ChatSpec creates a chat; members are ids, UPNs or mails.
type ChatSpec = wire.ChatSpec

// Chats lists chats, all or those of userID.
func (c *Client) Chats(ctx context.Context, userID string) ([]Chat, error) {
	var l list[Chat]
	p := "/chats"
	if userID != "" {
		p += "?user=" + url.QueryEscape(userID)
	}
	return l.Value, c.do(ctx, "GET", p, nil, &l)
}

// CreateChat creates a chat (a one-on-one chat is returned if it exists).
func (c *Client) CreateChat(ctx context.Context, s ChatSpec) (*Chat, error) {
	var ch Chat
	return &ch, c.do(ctx, "POST", "/chats", s, &ch)
}

// AddChatMember adds a user to a group chat.
func (c *Client) AddChatMember(ctx context.Context, chatID, userID string) error {
	return c.do(ctx, "POST", "/chats/"+url.PathEscape(chatID)+"/members", wire.Member{UserID: userID}, nil)
}

// RemoveChatMember removes a user from a group chat.
func (c *Client) RemoveChatMember(ctx context.Context, chatID, userID string) error {
	return c.do(ctx, "DELETE", "/chats/"+url.PathEscape(chatID)+"/members/"+url.PathEscape(userID), nil, nil)
}

// ---- messages ----

// Thread addresses a chat, a channel, or the replies to a channel message.
type Thread struct {
	ChatID, TeamID, ChannelID, RootID string
}

// InChat addresses a chat.
func InChat(id string) Thread { return Thread{ChatID: id} }

// InChannel addresses a channel.
func InChannel(teamID, channelID string) Thread { return Thread{TeamID: teamID, ChannelID: channelID} }

// Replies addresses the replies to root in a channel.
func (t Thread) Replies(rootID string) Thread { t.RootID = rootID; return t }

func (t Thread) path() string {
	if t.ChatID != "" {
		return "/chats/" + url.PathEscape(t.ChatID) + "/messages"
	}
	p := "/teams/" + url.PathEscape(t.TeamID) + "/channels/" + url.PathEscape(t.ChannelID) + "/messages"
	if t.RootID != "" {
		p += "/" + url.PathEscape(t.RootID) + "/replies"
	}
	return p
}

// Body is a message body.
type Body = wire.Body

// Identity is a user or application identity.
type Identity = wire.Identity

// From is chatMessageFromIdentitySet.
type From struct {
	User        *Identity `json:"user"`
	Application *Identity `json:"application"`
}

// Mention of a message.
type Mention = wire.Mention

// UserMention builds a mention of a user.
func UserMention(id int, text, userID string) Mention {
	m := Mention{ID: id, MentionText: text}
	m.Mentioned.User = &Identity{ID: userID, DisplayName: text, UserIdentityType: "aadUser"}
	return m
}

// Attachment of a message.
type Attachment = wire.Attachment

// Reaction on a message.
type Reaction struct {
	ReactionType    string `json:"reactionType"`
	CreatedDateTime string `json:"createdDateTime"`
	User            struct {
		User *Identity `json:"user"`
	} `json:"user"`
}

// Message is a chatMessage as Graph returns it.
type Message struct {
	ID                   string  `json:"id"`
	ReplyToID            *string `json:"replyToId"`
	ETag                 string  `json:"etag"`
	MessageType          string  `json:"messageType"`
	CreatedDateTime      string  `json:"createdDateTime"`
	LastModifiedDateTime string  `json:"lastModifiedDateTime"`
	LastEditedDateTime   *string `json:"lastEditedDateTime"`
	DeletedDateTime      *string `json:"deletedDateTime"`
	Subject              *string `json:"subject"`
	ChatID               *string `json:"chatId"`
	Importance           string  `json:"importance"`
	ChannelIdentity      *struct {
		TeamID    string `json:"teamId"`
		ChannelID string `json:"channelId"`
	} `json:"channelIdentity"`
	From        *From        `json:"from"`
	Body        Body         `json:"body"`
	Attachments []Attachment `json:"attachments"`
	Mentions    []Mention    `json:"mentions"`
	Reactions   []Reaction   `json:"reactions"`
	Replies     []Message    `json:"replies"`
}

// File is a file to upload or attach.
type File struct {
	Name        string
	Folder      string // default "Microsoft Teams Chat Files"
	Content     []byte
	ContentType string
}

func (f File) input() wire.FileInput {
	return wire.FileInput{Name: f.Name, Folder: f.Folder, ContentType: f.ContentType,
		ContentBase64: base64.StdEncoding.EncodeToString(f.Content)}
}

// HostedContent is an inline image sent with a message; reference it in
// HTML as <img src="../hostedContents/{TemporaryID}/$value">.
type HostedContent struct {
	TemporaryID string
	Content     []byte
	ContentType string
}

// Post is a message sent as a Teams user. Set Text or HTML.
type Post struct {
	From           string // user id, UPN or mail
	Text           string
	HTML           string
	Subject        string
	Importance     string
	Mentions       []Mention
	Attachments    []Attachment
	Files          []File
	HostedContents []HostedContent
}

func (p Post) input() wire.PostMessage {
	in := wire.PostMessage{From: p.From}
	in.Body = &Body{ContentType: "text", Content: p.Text}
	if p.HTML != "" {
		in.Body = &Body{ContentType: "html", Content: p.HTML}
	}
	in.Subject, in.Importance = p.Subject, p.Importance
	in.Mentions, in.Attachments = p.Mentions, p.Attachments
	for _, f := range p.Files {
		in.Files = append(in.Files, f.input())
	}
	for _, h := range p.HostedContents {
		in.HostedContents = append(in.HostedContents, wire.HostedContentInput{TemporaryID: h.TemporaryID,
			ContentType: h.ContentType, ContentBytes: base64.StdEncoding.EncodeToString(h.Content)})
	}
	return in
}

// Send posts a message as a Teams user; subscribers are notified.
func (c *Client) Send(ctx context.Context, t Thread, p Post) (*Message, error) {
	var m Message
	return &m, c.do(ctx, "POST", t.path(), p.input(), &m)
}

// Edit replaces the body of a message as its sender.
func (c *Client) Edit(ctx context.Context, t Thread, msgID string, p Post) (*Message, error) {
	in := p.input()
	in.Files, in.HostedContents = nil, nil
	var m Message
	return &m, c.do(ctx, "PATCH", t.path()+"/"+url.PathEscape(msgID), in, &m)
}

// Delete soft-deletes a message as its sender.
func (c *Client) Delete(ctx context.Context, t Thread, msgID, from string) error {
	return c.do(ctx, "DELETE", t.path()+"/"+url.PathEscape(msgID)+"?from="+url.QueryEscape(from), nil, nil)
}

// Undelete restores a soft-deleted message.
func (c *Client) Undelete(ctx context.Context, t Thread, msgID, from string) error {
	return c.do(ctx, "POST", t.path()+"/"+url.PathEscape(msgID)+"/undelete?from="+url.QueryEscape(from), nil, nil)
}

// React adds a reaction as a user.
func (c *Client) React(ctx context.Context, t Thread, msgID, from, reactionType string) error {
	return c.do(ctx, "POST", t.path()+"/"+url.PathEscape(msgID)+"/reactions", wire.ReactionInput{From: from, ReactionType: reactionType}, nil)
}

// Unreact removes a user's reaction.
func (c *Client) Unreact(ctx context.Context, t Thread, msgID, from, reactionType string) error {
	q := url.Values{"from": {from}, "reactionType": {reactionType}}
	return c.do(ctx, "DELETE", t.path()+"/"+url.PathEscape(msgID)+"/reactions?"+q.Encode(), nil, nil)
}

// Messages lists all messages of a thread, oldest first, deleted included
// (channel roots carry their replies).
func (c *Client) Messages(ctx context.Context, t Thread) ([]Message, error) {
	var l list[Message]
	return l.Value, c.do(ctx, "GET", t.path(), nil, &l)
}

// Message gets one message.
func (c *Client) Message(ctx context.Context, t Thread, id string) (*Message, error) {
	var m Message
	return &m, c.do(ctx, "GET", t.path()+"/"+url.PathEscape(id), nil, &m)
}

// ---- files and activity ----

// DriveItem is a file in a user's OneDrive (Graph's driveItem plus links).
type DriveItem struct {
	ID          string `json:"id"`
	Name        string `json:"name"`
	Size        int    `json:"size"`
	WebURL      string `json:"webUrl"`
	ETag        string `json:"eTag"`
	DownloadURL string `json:"@microsoft.graph.downloadUrl"`
	File        struct {
		MimeType string `json:"mimeType"`
	} `json:"file"`
	Links []struct {
		Type   string `json:"type"`
		Scope  string `json:"scope"`
		WebURL string `json:"webUrl"`
	} `json:"links"`
}

// Uploaded is the result of UploadFile: the item and a ready reference attachment.
type Uploaded struct {
	Item       DriveItem  `json:"item"`
	Attachment Attachment `json:"attachment"`
}

// UploadFile stores a file in a user's OneDrive as Teams would.
func (c *Client) UploadFile(ctx context.Context, userID string, f File) (*Uploaded, error) {
	var u Uploaded
	return &u, c.do(ctx, "POST", "/users/"+url.PathEscape(userID)+"/files", f.input(), &u)
}

// Files lists a user's OneDrive files (what the bridge uploaded, too).
func (c *Client) Files(ctx context.Context, userID string) ([]DriveItem, error) {
	var l list[DriveItem]
	return l.Value, c.do(ctx, "GET", "/users/"+url.PathEscape(userID)+"/files", nil, &l)
}

// FileContent returns a file's bytes.
func (c *Client) FileContent(ctx context.Context, itemID string) ([]byte, error) {
	var b []byte
	return b, c.do(ctx, "GET", "/files/"+url.PathEscape(itemID)+"/content", nil, &b)
}

// Activity is one recorded sendActivityNotification call.
type Activity = wire.Activity

// Activity lists activity-feed notifications the bridge sent.
func (c *Client) Activity(ctx context.Context) ([]Activity, error) {
	var l list[Activity]
	return l.Value, c.do(ctx, "GET", "/activity", nil, &l)
}

// ---- subscriptions ----

// Subscription is a Graph subscription plus the emulator's view of it.
type Subscription struct {
	ID                       string `json:"id"`
	Resource                 string `json:"resource"`
	ChangeType               string `json:"changeType"`
	NotificationURL          string `json:"notificationUrl"`
	LifecycleNotificationURL string `json:"lifecycleNotificationUrl"`
	ExpirationDateTime       string `json:"expirationDateTime"`
	ClientState              string `json:"clientState"`
	IncludeResourceData      bool   `json:"includeResourceData"`
	ApplicationID            string `json:"applicationId"`
	CreatorID                string `json:"creatorId"`
	Kind                     string `json:"kind"`
	NeedsReauthorization     bool   `json:"needsReauthorization"`
}

// Subscriptions lists every subscription in the tenant.
func (c *Client) Subscriptions(ctx context.Context) ([]Subscription, error) {
	var l list[Subscription]
	return l.Value, c.do(ctx, "GET", "/subscriptions", nil, &l)
}

// RemoveSubscription deletes a subscription as Graph would on its own, and
// sends subscriptionRemoved if it has a lifecycle URL.
func (c *Client) RemoveSubscription(ctx context.Context, id string) (lifecycleSent bool, err error) {
	var out wire.LifecycleResult
	err = c.do(ctx, "DELETE", "/subscriptions/"+url.PathEscape(id), nil, &out)
	return out.LifecycleSent, err
}

// Lifecycle events.
const (
	ReauthorizationRequired = "reauthorizationRequired"
	SubscriptionRemoved     = "subscriptionRemoved"
	Missed                  = "missed"
)

// SendLifecycle sends a lifecycle notification now.
func (c *Client) SendLifecycle(ctx context.Context, id, event string) (bool, error) {
	var out wire.LifecycleResult
	err := c.do(ctx, "POST", "/subscriptions/"+url.PathEscape(id)+"/lifecycle", wire.LifecycleInput{Event: event}, &out)
	return out.LifecycleSent, err
}

// ExpireSubscription makes a subscription expire now (silently, as Graph does).
func (c *Client) ExpireSubscription(ctx context.Context, id string) error {
	return c.do(ctx, "POST", "/subscriptions/"+url.PathEscape(id)+"/expire", nil, nil)
}

// Quotas are the subscription quotas.
type Quotas = wire.Quotas

// SetQuotas changes the subscription quotas (zero keeps the default).
func (c *Client) SetQuotas(ctx context.Context, q Quotas) (*Quotas, error) {
	var out Quotas
	return &out, c.do(ctx, "PUT", "/quotas", q, &out)
}

// ---- faults, tokens, throttling ----

// Faults is the fault configuration; see the README.
type Faults = wire.Faults

// SetFaults replaces the fault configuration.
func (c *Client) SetFaults(ctx context.Context, f Faults) error {
	return c.do(ctx, "PUT", "/faults", f, nil)
}

// GetFaults returns the fault configuration (counts left for "next N" faults).
func (c *Client) GetFaults(ctx context.Context) (*Faults, error) {
	var f Faults
	return &f, c.do(ctx, "GET", "/faults", nil, &f)
}

// ClearFaults removes all faults.
func (c *Client) ClearFaults(ctx context.Context) error {
	return c.do(ctx, "DELETE", "/faults", nil, nil)
}

// Revoke selects tokens to revoke.
type Revoke = wire.Revoke

// RevokeTokens revokes refresh (and access) tokens; it returns how many.
func (c *Client) RevokeTokens(ctx context.Context, r Revoke) (int, error) {
	var out wire.Revoked
	err := c.do(ctx, "POST", "/tokens/revoke", r, &out)
	return out.Revoked, err
}

// Lifetimes are token lifetimes.
type Lifetimes = wire.Lifetimes

// SetLifetimes changes token lifetimes for tokens issued from now on.
func (c *Client) SetLifetimes(ctx context.Context, l Lifetimes) error {
	return c.do(ctx, "PUT", "/lifetimes", l, nil)
}

// Limit is Count per PerSeconds.
type Limit = wire.Limit

// Throttle is the throttling configuration.
type Throttle = wire.Throttle

// ThrottleUpdate changes throttling: Enabled switches it, Limits override
// named limits, Reset restores the documented defaults first.
type ThrottleUpdate = wire.ThrottleUpdate

// SetThrottle updates throttling.
func (c *Client) SetThrottle(ctx context.Context, u ThrottleUpdate) (*Throttle, error) {
	var t Throttle
	return &t, c.do(ctx, "PUT", "/throttle", u, &t)
}

// EnableThrottle switches throttling on or off.
func (c *Client) EnableThrottle(ctx context.Context, on bool) error {
	_, err := c.SetThrottle(ctx, ThrottleUpdate{Enabled: &on})
	return err
}

// ---- counters and deliveries ----

// CounterRow is one request counter.
type CounterRow = wire.CounterRow

// DeliveryStats are the notification delivery counters.
type DeliveryStats = wire.DeliveryStats

// Counters is GET /counters; Count sums request counters matching host,
// route, caller and status.
type Counters = wire.Counters

// Counters returns all counters.
func (c *Client) Counters(ctx context.Context) (*Counters, error) {
	var out Counters
	return &out, c.do(ctx, "GET", "/counters", nil, &out)
}

// ResetCounters zeroes request and delivery counters.
func (c *Client) ResetCounters(ctx context.Context) error {
	return c.do(ctx, "DELETE", "/counters", nil, nil)
}

// Batch is one delivery attempt.
type Batch = wire.Batch

// Deliveries returns the latest delivery attempts (up to 2000).
func (c *Client) Deliveries(ctx context.Context) ([]Batch, error) {
	var l list[Batch]
	return l.Value, c.do(ctx, "GET", "/deliveries", nil, &l)
}

// WaitDeliveries waits (at most timeout, ≤ 60 s) until no notification is
// queued or awaiting a retry.
func (c *Client) WaitDeliveries(ctx context.Context, timeout time.Duration) (*DeliveryStats, error) {
	var st DeliveryStats
	err := c.do(ctx, "POST", "/deliveries/wait?timeoutMs="+strconv.FormatInt(timeout.Milliseconds(), 10), nil, &st)
	return &st, err
}
