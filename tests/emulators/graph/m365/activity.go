package m365

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/msteams-bridge/msteams/tests/emulators/graph/wire"
)

// Activity feed notifications (MG §6): sendActivityNotification on a user, a
// chat or a team, and sendActivityNotificationToRecipients, validated as Graph
// does, delivered to the recipients' feeds (control API GET /feeds/{user}).

const (
	// PreviewShownChars is how much of previewText Teams shows.
	PreviewShownChars = 150
	// MaxRecipients is the bulk action's recipient limit.
	MaxRecipients  = 100
	maxFeedEntries = 1000
	// recipientsTokenMargin: the bulk action wants a token valid this much longer (412 otherwise).
	recipientsTokenMargin = 45 * time.Minute
	// Bounds of the emulator where Graph documents none.
	maxPreviewChars   = 4000
	maxTopicChars     = 2048
	maxTemplateParams = 20
	maxParamChars     = 1024
)

type feed struct {
	entries []*wire.FeedEntry
}

type notificationRecipient struct {
	Type   string `json:"@odata.type"`
	UserID string `json:"userId"`
	ChatID string `json:"chatId"`
	TeamID string `json:"teamId"`
}

type activityBody struct {
	Topic *struct {
		Source string `json:"source"`
		Value  string `json:"value"`
		WebURL string `json:"webUrl"`
	} `json:"topic"`
	ActivityType string `json:"activityType"`
	ChainID      *int64 `json:"chainId"`
	PreviewText  *struct {
		Content     string `json:"content"`
		ContentType string `json:"contentType"`
	} `json:"previewText"`
	TemplateParameters []wire.KeyValue         `json:"templateParameters"`
	TeamsAppID         string                  `json:"teamsAppId"`
	IconID             string                  `json:"iconId"`
	Recipient          *notificationRecipient  `json:"recipient"`
	Recipients         []notificationRecipient `json:"recipients"`
	raw                map[string]any          // as sent, for GET /activity
}

var activityParams = map[string]bool{"topic": true, "activityType": true, "chainId": true, "previewText": true,
	"templateParameters": true, "teamsAppId": true, "iconId": true}

// decodeActivity reads the action's parameters, refusing unknown ones as
// OData does for action parameters.
func (c *call) decodeActivity(action string, extra string) (*activityBody, bool) {
	var raw map[string]json.RawMessage
	if !c.decode(&raw) {
		return nil, false
	}
	for k := range raw {
		if !activityParams[k] && k != extra {
			c.fail(400, "BadRequest", fmt.Sprintf("The parameter '%s' in the request payload is not a valid parameter for the operation '%s'.", k, action))
			return nil, false
		}
	}
	data, _ := json.Marshal(raw)
	var b activityBody
	dec := json.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&b); err != nil {
		c.fail(400, "BadRequest", "Invalid request body was sent: "+err.Error())
		return nil, false
	}
	json.Unmarshal(data, &b.raw)
	return &b, true
}

// validate checks what does not depend on the recipient and the app.
func (b *activityBody) validate() string {
	switch {
	case b.Topic == nil:
		return "The parameter 'topic' is required."
	case b.Topic.Source != "text" && b.Topic.Source != "entityUrl":
		return "topic.source must be 'entityUrl' or 'text'."
	case strings.TrimSpace(b.Topic.Value) == "":
		return "topic.value is required."
	case b.Topic.Source == "text" && b.Topic.WebURL == "":
		return "topic.webUrl is required when topic.source is 'text'."
	case b.Topic.Source == "entityUrl" && !strings.HasPrefix(b.Topic.Value, "https://graph.microsoft.com/v1.0/") && !strings.HasPrefix(b.Topic.Value, "https://graph.microsoft.com/beta/"):
		return "topic.value must be a Microsoft Graph URL when topic.source is 'entityUrl'."
	case b.ActivityType == "":
		return "The parameter 'activityType' is required."
	case b.PreviewText == nil || b.PreviewText.Content == "":
		return "The parameter 'previewText' is required."
	case b.PreviewText.ContentType != "" && !strings.EqualFold(b.PreviewText.ContentType, "text"):
		return "previewText.contentType must be text."
	}
	if utf8.RuneCountInString(b.PreviewText.Content) > maxPreviewChars || len(b.Topic.Value) > maxTopicChars || len(b.Topic.WebURL) > maxTopicChars ||
		len(b.TemplateParameters) > maxTemplateParams {
		return fmt.Sprintf("Too large: previewText.content is limited to %d characters, topic.value and topic.webUrl to %d, templateParameters to %d (emulator bounds; Graph documents none).", maxPreviewChars, maxTopicChars, maxTemplateParams)
	}
	seen := map[string]bool{}
	for _, p := range b.TemplateParameters {
		if len(p.Name) > maxParamChars || len(p.Value) > maxParamChars {
			return fmt.Sprintf("A template parameter's name or value is over %d characters (an emulator bound; Graph documents none).", maxParamChars)
		}
		if p.Name == "" || seen[p.Name] {
			return "templateParameters must have unique, non-empty names."
		}
		seen[p.Name] = true
	}
	return ""
}

