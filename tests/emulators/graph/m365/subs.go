package m365

import (
	"context"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/msteams-bridge/msteams/tests/emulators/graph/wire"
)

// Quotas are the subscription quotas (control API /quotas).
type Quotas = wire.Quotas

// DefaultQuotas are Graph's documented quotas.
func DefaultQuotas() Quotas { return Quotas{PerAppPerThread: 1, PerUser: 10, PerTenant: 10000} }

// Subscription kinds.
const (
	kindAllChats    = "allChats"    // chats/getAllMessages
	kindChat        = "chat"        // chats/{id}/messages
	kindUserChats   = "userChats"   // users/{id}/chats/getAllMessages
	kindAllChannels = "allChannels" // teams/getAllMessages
	kindChannel     = "channel"     // teams/{t}/channels/{c}/messages
	kindChats       = "chats"       // chats (chat entities)
	kindChatEntity  = "chatEntity"  // chats/{id}
)

type subscription struct {
	ID, Resource, ChangeType  string
	changeTypes               map[string]bool
	NotificationURL           string
	LifecycleURL              string
	ClientState               string
	Expiration                time.Time
	IncludeResourceData       bool
	EncCert, EncCertID, thumb string
	encPub                    *rsa.PublicKey
	LatestTLS                 string
	AppID, CreatorID          string
	delegated                 bool
	kind, key                 string // key: chat, user or channel id
	created                   time.Time
	reauthSent                bool
	needsReauth               bool
	reauthDeadline            time.Time
}

type subManager struct {
	mu     sync.RWMutex
	subs   map[string]*subscription
	quotas Quotas
}

func newSubManager() *subManager {
	return &subManager{subs: map[string]*subscription{}, quotas: DefaultQuotas()}
}

var (
	reChatMsgs    = regexp.MustCompile(`^chats(?:/|\(')([^/']+)(?:'\))?/messages$`)
	reUserChats   = regexp.MustCompile(`^users(?:/|\(')([^/']+)(?:'\))?/chats/getAllMessages$`)
	reChannelMsgs = regexp.MustCompile(`^teams(?:/|\(')([^/']+)(?:'\))?/channels(?:/|\(')([^/']+)(?:'\))?/messages$`)
	reChat        = regexp.MustCompile(`^chats(?:/|\(')([^/']+?)(?:'\))?$`)
)

// parseResource classifies a subscription resource (query string ignored).
func parseResource(res string) (kind, key, key2 string, ok bool) {
	r := strings.TrimPrefix(res, "/")
	if i := strings.IndexByte(r, '?'); i >= 0 {
		r = r[:i]
	}
	switch {
	case r == "chats/getAllMessages":
		return kindAllChats, "", "", true
	case r == "teams/getAllMessages":
		return kindAllChannels, "", "", true
	case r == "chats":
		return kindChats, "", "", true
	case r == "me/chats/getAllMessages":
		return kindUserChats, "me", "", true
	}
	if m := reUserChats.FindStringSubmatch(r); m != nil {
		return kindUserChats, m[1], "", true
	}
	if m := reChatMsgs.FindStringSubmatch(r); m != nil {
		return kindChat, m[1], "", true
	}
	if m := reChannelMsgs.FindStringSubmatch(r); m != nil {
		return kindChannel, m[2], m[1], true
	}
	if m := reChat.FindStringSubmatch(r); m != nil {
		return kindChatEntity, m[1], "", true
	}
	return "", "", "", false
}

func (s *subscription) json(e *Emulator) map[string]any {
	nz := func(v string) any {
		if v == "" {
			return nil
		}
		return v
	}
	return map[string]any{
		"id": s.ID, "resource": s.Resource, "applicationId": s.AppID, "changeType": s.ChangeType,
		"clientState": nz(s.ClientState), "notificationUrl": s.NotificationURL, "notificationQueryOptions": nil,
		"lifecycleNotificationUrl": nz(s.LifecycleURL), "expirationDateTime": subTime(s.Expiration),
		"creatorId": s.CreatorID, "includeResourceData": s.IncludeResourceData, "latestSupportedTlsVersion": s.LatestTLS,
		"encryptionCertificate": nz(s.EncCert), "encryptionCertificateId": nz(s.EncCertID),
		"notificationUrlAppId": nil, "notificationContentType": "application/json",
	}
}

