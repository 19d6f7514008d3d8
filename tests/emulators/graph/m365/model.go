package m365

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/msteams-bridge/msteams/tests/emulators/graph/wire"
)

// User is a directory user.
type User struct {
	ID                string
	DisplayName       string
	GivenName         string
	Surname           string
	Mail              string
	UserPrincipalName string
	UserType          string
	AccountEnabled    bool
	JobTitle          string
	Presence          Presence
	Photo             []byte // profile photo (GET /users/{id}/photo/$value); nil: none
	PhotoType         string // its media type, e.g. image/jpeg
	// Deleted: in the directory's deleted items (restorable for 30 days): gone from GET /users and GET /users/{id}
	// (404), its UPN and mail still taken, its chats and messages kept.
	Deleted bool
	// RequireMFA: Conditional Access wants multi-factor authentication (OBO → interaction_required).
	RequireMFA bool
}

// Presence of a user.
type Presence = wire.Presence

// Team is a team with channels.
type Team struct {
	ID          string
	DisplayName string
	Description string
	Created     time.Time
	Members     []string // user ids
	Channels    []*Channel
}

// Channel is a team channel.
type Channel struct {
	ID             string
	TeamID         string
	DisplayName    string
	Description    string
	MembershipType string
	Created        time.Time
	thread
}

// Chat is a 1:1 or group chat.
type Chat struct {
	ID          string
	ChatType    string
	Topic       string
	Created     time.Time
	LastUpdated time.Time
	Members     []*ChatMember
	thread
}

// ChatMember is an aadUserConversationMember.
type ChatMember struct {
	ID             string // membership id
	UserID         string
	Roles          []string
	VisibleHistory time.Time
}

// thread holds root messages of a chat or channel in creation order.
type thread struct {
	msgs []*Message
	byID map[string]*Message
}

func (t *thread) add(m *Message) {
	if t.byID == nil {
		t.byID = map[string]*Message{}
	}
	t.msgs = append(t.msgs, m)
	t.byID[m.ID] = m
}

// Message is a chatMessage (a chat message, a channel root or a reply).
type Message struct {
	ID              string
	ReplyToID       string
	ChatID          string
	TeamID          string
	ChannelID       string
	MessageType     string
	FromUserID      string // empty for application senders
	FromAppID       string
	FromAppName     string
	Created         time.Time
	LastModified    time.Time
	LastEdited      time.Time
	Deleted         time.Time
	Subject         string
	Importance      string
	BodyType        string
	BodyContent     string
	Attachments     []Attachment
	Mentions        []Mention
	Reactions       []Reaction
	History         []HistoryItem
	Hosted          []*HostedContent
	Replies         []*Message
	repliesByID     map[string]*Message
	ModSeq          int64
	PolicyViolation any
	// ViaControl marks messages posted through the control API (as a Teams
	// client would), as opposed to Graph calls by the bridge.
	ViaControl  bool
	CallerAppID string
}

// The chatMessage parts below are shapes of package wire: the control API's
// post takes them as Graph's POST …/messages does, and messages keep them as
// they came.
type (
	// Attachment of a chatMessage.
	Attachment = wire.Attachment
	// Mention of a chatMessage.
	Mention = wire.Mention
	// MentionedIdent is the identity set of a mention.
	MentionedIdent = wire.MentionedIdent
	// Identity is a teamworkUserIdentity / identity.
	Identity = wire.Identity
	// ConversationIdent is a mentioned conversation (channel, chat, team).
	ConversationIdent = wire.ConversationIdent
)

// Reaction on a chatMessage.
type Reaction struct {
	ReactionType       string      `json:"reactionType"`
	DisplayName        *string     `json:"displayName"`
	ReactionContentURL *string     `json:"reactionContentUrl"`
	CreatedDateTime    string      `json:"createdDateTime"`
	User               ReactionWho `json:"user"`
}

// ReactionWho is the identity set of who reacted.
type ReactionWho struct {
	Application *Identity `json:"application"`
	Device      *Identity `json:"device"`
	User        *Identity `json:"user"`
}

// HistoryItem is a chatMessageHistoryItem.
type HistoryItem struct {
	Actions          string    `json:"actions"`
	ModifiedDateTime string    `json:"modifiedDateTime"`
	Reaction         *Reaction `json:"reaction"`
}

// HostedContent is an inline image or other hosted content of a message.
type HostedContent struct {
	ID          string
	ContentType string
	Bytes       []byte
}

// DriveItem is a file in a user's OneDrive.
type DriveItem struct {
	ID          string
	OwnerID     string
	Name        string
	Path        string // folder path without leading slash, e.g. "Microsoft Teams Chat Files"
	Content     []byte
	ContentType string
	Created     time.Time
	Modified    time.Time
	ETagGUID    string
	Version     int
	Links       []*SharingLink
	DownloadKey string
}