// checkEntity checks an entityUrl topic names a resource the action may be
// about (L userteamwork-, chat-, team-sendactivitynotification): a Teams app
// installation or catalog app anywhere; the chat or its messages for a chat;
// the team, its channels and messages for a team.
func (b *activityBody) checkEntity(scope, scopeID string) string {
	if b.Topic.Source != "entityUrl" {
		return ""
	}
	rest := strings.ToLower(b.Topic.Value)
	for _, p := range []string{"https://graph.microsoft.com/v1.0/", "https://graph.microsoft.com/beta/"} {
		rest = strings.TrimPrefix(rest, p)
	}
	id := strings.ToLower(scopeID)
	switch {
	case strings.HasPrefix(rest, "appcatalogs/teamsapps/"), strings.Contains(rest, "/installedapps/"):
		return ""
	case scope == "chat" && (rest == "chats/"+id || strings.HasPrefix(rest, "chats/"+id+"/")):
		return ""
	case scope == "team" && (rest == "teams/"+id || strings.HasPrefix(rest, "teams/"+id+"/")):
		return ""
	}
	return fmt.Sprintf("topic.value '%s' is not a resource this notification can be about: a Teams app installation or catalog app, or for a chat the chat or its messages, for a team the team, its channels or messages (unverified wording).", b.Topic.Value)
}

// checkTemplate matches templateParameters against the activity type.
func (b *activityBody) checkTemplate(d *teamsAppDefinition) string {
	if b.ActivityType == "systemDefault" {
		for _, p := range b.TemplateParameters {
			if p.Name != "systemDefaultText" {
				return fmt.Sprintf("The template parameter '%s' is not valid for the activity type 'systemDefault': only systemDefaultText is.", p.Name)
			}
		}
		return ""
	}
	at := d.activity(b.ActivityType)
	if at == nil {
		return fmt.Sprintf("The activity type '%s' is not declared in the manifest of the Teams app '%s' (unverified wording).", b.ActivityType, d.DisplayName)
	}
	given := map[string]bool{}
	for _, p := range b.TemplateParameters {
		if !contains(at.Params, p.Name) {
			return fmt.Sprintf("The template parameter '%s' is not in the templateText of the activity type '%s' (unverified wording).", p.Name, at.Type)
		}
		given[p.Name] = true
	}
	for _, p := range at.Params {
		if !given[p] {
			return fmt.Sprintf("The template parameter '%s' of the activity type '%s' is missing (unverified wording).", p, at.Type)
		}
	}
	return ""
}

// render is the Actor+Reason line Teams shows.
func (b *activityBody) render(d *teamsAppDefinition, actor string) string {
	vals := map[string]string{"actor": actor}
	for _, p := range b.TemplateParameters {
		vals[p.Name] = p.Value
	}
	if b.ActivityType == "systemDefault" {
		return vals["systemDefaultText"]
	}
	return templateRE.ReplaceAllStringFunc(d.activity(b.ActivityType).TemplateText, func(m string) string {
		if v, ok := vals[m[1:len(m)-1]]; ok {
			return v
		}
		return m
	})
}