// maxExpiry is the longest lifetime of a Teams subscription (3 days).
const maxExpiry = 4320 * time.Minute

func checkExpiry(exp time.Time, hasLifecycle bool) error {
	now := time.Now()
	if !exp.After(now) {
		return badRequest("Subscription expiration must be in the future.")
	}
	if exp.After(now.Add(maxExpiry + time.Minute)) {
		return &storeError{400, "InvalidRequest", "Subscription expiration can only be 4320 minutes in the future."}
	}
	if exp.After(now.Add(time.Hour)) && !hasLifecycle {
		return &storeError{400, "InvalidRequest", "lifecycleNotificationUrl is a required property for subscription creation on this resource when the expirationDateTime value is set to greater than 1 hour."}
	}
	return nil
}

func (e *Emulator) checkNotificationURL(field, u string) error {
	pu, err := url.Parse(u)
	if err != nil || pu.Host == "" || (pu.Scheme != "https" && !(pu.Scheme == "http" && e.opts.AllowHTTPNotifications)) {
		return &storeError{400, "InvalidRequest", fmt.Sprintf("The %s must be a valid HTTPS URL.", field)}
	}
	return nil
}

func parseCert(b64 string) (*rsa.PublicKey, string, error) {
	der, err := base64.StdEncoding.DecodeString(b64)
	if err != nil {
		return nil, "", badRequest("encryptionCertificate is not valid base64.")
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, "", badRequest("encryptionCertificate is not a valid X.509 certificate.")
	}
	pub, ok := cert.PublicKey.(*rsa.PublicKey)
	if !ok || pub.N.BitLen() < 2048 || pub.N.BitLen() > 4096 {
		return nil, "", badRequest("encryptionCertificate must carry an RSA key of 2048 to 4096 bits.")
	}
	sum := sha1.Sum(der)
	return pub, strings.ToUpper(hex.EncodeToString(sum[:])), nil
}

type subInput struct {
	ChangeType               *string `json:"changeType"`
	NotificationURL          *string `json:"notificationUrl"`
	LifecycleNotificationURL *string `json:"lifecycleNotificationUrl"`
	Resource                 *string `json:"resource"`
	ExpirationDateTime       *string `json:"expirationDateTime"`
	ClientState              *string `json:"clientState"`
	IncludeResourceData      *bool   `json:"includeResourceData"`
	EncryptionCertificate    *string `json:"encryptionCertificate"`
	EncryptionCertificateID  *string `json:"encryptionCertificateId"`
	LatestSupportedTLS       *string `json:"latestSupportedTlsVersion"`
	NotificationQueryOptions *string `json:"notificationQueryOptions"`
	NotificationURLAppID     *string `json:"notificationUrlAppId"`
}

func str(p *string) string {
	if p == nil {
		return ""
	}
	return *p
}

// subPermit checks the permission table of Teams subscription resources.
func (c *call) subPermit(kind string) bool {
	switch kind {
	case kindAllChats:
		return c.permit(nil, []string{"Chat.Read.All", "Chat.ReadWrite.All"})
	case kindChat:
		return c.permit([]string{"Chat.Read", "Chat.ReadWrite"}, []string{"ChatMessage.Read.Chat", "Chat.Read.All", "Chat.ReadWrite.All"})
	case kindUserChats:
		return c.permit([]string{"Chat.Read", "Chat.ReadWrite"}, []string{"Chat.Read.All", "Chat.ReadWrite.All"})
	case kindAllChannels:
		return c.permit(nil, []string{"ChannelMessage.Read.All"})
	case kindChannel:
		return c.permit([]string{"ChannelMessage.Read.All"}, []string{"ChannelMessage.Read.Group", "ChannelMessage.Read.All"})
	case kindChats:
		return c.permit(nil, []string{"Chat.ReadBasic.All", "Chat.Read.All", "Chat.ReadWrite.All"})
	case kindChatEntity:
		return c.permit([]string{"Chat.ReadBasic", "Chat.Read", "Chat.ReadWrite"}, []string{"ChatSettings.Read.Chat", "Chat.ReadBasic.All", "Chat.Read.All", "Chat.ReadWrite.All"})
	}
	return false
}