// SharingLink is a permission created by createLink.
type SharingLink struct {
	ID     string
	Type   string
	Scope  string
	WebURL string
}

// ActivityRecord is one sendActivityNotification call, as recorded for the control API.
type ActivityRecord = wire.Activity

// store is the emulated tenant. One RWMutex guards everything in it.
type store struct {
	mu         sync.RWMutex
	tenantID   string
	domain     string
	tenantName string
	app        appReg
	users      map[string]*User
	userKeys   map[string]*User // lower-cased UPN and mail
	userOrder  []*User
	teams      map[string]*Team
	teamOrder  []*Team
	channels   map[string]*Channel
	chats      map[string]*Chat
	chatOrder  []*Chat
	oneOnOne   map[string]*Chat
	drive      map[string]*DriveItem // by id
	drivePath  map[string]*DriveItem // owner + "/" + path + "/" + lower(name)
	downloads  map[string]*DriveItem
	activity   []ActivityRecord
	apps       map[string]*teamsApp // the tenant app catalog, by id
	appOrder   []*teamsApp
	installs   map[string][]*appInstall // by scopeKey(scope, id)
	feeds      map[string]*feed         // activity feeds, by user id
	seq        int64
	lastMsgMs  int64
}

type appReg struct {
	ClientID        string
	ClientSecret    string
	DisplayName     string
	SecretExpiresAt time.Time
	RedirectURIs    []string
	Delegated       map[string]bool
	Application     map[string]bool
	RequirePKCE     bool
	IdentifierURIs  []string
}

func setOf(list []string) map[string]bool {
	m := make(map[string]bool, len(list))
	for _, s := range list {
		m[s] = true
	}
	return m
}

func newStore(t *TenantFile) (*store, error) {
	if err := t.normalise(); err != nil {
		return nil, err
	}
	s := &store{
		tenantID: t.TenantID, domain: t.Domain, tenantName: t.DisplayName,
		users: map[string]*User{}, userKeys: map[string]*User{}, teams: map[string]*Team{},
		channels: map[string]*Channel{}, chats: map[string]*Chat{}, oneOnOne: map[string]*Chat{},
		drive: map[string]*DriveItem{}, drivePath: map[string]*DriveItem{}, downloads: map[string]*DriveItem{},
		apps: map[string]*teamsApp{}, installs: map[string][]*appInstall{}, feeds: map[string]*feed{},
	}
	s.app = appReg{
		ClientID: t.App.ClientID, ClientSecret: t.App.ClientSecret, DisplayName: t.App.DisplayName,
		SecretExpiresAt: time.Now().AddDate(2, 0, 0),
		RedirectURIs:    append([]string(nil), t.App.RedirectURIs...),
		Delegated:       setOf(t.App.DelegatedPermissions), Application: setOf(t.App.ApplicationPermissions),
		RequirePKCE: t.App.RequirePKCE, IdentifierURIs: append([]string(nil), t.App.IdentifierURIs...),
	}
	if t.App.SecretExpiresAt != "" {
		s.app.SecretExpiresAt, _ = time.Parse(time.RFC3339, t.App.SecretExpiresAt)
	}
	for _, u := range t.Users {
		if _, err := s.addUser(u); err != nil {
			return nil, err
		}
	}
	for _, tm := range t.Teams {
		if _, err := s.addTeam(tm); err != nil {
			return nil, err
		}
	}
	for _, c := range t.Chats {
		if _, _, err := s.createChat(c.ChatType, c.Topic, c.Members, c.ID); err != nil {
			return nil, err
		}
	}
	return s, nil
}

// errNotFound and friends are store errors mapped to Graph errors by handlers.
type storeError struct {
	status int
	code   string
	msg    string
}

func (e *storeError) Error() string { return e.msg }

func badRequest(format string, a ...any) error {
	return &storeError{400, "BadRequest", fmt.Sprintf(format, a...)}
}
func notFound(format string, a ...any) error {
	return &storeError{404, "NotFound", fmt.Sprintf(format, a...)}
}
func forbidden(format string, a ...any) error {
	return &storeError{403, "Forbidden", fmt.Sprintf(format, a...)}
}

