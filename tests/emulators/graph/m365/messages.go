package m365

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/msteams-bridge/msteams/tests/emulators/graph/wire"
)

// MaxMessageBytes is the largest message body accepted (about 28 KB).
const MaxMessageBytes = 28 * 1024

type channelIdent struct {
	TeamID    string `json:"teamId"`
	ChannelID string `json:"channelId"`
}

type msgJSON struct {
	Context         string        `json:"@odata.context,omitempty"`
	ID              string        `json:"id"`
	ReplyToID       *string       `json:"replyToId"`
	ETag            string        `json:"etag"`
	MessageType     string        `json:"messageType"`
	Created         string        `json:"createdDateTime"`
	LastModified    string        `json:"lastModifiedDateTime"`
	LastEdited      *string       `json:"lastEditedDateTime"`
	Deleted         *string       `json:"deletedDateTime"`
	Subject         *string       `json:"subject"`
	Summary         *string       `json:"summary"`
	ChatID          *string       `json:"chatId"`
	Importance      string        `json:"importance"`
	Locale          string        `json:"locale"`
	WebURL          *string       `json:"webUrl"`
	ChannelIdentity *channelIdent `json:"channelIdentity"`
	PolicyViolation any           `json:"policyViolation"`
	EventDetail     any           `json:"eventDetail"`
	From            any           `json:"from"`
	Body            wire.Body     `json:"body"`
	Attachments     []Attachment  `json:"attachments"`
	Mentions        []Mention     `json:"mentions"`
	Reactions       []Reaction    `json:"reactions"`
	MessageHistory  []HistoryItem `json:"messageHistory"`
	RepliesContext  string        `json:"replies@odata.context,omitempty"`
	Replies         []msgJSON     `json:"replies,omitempty"`
}

func (m *Message) renderContent() string {
	if !m.Deleted.IsZero() {
		return ""
	}
	return m.BodyContent
}

func (e *Emulator) fromJSON(m *Message) any {
	if m.FromUserID != "" {
		name := any(nil)
		if u := e.st.users[m.FromUserID]; u != nil {
			name = u.DisplayName
		}
		return map[string]any{"application": nil, "device": nil, "user": map[string]any{
			"@odata.type": "#microsoft.graph.teamworkUserIdentity", "id": m.FromUserID, "displayName": name,
			"userIdentityType": "aadUser", "tenantId": e.TenantID}}
	}
	if m.FromAppID != "" {
		return map[string]any{"application": map[string]any{"@odata.type": "#microsoft.graph.teamworkApplicationIdentity",
			"id": m.FromAppID, "displayName": m.FromAppName, "applicationIdentityType": "bot"}, "device": nil, "user": nil}
	}
	return nil
}

// messageJSON renders a message as Graph returns it; st.mu must be held.
func (e *Emulator) messageJSON(m *Message, withReplies bool) msgJSON {
	j := msgJSON{ID: m.ID, ETag: strconv.FormatInt(m.LastModified.UnixMilli(), 10), MessageType: m.MessageType,
		Created: graphTime(m.Created), LastModified: graphTime(m.LastModified), LastEdited: nullableTime(m.LastEdited),
		Deleted: nullableTime(m.Deleted), Importance: m.Importance, Locale: "en-us", PolicyViolation: m.PolicyViolation,
		From: e.fromJSON(m), Body: wire.Body{ContentType: m.BodyType, Content: m.renderContent()},
		Attachments: m.Attachments, Mentions: m.Mentions, Reactions: m.Reactions, MessageHistory: m.History}
	if m.ReplyToID != "" {
		j.ReplyToID = &m.ReplyToID
	}
	if m.Subject != "" {
		j.Subject = &m.Subject
	}
	if m.ChatID != "" {
		j.ChatID = &m.ChatID
	} else {
		j.ChannelIdentity = &channelIdent{TeamID: m.TeamID, ChannelID: m.ChannelID}
		parent := m.ID
		if m.ReplyToID != "" {
			parent = m.ReplyToID
		}
		u := fmt.Sprintf("https://teams.microsoft.com/l/message/%s/%s?groupId=%s&tenantId=%s&createdTime=%d&parentMessageId=%s",
			m.ChannelID, m.ID, m.TeamID, e.TenantID, m.Created.UnixMilli(), parent)
		j.WebURL = &u
	}
	if !m.Deleted.IsZero() {
		j.Attachments, j.Mentions, j.Reactions = nil, nil, nil
	}
	if j.Attachments == nil {
		j.Attachments = []Attachment{}
	}
	if j.Mentions == nil {
		j.Mentions = []Mention{}
	}
	if j.Reactions == nil {
		j.Reactions = []Reaction{}
	}
	if j.MessageHistory == nil {
		j.MessageHistory = []HistoryItem{}
	}
	if withReplies && m.ChatID == "" && m.ReplyToID == "" {
		j.RepliesContext = e.meta(fmt.Sprintf("teams('%s')/channels('%s')/messages('%s')/replies", m.TeamID, m.ChannelID, m.ID))
		j.Replies = []msgJSON{}
		for i, r := range m.Replies {
			if i == 1000 {
				break
			}
			j.Replies = append(j.Replies, e.messageJSON(r, false))
		}
	}
	return j
}