// senderApp picks the installed app in a scope that sends for the caller: the
// one named by teamsAppId, else the one whose webApplicationInfo.id is the
// caller's app; st.mu held. A nil app and empty message: not installed.
func (e *Emulator) senderApp(c *call, key, teamsAppID string) (*appInstall, *teamsApp, int, string) {
	var found []*appInstall
	for _, in := range e.st.installs[key] {
		a := e.st.apps[in.AppID]
		if a == nil || a.Def.AzureADAppID != strings.ToLower(c.p.appID) {
			continue
		}
		if teamsAppID == "" || strings.EqualFold(teamsAppID, a.ID) {
			found = append(found, in)
		}
	}
	switch len(found) {
	case 0:
		return nil, nil, 0, ""
	case 1:
		return found[0], e.st.apps[found[0].AppID], 0, ""
	}
	return nil, nil, 409, fmt.Sprintf("Found multiple applications with the same Microsoft Entra App ID '%s'.", c.p.appID)
}

func (c *call) notInstalled() {
	p := strings.Replace(c.r.URL.Path, "sendActivityNotification", "Microsoft.Teams.GraphSvc.sendActivityNotification", 1)
	c.fail(403, "Forbidden", fmt.Sprintf("Application with AAD App Id '%s' is not authorized to generate custom text notifications about '%s' to the recipient. Ensure that the expected Teams app is installed in the target scope (user, team, or chat).", c.p.appID, p))
}

// activityPermit: the delegated scope, or the application role; an app
// without the role may still send through RSC consent (checked per
// installation), so it passes here with rsc true.
func (c *call) activityPermit() (rsc, ok bool) {
	if c.p.app && !c.p.scopes["TeamsActivity.Send"] {
		return true, true
	}
	return false, c.permit([]string{"TeamsActivity.Send"}, []string{"TeamsActivity.Send"})
}

func (c *call) rscMissing(perm string) {
	c.fail(403, "Forbidden", fmt.Sprintf("Missing role permissions on the request. API requires one of 'TeamsActivity.Send, %s'. Roles on the request '%s'.", perm, c.p.scopeStr))
}

func hasRSC(in *appInstall, perm string) bool {
	for _, p := range in.Consented {
		if strings.EqualFold(p.Value, perm) && p.Type == "application" {
			return true
		}
	}
	return false
}