// addUser must be called with mu held (or before the store is shared).
func (s *store) addUser(u UserSpec) (*User, error) {
	if u.DisplayName == "" {
		return nil, badRequest("displayName is required")
	}
	if u.ID == "" {
		u.ID = newGUID()
	}
	if !isGUID(u.ID) {
		return nil, badRequest("user id %q is not a GUID", u.ID)
	}
	if _, dup := s.users[u.ID]; dup {
		return nil, &storeError{409, "Conflict", "user " + u.ID + " exists"}
	}
	if u.UserPrincipalName == "" {
		local := strings.ToLower(strings.ReplaceAll(u.DisplayName, " ", "."))
		u.UserPrincipalName = local + "@" + s.domain
	}
	if u.UserType == "" {
		u.UserType = "Member"
	}
	if u.UserType != "Member" && u.UserType != "Guest" {
		return nil, badRequest("userType must be Member or Guest")
	}
	for _, k := range []string{u.UserPrincipalName, u.Mail} {
		if k != "" {
			if _, dup := s.userKeys[strings.ToLower(k)]; dup {
				return nil, &storeError{409, "Conflict", "a user with " + k + " exists"}
			}
		}
	}
	user := &User{ID: u.ID, DisplayName: u.DisplayName, GivenName: u.GivenName, Surname: u.Surname, Mail: u.Mail,
		UserPrincipalName: u.UserPrincipalName, UserType: u.UserType, AccountEnabled: u.AccountEnabled == nil || *u.AccountEnabled,
		JobTitle: u.JobTitle, Presence: Presence{Availability: "Available", Activity: "Available"}}
	s.users[user.ID] = user
	s.userOrder = append(s.userOrder, user)
	s.userKeys[strings.ToLower(user.UserPrincipalName)] = user
	if user.Mail != "" {
		s.userKeys[strings.ToLower(user.Mail)] = user
	}
	return user, nil
}

// findUser resolves an id, UPN or mail (the emulator's own lookups: control API, sign-in hints, tenant files).
func (s *store) findUser(key string) *User {
	if u := s.users[key]; u != nil {
		return u
	}
	return s.userKeys[strings.ToLower(key)]
}

// findGraphUser resolves what Graph takes in /users/{id | userPrincipalName}: an id or a UPN, never a mail address
// (GET /users/{mail} is a 404 when the mail differs from the UPN), and not a deleted user.
func (s *store) findGraphUser(key string) *User {
	u := s.users[key]
	if u == nil {
		if k := s.userKeys[strings.ToLower(key)]; k != nil && strings.EqualFold(k.UserPrincipalName, key) {
			u = k
		}
	}
	if u == nil || u.Deleted {
		return nil
	}
	return u
}

func (s *store) addTeam(t TeamSpec) (*Team, error) {
	if t.DisplayName == "" {
		return nil, badRequest("displayName is required")
	}
	if t.ID == "" {
		t.ID = newGUID()
	}
	if _, dup := s.teams[t.ID]; dup {
		return nil, &storeError{409, "Conflict", "team " + t.ID + " exists"}
	}
	team := &Team{ID: t.ID, DisplayName: t.DisplayName, Description: t.Description, Created: time.Now().UTC()}
	for _, m := range t.Members {
		u := s.findUser(m)
		if u == nil {
			return nil, badRequest("team member %q is not a user", m)
		}
		team.Members = append(team.Members, u.ID)
	}
	s.teams[team.ID] = team
	s.teamOrder = append(s.teamOrder, team)
	if _, err := s.addChannel(team, ChannelSpec{DisplayName: "General"}); err != nil {
		return nil, err
	}
	for _, c := range t.Channels {
		if _, err := s.addChannel(team, c); err != nil {
			return nil, err
		}
	}
	return team, nil
}

func (s *store) addChannel(team *Team, c ChannelSpec) (*Channel, error) {
	if c.DisplayName == "" {
		return nil, badRequest("displayName is required")
	}
	for _, ch := range team.Channels {
		if strings.EqualFold(ch.DisplayName, c.DisplayName) {
			return nil, &storeError{400, "NameAlreadyExists", "Channel name already existed, please use other name."}
		}
	}
	if c.ID == "" {
		c.ID = "19:" + randomHex(16) + "@thread.tacv2"
	}
	if c.MembershipType == "" {
		c.MembershipType = "standard"
	}
	ch := &Channel{ID: c.ID, TeamID: team.ID, DisplayName: c.DisplayName, Description: c.Description,
		MembershipType: c.MembershipType, Created: time.Now().UTC()}
	team.Channels = append(team.Channels, ch)
	s.channels[ch.ID] = ch
	return ch, nil
}

func (t *Team) hasMember(uid string) bool {
	for _, m := range t.Members {
		if m == uid {
			return true
		}
	}
	return false
}

func (c *Chat) member(uid string) *ChatMember {
	for _, m := range c.Members {
		if m.UserID == uid {
			return m
		}
	}
	return nil
}

