package m365_test

import (
	"fmt"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/msteams-bridge/msteams/tests/emulators/graph/m365"
	"github.com/msteams-bridge/msteams/tests/emulators/graph/m365ctl"
)

func notification(activityType, preview string, params ...string) map[string]any {
	b := map[string]any{"topic": map[string]any{"source": "text", "value": "Mattermost: town-square", "webUrl": "https://teams.microsoft.com/l/entity/x/y"},
		"activityType": activityType, "previewText": map[string]any{"content": preview}}
	var tp []any
	for i := 0; i+1 < len(params); i += 2 {
		tp = append(tp, map[string]any{"name": params[i], "value": params[i+1]})
	}
	if tp != nil {
		b["templateParameters"] = tp
	}
	return b
}

func (e *env) feed(t *testing.T, user string) []m365ctl.FeedEntry {
	t.Helper()
	f, err := e.ctl.Feed(e.ctx, user)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func (e *env) wantGraphError(t *testing.T, what string, r resp, status int, code, text string) {
	t.Helper()
	c, msg := r.graphErr(t)
	if r.status != status || c != code || !strings.Contains(msg, text) {
		t.Errorf("%s: want %d %s %q, got %d %s", what, status, code, text, r.status, r.body)
	}
}

func TestSendActivityNotificationToAUser(t *testing.T) {
	e := start(t)
	e.installOurApp(t, m365ctl.ForUser(bianca))
	app := e.appToken()
	send := func(tok, user string, body map[string]any) resp {
		return e.graph("POST", "/users/"+user+"/teamwork/sendActivityNotification", tok, body)
	}
	long := strings.Repeat("é", 200)
	b := notification("mmMention", long, "channel", "town-square")
	b["chainId"] = 7
	if r := send(app, bianca, b); r.status != 204 {
		t.Fatalf("send: %d %s", r.status, r.body)
	}
	f := e.feed(t, bianca)
	if len(f) != 1 {
		t.Fatalf("feed: %+v", f)
	}
	en := f[0]
	if en.Text != "Mattermost mentioned you in town-square" || en.Actor != "Mattermost" || en.PreviewText != long ||
		utf8.RuneCountInString(en.ShownPreviewText) != m365.PreviewShownChars || en.ActivityType != "mmMention" ||
		en.ChainID == nil || *en.ChainID != 7 || en.SenderApp.ExternalID != manifestID || en.SenderApp.AzureADAppID != e.emu.ClientID ||
		en.Topic.WebURL != "https://teams.microsoft.com/l/entity/x/y" || en.Context != "users/"+bianca || en.Recipient != bianca ||
		len(en.TemplateParameters) != 1 || en.SenderUser != "" || en.Via != "sendActivityNotification" {
		t.Fatalf("entry: %+v", en)
	}
	// The same chainId replaces the entry; another one adds an entry.
	b["previewText"] = map[string]any{"content": "edited"}
	if r := send(app, bianca, b); r.status != 204 {
		t.Fatalf("replace: %d %s", r.status, r.body)
	}
	if f := e.feed(t, bianca); len(f) != 1 || f[0].PreviewText != "edited" || f[0].Replaced != 1 {
		t.Fatalf("after replace: %+v", f)
	}
	b["chainId"] = 8
	send(app, bianca, b)
	if f := e.feed(t, bianca); len(f) != 2 {
		t.Fatalf("second chain: %+v", f)
	}
	if r := send(app, bianca, notification("systemDefault", "hi", "systemDefaultText", "Alice wrote")); r.status != 204 {
		t.Fatalf("systemDefault: %d %s", r.status, r.body)
	}
	if f := e.feed(t, bianca); f[2].Text != "Alice wrote" {
		t.Fatalf("systemDefault text: %+v", f[2])
	}
	// Graph's refusals.
	e.wantGraphError(t, "not installed", send(app, cameron, notification("systemDefault", "hi")), 403, "Forbidden",
		"Application with AAD App Id '"+e.emu.ClientID+"' is not authorized to generate custom text notifications about '/v1.0/users/"+cameron+"/teamwork/Microsoft.Teams.GraphSvc.sendActivityNotification' to the recipient. Ensure that the expected Teams app is installed in the target scope (user, team, or chat).")
	bad := []struct {
		name string
		body map[string]any
		text string
	}{
		{"undeclared type", notification("mmOther", "x"), "mmOther"},
		{"missing parameter", notification("mmMention", "x"), "'channel'"},
		{"extra parameter", notification("mmMention", "x", "channel", "c", "team", "t"), "'team'"},
		{"systemDefault parameter", notification("systemDefault", "x", "channel", "c"), "systemDefaultText"},
		{"no previewText", func() map[string]any { b := notification("systemDefault", "x"); delete(b, "previewText"); return b }(), "previewText"},
		{"text topic without webUrl", func() map[string]any {
			b := notification("systemDefault", "x")
			b["topic"] = map[string]any{"source": "text", "value": "v"}
			return b
		}(), "webUrl"},
		{"entityUrl not Graph", func() map[string]any {
			b := notification("systemDefault", "x")
			b["topic"] = map[string]any{"source": "entityUrl", "value": "https://example.com/x"}
			return b
		}(), "Graph URL"},
		{"entityUrl of another resource", func() map[string]any {
			b := notification("systemDefault", "x")
			b["topic"] = map[string]any{"source": "entityUrl", "value": "https://graph.microsoft.com/v1.0/teams/" + teamID}
			return b
		}(), "not a resource this notification can be about"},
		{"bad source", func() map[string]any {
			b := notification("systemDefault", "x")
			b["topic"] = map[string]any{"source": "other", "value": "v"}
			return b
		}(), "source"},
		{"unknown parameter", func() map[string]any { b := notification("systemDefault", "x"); b["foo"] = 1; return b }(),
			"The parameter 'foo' in the request payload is not a valid parameter for the operation 'sendActivityNotification'."},
		{"preview too long", notification("systemDefault", strings.Repeat("x", 4001)), "previewText.content is limited"},
		{"recipient on the user action", func() map[string]any {
			b := notification("systemDefault", "x")
			b["recipient"] = map[string]any{}
			return b
		}(), "'recipient'"},
	}
	for _, c := range bad {
		e.wantGraphError(t, c.name, send(app, bianca, c.body), 400, "BadRequest", c.text)
	}
	if r := send(app, "nobody@contoso.onmicrosoft.com", notification("systemDefault", "x")); r.status != 404 {
		t.Errorf("unknown user: %d", r.status)
	}
	// Delegated: the signed-in user is the actor; not to oneself.
	user, _ := e.userToken(adele)
	if r := send(user, bianca, notification("mmMention", "x", "channel", "dev")); r.status != 204 {
		t.Fatalf("delegated: %d %s", r.status, r.body)
	}
	if f := e.feed(t, bianca); f[len(f)-1].Text != "Adele Vance mentioned you in dev" || f[len(f)-1].SenderUser != adele {
		t.Fatalf("delegated entry: %+v", f[len(f)-1])
	}
	e.installOurApp(t, m365ctl.ForUser(adele))
	e.wantGraphError(t, "to oneself", send(user, adele, notification("systemDefault", "x")), 400, "BadRequest", "themselves")
	// Two Teams apps of the same Entra app installed: 409 unless teamsAppId picks one.
	twin, err := e.ctl.UploadApp(e.ctx, e.appPackage(t, func(m map[string]any) { m["id"] = "twin" }), false)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.ctl.InstallApp(e.ctx, m365ctl.ForUser(bianca), "twin"); err != nil {
		t.Fatal(err)
	}
	e.wantGraphError(t, "two apps", send(app, bianca, notification("systemDefault", "x")), 409, "Conflict",
		"Found multiple applications with the same Microsoft Entra App ID '"+e.emu.ClientID+"'.")
	b = notification("systemDefault", "x")
	b["teamsAppId"] = twin.ID
	if r := send(app, bianca, b); r.status != 204 {
		t.Fatalf("teamsAppId: %d %s", r.status, r.body)
	}
	if f := e.feed(t, bianca); f[len(f)-1].SenderApp.ExternalID != "twin" {
		t.Fatalf("sender app: %+v", f[len(f)-1].SenderApp)
	}
	if err := e.ctl.UninstallApp(e.ctx, m365ctl.ForUser(bianca), "twin"); err != nil {
		t.Fatal(err)
	}
	// Without the TeamsActivity.Send role, an app sends through the installation's RSC consent.
	if _, err := e.ctl.PatchApp(e.ctx, m365ctl.AppPatch{ApplicationPermissions: []string{"User.Read.All"}}); err != nil {
		t.Fatal(err)
	}
	rscTok := e.appToken()
	if r := send(rscTok, bianca, notification("systemDefault", "x")); r.status != 204 {
		t.Fatalf("RSC: %d %s", r.status, r.body)
	}
	if _, err := e.ctl.InstallAppWithoutConsent(e.ctx, m365ctl.ForUser(cameron), manifestID); err != nil {
		t.Fatal(err)
	}
	e.wantGraphError(t, "no role, no consent", send(rscTok, cameron, notification("systemDefault", "x")), 403, "Forbidden",
		"API requires one of 'TeamsActivity.Send, TeamsActivity.Send.User'")
	// The call log, and clearing it.
	if acts, _ := e.ctl.Activity(e.ctx); len(acts) == 0 || acts[0].Target != "users/"+bianca || acts[0].Body["activityType"] != "mmMention" {
		t.Fatalf("activity log: %+v", acts)
	}
	if err := e.ctl.ClearActivity(e.ctx); err != nil {
		t.Fatal(err)
	}
	if acts, _ := e.ctl.Activity(e.ctx); len(acts) != 0 {
		t.Fatalf("activity log after clearing: %+v", acts)
	}
	// Clearing feeds.
	if err := e.ctl.ClearFeed(e.ctx, bianca); err != nil {
		t.Fatal(err)
	}
	if f := e.feed(t, bianca); len(f) != 0 {
		t.Fatalf("cleared: %+v", f)
	}
}

func TestSendActivityNotificationInChatsAndTeams(t *testing.T) {
	e := start(t)
	app := e.appToken()
	chat := e.chat(adele, bianca)
	toUser := func(uid string) map[string]any {
		return map[string]any{"@odata.type": "microsoft.graph.aadUserNotificationRecipient", "userId": uid}
	}
	b := notification("systemDefault", "in the chat", "systemDefaultText", "New messages")
	b["recipient"] = toUser(bianca)
	chatPath := "/chats/" + chat + "/sendActivityNotification"
	e.wantGraphError(t, "chat without the app", e.graph("POST", chatPath, app, b), 403, "Forbidden", "installed in the target scope")
	e.installOurApp(t, m365ctl.ForChat(chat))
	if r := e.graph("POST", chatPath, app, b); r.status != 204 {
		t.Fatalf("chat: %d %s", r.status, r.body)
	}
	entity := notification("systemDefault", "about the chat")
	entity["recipient"] = toUser(bianca)
	entity["topic"] = map[string]any{"source": "entityUrl", "value": "https://graph.microsoft.com/v1.0/chats/" + chat + "/messages/1"}
	if r := e.graph("POST", chatPath, app, entity); r.status != 204 {
		t.Fatalf("chat entity topic: %d %s", r.status, r.body)
	}
	entity["topic"] = map[string]any{"source": "entityUrl", "value": "https://graph.microsoft.com/v1.0/chats/19:other@thread.v2"}
	e.wantGraphError(t, "another chat's URL", e.graph("POST", chatPath, app, entity), 400, "BadRequest", "not a resource")
	if err := e.ctl.ClearFeed(e.ctx, bianca); err != nil {
		t.Fatal(err)
	}
	e.graph("POST", chatPath, app, b)
	if f := e.feed(t, bianca); len(f) != 1 || f[0].Context != "chats/"+chat {
		t.Fatalf("chat feed: %+v", f)
	}
	b["recipient"] = toUser(cameron)
	e.wantGraphError(t, "not a member", e.graph("POST", chatPath, app, b), 403, "Forbidden", "not a member")
	b["recipient"] = map[string]any{"@odata.type": "microsoft.graph.chatMembersNotificationRecipient", "chatId": chat}
	if r := e.graph("POST", chatPath, app, b); r.status != 204 {
		t.Fatalf("chat members: %d %s", r.status, r.body)
	}
	if len(e.feed(t, adele)) != 1 || len(e.feed(t, bianca)) != 2 {
		t.Fatalf("chat members' feeds")
	}
	// Delegated: the sender is not among the members notified.
	user, _ := e.userToken(adele)
	if r := e.graph("POST", chatPath, user, b); r.status != 204 {
		t.Fatalf("delegated chat members: %d %s", r.status, r.body)
	}
	if len(e.feed(t, adele)) != 1 || len(e.feed(t, bianca)) != 3 {
		t.Fatalf("delegated chat members' feeds: %d %d", len(e.feed(t, adele)), len(e.feed(t, bianca)))
	}
	other := e.chat(bianca, cameron)
	e.installOurApp(t, m365ctl.ForChat(other))
	b["recipient"] = toUser(bianca)
	e.wantGraphError(t, "delegated non-member", e.graph("POST", "/chats/"+other+"/sendActivityNotification", user, b), 403, "Forbidden", "caller is not a member")
	delete(b, "recipient")
	e.wantGraphError(t, "no recipient", e.graph("POST", chatPath, app, b), 400, "BadRequest", "recipient")
	// Teams.
	teamPath := "/teams/" + teamID + "/sendActivityNotification"
	b["recipient"] = toUser(cameron)
	e.wantGraphError(t, "team without the app", e.graph("POST", teamPath, app, b), 403, "Forbidden", "installed in the target scope")
	e.installOurApp(t, m365ctl.ForTeam(teamID))
	if r := e.graph("POST", teamPath, app, b); r.status != 204 {
		t.Fatalf("team: %d %s", r.status, r.body)
	}
	b["recipient"] = toUser(dora)
	e.wantGraphError(t, "team non-member", e.graph("POST", teamPath, app, b), 403, "Forbidden", "not a member")
	if f, _ := e.ctl.Feeds(e.ctx); len(f) != 5 {
		t.Fatalf("all feeds: %+v", f)
	}
	// Bulk: installed recipients get it, the others are skipped; 202.
	e.installOurApp(t, m365ctl.ForUser(adele))
	e.installOurApp(t, m365ctl.ForUser(bianca))
	if err := e.ctl.ClearFeed(e.ctx, ""); err != nil {
		t.Fatal(err)
	}
	bulk := notification("mmMention", "bulk", "channel", "off-topic")
	bulk["recipients"] = []any{toUser(adele), toUser(bianca), toUser(cameron)}
	if r := e.graph("POST", "/teamwork/sendActivityNotificationToRecipients", app, bulk); r.status != 202 {
		t.Fatalf("bulk: %d %s", r.status, r.body)
	}
	if len(e.feed(t, adele)) != 1 || len(e.feed(t, bianca)) != 1 || len(e.feed(t, cameron)) != 0 ||
		e.feed(t, adele)[0].Via != "sendActivityNotificationToRecipients" {
		t.Fatalf("bulk feeds: %+v %+v %+v", e.feed(t, adele), e.feed(t, bianca), e.feed(t, cameron))
	}
	var many []any
	for i := 0; i <= m365.MaxRecipients; i++ {
		many = append(many, toUser(bianca))
	}
	bulk["recipients"] = many
	e.wantGraphError(t, "101 recipients", e.graph("POST", "/teamwork/sendActivityNotificationToRecipients", app, bulk), 400, "BadRequest", fmt.Sprint(m365.MaxRecipients))
	// The bulk action wants a token valid for 45 more minutes.
	if err := e.ctl.SetLifetimes(e.ctx, m365ctl.Lifetimes{AccessTokenSeconds: 1800}); err != nil {
		t.Fatal(err)
	}
	bulk["recipients"] = []any{toUser(bianca)}
	e.wantGraphError(t, "short token", e.graph("POST", "/teamwork/sendActivityNotificationToRecipients", e.appToken(), bulk), 412, "PreconditionFailed", "45")
}

func TestActivityNotificationThrottling(t *testing.T) {
	e := start(t, func(o *m365.Options) {
		cfg := m365.DefaultThrottleConfig()
		cfg.Limits["activity.app"] = m365.Limit{Count: 3, PerSeconds: 60}
		cfg.Limits["activity.thread"] = m365.Limit{Count: 1, PerSeconds: 60}
		cfg.Limits["activityRecipients.app"] = m365.Limit{Count: 1, PerSeconds: 60}
		o.Throttle = &cfg
	})
	app := e.appToken()
	chat1, chat2 := e.chat(adele, bianca), e.chat(adele, cameron, bianca)
	e.installOurApp(t, m365ctl.ForChat(chat1))
	e.installOurApp(t, m365ctl.ForChat(chat2))
	b := notification("systemDefault", "x")
	b["recipient"] = map[string]any{"@odata.type": "microsoft.graph.aadUserNotificationRecipient", "userId": bianca}
	if r := e.graph("POST", "/chats/"+chat1+"/sendActivityNotification", app, b); r.status != 204 {
		t.Fatalf("first: %d %s", r.status, r.body)
	}
	r := e.graph("POST", "/chats/"+chat1+"/sendActivityNotification", app, b)
	if r.status != 429 || r.header.Get("Retry-After") == "" || !strings.Contains(string(r.body), `"limit":"activity.thread"`) {
		t.Fatalf("same chat: %d %v %s", r.status, r.header, r.body)
	}
	if r := e.graph("POST", "/chats/"+chat2+"/sendActivityNotification", app, b); r.status != 204 {
		t.Fatalf("other chat: %d %s", r.status, r.body)
	}
	e.installOurApp(t, m365ctl.ForUser(bianca))
	u := notification("systemDefault", "x")
	if r := e.graph("POST", "/users/"+bianca+"/teamwork/sendActivityNotification", app, u); r.status != 204 {
		t.Fatalf("third of the app's 3: %d %s", r.status, r.body)
	}
	r = e.graph("POST", "/users/"+bianca+"/teamwork/sendActivityNotification", app, u)
	if r.status != 429 || !strings.Contains(string(r.body), `"limit":"activity.app"`) {
		t.Fatalf("fourth: %d %s", r.status, r.body)
	}
	bulk := notification("systemDefault", "x")
	bulk["recipients"] = []any{map[string]any{"@odata.type": "microsoft.graph.aadUserNotificationRecipient", "userId": bianca}}
	if r := e.graph("POST", "/teamwork/sendActivityNotificationToRecipients", app, bulk); r.status != 202 {
		t.Fatalf("bulk: %d %s", r.status, r.body)
	}
	r = e.graph("POST", "/teamwork/sendActivityNotificationToRecipients", app, bulk)
	if r.status != 429 || !strings.Contains(string(r.body), `"limit":"activityRecipients.app"`) {
		t.Fatalf("bulk again: %d %s", r.status, r.body)
	}
	if f := e.feed(t, bianca); len(f) != 4 {
		t.Fatalf("throttled calls delivered: %d entries", len(f))
	}
}