func (e *Emulator) createSubscription(c *call) {
	if !c.throttle("subscriptionWrite", "") {
		return
	}
	var in subInput
	if !c.decode(&in) {
		return
	}
	for name, v := range map[string]*string{"changeType": in.ChangeType, "notificationUrl": in.NotificationURL, "resource": in.Resource, "expirationDateTime": in.ExpirationDateTime} {
		if v == nil || *v == "" {
			c.fail(400, "InvalidRequest", fmt.Sprintf("%s is a required property for subscription creation.", name))
			return
		}
	}
	kind, key, key2, ok := parseResource(*in.Resource)
	if !ok {
		c.fail(400, "InvalidRequest", fmt.Sprintf("Resource '%s' is not supported for change notifications.", *in.Resource))
		return
	}
	if !c.subPermit(kind) {
		return
	}
	sub := &subscription{ID: newGUID(), Resource: *in.Resource, ChangeType: *in.ChangeType, NotificationURL: *in.NotificationURL,
		LifecycleURL: str(in.LifecycleNotificationURL), ClientState: str(in.ClientState), AppID: c.p.appID,
		delegated: !c.p.app, kind: kind, key: key, created: time.Now(), LatestTLS: "v1_2"}
	if c.p.app {
		sub.CreatorID = c.p.appID
	} else {
		sub.CreatorID = c.p.userID
	}
	if in.LatestSupportedTLS != nil {
		switch *in.LatestSupportedTLS {
		case "v1_0", "v1_1", "v1_2", "v1_3":
			sub.LatestTLS = *in.LatestSupportedTLS
		default:
			c.fail(400, "InvalidRequest", "Invalid latestSupportedTlsVersion.")
			return
		}
	}
	sub.changeTypes = map[string]bool{}
	for _, t := range strings.Split(sub.ChangeType, ",") {
		t = strings.TrimSpace(t)
		if t != "created" && t != "updated" && t != "deleted" {
			c.fail(400, "InvalidRequest", fmt.Sprintf("Invalid changeType '%s'.", t))
			return
		}
		sub.changeTypes[t] = true
	}
	if len(sub.ClientState) > 128 {
		c.fail(400, "InvalidRequest", "clientState must be at most 128 characters.")
		return
	}
	exp, err := time.Parse(time.RFC3339Nano, *in.ExpirationDateTime)
	if err != nil {
		c.fail(400, "InvalidRequest", "expirationDateTime is not a valid date-time.")
		return
	}
	sub.Expiration = exp.UTC()
	if err := checkExpiry(exp, sub.LifecycleURL != ""); err != nil {
		c.failErr(err)
		return
	}
	if err := e.checkNotificationURL("notificationUrl", sub.NotificationURL); err != nil {
		c.failErr(err)
		return
	}
	if sub.LifecycleURL != "" {
		if err := e.checkNotificationURL("lifecycleNotificationUrl", sub.LifecycleURL); err != nil {
			c.failErr(err)
			return
		}
	}
	if in.IncludeResourceData != nil && *in.IncludeResourceData {
		sub.IncludeResourceData = true
		if str(in.EncryptionCertificate) == "" || str(in.EncryptionCertificateID) == "" {
			c.fail(400, "InvalidRequest", "encryptionCertificate and encryptionCertificateId are required when includeResourceData is true.")
			return
		}
		if len(*in.EncryptionCertificateID) > 128 {
			c.fail(400, "InvalidRequest", "encryptionCertificateId must be at most 128 characters.")
			return
		}
		pub, thumb, err := parseCert(*in.EncryptionCertificate)
		if err != nil {
			c.failErr(err)
			return
		}
		sub.EncCert, sub.EncCertID, sub.encPub, sub.thumb = *in.EncryptionCertificate, *in.EncryptionCertificateID, pub, thumb
	}
	// resolve and authorise the resource
	e.st.mu.RLock()
	var rerr error
	switch kind {
	case kindUserChats:
		if key == "me" {
			if c.p.app {
				rerr = badRequest("/me is only valid with delegated authentication flow.")
			} else {
				key = c.p.userID
			}
		} else if u := e.st.findUser(key); u == nil {
			rerr = notFound("User '%s' not found.", key)
		} else {
			key = u.ID
		}
		if rerr == nil && !c.p.app && key != c.p.userID {
			rerr = forbidden("A delegated caller can only subscribe to its own chats.")
		}
	case kindChat, kindChatEntity:
		ch := e.st.chats[key]
		if ch == nil {
			rerr = notFound("Chat '%s' not found.", key)
		} else if !c.p.app && ch.member(c.p.userID) == nil {
			rerr = forbidden("The caller is not a member of the chat.")
		}
	case kindChannel:
		ch := e.st.channels[key]
		if ch == nil || ch.TeamID != key2 {
			rerr = notFound("Channel '%s' not found.", key)
		} else if t := e.st.teams[key2]; !c.p.app && !t.hasMember(c.p.userID) {
			rerr = forbidden("The caller is not a member of the team.")
		}
	}
	e.st.mu.RUnlock()
	if rerr != nil {
		c.failErr(rerr)
		return
	}
	sub.key = key
	if err := e.subs.checkQuota(sub); err != nil {
		c.failErr(err)
		return
	}
	// validation handshake (notification URL, then lifecycle URL)
	if err := e.validateEndpoint(c.r.Context(), sub.NotificationURL); err != nil {
		e.logf("validation of %s failed: %v", sub.NotificationURL, err)
		c.fail(400, "InvalidRequest", "Subscription validation request failed. Notification endpoint must respond with 200 OK to validation request.")
		return
	}
	if sub.LifecycleURL != "" {
		if err := e.validateEndpoint(c.r.Context(), sub.LifecycleURL); err != nil {
			e.logf("validation of %s failed: %v", sub.LifecycleURL, err)
			c.fail(400, "InvalidRequest", "Subscription validation request failed. Lifecycle notification endpoint must respond with 200 OK to validation request.")
			return
		}
	}
	if err := e.subs.add(sub); err != nil { // quotas again: the handshake let others in
		c.failErr(err)
		return
	}
	e.subs.mu.RLock()
	out := sub.json(e)
	e.subs.mu.RUnlock()
	out["@odata.context"] = e.meta("subscriptions/$entity")
	c.json(201, out)
}