// createChat creates a chat, or returns the existing one-on-one chat between
// the two users (created=false).
func (s *store) createChat(chatType, topic string, members []string, id string) (*Chat, bool, error) {
	var uids []string
	seen := map[string]bool{}
	for _, m := range members {
		u := s.findUser(m)
		if u == nil {
			return nil, false, notFound("The user '%s' is not found.", m)
		}
		if seen[u.ID] {
			return nil, false, badRequest("Duplicate member %s.", u.ID)
		}
		seen[u.ID] = true
		uids = append(uids, u.ID)
	}
	switch chatType {
	case "oneOnOne":
		if len(uids) != 2 {
			return nil, false, badRequest("One on one chat must have exactly 2 members.")
		}
		if topic != "" {
			return nil, false, badRequest("Topic can only be set for group chats.")
		}
		a, b := uids[0], uids[1]
		if b < a {
			a, b = b, a
		}
		key := a + "_" + b
		if c := s.oneOnOne[key]; c != nil {
			return c, false, nil
		}
		if id == "" {
			id = "19:" + key + "@unq.gbl.spaces"
		}
		c := s.newChat(id, chatType, "", uids)
		s.oneOnOne[key] = c
		return c, true, nil
	case "group":
		if len(uids) < 2 {
			return nil, false, badRequest("Group chat must have at least 2 members.")
		}
		if id == "" {
			id = "19:" + randomHex(16) + "@thread.v2"
		}
		return s.newChat(id, chatType, topic, uids), true, nil
	default:
		return nil, false, badRequest("Invalid chatType '%s'.", chatType)
	}
}

func (s *store) newChat(id, chatType, topic string, uids []string) *Chat {
	now := time.Now().UTC()
	c := &Chat{ID: id, ChatType: chatType, Topic: topic, Created: now, LastUpdated: now}
	for _, uid := range uids {
		c.Members = append(c.Members, s.newMember(uid, now))
	}
	s.chats[id] = c
	s.chatOrder = append(s.chatOrder, c)
	return c
}

func (s *store) newMember(uid string, now time.Time) *ChatMember {
	role := "owner"
	if u := s.users[uid]; u != nil && u.UserType == "Guest" {
		role = "guest"
	}
	return &ChatMember{ID: membershipID(uid), UserID: uid, Roles: []string{role}, VisibleHistory: time.Time{}}
}

// membershipID is an opaque, stable membership id (Graph's are base64 blobs).
func membershipID(uid string) string {
	return base64.StdEncoding.EncodeToString([]byte("8b081ef6-4792-4def-b2c9-c363a1bf41d5##" + uid))
}

// nextMessageID returns a fresh epoch-millisecond id, strictly increasing.
func (s *store) nextMessageID(now time.Time) string {
	ms := now.UnixMilli()
	if ms <= s.lastMsgMs {
		ms = s.lastMsgMs + 1
	}
	s.lastMsgMs = ms
	return fmt.Sprintf("%d", ms)
}

// touch stamps a change of the message: its lastModifiedDateTime strictly increases at the millisecond precision
// Graph shows (a change in the same millisecond as the creation or the previous change still moves it forward).
func (m *Message) touch(now time.Time) {
	t := now.UTC().Truncate(time.Millisecond)
	if floor := m.LastModified.UTC().Truncate(time.Millisecond).Add(time.Millisecond); t.Before(floor) {
		t = floor
	}
	m.LastModified = t
}

func (s *store) nextSeq() int64 {
	s.seq++
	return s.seq
}

// chatsOf lists the chats a user is a member of, in creation order.
func (s *store) chatsOf(uid string) []*Chat {
	var out []*Chat
	for _, c := range s.chatOrder {
		if c.member(uid) != nil {
			out = append(out, c)
		}
	}
	return out
}

// ---- small helpers ----

var guidRE = regexp.MustCompile(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)

func isGUID(s string) bool { return guidRE.MatchString(s) }

func newGUID() string {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(err)
	}
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b[:])
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32]
}

func randomHex(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	return hex.EncodeToString(b)
}

// randomToken returns n random bytes, base64url without padding.
func randomToken(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

// graphTime formats like Graph: UTC with milliseconds.
func graphTime(t time.Time) string {
	return t.UTC().Format("2006-01-02T15:04:05.000Z")
}

// subTime formats subscription expirations with 7 fractional digits.
func subTime(t time.Time) string {
	return t.UTC().Format("2006-01-02T15:04:05.0000000Z")
}

func nullableTime(t time.Time) *string {
	if t.IsZero() {
		return nil
	}
	s := graphTime(t)
	return &s
}

// uuidFrom is a GUID derived from s: the same s gives the same GUID (stable ids for derived objects).
func uuidFrom(s string) string {
	h := sha256.Sum256([]byte(s))
	return fmt.Sprintf("%x-%x-%x-%x-%x", h[0:4], h[4:6], h[6:8], h[8:10], h[10:16])
}