// sendActivity is POST /users/{id}/teamwork/sendActivityNotification,
// /chats/{id}/sendActivityNotification and /teams/{id}/sendActivityNotification.
func (e *Emulator) sendActivity(c *call) {
	rsc, ok := c.activityPermit()
	if !ok {
		return
	}
	scope, scopeID, rscPerm := "user", c.r.PathValue("uid"), "TeamsActivity.Send.User"
	thread := ""
	switch {
	case c.r.PathValue("chid") != "":
		scope, scopeID, rscPerm, thread = "chat", c.r.PathValue("chid"), "TeamsActivity.Send.Chat", c.r.PathValue("chid")
	case c.r.PathValue("tid") != "":
		scope, scopeID, rscPerm = "team", c.r.PathValue("tid"), "TeamsActivity.Send.Group"
	}
	if scope == "user" {
		uid, ok := c.subject(false)
		if !ok {
			return
		}
		scopeID = uid
	}
	if !c.throttle("activity", thread) {
		return
	}
	extra := "recipient"
	if scope == "user" {
		extra = ""
	}
	b, ok := c.decodeActivity("sendActivityNotification", extra)
	if !ok {
		return
	}
	if msg := b.validate() + b.checkEntity(scope, scopeID); msg != "" {
		c.fail(400, "BadRequest", msg)
		return
	}
	e.st.mu.Lock()
	defer e.st.mu.Unlock()
	var members, recipients []string
	switch scope {
	case "chat":
		ch := e.st.chats[scopeID]
		if ch == nil {
			c.fail(404, "NotFound", "Chat not found (unverified wording).")
			return
		}
		for _, m := range ch.Members {
			members = append(members, m.UserID)
		}
	case "team":
		t := e.st.teams[scopeID]
		if t == nil {
			c.fail(404, "NotFound", "Team not found (unverified wording).")
			return
		}
		members = t.Members
	default:
		recipients = []string{scopeID}
	}
	if scope != "user" && !c.p.app && !contains(members, c.p.userID) {
		c.fail(403, "Forbidden", fmt.Sprintf("The caller is not a member of the %s.", scope))
		return
	}
	if scope != "user" {
		r := b.Recipient
		switch {
		case r == nil:
			c.fail(400, "BadRequest", "The parameter 'recipient' is required.")
			return
		case r.Type == "#microsoft.graph.aadUserNotificationRecipient" || r.Type == "microsoft.graph.aadUserNotificationRecipient":
			u := e.st.findGraphUser(r.UserID)
			if u == nil {
				c.fail(404, "NotFound", fmt.Sprintf("The recipient '%s' was not found (unverified wording).", r.UserID))
				return
			}
			if !contains(members, u.ID) {
				c.fail(403, "Forbidden", fmt.Sprintf("The recipient '%s' is not a member of the %s (unverified wording).", r.UserID, scope))
				return
			}
			recipients = []string{u.ID}
		case scope == "chat" && strings.HasSuffix(r.Type, "microsoft.graph.chatMembersNotificationRecipient") && r.ChatID == scopeID,
			scope == "team" && strings.HasSuffix(r.Type, "microsoft.graph.teamMembersNotificationRecipient") && r.TeamID == scopeID:
			for _, m := range members { // the sender is not notified of their own activity
				if c.p.app || m != c.p.userID {
					recipients = append(recipients, m)
				}
			}
		default:
			c.fail(400, "BadRequest", "recipient must be an aadUserNotificationRecipient, or the members of this chat or team (chatMembersNotificationRecipient, teamMembersNotificationRecipient).")
			return
		}
	}
	if !c.p.app && contains(recipients, c.p.userID) && len(recipients) == 1 {
		c.fail(400, "BadRequest", "A user cannot send an activity notification to themselves; use application permissions (unverified wording).")
		return
	}
	inst, app, status, msg := e.senderApp(c, scopeKey(scope, scopeID), b.TeamsAppID)
	switch {
	case status != 0:
		c.fail(status, "Conflict", msg)
		return
	case inst == nil:
		c.notInstalled()
		return
	case rsc && !hasRSC(inst, rscPerm):
		c.rscMissing(rscPerm)
		return
	}
	if msg := b.checkTemplate(app.Def); msg != "" {
		c.fail(400, "BadRequest", msg)
		return
	}
	e.deliverActivity(c, b, app, "sendActivityNotification", scope+"s/"+scopeID, recipients)
	c.w.WriteHeader(204)
}

// sendActivityToRecipients is POST /teamwork/sendActivityNotificationToRecipients:
// up to 100 aadUserNotificationRecipients; 202; recipients without the app
// installed are skipped (the call is accepted as a whole, as its 202 says).
func (e *Emulator) sendActivityToRecipients(c *call) {
	rsc, ok := c.activityPermit()
	if !ok || !c.throttle("activityRecipients", "") {
		return
	}
	if c.p.expires.Sub(time.Now()) < recipientsTokenMargin {
		c.fail(412, "PreconditionFailed", "The access token must be valid for at least 45 more minutes.")
		return
	}
	b, ok := c.decodeActivity("sendActivityNotificationToRecipients", "recipients")
	if !ok {
		return
	}
	if msg := b.validate() + b.checkEntity("user", ""); msg != "" {
		c.fail(400, "BadRequest", msg)
		return
	}
	if len(b.Recipients) == 0 || len(b.Recipients) > MaxRecipients {
		c.fail(400, "BadRequest", fmt.Sprintf("recipients must have between 1 and %d entries.", MaxRecipients))
		return
	}
	e.st.mu.Lock()
	defer e.st.mu.Unlock()
	var uids []string
	for _, r := range b.Recipients {
		if !strings.HasSuffix(r.Type, "microsoft.graph.aadUserNotificationRecipient") {
			c.fail(400, "BadRequest", "recipients must be aadUserNotificationRecipients.")
			return
		}
		u := e.st.findGraphUser(r.UserID)
		if u == nil {
			c.fail(404, "NotFound", fmt.Sprintf("The recipient '%s' was not found (unverified wording).", r.UserID))
			return
		}
		if !contains(uids, u.ID) && (c.p.app || u.ID != c.p.userID) {
			uids = append(uids, u.ID)
		}
	}
	byApp := map[*teamsApp][]string{}
	var order []*teamsApp
	for _, uid := range uids {
		inst, app, _, _ := e.senderApp(c, scopeKey("user", uid), b.TeamsAppID)
		if inst == nil || (rsc && !hasRSC(inst, "TeamsActivity.Send.User")) {
			continue
		}
		if msg := b.checkTemplate(app.Def); msg != "" {
			c.fail(400, "BadRequest", msg)
			return
		}
		if byApp[app] == nil {
			order = append(order, app)
		}
		byApp[app] = append(byApp[app], uid)
	}
	for _, app := range order {
		e.deliverActivity(c, b, app, "sendActivityNotificationToRecipients", "teamwork", byApp[app])
	}
	if len(order) == 0 {
		e.recordActivity(c, b, "teamwork", nil)
	}
	c.w.WriteHeader(202)
}