func (sm *subManager) checkQuota(s *subscription) error {
	sm.mu.RLock()
	defer sm.mu.RUnlock()
	return sm.quotaLocked(s)
}

func (sm *subManager) quotaLocked(s *subscription) error {
	q := sm.quotas
	if len(sm.subs) >= q.PerTenant {
		return &storeError{403, "Forbidden", fmt.Sprintf("Subscription quota exceeded: the tenant already has the maximum of %d Teams subscriptions.", q.PerTenant)}
	}
	perThread, perUser := 0, 0
	for _, o := range sm.subs {
		if o.kind == s.kind && o.key == s.key {
			switch s.kind {
			case kindChat, kindChannel, kindChatEntity:
				if o.AppID == s.AppID {
					perThread++
				}
			case kindUserChats:
				perUser++
			}
		}
	}
	if perThread >= q.PerAppPerThread {
		return &storeError{403, "Forbidden", fmt.Sprintf("Subscription quota exceeded: only %d subscription per app per chat or channel is allowed for resource '%s'.", q.PerAppPerThread, s.Resource)}
	}
	if perUser >= q.PerUser {
		return &storeError{403, "Forbidden", fmt.Sprintf("Subscription quota exceeded: the maximum of %d subscriptions per user for '%s' has been reached.", q.PerUser, s.Resource)}
	}
	return nil
}

func (sm *subManager) add(s *subscription) error {
	sm.mu.Lock()
	defer sm.mu.Unlock()
	if err := sm.quotaLocked(s); err != nil {
		return err
	}
	sm.subs[s.ID] = s
	return nil
}

// validationToken mimics Graph's opaque token: it needs URL encoding.
func newValidationToken() string {
	return "Validation: Testing client application reachability for subscription Request-Id: " + newGUID()
}