// resourcePath is the notification resource of a message.
func (m *Message) resourcePath() string {
	if m.ChatID != "" {
		return fmt.Sprintf("chats('%s')/messages('%s')", m.ChatID, m.ID)
	}
	if m.ReplyToID != "" {
		return fmt.Sprintf("teams('%s')/channels('%s')/messages('%s')/replies('%s')", m.TeamID, m.ChannelID, m.ReplyToID, m.ID)
	}
	return fmt.Sprintf("teams('%s')/channels('%s')/messages('%s')", m.TeamID, m.ChannelID, m.ID)
}

func (m *Message) entityContext(e *Emulator) string {
	if m.ChatID != "" {
		return e.meta(fmt.Sprintf("chats('%s')/messages/$entity", m.ChatID))
	}
	if m.ReplyToID != "" {
		return e.meta(fmt.Sprintf("teams('%s')/channels('%s')/messages('%s')/replies/$entity", m.TeamID, m.ChannelID, m.ReplyToID))
	}
	return e.meta(fmt.Sprintf("teams('%s')/channels('%s')/messages/$entity", m.TeamID, m.ChannelID))
}

// ---- message input and validation ----

// HostedContentInput is a hosted content sent with a new message.
type HostedContentInput = wire.HostedContentInput

// MessageInput is the body of POST …/messages (and of the control API's post).
type MessageInput = wire.MessageInput

var (
	atRE         = regexp.MustCompile(`<at\s+id=\\?["'](\d+)\\?["']`)
	attachmentRE = regexp.MustCompile(`<attachment\s+id=\\?["']([^"'\\]+)\\?["']`)
)

// buildMessage validates input into m (content fields only); st.mu held.
func (e *Emulator) fillMessage(m *Message, in *MessageInput, hostedBase string) error {
	if in.Body == nil {
		return badRequest("Missing body.")
	}
	ct := strings.ToLower(in.Body.ContentType)
	if ct == "" {
		ct = "text"
	}
	if ct != "text" && ct != "html" {
		return badRequest("Invalid body contentType '%s'.", in.Body.ContentType)
	}
	if len(in.Body.Content) > MaxMessageBytes {
		return &storeError{413, "RequestEntityTooLarge", "Request Entity too large."}
	}
	content := in.Body.Content
	if strings.TrimSpace(content) == "" && len(in.Attachments) == 0 {
		return badRequest("Message body cannot be empty.")
	}
	imp := in.Importance
	if imp == "" {
		imp = "normal"
	}
	if imp != "normal" && imp != "high" && imp != "urgent" {
		return badRequest("Invalid importance '%s'.", in.Importance)
	}
	// mentions ↔ <at id="N">
	ids := map[int]bool{}
	for _, mm := range atRE.FindAllStringSubmatch(content, -1) {
		n, _ := strconv.Atoi(mm[1])
		ids[n] = true
	}
	if len(in.Mentions) > 0 && ct != "html" {
		return badRequest("Mentions are only supported in messages with an html body.")
	}
	seen := map[int]bool{}
	mentions := make([]Mention, 0, len(in.Mentions))
	for _, mn := range in.Mentions {
		if !ids[mn.ID] {
			return badRequest("Mention with id %d is not present in the message body.", mn.ID)
		}
		seen[mn.ID] = true
		if u := mn.Mentioned.User; u != nil {
			if e.st.users[u.ID] == nil {
				return badRequest("Mentioned user '%s' was not found.", u.ID)
			}
			if u.UserIdentityType == "" {
				cp := *u
				cp.UserIdentityType = "aadUser"
				mn.Mentioned.User = &cp
			}
		}
		mentions = append(mentions, mn)
	}
	for id := range ids {
		if !seen[id] {
			return badRequest("The message body references mention id %d, which has no entry in mentions.", id)
		}
	}
	// attachments ↔ <attachment id="X">
	refs := map[string]bool{}
	for _, mm := range attachmentRE.FindAllStringSubmatch(content, -1) {
		refs[mm[1]] = true
	}
	atts := make([]Attachment, 0, len(in.Attachments))
	for _, a := range in.Attachments {
		if a.ID == "" || a.ContentType == "" {
			return badRequest("Attachment id and contentType are required.")
		}
		if !refs[a.ID] {
			return badRequest("Attachment with id '%s' is not referenced in the message body.", a.ID)
		}
		if a.ContentType == "reference" && (a.ContentURL == nil || *a.ContentURL == "") {
			return badRequest("Reference attachment '%s' needs a contentUrl.", a.ID)
		}
		delete(refs, a.ID)
		atts = append(atts, a)
	}
	for id := range refs {
		return badRequest("Attachment with id '%s' is referenced in the body but missing from attachments.", id)
	}
	// hosted contents
	var hosted []*HostedContent
	for _, h := range in.HostedContents {
		if h.TemporaryID == "" || h.ContentType == "" {
			return badRequest("hostedContents need @microsoft.graph.temporaryId and contentType.")
		}
		data, err := base64.StdEncoding.DecodeString(h.ContentBytes)
		if err != nil {
			return badRequest("hostedContents contentBytes is not valid base64.")
		}
		if int64(len(data)) > e.opts.MaxUploadBytes {
			return &storeError{413, "RequestEntityTooLarge", "Request Entity too large."}
		}
		ref := "../hostedContents/" + h.TemporaryID + "/$value"
		if !strings.Contains(content, ref) {
			return badRequest("Hosted content with temporary id '%s' is not referenced in the body.", h.TemporaryID)
		}
		hc := &HostedContent{ID: base64.RawURLEncoding.EncodeToString([]byte("id=x_0-" + randomHex(12) + ",type=1,url=")), ContentType: h.ContentType, Bytes: data}
		content = strings.ReplaceAll(content, ref, hostedBase+"/hostedContents/"+hc.ID+"/$value")
		hosted = append(hosted, hc)
	}
	m.BodyType, m.BodyContent, m.Importance, m.Subject = ct, content, imp, in.Subject
	m.Mentions, m.Attachments = mentions, atts
	if hosted != nil {
		m.Hosted = hosted
	}
	return nil
}