// deliverActivity records the call and puts one entry in each recipient's
// feed, replacing an entry of the same app and chainId; st.mu held.
func (e *Emulator) deliverActivity(c *call, b *activityBody, app *teamsApp, via, context string, recipients []string) {
	e.recordActivity(c, b, context, recipients)
	actor, senderUser := app.Def.DisplayName, ""
	if !c.p.app {
		senderUser = c.p.userID
		if u := e.st.users[c.p.userID]; u != nil {
			actor = u.DisplayName
		}
	}
	now := time.Now().UTC()
	shown := b.PreviewText.Content
	if utf8.RuneCountInString(shown) > PreviewShownChars {
		shown = string([]rune(shown)[:PreviewShownChars])
	}
	text := b.render(app.Def, actor)
	for _, uid := range recipients {
		en := &wire.FeedEntry{ID: newGUID(), Time: graphTime(now), Recipient: uid, Via: via, Context: context,
			ActivityType: b.ActivityType, PreviewText: b.PreviewText.Content, ShownPreviewText: shown,
			TemplateParameters: append([]wire.KeyValue{}, b.TemplateParameters...), Text: text, Actor: actor,
			ChainID: b.ChainID, IconID: b.IconID, SenderUser: senderUser,
			SenderApp: wire.FeedApp{TeamsAppID: app.ID, ExternalID: app.ExternalID, DisplayName: app.DisplayName, AzureADAppID: app.Def.AzureADAppID}}
		en.Topic.Source, en.Topic.Value, en.Topic.WebURL = b.Topic.Source, b.Topic.Value, b.Topic.WebURL
		f := e.st.feeds[uid]
		if f == nil {
			f = &feed{}
			e.st.feeds[uid] = f
		}
		if b.ChainID != nil {
			for i, old := range f.entries {
				if old.ChainID != nil && *old.ChainID == *b.ChainID && old.SenderApp.TeamsAppID == app.ID {
					en.Replaced = old.Replaced + 1
					f.entries = append(f.entries[:i:i], f.entries[i+1:]...)
					break
				}
			}
		}
		f.entries = append(f.entries, en)
		if len(f.entries) > maxFeedEntries {
			f.entries = f.entries[len(f.entries)-maxFeedEntries:]
		}
	}
}

// recordActivity keeps the call for GET /activity; st.mu held.
func (e *Emulator) recordActivity(c *call, b *activityBody, target string, recipients []string) {
	caller := ""
	if !c.p.app {
		caller = c.p.userID
	}
	if recipients == nil {
		recipients = []string{}
	}
	e.st.activity = append(e.st.activity, ActivityRecord{Time: graphTime(time.Now()), Target: target, Recipients: recipients,
		CallerAppID: c.p.appID, CallerUser: caller, Body: b.raw})
	if len(e.st.activity) > 10000 {
		e.st.activity = e.st.activity[len(e.st.activity)-10000:]
	}
}