// validateEndpoint performs the handshake: POST url?validationToken=… and
// require 200, text/plain and the exact decoded token, within the limit.
func (e *Emulator) validateEndpoint(ctx context.Context, endpoint string) error {
	tok := newValidationToken()
	sep := "?"
	if strings.Contains(endpoint, "?") {
		sep = "&"
	}
	ctx, cancel := context.WithTimeout(ctx, e.opts.Delivery.ValidationTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, "POST", endpoint+sep+"validationToken="+url.QueryEscape(tok), strings.NewReader(""))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "text/plain; charset=utf-8")
	resp, err := e.dlv.client.Do(req)
	e.dlv.stats.validations.Add(1)
	if err != nil {
		e.dlv.stats.validationFailures.Add(1)
		return err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	ct := strings.ToLower(resp.Header.Get("Content-Type"))
	switch {
	case resp.StatusCode != 200:
		err = fmt.Errorf("status %d", resp.StatusCode)
	case !strings.HasPrefix(ct, "text/plain"):
		err = fmt.Errorf("content type %q", ct)
	case string(body) != tok:
		err = fmt.Errorf("echo %q does not match the token", body)
	}
	if err != nil {
		e.dlv.stats.validationFailures.Add(1)
	}
	return err
}

// ownSub finds a subscription visible to the caller (same app, and for
// delegated callers the creator).
func (c *call) ownSub() (*subscription, bool) {
	id := c.r.PathValue("sid")
	s := c.e.subs.subs[id]
	if s == nil || s.AppID != c.p.appID || (!c.p.app && s.delegated && s.CreatorID != c.p.userID) {
		c.fail(404, "ResourceNotFound", "The object was not found.")
		return nil, false
	}
	return s, true
}

func (e *Emulator) listSubscriptions(c *call) {
	if !c.throttle("subscriptionRead", "") {
		return
	}
	e.subs.mu.RLock()
	var all []*subscription
	for _, s := range e.subs.subs {
		if s.AppID == c.p.appID && (c.p.app || !s.delegated || s.CreatorID == c.p.userID) {
			all = append(all, s)
		}
	}
	sort.Slice(all, func(i, j int) bool { return all[i].created.Before(all[j].created) })
	start, end, ok := c.page(len(all), 100, 100)
	if !ok {
		e.subs.mu.RUnlock()
		return
	}
	out := []map[string]any{}
	for _, s := range all[start:end] {
		out = append(out, s.json(e))
	}
	e.subs.mu.RUnlock()
	next := ""
	if end < len(all) {
		next = c.nextLink(encodeSkip(end))
	}
	c.json(200, collection(e.meta("subscriptions"), out, next))
}

func (e *Emulator) getSubscription(c *call) {
	if !c.throttle("subscriptionRead", "") {
		return
	}
	e.subs.mu.RLock()
	defer e.subs.mu.RUnlock()
	s, ok := c.ownSub()
	if !ok {
		return
	}
	out := s.json(e)
	out["@odata.context"] = e.meta("subscriptions/$entity")
	c.json(200, out)
}

func (e *Emulator) patchSubscription(c *call) {
	if !c.throttle("subscriptionWrite", "") {
		return
	}
	var raw map[string]json.RawMessage
	if !c.decode(&raw) {
		return
	}
	var in subInput
	b, _ := json.Marshal(raw)
	json.Unmarshal(b, &in)
	for k := range raw {
		switch k {
		case "expirationDateTime", "notificationUrl", "encryptionCertificate", "encryptionCertificateId", "@odata.type":
		default:
			c.fail(400, "InvalidRequest", fmt.Sprintf("Property '%s' cannot be updated.", k))
			return
		}
	}
	e.subs.mu.RLock()
	s, ok := c.ownSub()
	var cur subscription
	if ok {
		cur = *s
	}
	e.subs.mu.RUnlock()
	if !ok {
		return
	}
	if in.ExpirationDateTime != nil {
		exp, err := time.Parse(time.RFC3339Nano, *in.ExpirationDateTime)
		if err != nil {
			c.fail(400, "InvalidRequest", "expirationDateTime is not a valid date-time.")
			return
		}
		if err := checkExpiry(exp, cur.LifecycleURL != ""); err != nil {
			c.failErr(err)
			return
		}
		cur.Expiration = exp.UTC()
	}
	if in.NotificationURL != nil && *in.NotificationURL != cur.NotificationURL {
		if err := e.checkNotificationURL("notificationUrl", *in.NotificationURL); err != nil {
			c.failErr(err)
			return
		}
		if err := e.validateEndpoint(c.r.Context(), *in.NotificationURL); err != nil {
			c.fail(400, "InvalidRequest", "Subscription validation request failed. Notification endpoint must respond with 200 OK to validation request.")
			return
		}
		cur.NotificationURL = *in.NotificationURL
	}
	if in.EncryptionCertificate != nil || in.EncryptionCertificateID != nil {
		if str(in.EncryptionCertificate) == "" || str(in.EncryptionCertificateID) == "" {
			c.fail(400, "InvalidRequest", "encryptionCertificate and encryptionCertificateId must be updated together.")
			return
		}
		pub, thumb, err := parseCert(*in.EncryptionCertificate)
		if err != nil {
			c.failErr(err)
			return
		}
		cur.EncCert, cur.EncCertID, cur.encPub, cur.thumb = *in.EncryptionCertificate, *in.EncryptionCertificateID, pub, thumb
	}
	e.subs.mu.Lock()
	s = e.subs.subs[cur.ID]
	if s == nil {
		e.subs.mu.Unlock()
		c.fail(404, "ResourceNotFound", "The object was not found.")
		return
	}
	s.Expiration, s.NotificationURL = cur.Expiration, cur.NotificationURL
	s.EncCert, s.EncCertID, s.encPub, s.thumb = cur.EncCert, cur.EncCertID, cur.encPub, cur.thumb
	s.reauthSent, s.needsReauth = false, false
	out := s.json(e)
	e.subs.mu.Unlock()
	out["@odata.context"] = e.meta("subscriptions/$entity")
	c.json(200, out)
}