// ---- target resolution ----

type msgTarget struct {
	chat    *Chat
	team    *Team
	channel *Channel
	root    *Message // parent when a reply is addressed or listed
	msg     *Message // the addressed message
}

func (t *msgTarget) threadID() string {
	if t.chat != nil {
		return t.chat.ID
	}
	return t.channel.ID
}

func (t *msgTarget) members(e *Emulator) []string {
	var out []string
	if t.chat != nil {
		for _, m := range t.chat.Members {
			out = append(out, m.UserID)
		}
		return out
	}
	return append(out, t.team.Members...)
}

// target resolves the path to a chat/channel, root and message; st.mu held.
func (c *call) target() (*msgTarget, bool) {
	t := &msgTarget{}
	var th *thread
	if c.r.PathValue("chid") != "" {
		ch, ok := c.chat()
		if !ok {
			return nil, false
		}
		t.chat, th = ch, &ch.thread
	} else {
		team, ch, ok := c.channel()
		if !ok {
			return nil, false
		}
		t.team, t.channel, th = team, ch, &ch.thread
	}
	mid := c.r.PathValue("mid")
	if mid == "" {
		return t, true
	}
	m := th.byID[mid]
	if m == nil {
		c.fail(404, "NotFound", "Message "+mid+" not found.")
		return nil, false
	}
	rid := c.r.PathValue("rid")
	if rid != "" {
		r := m.repliesByID[rid]
		if r == nil {
			c.fail(404, "NotFound", "Reply "+rid+" not found.")
			return nil, false
		}
		t.root, t.msg = m, r
		return t, true
	}
	if strings.HasSuffix(c.route, "/replies") {
		t.root = m
		return t, true
	}
	t.msg = m
	return t, true
}

func (c *call) isChannel() bool { return c.r.PathValue("tid") != "" }

func (c *call) readPerm() bool {
	if c.isChannel() {
		return c.permit([]string{"ChannelMessage.Read.All", "Group.Read.All", "Group.ReadWrite.All"}, []string{"ChannelMessage.Read.All", "ChannelMessage.Read.Group", "Group.Read.All"})
	}
	return c.permit([]string{"Chat.Read", "Chat.ReadWrite"}, []string{"Chat.Read.All", "Chat.ReadWrite.All", "ChatMessage.Read.Chat"})
}

func (c *call) threadKey() string {
	if c.isChannel() {
		return c.r.PathValue("cid")
	}
	return c.r.PathValue("chid")
}

func (c *call) msgCategory(kind string) string {
	if c.isChannel() {
		return "channelMessage" + kind
	}
	return "chatMessage" + kind
}

// ---- handlers ----

func (e *Emulator) listMessages(c *call) {
	if !c.readPerm() || !c.throttle(c.msgCategory("Get"), c.threadKey()) {
		return
	}
	n, ok := c.top(20, 50)
	if !ok {
		return
	}
	off, ok := decodeSkip(c.q.Get("$skiptoken"))
	if !ok {
		c.fail(400, "BadRequest", "Invalid $skiptoken.")
		return
	}
	orderBy := "lastModifiedDateTime"
	if ob := c.q.Get("$orderby"); ob != "" {
		f := strings.Fields(ob)
		if len(f) != 2 || strings.ToLower(f[1]) != "desc" || (f[0] != "lastModifiedDateTime" && f[0] != "createdDateTime") {
			c.fail(400, "BadRequest", "$orderby supports only lastModifiedDateTime desc or createdDateTime desc.")
			return
		}
		orderBy = f[0]
	}
	var gt, lt time.Time
	if f := c.q.Get("$filter"); f != "" {
		for _, part := range splitWord(f, " and ") {
			p := strings.Fields(part)
			if len(p) != 3 {
				c.fail(400, "BadRequest", "Invalid $filter.")
				return
			}
			ts, err := time.Parse(time.RFC3339Nano, strings.Trim(p[2], "'"))
			if err != nil {
				c.fail(400, "BadRequest", "Invalid $filter timestamp.")
				return
			}
			// Graph silently ignores a filter on a property other than the order.
			if p[0] != orderBy {
				continue
			}
			switch strings.ToLower(p[1]) {
			case "gt":
				if orderBy == "createdDateTime" {
					continue // only "lt" is honoured on createdDateTime
				}
				gt = ts
			case "lt":
				lt = ts
			}
		}
	}
	expandReplies := c.q.Get("$expand") == "replies"
	e.st.mu.RLock()
	defer e.st.mu.RUnlock()
	t, ok := c.target()
	if !ok {
		return
	}
	var src []*Message
	if t.root != nil {
		src = t.root.Replies
	} else if t.chat != nil {
		src = t.chat.msgs
	} else {
		src = t.channel.msgs
	}
	key := func(m *Message) time.Time {
		if orderBy == "createdDateTime" {
			return m.Created
		}
		return m.LastModified
	}
	sel := make([]*Message, 0, len(src))
	for _, m := range src {
		k := key(m)
		if (!gt.IsZero() && !k.After(gt)) || (!lt.IsZero() && !k.Before(lt)) {
			continue
		}
		if t.chat != nil && !c.p.app {
			if mb := t.chat.member(c.p.userID); mb != nil && !mb.VisibleHistory.IsZero() && m.Created.Before(mb.VisibleHistory) {
				continue
			}
		}
		sel = append(sel, m)
	}
	sort.SliceStable(sel, func(i, j int) bool { return key(sel[i]).After(key(sel[j])) })
	if off > len(sel) {
		off = len(sel)
	}
	end := off + n
	if end > len(sel) {
		end = len(sel)
	}
	out := make([]msgJSON, 0, end-off)
	for _, m := range sel[off:end] {
		out = append(out, e.messageJSON(m, expandReplies))
	}
	next := ""
	if end < len(sel) {
		next = c.nextLink(encodeSkip(end))
	}
	ctx := "chats('" + c.r.PathValue("chid") + "')/messages"
	if c.isChannel() {
		ctx = "teams('" + t.team.ID + "')/channels('" + t.channel.ID + "')/messages"
		if t.root != nil {
			ctx += "('" + t.root.ID + "')/replies"
		}
	}
	body := collection(e.meta(ctx), out, next)
	if c.q.Get("$count") == "true" || c.isChannel() {
		body["@odata.count"] = len(out)
	}
	c.json(200, body)
}

func (e *Emulator) getMessage(c *call) {
	if !c.readPerm() || !c.throttle(c.msgCategory("Get"), c.threadKey()) {
		return
	}
	e.st.mu.RLock()
	defer e.st.mu.RUnlock()
	t, ok := c.target()
	if !ok {
		return
	}
	j := e.messageJSON(t.msg, c.q.Get("$expand") == "replies")
	j.Context = t.msg.entityContext(e)
	c.json(200, j)
}

const importOnlyMsg = "Message POST is allowed in application-only context only for import purposes. Refer to https://docs.microsoft.com/microsoftteams/platform/graph-api/import-messages/import-external-messages-to-teams for more details."