func (e *Emulator) deleteSubscription(c *call) {
	if !c.throttle("subscriptionWrite", "") {
		return
	}
	e.subs.mu.Lock()
	s, ok := c.ownSub()
	if ok {
		delete(e.subs.subs, s.ID)
	}
	e.subs.mu.Unlock()
	if ok {
		c.w.WriteHeader(204)
	}
}

func (e *Emulator) reauthorizeSubscription(c *call) {
	if !c.throttle("subscriptionWrite", "") {
		return
	}
	e.subs.mu.Lock()
	s, ok := c.ownSub()
	if ok {
		s.needsReauth, s.reauthSent = false, false
	}
	e.subs.mu.Unlock()
	if ok {
		c.w.WriteHeader(204)
	}
}

// ---- matching and publishing ----

// change is one resource change to notify about.
type change struct {
	changeType string
	resource   string
	odataType  string
	id         string
	chatID     string
	teamID     string
	channelID  string
	members    []string
	data       []byte // the resource JSON, for rich notifications
	isChat     bool   // a chat entity rather than a message
}

// messageChange snapshots a message change; st.mu held.
func (e *Emulator) messageChange(m *Message, t *msgTarget, changeType string) *change {
	j := e.messageJSON(m, false)
	data, _ := json.Marshal(j)
	return &change{changeType: changeType, resource: m.resourcePath(), odataType: "#Microsoft.Graph.chatMessage", id: m.ID,
		chatID: m.ChatID, teamID: m.TeamID, channelID: m.ChannelID, members: t.members(e), data: data}
}

func (e *Emulator) publishChat(chatID string, members []string, changeType string, body map[string]any) {
	data, _ := json.Marshal(body)
	e.publish(&change{changeType: changeType, resource: "chats('" + chatID + "')", odataType: "#Microsoft.Graph.chat", id: chatID,
		chatID: chatID, members: members, data: data, isChat: true})
}

func (sm *subManager) matches(s *subscription, ch *change, now time.Time) bool {
	if !s.changeTypes[ch.changeType] || now.After(s.Expiration) {
		return false
	}
	if ch.isChat {
		return s.kind == kindChats || (s.kind == kindChatEntity && s.key == ch.chatID)
	}
	switch s.kind {
	case kindAllChats:
		return ch.chatID != ""
	case kindChat:
		return ch.chatID != "" && s.key == ch.chatID
	case kindUserChats:
		return ch.chatID != "" && contains(ch.members, s.key)
	case kindAllChannels:
		return ch.channelID != ""
	case kindChannel:
		return ch.channelID != "" && s.key == ch.channelID
	}
	return false
}