func (e *Emulator) postMessage(c *call) {
	if c.p.app {
		// The only application permission is Teamwork.Migrate.All, for import.
		c.fail(401, "Unauthorized", importOnlyMsg)
		return
	}
	if c.isChannel() {
		if !c.permit([]string{"ChannelMessage.Send", "Group.ReadWrite.All"}, nil) {
			return
		}
	} else if !c.permit([]string{"ChatMessage.Send", "Chat.ReadWrite"}, nil) {
		return
	}
	if !c.throttle(c.msgCategory("Post"), c.threadKey()) {
		return
	}
	var in MessageInput
	if !c.decode(&in) {
		return
	}
	e.st.mu.Lock()
	t, ok := c.target()
	if !ok {
		e.st.mu.Unlock()
		return
	}
	m, err := e.addMessage(t, c.p.userID, &in)
	var j msgJSON
	var ch *change
	if err == nil {
		m.CallerAppID = c.p.appID
		j = e.messageJSON(m, false)
		j.Context = m.entityContext(e)
		ch = e.messageChange(m, t, "created")
	}
	e.st.mu.Unlock()
	if err != nil {
		c.failErr(err)
		return
	}
	e.publish(ch)
	c.json(201, j)
}

// addMessage creates a root message or reply from input; st.mu held.
func (e *Emulator) addMessage(t *msgTarget, fromUser string, in *MessageInput) (*Message, error) {
	now := time.Now().UTC()
	m := &Message{ID: e.st.nextMessageID(now), MessageType: "message", FromUserID: fromUser, Created: now, LastModified: now}
	var base string
	if t.chat != nil {
		m.ChatID = t.chat.ID
		base = fmt.Sprintf("%s/v1.0/chats/%s/messages/%s", e.GraphURL, t.chat.ID, m.ID)
	} else {
		m.TeamID, m.ChannelID = t.team.ID, t.channel.ID
		if t.root != nil {
			m.ReplyToID = t.root.ID
			base = fmt.Sprintf("%s/v1.0/teams/%s/channels/%s/messages/%s/replies/%s", e.GraphURL, t.team.ID, t.channel.ID, t.root.ID, m.ID)
		} else {
			base = fmt.Sprintf("%s/v1.0/teams/%s/channels/%s/messages/%s", e.GraphURL, t.team.ID, t.channel.ID, m.ID)
		}
	}
	if err := e.fillMessage(m, in, base); err != nil {
		return nil, err
	}
	if m.ChatID != "" && m.Subject != "" {
		return nil, badRequest("Subject is only supported for channel messages.")
	}
	m.ModSeq = e.st.nextSeq()
	switch {
	case t.chat != nil:
		t.chat.add(m)
		t.chat.LastUpdated = now
	case t.root != nil:
		if t.root.repliesByID == nil {
			t.root.repliesByID = map[string]*Message{}
		}
		t.root.Replies = append(t.root.Replies, m)
		t.root.repliesByID[m.ID] = m
	default:
		t.channel.add(m)
	}
	return m, nil
}

func (e *Emulator) patchMessage(c *call) {
	var raw map[string]json.RawMessage
	if c.isChannel() {
		if !c.permit([]string{"ChannelMessage.ReadWrite", "Group.ReadWrite.All"}, []string{"ChannelMessage.UpdatePolicyViolation.All"}) {
			return
		}
	} else if !c.permit([]string{"Chat.ReadWrite", "ChatMessage.Send"}, []string{"Chat.UpdatePolicyViolation.All"}) {
		return
	}
	if !c.throttle(c.msgCategory("Other"), c.threadKey()) || !c.decode(&raw) {
		return
	}
	if c.p.app {
		for k := range raw {
			if k != "policyViolation" {
				c.fail(403, "Forbidden", "Only the policyViolation property can be updated in application context.")
				return
			}
		}
	}
	e.st.mu.Lock()
	t, ok := c.target()
	if !ok {
		e.st.mu.Unlock()
		return
	}
	m := t.msg
	var err error
	switch {
	case !m.Deleted.IsZero():
		err = badRequest("Cannot update a deleted message.")
	case !c.p.app && m.FromUserID != c.p.userID && (raw["body"] != nil || raw["mentions"] != nil || raw["attachments"] != nil):
		err = forbidden("Only the sender can edit the message.")
	}
	if err == nil {
		err = e.applyEdit(m, raw, c.p.app)
	}
	var ch *change
	if err == nil {
		ch = e.messageChange(m, t, "updated")
	}
	e.st.mu.Unlock()
	if err != nil {
		c.failErr(err)
		return
	}
	e.publish(ch)
	c.w.WriteHeader(204)
}

// applyEdit updates writable properties; st.mu held.
func (e *Emulator) applyEdit(m *Message, raw map[string]json.RawMessage, app bool) error {
	now := time.Now().UTC()
	if v, ok := raw["policyViolation"]; ok {
		var pv any
		if err := json.Unmarshal(v, &pv); err != nil {
			return badRequest("Invalid policyViolation.")
		}
		m.PolicyViolation = pv
	}
	if !app && (raw["body"] != nil || raw["mentions"] != nil || raw["attachments"] != nil || raw["subject"] != nil || raw["importance"] != nil) {
		in := MessageInput{Body: &wire.Body{ContentType: m.BodyType, Content: m.BodyContent}, Subject: m.Subject, Importance: m.Importance,
			Mentions: m.Mentions, Attachments: m.Attachments}
		for k, v := range raw {
			var err error
			switch k {
			case "body":
				err = json.Unmarshal(v, &in.Body)
			case "mentions":
				err = json.Unmarshal(v, &in.Mentions)
			case "attachments":
				err = json.Unmarshal(v, &in.Attachments)
			case "subject":
				err = json.Unmarshal(v, &in.Subject)
			case "importance":
				err = json.Unmarshal(v, &in.Importance)
			}
			if err != nil {
				return badRequest("Invalid value for %s.", k)
			}
		}
		if raw["body"] != nil && raw["mentions"] == nil && !strings.Contains(in.Body.Content, "<at ") {
			in.Mentions = nil
		}
		if err := e.fillMessage(m, &in, ""); err != nil {
			return err
		}
		m.LastEdited = now
	}
	m.touch(now)
	m.ModSeq = e.st.nextSeq()
	return nil
}

// setDeleted soft-deletes the target's message, or restores it; the change to announce, or nil when the message
// was already in that state. Callers hold e.st.mu.
func (e *Emulator) setDeleted(t *msgTarget, deleted bool) *change {
	m := t.msg
	if deleted != m.Deleted.IsZero() {
		return nil
	}
	now := time.Now().UTC()
	kind := "updated"
	if deleted {
		m.Deleted, kind = now, "deleted"
	} else {
		m.Deleted = time.Time{}
	}
	m.touch(now)
	m.ModSeq = e.st.nextSeq()
	return e.messageChange(m, t, kind)
}

func (e *Emulator) softDelete(c *call) {
	undo := strings.HasSuffix(c.route, "undoSoftDelete")
	if c.isChannel() {
		if !c.permit([]string{"ChannelMessage.ReadWrite"}, nil) {
			return
		}
	} else {
		if !c.permit([]string{"Chat.ReadWrite"}, nil) {
			return
		}
		if _, ok := c.subject(true); !ok {
			return
		}
	}
	if !c.throttle(c.msgCategory("Other"), c.threadKey()) {
		return
	}
	e.st.mu.Lock()
	t, ok := c.target()
	if !ok {
		e.st.mu.Unlock()
		return
	}
	m := t.msg
	var err error
	var ch *change
	if m.FromUserID != c.p.userID {
		err = forbidden("Only the sender can delete or restore the message.")
	} else {
		ch = e.setDeleted(t, !undo)
	}
	e.st.mu.Unlock()
	if err != nil {
		c.failErr(err)
		return
	}
	e.publish(ch)
	c.w.WriteHeader(204)
}

func (e *Emulator) reactMessage(c *call) {
	unset := strings.HasSuffix(c.route, "unsetReaction")
	if c.isChannel() {
		if !c.permit([]string{"ChannelMessage.Send"}, nil) {
			return
		}
	} else if !c.permit([]string{"Chat.ReadWrite", "ChatMessage.Send"}, nil) {
		return
	}
	if !c.throttle(c.msgCategory("Other"), c.threadKey()) {
		return
	}
	var body struct {
		ReactionType string `json:"reactionType"`
	}
	if !c.decode(&body) {
		return
	}
	if body.ReactionType == "" {
		c.fail(400, "BadRequest", "reactionType is required.")
		return
	}
	e.st.mu.Lock()
	t, ok := c.target()
	if !ok {
		e.st.mu.Unlock()
		return
	}
	changed, err := e.react(t.msg, c.p.userID, body.ReactionType, unset)
	var ch *change
	if changed {
		ch = e.messageChange(t.msg, t, "updated")
	}
	e.st.mu.Unlock()
	if err != nil {
		c.failErr(err)
		return
	}
	e.publish(ch)
	c.w.WriteHeader(204)
}

// react adds or removes a user's reaction; st.mu held.
func (e *Emulator) react(m *Message, uid, rt string, unset bool) (bool, error) {
	if !m.Deleted.IsZero() {
		return false, badRequest("Cannot react to a deleted message.")
	}
	now := time.Now().UTC()
	idx := -1
	for i, r := range m.Reactions {
		if r.ReactionType == rt && r.User.User != nil && r.User.User.ID == uid {
			idx = i
		}
	}
	var name any
	if u := e.st.users[uid]; u != nil {
		name = u.DisplayName
	}
	_ = name
	if unset {
		if idx < 0 {
			return false, nil
		}
		r := m.Reactions[idx]
		m.Reactions = append(m.Reactions[:idx:idx], m.Reactions[idx+1:]...)
		m.History = append(m.History, HistoryItem{Actions: "reactionRemoved", ModifiedDateTime: graphTime(now), Reaction: &r})
	} else {
		if idx >= 0 {
			return false, nil
		}
		r := Reaction{ReactionType: rt, CreatedDateTime: graphTime(now),
			User: ReactionWho{User: &Identity{ID: uid, UserIdentityType: "aadUser"}}}
		if dn := reactionName(rt); dn != "" {
			r.DisplayName = &dn
		}
		m.Reactions = append(m.Reactions, r)
		m.History = append(m.History, HistoryItem{Actions: "reactionAdded", ModifiedDateTime: graphTime(now), Reaction: &r})
	}
	m.touch(now)
	m.ModSeq = e.st.nextSeq()
	return true, nil
}