// publish turns a change into one notification per matching subscription.
func (e *Emulator) publish(ch *change) {
	if ch == nil {
		return
	}
	now := time.Now()
	type target struct {
		s subscription
	}
	var targets []subscription
	e.subs.mu.RLock()
	for _, s := range e.subs.subs {
		if e.subs.matches(s, ch, now) {
			if s.needsReauth && !s.reauthDeadline.IsZero() && now.After(s.reauthDeadline) {
				e.dlv.stats.pausedDrops.Add(1)
				continue
			}
			targets = append(targets, *s)
		}
	}
	e.subs.mu.RUnlock()
	for i := range targets {
		s := &targets[i]
		n := notification{SubscriptionID: s.ID, SubscriptionExpirationDateTime: subTime(s.Expiration), ChangeType: ch.changeType,
			ClientState: nullable(s.ClientState), TenantID: e.TenantID, Resource: ch.resource,
			ResourceData: map[string]any{"id": ch.id, "@odata.type": ch.odataType, "@odata.id": ch.resource}}
		encrypted := false
		if s.IncludeResourceData && s.encPub != nil {
			ec, err := encryptContent(s.encPub, s.EncCertID, s.thumb, ch.data)
			if err != nil {
				e.logf("encrypt notification: %v", err)
				continue
			}
			n.EncryptedContent = ec
			encrypted = true
		}
		payload, _ := json.Marshal(n)
		e.dlv.enqueue(&dItem{url: s.NotificationURL, appID: s.AppID, encrypted: encrypted, payload: payload, subID: s.ID})
	}
}

func nullable(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

// notification is a changeNotification.
type notification struct {
	SubscriptionID                 string            `json:"subscriptionId"`
	SubscriptionExpirationDateTime string            `json:"subscriptionExpirationDateTime"`
	ChangeType                     string            `json:"changeType,omitempty"`
	ClientState                    *string           `json:"clientState"`
	TenantID                       string            `json:"tenantId"`
	Resource                       string            `json:"resource,omitempty"`
	ResourceData                   map[string]any    `json:"resourceData,omitempty"`
	EncryptedContent               *EncryptedContent `json:"encryptedContent,omitempty"`
	LifecycleEvent                 string            `json:"lifecycleEvent,omitempty"`
}

// Lifecycle events.
const (
	LifecycleReauthorizationRequired = "reauthorizationRequired"
	LifecycleSubscriptionRemoved     = "subscriptionRemoved"
	LifecycleMissed                  = "missed"
)

// sendLifecycle queues a lifecycle notification for s (a copy).
func (e *Emulator) sendLifecycle(s *subscription, event string) bool {
	if s.LifecycleURL == "" {
		return false
	}
	n := notification{SubscriptionID: s.ID, SubscriptionExpirationDateTime: subTime(s.Expiration), ClientState: nullable(s.ClientState),
		TenantID: e.TenantID, LifecycleEvent: event}
	payload, _ := json.Marshal(n)
	e.dlv.stats.lifecycle.Add(1)
	e.dlv.enqueue(&dItem{url: s.LifecycleURL, appID: s.AppID, payload: payload, subID: s.ID, lifecycle: true})
	return true
}

// sweepSubscriptions removes expired subscriptions and sends
// reauthorizationRequired ahead of expiry.
func (e *Emulator) sweepSubscriptions(now time.Time) {
	var notify []subscription
	e.subs.mu.Lock()
	for id, s := range e.subs.subs {
		if now.After(s.Expiration) {
			delete(e.subs.subs, id)
			continue
		}
		if s.LifecycleURL != "" && !s.reauthSent && s.Expiration.Sub(now) <= e.opts.Delivery.LifecycleLead {
			s.reauthSent = true
			notify = append(notify, *s)
		}
	}
	e.subs.mu.Unlock()
	for i := range notify {
		e.sendLifecycle(&notify[i], LifecycleReauthorizationRequired)
	}
}

// userRevoked flags the user's delegated subscriptions for reauthorization.
func (e *Emulator) userRevoked(uid string) {
	var notify []subscription
	e.subs.mu.Lock()
	for _, s := range e.subs.subs {
		if s.delegated && s.CreatorID == uid {
			s.needsReauth = true
			s.reauthDeadline = time.Now().Add(time.Hour)
			notify = append(notify, *s)
		}
	}
	e.subs.mu.Unlock()
	for i := range notify {
		e.sendLifecycle(&notify[i], LifecycleReauthorizationRequired)
	}
}