func reactionName(rt string) string {
	switch rt {
	case "like", "👍":
		return "Like"
	case "heart", "❤️":
		return "Heart"
	case "laugh", "😆":
		return "Laugh"
	case "surprised", "😮":
		return "Surprised"
	case "sad", "😢":
		return "Sad"
	case "angry", "😡":
		return "Angry"
	}
	return ""
}

func (e *Emulator) listHosted(c *call) {
	if !c.readPerm() || !c.throttle(c.msgCategory("Get"), c.threadKey()) {
		return
	}
	e.st.mu.RLock()
	defer e.st.mu.RUnlock()
	t, ok := c.target()
	if !ok {
		return
	}
	out := []map[string]any{}
	for _, h := range t.msg.Hosted {
		out = append(out, map[string]any{"id": h.ID, "contentBytes": nil, "contentType": nil})
	}
	c.json(200, collection(e.meta("hostedContents"), out, ""))
}

func (c *call) hosted() (*HostedContent, bool) {
	t, ok := c.target()
	if !ok {
		return nil, false
	}
	for _, h := range t.msg.Hosted {
		if h.ID == c.r.PathValue("hid") {
			return h, true
		}
	}
	c.fail(404, "NotFound", "Hosted content not found.")
	return nil, false
}

func (e *Emulator) getHosted(c *call) {
	if !c.readPerm() || !c.throttle(c.msgCategory("Get"), c.threadKey()) {
		return
	}
	e.st.mu.RLock()
	defer e.st.mu.RUnlock()
	h, ok := c.hosted()
	if !ok {
		return
	}
	c.json(200, map[string]any{"@odata.context": e.meta("hostedContents/$entity"), "id": h.ID, "contentBytes": nil, "contentType": nil})
}

func (e *Emulator) getHostedValue(c *call) {
	if !c.readPerm() || !c.throttle(c.msgCategory("Get"), c.threadKey()) {
		return
	}
	e.st.mu.RLock()
	h, ok := c.hosted()
	e.st.mu.RUnlock()
	if !ok {
		return
	}
	c.w.Header().Set("Content-Type", h.ContentType)
	c.w.Header().Set("Content-Length", strconv.Itoa(len(h.Bytes)))
	c.w.WriteHeader(200)
	c.w.Write(h.Bytes)
}

// ---- getAllMessages and delta ----

func (e *Emulator) userMessages(uid string, since int64) []*Message {
	var out []*Message
	for _, ch := range e.st.chatsOf(uid) {
		for _, m := range ch.msgs {
			if m.ModSeq > since {
				out = append(out, m)
			}
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ModSeq < out[j].ModSeq })
	return out
}

func (e *Emulator) getAllMessages(c *call) {
	if !c.p.app {
		c.fail(403, "Forbidden", "Requested API is not supported in delegated context")
		return
	}
	if !c.permit(nil, []string{"Chat.Read.All", "Chat.ReadWrite.All"}) || !c.throttle("allMessages", "") {
		return
	}
	uid, ok := c.subject(false)
	if !ok {
		return
	}
	e.st.mu.RLock()
	defer e.st.mu.RUnlock()
	all := e.userMessages(uid, 0)
	start, end, ok := c.page(len(all), 20, 50)
	if !ok {
		return
	}
	out := make([]msgJSON, 0, end-start)
	for _, m := range all[start:end] {
		out = append(out, e.messageJSON(m, false))
	}
	next := ""
	if end < len(all) {
		next = c.nextLink(encodeSkip(end))
	}
	c.json(200, collection(e.meta("Collection(chatMessage)"), out, next))
}

func encodeSeq(prefix string, n int64) string {
	return base64.RawURLEncoding.EncodeToString([]byte(prefix + strconv.FormatInt(n, 10)))
}

func decodeSeq(prefix, s string) (int64, bool) {
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil || !strings.HasPrefix(string(b), prefix) {
		return 0, false
	}
	n, err := strconv.ParseInt(string(b[len(prefix):]), 10, 64)
	return n, err == nil && n >= 0
}

// deltaCursor reads $deltatoken / $skiptoken (both ModSeq cursors).
func (c *call) deltaCursor() (since int64, ok bool) {
	if t := c.q.Get("$deltatoken"); t != "" {
		if since, ok = decodeSeq("d:", t); !ok {
			c.fail(400, "BadRequest", "Invalid $deltatoken.")
		}
		return
	}
	if t := c.q.Get("$skiptoken"); t != "" {
		if since, ok = decodeSeq("s:", t); !ok {
			c.fail(400, "BadRequest", "Invalid $skiptoken.")
		}
		return
	}
	return 0, true
}

func (c *call) deltaLinks(path string, returned []*Message, more bool, cur int64) (string, string) {
	q := "?"
	if top := c.q.Get("$top"); top != "" {
		q += "$top=" + top + "&"
	}
	if more {
		return c.e.GraphURL + path + q + "$skiptoken=" + encodeSeq("s:", returned[len(returned)-1].ModSeq), ""
	}
	return "", c.e.GraphURL + path + q + "$deltatoken=" + encodeSeq("d:", cur)
}

func (e *Emulator) chatsDelta(c *call) {
	if !c.p.app {
		c.fail(412, "PreconditionFailed", "Requested API is not supported in delegated context")
		return
	}
	if !c.permit(nil, []string{"Chat.Read.All", "Chat.ReadWrite.All"}) || !c.throttle("allMessages", "") {
		return
	}
	uid, ok := c.subject(false)
	if !ok {
		return
	}
	n, ok := c.top(50, 50)
	if !ok {
		return
	}
	since, ok := c.deltaCursor()
	if !ok {
		return
	}
	var gt time.Time
	if f := c.q.Get("$filter"); f != "" && c.q.Get("$deltatoken") == "" && c.q.Get("$skiptoken") == "" {
		p := strings.Fields(f)
		if len(p) != 3 || p[0] != "lastModifiedDateTime" || p[1] != "gt" {
			c.fail(400, "BadRequest", "Only $filter=lastModifiedDateTime gt {datetime} is supported on delta.")
			return
		}
		t, err := time.Parse(time.RFC3339Nano, strings.Trim(p[2], "'"))
		if err != nil {
			c.fail(400, "BadRequest", "Invalid $filter timestamp.")
			return
		}
		gt = t
	}
	e.st.mu.RLock()
	defer e.st.mu.RUnlock()
	all := e.userMessages(uid, since)
	if !gt.IsZero() {
		kept := all[:0:0]
		for _, m := range all {
			if m.LastModified.After(gt) {
				kept = append(kept, m)
			}
		}
		all = kept
	}
	more := len(all) > n
	if more {
		all = all[:n]
	}
	out := make([]msgJSON, 0, len(all))
	for _, m := range all {
		out = append(out, e.messageJSON(m, false))
	}
	next, delta := c.deltaLinks("/v1.0/users/"+uid+"/chats/getAllMessages/delta", all, more, e.st.seq)
	body := map[string]any{"@odata.context": e.meta("Collection(chatMessage)"), "value": out}
	if next != "" {
		body["@odata.nextLink"] = next
	} else {
		body["@odata.deltaLink"] = delta
	}
	c.json(200, body)
}

func (e *Emulator) channelDelta(c *call) {
	if !c.permit([]string{"ChannelMessage.Read.All"}, []string{"ChannelMessage.Read.All", "ChannelMessage.Read.Group"}) || !c.throttle("allMessages", "") {
		return
	}
	n, ok := c.top(50, 50)
	if !ok {
		return
	}
	since, ok := c.deltaCursor()
	if !ok {
		return
	}
	e.st.mu.RLock()
	defer e.st.mu.RUnlock()
	t, ok := c.target()
	if !ok {
		return
	}
	var all []*Message
	for _, m := range t.channel.msgs {
		if m.ModSeq > since {
			all = append(all, m)
		}
	}
	sort.Slice(all, func(i, j int) bool { return all[i].ModSeq < all[j].ModSeq })
	more := len(all) > n
	if more {
		all = all[:n]
	}
	out := make([]msgJSON, 0, len(all))
	for _, m := range all {
		out = append(out, e.messageJSON(m, c.q.Get("$expand") == "replies"))
	}
	next, delta := c.deltaLinks(fmt.Sprintf("/v1.0/teams/%s/channels/%s/messages/delta", t.team.ID, t.channel.ID), all, more, e.st.seq)
	body := map[string]any{"@odata.context": e.meta("Collection(chatMessage)"), "value": out}
	if next != "" {
		body["@odata.nextLink"] = next
	} else {
		body["@odata.deltaLink"] = delta
	}
	c.json(200, body)
}
