package m365_test

import (
	"bytes"
	"compress/gzip"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/msteams-bridge/msteams/tests/emulators/graph/m365ctl"
)

func TestUsersPagingSelectFilter(t *testing.T) {
	e := start(t)
	app := e.appToken()
	r := e.graph("GET", "/users?$top=3", app, nil)
	m := r.json(t)
	if r.status != 200 || len(m["value"].([]any)) != 3 || m["@odata.nextLink"] == nil {
		t.Fatalf("page 1: %d %s", r.status, r.body)
	}
	seen := 3
	next := m["@odata.nextLink"].(string)
	for next != "" {
		r = e.do("GET", next, app, nil)
		m = r.json(t)
		seen += len(m["value"].([]any))
		next, _ = m["@odata.nextLink"].(string)
	}
	if seen != 7 {
		t.Fatalf("paging saw %d users, want 7", seen)
	}
	r = e.graph("GET", "/users?$filter="+url.QueryEscape("mail eq 'bianca@contoso.onmicrosoft.com'")+"&$select=id,userType,accountEnabled", app, nil)
	v := r.json(t)["value"].([]any)
	if len(v) != 1 {
		t.Fatalf("filter: %s", r.body)
	}
	u := v[0].(map[string]any)
	if u["id"] != bianca || u["userType"] != "Member" || u["accountEnabled"] != true || u["displayName"] != nil {
		t.Fatalf("select: %v", u)
	}
	r = e.graph("GET", "/users?$filter="+url.QueryEscape("userType eq 'Guest'"), app, nil)
	if v := r.json(t)["value"].([]any); len(v) != 1 || v[0].(map[string]any)["id"] != gita {
		t.Fatalf("guest filter: %s", r.body)
	}
	r = e.graph("GET", "/users?$filter="+url.QueryEscape("startswith(displayName,'d')"), app, nil)
	if v := r.json(t)["value"].([]any); len(v) != 2 {
		t.Fatalf("startswith: %s", r.body)
	}
	if r := e.graph("GET", "/users?$top=1000", app, nil); r.status != 400 {
		t.Fatalf("$top=1000: %d", r.status)
	}
	if r := e.graph("GET", "/users?$filter="+url.QueryEscape("jobTitle eq 'x'"), app, nil); r.status != 400 {
		t.Fatalf("unsupported filter: %d", r.status)
	}
	if r := e.graph("GET", "/users/bianca@contoso.onmicrosoft.com", app, nil); r.status != 200 || r.json(t)["id"] != bianca {
		t.Fatalf("get by UPN: %s", r.body)
	}
	r = e.graph("GET", "/users/00000000-0000-0000-0000-00000000dead", app, nil)
	if code, _ := r.graphErr(t); r.status != 404 || code != "Request_ResourceNotFound" {
		t.Fatalf("missing user: %d %s", r.status, r.body)
	}
	r = e.graph("GET", "/me", app, nil)
	if _, msg := r.graphErr(t); r.status != 400 || !strings.Contains(msg, "delegated") {
		t.Fatalf("/me with app token: %d %s", r.status, r.body)
	}
}

// Graph reads a user by id or UPN, never by mail; a filter on mail or UPN finds either, quotes doubled inside; disabled
// users are listed (accountEnabled false) and deleted ones are not, until restored.
func TestUsersByMailOrUPNDisabledAndDeleted(t *testing.T) {
	e := start(t)
	app := e.appToken()
	obrien, err := e.ctl.CreateUser(e.ctx, m365ctl.UserSpec{DisplayName: "Pat O'Brien", Mail: "pat.o'brien@contoso.example",
		UserPrincipalName: "pobrien@contoso.onmicrosoft.com"})
	if err != nil {
		t.Fatal(err)
	}
	if r := e.graph("GET", "/users/"+url.PathEscape("pat.o'brien@contoso.example"), app, nil); r.status != 404 {
		t.Fatalf("GET /users/{mail}: %d %s, want 404 (Graph takes an id or a UPN)", r.status, r.body)
	}
	if r := e.graph("GET", "/users/pobrien@contoso.onmicrosoft.com", app, nil); r.status != 200 || r.json(t)["id"] != obrien.ID {
		t.Fatalf("GET /users/{upn}: %d %s", r.status, r.body)
	}
	for _, address := range []string{"PAT.O'BRIEN@contoso.example", "pobrien@contoso.onmicrosoft.com"} {
		literal := "'" + strings.ReplaceAll(address, "'", "''") + "'"
		r := e.graph("GET", "/users?$filter="+url.QueryEscape("mail eq "+literal+" or userPrincipalName eq "+literal)+
			"&$select=id,mail,userPrincipalName", app, nil)
		if v, _ := r.json(t)["value"].([]any); r.status != 200 || len(v) != 1 || v[0].(map[string]any)["id"] != obrien.ID {
			t.Fatalf("filter on %s: %d %s", address, r.status, r.body)
		}
	}
	// A new mail address: found by it, no longer by the old one.
	newMail := "patrick@contoso.example"
	if _, err := e.ctl.PatchUser(e.ctx, obrien.ID, m365ctl.UserPatch{Mail: &newMail}); err != nil {
		t.Fatal(err)
	}
	r := e.graph("GET", "/users?$filter="+url.QueryEscape("mail eq 'patrick@contoso.example'"), app, nil)
	if v, _ := r.json(t)["value"].([]any); len(v) != 1 {
		t.Fatalf("filter on the new mail: %s", r.body)
	}

	off := false
	if _, err := e.ctl.PatchUser(e.ctx, bianca, m365ctl.UserPatch{AccountEnabled: &off}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.ctl.DeleteUser(e.ctx, obrien.ID); err != nil {
		t.Fatal(err)
	}
	listed := func() map[string]map[string]any {
		out := map[string]map[string]any{}
		for next := e.emu.GraphURL + "/v1.0/users?$select=id,accountEnabled,userType&$top=2"; next != ""; {
			m := e.do("GET", next, app, nil).json(t)
			for _, v := range m["value"].([]any) {
				u := v.(map[string]any)
				out[u["id"].(string)] = u
			}
			next, _ = m["@odata.nextLink"].(string)
		}
		return out
	}
	users := listed()
	if users[bianca] == nil || users[bianca]["accountEnabled"] != false {
		t.Errorf("a disabled user is listed with accountEnabled false: %v", users[bianca])
	}
	if users[gita]["userType"] != "Guest" {
		t.Errorf("a guest is listed with userType Guest: %v", users[gita])
	}
	if users[obrien.ID] != nil {
		t.Error("a deleted user is listed")
	}
	if r := e.graph("GET", "/users/"+obrien.ID, app, nil); r.status != 404 {
		t.Errorf("GET a deleted user: %d, want 404", r.status)
	}
	if _, err := e.ctl.RestoreUser(e.ctx, obrien.ID); err != nil {
		t.Fatal(err)
	}
	if users = listed(); users[obrien.ID] == nil {
		t.Error("a restored user is not listed")
	}
}

func TestDelegatedPermissionsAreChecked(t *testing.T) {
	e := start(t)
	// an app consented only for User.Read
	if _, err := e.ctl.PatchApp(e.ctx, m365ctl.AppPatch{DelegatedPermissions: []string{"User.Read"}}); err != nil {
		t.Fatal(err)
	}
	at, _ := e.userToken(adele)
	if r := e.graph("GET", "/me", at, nil); r.status != 200 {
		t.Fatalf("/me: %d", r.status)
	}
	r := e.graph("GET", "/me/chats", at, nil)
	if code, msg := r.graphErr(t); r.status != 403 || code != "Forbidden" || !strings.Contains(msg, "Chat.Read") {
		t.Fatalf("chats without scope: %d %s", r.status, r.body)
	}
	if r := e.graph("GET", "/users", at, nil); r.status != 403 {
		t.Fatalf("users without User.ReadBasic.All: %d", r.status)
	}
}

func TestAppTokenCannotPostChatMessage(t *testing.T) {
	e := start(t)
	chat := e.chat(adele, bianca)
	app := e.appToken()
	body := map[string]any{"body": map[string]any{"content": "hello"}}
	r := e.graph("POST", "/chats/"+chat+"/messages", app, body)
	if code, msg := r.graphErr(t); r.status != 401 || code != "Unauthorized" || !strings.Contains(msg, "import purposes") {
		t.Fatalf("app post: %d %s", r.status, r.body)
	}
	r = e.graph("POST", "/teams/"+teamID+"/channels/"+generalChannel(t, e)+"/messages", app, body)
	if r.status != 401 {
		t.Fatalf("app channel post: %d %s", r.status, r.body)
	}
	at, _ := e.userToken(adele)
	r = e.graph("POST", "/chats/"+chat+"/messages", at, body)
	if r.status != 201 {
		t.Fatalf("delegated post: %d %s", r.status, r.body)
	}
	// nothing was stored by the refused call
	msgs, _ := e.ctl.Messages(e.ctx, m365ctl.InChat(chat))
	if len(msgs) != 1 {
		t.Fatalf("%d messages stored", len(msgs))
	}
	// application edits may only touch policyViolation
	mid := r.json(t)["id"].(string)
	r = e.graph("PATCH", "/chats/"+chat+"/messages/"+mid, app, map[string]any{"body": map[string]any{"content": "x"}})
	if r.status != 403 {
		t.Fatalf("app edit of body: %d %s", r.status, r.body)
	}
	r = e.graph("POST", "/chats/"+chat+"/messages/"+mid+"/setReaction", app, map[string]any{"reactionType": "👍"})
	if r.status != 403 {
		t.Fatalf("app reaction: %d %s", r.status, r.body)
	}
}

func generalChannel(t testing.TB, e *env) string {
	teams, err := e.ctl.Teams(e.ctx)
	if err != nil || len(teams) == 0 {
		t.Fatal(err)
	}
	return teams[0].Channels[0].ID
}

func TestChats(t *testing.T) {
	e := start(t)
	at, _ := e.userToken(adele)
	member := func(uid, role string) map[string]any {
		return map[string]any{"@odata.type": "#microsoft.graph.aadUserConversationMember", "roles": []string{role},
			"user@odata.bind": "https://graph.microsoft.com/v1.0/users('" + uid + "')"}
	}
	r := e.graph("POST", "/chats", at, map[string]any{"chatType": "oneOnOne", "members": []any{member(adele, "owner"), member(bianca, "owner")}})
	if r.status != 201 {
		t.Fatalf("create 1:1: %d %s", r.status, r.body)
	}
	id := r.json(t)["id"].(string)
	if !strings.HasSuffix(id, "@unq.gbl.spaces") {
		t.Fatalf("1:1 id %s", id)
	}
	r = e.graph("POST", "/chats", at, map[string]any{"chatType": "oneOnOne", "members": []any{member(bianca, "owner"), member(adele, "owner")}})
	if r.json(t)["id"] != id {
		t.Fatal("1:1 creation is not idempotent")
	}
	// the caller must be a member
	r = e.graph("POST", "/chats", at, map[string]any{"chatType": "oneOnOne", "members": []any{member(bianca, "owner"), member(cameron, "owner")}})
	if r.status != 403 {
		t.Fatalf("chat without caller: %d", r.status)
	}
	r = e.graph("POST", "/chats", at, map[string]any{"chatType": "group", "topic": "Launch", "members": []any{member(adele, "owner"), member(bianca, "owner"), member(gita, "guest")}})
	if r.status != 201 || !strings.HasSuffix(r.json(t)["id"].(string), "@thread.v2") {
		t.Fatalf("group: %d %s", r.status, r.body)
	}
	gid := r.json(t)["id"].(string)
	r = e.graph("GET", "/chats/"+gid+"?$expand=members", at, nil)
	ms := r.json(t)["members"].([]any)
	roles := map[string]string{}
	for _, m := range ms {
		mm := m.(map[string]any)
		roles[mm["userId"].(string)] = mm["roles"].([]any)[0].(string)
	}
	if len(ms) != 3 || roles[gita] != "guest" || roles[adele] != "owner" {
		t.Fatalf("members: %s", r.body)
	}
	r = e.graph("GET", "/me/chats?$expand=members", at, nil)
	if v := r.json(t)["value"].([]any); r.status != 200 || len(v) != 2 {
		t.Fatalf("list chats: %d %s", r.status, r.body)
	}
	if r := e.graph("GET", "/me/chats?$top=51", at, nil); r.status != 400 {
		t.Fatalf("$top 51: %d", r.status)
	}
	// a non-member cannot read the chat
	ct, _ := e.userToken(cameron)
	if r := e.graph("GET", "/chats/"+gid, ct, nil); r.status != 403 {
		t.Fatalf("non-member: %d", r.status)
	}
	// app tokens list a user's chats, not /chats
	app := e.appToken()
	if r := e.graph("GET", "/users/"+bianca+"/chats", app, nil); r.status != 200 || len(r.json(t)["value"].([]any)) != 2 {
		t.Fatalf("app user chats: %d %s", r.status, r.body)
	}
	if r := e.graph("GET", "/chats", app, nil); r.status != 403 {
		t.Fatalf("app /chats: %d", r.status)
	}
	// members
	r = e.graph("POST", "/chats/"+gid+"/members", at, member(cameron, "owner"))
	if r.status != 201 {
		t.Fatalf("add member: %d %s", r.status, r.body)
	}
	if r := e.graph("POST", "/chats/"+id+"/members", at, member(cameron, "owner")); r.status != 400 {
		t.Fatalf("add member to 1:1: %d", r.status)
	}
	if r := e.graph("GET", "/chats/"+gid, ct, nil); r.status != 200 {
		t.Fatalf("new member reads chat: %d", r.status)
	}
}

func TestChatMessages(t *testing.T) {
	e := start(t)
	chat := e.chat(adele, bianca, cameron)
	at, _ := e.userToken(adele)
	bt, _ := e.userToken(bianca)
	png := []byte("\x89PNG\r\n\x1a\nfake")
	r := e.graph("POST", "/chats/"+chat+"/messages", at, map[string]any{
		"body": map[string]any{"contentType": "html", "content": `Hi <at id="0">Bianca Pisani</at> <img src="../hostedContents/1/$value">`},
		"mentions": []any{map[string]any{"id": 0, "mentionText": "Bianca Pisani", "mentioned": map[string]any{"user": map[string]any{
			"id": bianca, "displayName": "Bianca Pisani", "userIdentityType": "aadUser"}}}},
		"hostedContents": []any{map[string]any{"@microsoft.graph.temporaryId": "1", "contentBytes": base64.StdEncoding.EncodeToString(png), "contentType": "image/png"}},
	})
	if r.status != 201 {
		t.Fatalf("post: %d %s", r.status, r.body)
	}
	m := r.json(t)
	mid := m["id"].(string)
	if m["etag"] != mid || m["chatId"] != chat || m["channelIdentity"] != nil || m["lastEditedDateTime"] != nil {
		t.Fatalf("shape: %s", r.body)
	}
	from := m["from"].(map[string]any)["user"].(map[string]any)
	if from["id"] != adele || from["userIdentityType"] != "aadUser" {
		t.Fatalf("from: %v", from)
	}
	content := m["body"].(map[string]any)["content"].(string)
	i := strings.Index(content, e.emu.GraphURL+"/v1.0/chats/")
	if i < 0 {
		t.Fatalf("hosted content src not absolute: %s", content)
	}
	src := content[i : strings.Index(content[i:], `"`)+i]
	hr := e.do("GET", src, bt, nil)
	if hr.status != 200 || !bytes.Equal(hr.body, png) || hr.header.Get("Content-Type") != "image/png" {
		t.Fatalf("hosted $value: %d", hr.status)
	}
	// mentions must match <at id>
	r = e.graph("POST", "/chats/"+chat+"/messages", at, map[string]any{"body": map[string]any{"contentType": "html", "content": `<at id="1">X</at>`}})
	if r.status != 400 {
		t.Fatalf("dangling <at>: %d", r.status)
	}
	// list: newest first, $top ≤ 50, paging
	for i := 0; i < 4; i++ {
		e.graph("POST", "/chats/"+chat+"/messages", bt, map[string]any{"body": map[string]any{"content": fmt.Sprint("m", i)}})
	}
	r = e.graph("GET", "/chats/"+chat+"/messages?$top=2", bt, nil)
	page := r.json(t)
	v := page["value"].([]any)
	if len(v) != 2 || v[0].(map[string]any)["body"].(map[string]any)["content"] != "m3" || page["@odata.nextLink"] == nil {
		t.Fatalf("list: %s", r.body)
	}
	if r := e.graph("GET", "/chats/"+chat+"/messages?$top=51", bt, nil); r.status != 400 {
		t.Fatalf("$top=51: %d", r.status)
	}
	if r := e.graph("GET", "/chats/"+chat+"/messages?$orderby=createdDateTime%20asc", bt, nil); r.status != 400 {
		t.Fatalf("asc order: %d", r.status)
	}
	// edit by the sender; not by someone else
	if r := e.graph("PATCH", "/chats/"+chat+"/messages/"+mid, bt, map[string]any{"body": map[string]any{"content": "hijack"}}); r.status != 403 {
		t.Fatalf("edit by other: %d", r.status)
	}
	if r := e.graph("PATCH", "/chats/"+chat+"/messages/"+mid, at, map[string]any{"body": map[string]any{"contentType": "text", "content": "edited"}}); r.status != 204 {
		t.Fatalf("edit: %d %s", r.status, r.body)
	}
	got := e.graph("GET", "/chats/"+chat+"/messages/"+mid, bt, nil).json(t)
	if got["body"].(map[string]any)["content"] != "edited" || got["lastEditedDateTime"] == nil || got["etag"] == mid {
		t.Fatalf("after edit: %v", got)
	}
	// reactions
	if r := e.graph("POST", "/chats/"+chat+"/messages/"+mid+"/setReaction", bt, map[string]any{"reactionType": "💘"}); r.status != 204 {
		t.Fatalf("setReaction: %d %s", r.status, r.body)
	}
	got = e.graph("GET", "/chats/"+chat+"/messages/"+mid, bt, nil).json(t)
	rs := got["reactions"].([]any)
	if len(rs) != 1 || rs[0].(map[string]any)["reactionType"] != "💘" {
		t.Fatalf("reactions: %v", rs)
	}
	e.graph("POST", "/chats/"+chat+"/messages/"+mid+"/unsetReaction", bt, map[string]any{"reactionType": "💘"})
	if got := e.graph("GET", "/chats/"+chat+"/messages/"+mid, bt, nil).json(t); len(got["reactions"].([]any)) != 0 {
		t.Fatal("unsetReaction kept the reaction")
	}
	// soft delete: only under /users/{me}, only own messages
	if r := e.graph("POST", "/users/"+bianca+"/chats/"+chat+"/messages/"+mid+"/softDelete", bt, nil); r.status != 403 {
		t.Fatalf("delete other's message: %d", r.status)
	}
	if r := e.graph("POST", "/users/"+adele+"/chats/"+chat+"/messages/"+mid+"/softDelete", at, nil); r.status != 204 {
		t.Fatalf("softDelete: %d %s", r.status, r.body)
	}
	got = e.graph("GET", "/chats/"+chat+"/messages/"+mid, bt, nil).json(t)
	if got["deletedDateTime"] == nil || got["body"].(map[string]any)["content"] != "" {
		t.Fatalf("deleted: %v", got)
	}
	if r := e.graph("POST", "/users/"+adele+"/chats/"+chat+"/messages/"+mid+"/undoSoftDelete", at, nil); r.status != 204 {
		t.Fatalf("undo: %d", r.status)
	}
	if got := e.graph("GET", "/chats/"+chat+"/messages/"+mid, bt, nil).json(t); got["deletedDateTime"] != nil {
		t.Fatal("undo did not restore")
	}
	// messages of a chat the caller is not in
	other := e.chat(cameron, gita)
	if r := e.graph("POST", "/chats/"+other+"/messages", at, map[string]any{"body": map[string]any{"content": "x"}}); r.status != 403 {
		t.Fatalf("post to foreign chat: %d", r.status)
	}
	// size limit
	big := strings.Repeat("a", 29*1024)
	if r := e.graph("POST", "/chats/"+chat+"/messages", at, map[string]any{"body": map[string]any{"content": big}}); r.status != 413 {
		t.Fatalf("28 KB limit: %d", r.status)
	}
	if r := e.graph("GET", "/chats/"+chat+"/messages/delta", at, nil); r.status != 400 {
		t.Fatalf("chat messages delta: %d", r.status)
	}
}

func TestChannelMessagesAndReplies(t *testing.T) {
	e := start(t)
	ch := generalChannel(t, e)
	at, _ := e.userToken(adele)
	base := "/teams/" + teamID + "/channels/" + ch + "/messages"
	r := e.graph("POST", base, at, map[string]any{"subject": "Plan", "body": map[string]any{"content": "root"}})
	if r.status != 201 {
		t.Fatalf("post: %d %s", r.status, r.body)
	}
	root := r.json(t)
	ci := root["channelIdentity"].(map[string]any)
	if root["chatId"] != nil || ci["teamId"] != teamID || ci["channelId"] != ch || root["webUrl"] == nil {
		t.Fatalf("shape: %s", r.body)
	}
	rid := root["id"].(string)
	r = e.graph("POST", base+"/"+rid+"/replies", at, map[string]any{"body": map[string]any{"content": "reply"}})
	if r.status != 201 || r.json(t)["replyToId"] != rid {
		t.Fatalf("reply: %d %s", r.status, r.body)
	}
	rep := r.json(t)["id"].(string)
	if r := e.graph("GET", base+"/"+rid+"/replies", at, nil); len(r.json(t)["value"].([]any)) != 1 {
		t.Fatalf("replies: %s", r.body)
	}
	r = e.graph("GET", base+"?$expand=replies", at, nil)
	v := r.json(t)["value"].([]any)
	if len(v) != 1 || len(v[0].(map[string]any)["replies"].([]any)) != 1 {
		t.Fatalf("$expand=replies: %s", r.body)
	}
	if r := e.graph("PATCH", base+"/"+rid+"/replies/"+rep, at, map[string]any{"body": map[string]any{"content": "r2"}}); r.status != 204 {
		t.Fatalf("edit reply: %d", r.status)
	}
	if r := e.graph("POST", base+"/"+rid+"/replies/"+rep+"/setReaction", at, map[string]any{"reactionType": "👍"}); r.status != 204 {
		t.Fatalf("react reply: %d", r.status)
	}
	if r := e.graph("POST", base+"/"+rid+"/replies/"+rep+"/softDelete", at, nil); r.status != 204 {
		t.Fatalf("delete reply: %d", r.status)
	}
	// a user outside the team
	e.ctl.CreateUser(e.ctx, m365ctl.UserSpec{ID: "a1b2c3d4-0009-4000-8000-000000000009", DisplayName: "Out Sider"})
	ot, _ := e.userToken("a1b2c3d4-0009-4000-8000-000000000009")
	if r := e.graph("GET", base, ot, nil); r.status != 403 {
		t.Fatalf("outsider: %d", r.status)
	}
	// teams and channels
	if r := e.graph("GET", "/me/joinedTeams", at, nil); len(r.json(t)["value"].([]any)) != 1 {
		t.Fatalf("joinedTeams: %s", r.body)
	}
	if r := e.graph("GET", "/teams/"+teamID+"/channels", at, nil); len(r.json(t)["value"].([]any)) != 2 {
		t.Fatalf("channels: %s", r.body)
	}
}

func TestFilesUploadShareDownload(t *testing.T) {
	e := start(t)
	at, _ := e.userToken(adele)
	bt, _ := e.userToken(bianca)
	data := []byte("report body")
	r := e.graph("PUT", "/me/drive/root:/Microsoft Teams Chat Files/report.txt:/content", at, data)
	if r.status != 201 {
		t.Fatalf("upload: %d %s", r.status, r.body)
	}
	item := r.json(t)
	iid := item["id"].(string)
	web := item["webUrl"].(string)
	if !strings.Contains(web, "sharepoint.com/personal/") || !strings.HasPrefix(item["eTag"].(string), "\"{") {
		t.Fatalf("item: %s", r.body)
	}
	share := "u!" + strings.TrimRight(base64.URLEncoding.EncodeToString([]byte(web)), "=")
	// not shared yet: Bianca cannot read it
	if r := e.graph("GET", "/shares/"+share+"/driveItem", bt, nil); r.status != 403 {
		t.Fatalf("unshared: %d", r.status)
	}
	r = e.graph("POST", "/me/drive/items/"+iid+"/createLink", at, map[string]any{"type": "view", "scope": "organization"})
	if r.status != 201 {
		t.Fatalf("createLink: %d %s", r.status, r.body)
	}
	link := r.json(t)["link"].(map[string]any)["webUrl"].(string)
	lshare := "u!" + base64.RawURLEncoding.EncodeToString([]byte(link))
	r = e.graph("GET", "/shares/"+lshare+"/driveItem/content", bt, nil)
	if r.status != 302 {
		t.Fatalf("content: %d %s", r.status, r.body)
	}
	dl := e.do("GET", r.header.Get("Location"), "", nil) // pre-authenticated
	if dl.status != 200 || !bytes.Equal(dl.body, data) {
		t.Fatalf("download: %d %q", dl.status, dl.body)
	}
	// a file sent in a Teams chat is readable by the chat's members
	chat := e.chat(adele, bianca)
	msg, err := e.ctl.Send(e.ctx, m365ctl.InChat(chat), m365ctl.Post{From: cameron, Text: "x"})
	if err == nil {
		t.Fatalf("non-member could post: %v", msg)
	}
	msg, err = e.ctl.Send(e.ctx, m365ctl.InChat(chat), m365ctl.Post{From: adele, Text: "see file",
		Files: []m365ctl.File{{Name: "plan.pdf", Content: []byte("%PDF-1.4"), ContentType: "application/pdf"}}})
	if err != nil {
		t.Fatal(err)
	}
	if len(msg.Attachments) != 1 || msg.Attachments[0].ContentType != "reference" || !strings.Contains(msg.Body.Content, "<attachment id=\""+msg.Attachments[0].ID+"\">") {
		t.Fatalf("file message: %+v", msg)
	}
	curl := *msg.Attachments[0].ContentURL
	r = e.graph("GET", "/shares/u!"+base64.RawURLEncoding.EncodeToString([]byte(curl))+"/driveItem", bt, nil)
	if r.status != 200 || r.json(t)["name"] != "plan.pdf" {
		t.Fatalf("member reads chat file: %d %s", r.status, r.body)
	}
	ct, _ := e.userToken(cameron)
	if r := e.graph("GET", "/shares/u!"+base64.RawURLEncoding.EncodeToString([]byte(curl))+"/driveItem", ct, nil); r.status != 403 {
		t.Fatalf("non-member reads chat file: %d", r.status)
	}
	// what the bridge uploaded is visible to tests
	files, err := e.ctl.Files(e.ctx, adele)
	if err != nil || len(files) != 2 || len(files[0].Links) != 1 {
		t.Fatalf("control files: %+v %v", files, err)
	}
	got, _ := e.ctl.FileContent(e.ctx, files[0].ID)
	if !bytes.Equal(got, data) {
		t.Fatal("control file content")
	}
}

func TestBatch(t *testing.T) {
	e := start(t)
	at, _ := e.userToken(adele)
	chat := e.chat(adele, bianca)
	reqs := []any{
		map[string]any{"id": "1", "method": "GET", "url": "/me"},
		map[string]any{"id": "2", "method": "POST", "url": "/chats/" + chat + "/messages", "headers": map[string]string{"Content-Type": "application/json"},
			"body": map[string]any{"body": map[string]any{"content": "via batch"}}, "dependsOn": []string{"1"}},
		map[string]any{"id": "3", "method": "GET", "url": "/users/nobody@contoso.onmicrosoft.com", "dependsOn": []string{"2"}},
		map[string]any{"id": "4", "method": "GET", "url": "/me", "dependsOn": []string{"3"}},
	}
	r := e.graph("POST", "/$batch", at, map[string]any{"requests": reqs})
	if r.status != 200 {
		t.Fatalf("batch: %d %s", r.status, r.body)
	}
	st := map[string]float64{}
	for _, x := range r.json(t)["responses"].([]any) {
		m := x.(map[string]any)
		st[m["id"].(string)] = m["status"].(float64)
	}
	if st["1"] != 200 || st["2"] != 201 || st["3"] != 404 || st["4"] != 424 {
		t.Fatalf("statuses: %v", st)
	}
	if msgs, _ := e.ctl.Messages(e.ctx, m365ctl.InChat(chat)); len(msgs) != 1 {
		t.Fatal("batch POST did not post")
	}
	var many []any
	for i := 0; i < 21; i++ {
		many = append(many, map[string]any{"id": fmt.Sprint(i), "method": "GET", "url": "/me"})
	}
	if r := e.graph("POST", "/$batch", at, map[string]any{"requests": many}); r.status != 400 {
		t.Fatalf("21 requests: %d", r.status)
	}
	dup := []any{map[string]any{"id": "a", "method": "GET", "url": "/me"}, map[string]any{"id": "A", "method": "GET", "url": "/me"}}
	if r := e.graph("POST", "/$batch", at, map[string]any{"requests": dup}); r.status != 400 {
		t.Fatalf("duplicate ids: %d", r.status)
	}
	nob := []any{map[string]any{"id": "a", "method": "POST", "url": "/chats/" + chat + "/messages", "body": map[string]any{"x": 1}}}
	if r := e.graph("POST", "/$batch", at, map[string]any{"requests": nob}); r.status != 400 {
		t.Fatalf("body without Content-Type: %d", r.status)
	}
}

func TestDeltaAndGetAllMessages(t *testing.T) {
	e := start(t)
	chat := e.chat(adele, bianca)
	for i := 0; i < 3; i++ {
		e.ctl.Send(e.ctx, m365ctl.InChat(chat), m365ctl.Post{From: adele, Text: fmt.Sprint("d", i)})
	}
	app := e.appToken()
	r := e.graph("GET", "/users/"+bianca+"/chats/getAllMessages/delta?$top=2", app, nil)
	m := r.json(t)
	if r.status != 200 || len(m["value"].([]any)) != 2 || m["@odata.nextLink"] == nil {
		t.Fatalf("delta page 1: %d %s", r.status, r.body)
	}
	r = e.do("GET", m["@odata.nextLink"].(string), app, nil)
	m = r.json(t)
	if len(m["value"].([]any)) != 1 || m["@odata.deltaLink"] == nil {
		t.Fatalf("delta page 2: %s", r.body)
	}
	delta := m["@odata.deltaLink"].(string)
	if r := e.do("GET", delta, app, nil); len(r.json(t)["value"].([]any)) != 0 {
		t.Fatalf("no changes expected: %s", r.body)
	}
	sent, _ := e.ctl.Send(e.ctx, m365ctl.InChat(chat), m365ctl.Post{From: bianca, Text: "new"})
	r = e.do("GET", delta, app, nil)
	v := r.json(t)["value"].([]any)
	if len(v) != 1 || v[0].(map[string]any)["id"] != sent.ID {
		t.Fatalf("delta after change: %s", r.body)
	}
	at, _ := e.userToken(adele)
	if r := e.graph("GET", "/me/chats/getAllMessages/delta", at, nil); r.status != 412 {
		t.Fatalf("delegated delta: %d", r.status)
	}
	if r := e.graph("GET", "/users/"+adele+"/chats/getAllMessages", app, nil); r.status != 200 || len(r.json(t)["value"].([]any)) != 4 {
		t.Fatalf("getAllMessages: %d %s", r.status, r.body)
	}
}

func TestPresenceAndActivity(t *testing.T) {
	e := start(t)
	busy := m365ctl.Presence{Availability: "Busy", Activity: "InACall"}
	e.ctl.PatchUser(e.ctx, bianca, m365ctl.UserPatch{Presence: &busy})
	app := e.appToken()
	r := e.graph("GET", "/users/"+bianca+"/presence", app, nil)
	if r.json(t)["availability"] != "Busy" {
		t.Fatalf("presence: %s", r.body)
	}
	r = e.graph("POST", "/communications/getPresencesByUserId", app, map[string]any{"ids": []string{adele, bianca}})
	if len(r.json(t)["value"].([]any)) != 2 {
		t.Fatalf("presences: %s", r.body)
	}
	body := map[string]any{"topic": map[string]any{"source": "text", "value": "Mattermost", "webUrl": "https://mm.example/x"},
		"activityType": "systemDefault", "previewText": map[string]any{"content": "Alice: hi"}}
	e.installOurApp(t, m365ctl.ForUser(bianca))
	if r := e.graph("POST", "/users/"+bianca+"/teamwork/sendActivityNotification", app, body); r.status != 204 {
		t.Fatalf("activity: %d %s", r.status, r.body)
	}
	delete(body, "previewText")
	if r := e.graph("POST", "/users/"+bianca+"/teamwork/sendActivityNotification", app, body); r.status != 400 {
		t.Fatalf("activity without previewText: %d", r.status)
	}
	acts, _ := e.ctl.Activity(e.ctx)
	if len(acts) != 1 || acts[0].Recipients[0] != bianca || acts[0].CallerAppID != e.emu.ClientID {
		t.Fatalf("recorded activity: %+v", acts)
	}
}

func TestProfilePhoto(t *testing.T) {
	e := start(t)
	app := e.appToken()
	r := e.graph("GET", "/users/"+bianca+"/photo/$value", app, nil)
	if code, _ := r.graphErr(t); r.status != 404 || code != "ImageNotFound" {
		t.Fatalf("no photo yet: %d %s", r.status, r.body)
	}
	png := "\x89PNG\r\n\x1a\n fake"
	photo := base64.StdEncoding.EncodeToString([]byte(png))
	if _, err := e.ctl.PatchUser(e.ctx, bianca, m365ctl.UserPatch{Photo: &photo, PhotoType: "image/png"}); err != nil {
		t.Fatal(err)
	}
	r = e.graph("GET", "/users/"+bianca+"/photo/$value", app, nil)
	if r.status != 200 || string(r.body) != png || r.header.Get("Content-Type") != "image/png" {
		t.Fatalf("photo: %d %q %v", r.status, r.body, r.header)
	}
	if m := e.graph("GET", "/users/"+bianca+"/photo", app, nil).json(t); m["@odata.mediaContentType"] != "image/png" {
		t.Fatalf("photo metadata: %v", m)
	}
	// A user's own photo with a delegated token; another user's needs User.ReadBasic.All at least.
	token, _ := e.userToken(bianca)
	if r := e.graph("GET", "/me/photo/$value", token, nil); r.status != 200 {
		t.Fatalf("own photo: %d %s", r.status, r.body)
	}
	none := ""
	e.ctl.PatchUser(e.ctx, bianca, m365ctl.UserPatch{Photo: &none})
	if r := e.graph("GET", "/users/"+bianca+"/photo/$value", app, nil); r.status != 404 {
		t.Fatalf("removed photo: %d", r.status)
	}
}

func TestCountersFaultsAndLimits(t *testing.T) {
	e := start(t)
	app := e.appToken()
	at, _ := e.userToken(adele)
	e.ctl.ResetCounters(e.ctx)
	for i := 0; i < 3; i++ {
		e.graph("GET", "/users", app, nil)
	}
	e.graph("GET", "/me", at, nil)
	e.graph("GET", "/me", app, nil)
	c, err := e.ctl.Counters(e.ctx)
	if err != nil {
		t.Fatal(err)
	}
	if n := c.Count("graph", "GET /v1.0/users", "app", 200); n != 3 {
		t.Fatalf("app GET users: %d", n)
	}
	if n := c.Count("graph", "GET /v1.0/me", "user", 200); n != 1 {
		t.Fatalf("user GET me: %d", n)
	}
	if n := c.Count("graph", "GET /v1.0/me", "app", 400); n != 1 {
		t.Fatalf("app GET me 400: %d", n)
	}
	// every request fails with 503 while the fault is on
	if err := e.ctl.SetFaults(e.ctx, m365ctl.Faults{ErrorShare: 1}); err != nil {
		t.Fatal(err)
	}
	r := e.graph("GET", "/users", app, nil)
	if code, _ := r.graphErr(t); r.status != 503 || code != "ServiceUnavailable" || r.header.Get("Retry-After") == "" {
		t.Fatalf("fault: %d %s", r.status, r.body)
	}
	e.ctl.SetFaults(e.ctx, m365ctl.Faults{ErrorShare: 1, ErrorStatus: 500, Hosts: []string{"login"}})
	if r := e.do("POST", e.tokenURL(), "", url.Values{}); r.status != 500 {
		t.Fatalf("login fault: %d", r.status)
	}
	if r := e.graph("GET", "/users", app, nil); r.status != 200 {
		t.Fatalf("graph unaffected by login fault: %d", r.status)
	}
	e.ctl.ClearFaults(e.ctx)
	// request body limit
	big := bytes.Repeat([]byte("a"), 5<<20)
	if r := e.do("POST", e.emu.GraphURL+"/v1.0/subscriptions", app, append(append([]byte(`{"x":"`), big...), '"', '}'), "Content-Type", "application/json"); r.status != 413 {
		t.Fatalf("5 MiB body: %d", r.status)
	}
	if r := e.graph("GET", "/nonexistent", app, nil); r.status != 400 {
		t.Fatalf("unknown segment: %d", r.status)
	}
}

func TestApplicationsListTheSecretsHintAndExpiryWithTheRole(t *testing.T) {
	e := start(t)
	exp := time.Now().Add(6 * 24 * time.Hour).UTC().Truncate(time.Second)
	if _, err := e.ctl.PatchApp(e.ctx, m365ctl.AppPatch{SecretExpiresAt: exp.Format(time.RFC3339)}); err != nil {
		t.Fatal(err)
	}
	tok := e.appToken()
	r := e.graph("GET", "/applications?$filter="+url.QueryEscape("appId eq '"+e.emu.ClientID+"'"), tok, nil)
	var out struct {
		Value []struct {
			AppID               string `json:"appId"`
			PasswordCredentials []struct {
				Hint        string  `json:"hint"`
				EndDateTime string  `json:"endDateTime"`
				SecretText  *string `json:"secretText"`
			} `json:"passwordCredentials"`
		} `json:"value"`
	}
	if err := json.Unmarshal(r.body, &out); err != nil || r.status != 200 || len(out.Value) != 1 ||
		len(out.Value[0].PasswordCredentials) != 1 {
		t.Fatalf("%d %s", r.status, r.body)
	}
	c := out.Value[0].PasswordCredentials[0]
	if c.Hint != e.emu.ClientSecret[:3] || c.EndDateTime != exp.Format(time.RFC3339) || c.SecretText != nil {
		t.Errorf("credential %+v", c)
	}
	if strings.Contains(string(r.body), e.emu.ClientSecret) {
		t.Error("the secret itself is listed")
	}
	r = e.graph("GET", "/applications?$filter="+url.QueryEscape("appId eq 'other'"), tok, nil)
	if r.status != 200 || !strings.Contains(string(r.body), `"value":[]`) {
		t.Errorf("another app id: %d %s", r.status, r.body)
	}
	// Without Application.Read.All: 403.
	if _, err := e.ctl.PatchApp(e.ctx, m365ctl.AppPatch{ApplicationPermissions: []string{"User.Read.All"}}); err != nil {
		t.Fatal(err)
	}
	if r := e.graph("GET", "/applications", e.appToken(), nil); r.status != 403 {
		t.Errorf("without the role: %d", r.status)
	}
}

// GET /applications(appId='{appId}') and GET /applications/{id} (L /graph/api/application-get), as
// msgraph-sdk's applications_with_app_id(...).get() and by_application_id(...).get() send them.
func TestApplicationByAppIDAndByObjectID(t *testing.T) {
	e := start(t)
	tok := e.appToken()
	r := e.graph("GET", "/applications(appId='"+e.emu.ClientID+"')", tok, nil)
	m := r.json(t)
	if r.status != 200 || m["appId"] != e.emu.ClientID || m["displayName"] != "Mattermost Teams Bridge" ||
		!strings.HasSuffix(m["@odata.context"].(string), "$metadata#applications/$entity") {
		t.Fatalf("by appId: %d %s", r.status, r.body)
	}
	if strings.Contains(string(r.body), e.emu.ClientSecret) {
		t.Error("the secret itself is shown")
	}
	objectID := m["id"].(string)
	if r := e.graph("GET", "/applications/"+objectID, tok, nil); r.status != 200 || r.json(t)["appId"] != e.emu.ClientID {
		t.Errorf("by object id: %d %s", r.status, r.body)
	}
	// the quotes percent-encoded, and inside $batch
	if r := e.graph("GET", "/applications(appId=%27"+e.emu.ClientID+"%27)", tok, nil); r.status != 200 {
		t.Errorf("encoded quotes: %d %s", r.status, r.body)
	}
	b := e.graph("POST", "/$batch", tok, map[string]any{"requests": []any{
		map[string]any{"id": "1", "method": "GET", "url": "/applications(appId='" + e.emu.ClientID + "')"}}})
	if b.status != 200 || !strings.Contains(string(b.body), `"status":200`) {
		t.Errorf("in $batch: %d %s", b.status, b.body)
	}
	// unknown keys are Graph's directory 404
	for _, p := range []string{"/applications(appId='00000000-0000-0000-0000-000000000009')", "/applications/" + e.emu.ClientID} {
		r := e.graph("GET", p, tok, nil)
		if code, _ := r.graphErr(t); r.status != 404 || code != "Request_ResourceNotFound" {
			t.Errorf("%s: %d %s", p, r.status, r.body)
		}
	}
	// other one-segment paths stay unmatched, token or not
	for _, p := range []string{"/applications(displayName='x')", "/nonexistent"} {
		for _, tk := range []string{tok, ""} {
			r := e.graph("GET", p, tk, nil)
			if code, _ := r.graphErr(t); r.status != 400 || code != "BadRequest" {
				t.Errorf("%s (token %v): %d %s", p, tk != "", r.status, r.body)
			}
		}
	}
	// the permission of the list
	if _, err := e.ctl.PatchApp(e.ctx, m365ctl.AppPatch{ApplicationPermissions: []string{"User.Read.All"}}); err != nil {
		t.Fatal(err)
	}
	if r := e.graph("GET", "/applications(appId='"+e.emu.ClientID+"')", e.appToken(), nil); r.status != 403 {
		t.Errorf("without Application.Read.All: %d", r.status)
	}
}

func gzipped(t *testing.T, data []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	if _, err := zw.Write(data); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// The Graph SDKs gzip request bodies by default (kiota-http-go CompressionHandler) and Graph decompresses
// them; a body it cannot read is its 400 "Unable to read JSON request payload".
func TestGzipRequestBodies(t *testing.T) {
	e := start(t)
	at, _ := e.userToken(adele)
	chat := e.chat(adele, bianca)
	post := func(body []byte, encoding string) resp {
		return e.do("POST", e.emu.GraphURL+"/v1.0/chats/"+chat+"/messages", at, body,
			"Content-Type", "application/json", "Content-Encoding", encoding)
	}
	r := post(gzipped(t, []byte(`{"body":{"contentType":"text","content":"compressed hello"}}`)), "gzip")
	if r.status != 201 || r.json(t)["body"].(map[string]any)["content"] != "compressed hello" {
		t.Fatalf("gzip body: %d %s", r.status, r.body)
	}
	if msgs, _ := e.ctl.Messages(e.ctx, m365ctl.InChat(chat)); len(msgs) != 1 || msgs[0].Body.Content != "compressed hello" {
		t.Fatalf("stored: %+v", msgs)
	}
	// a gzipped $batch
	batch, _ := json.Marshal(map[string]any{"requests": []any{map[string]any{"id": "1", "method": "GET", "url": "/me"}}})
	b := e.do("POST", e.emu.GraphURL+"/v1.0/$batch", at, gzipped(t, batch), "Content-Type", "application/json", "Content-Encoding", "gzip")
	if b.status != 200 || !strings.Contains(string(b.body), `"status":200`) {
		t.Errorf("gzip $batch: %d %s", b.status, b.body)
	}
	// not gzip after all, or a coding Graph does not take
	for _, c := range []struct {
		body     []byte
		encoding string
	}{
		{[]byte(`{"body":{"content":"plain"}}`), "gzip"},
		{[]byte(`{"body":{"content":"plain"}}`), "br"},
		{gzipped(t, []byte(`{"body":{"content":"x"}}`))[:12], "gzip"},
	} {
		r := post(c.body, c.encoding)
		code, msg := r.graphErr(t)
		if r.status != 400 || code != "BadRequest" || !strings.HasPrefix(msg, "Unable to read JSON request payload.") {
			t.Errorf("%s %q: %d %s", c.encoding, c.body, r.status, r.body)
		}
	}
	// the body limits hold for the decompressed size: over the request limit (4 MiB), and a gzip bomb
	big := gzipped(t, []byte(`{"body":{"content":"`+strings.Repeat("a", 5<<20)+`"}}`))
	if r := post(big, "gzip"); r.status != 413 {
		t.Errorf("5 MiB decompressed: %d %.200s", r.status, r.body)
	}
	bomb := gzipped(t, make([]byte, 80<<20))
	if r := post(bomb, "gzip"); r.status != 413 {
		t.Errorf("80 MiB of zeros: %d %.200s", r.status, r.body)
	}
	if msgs, _ := e.ctl.Messages(e.ctx, m365ctl.InChat(chat)); len(msgs) != 1 {
		t.Errorf("refused bodies posted: %d messages", len(msgs))
	}
}

// msgraph-sdk for Python requests https://graph.microsoft.com/v1.0//me in its default configuration; Graph
// serves it (no redirect).
func TestRepeatedSlashesAreServed(t *testing.T) {
	e := start(t)
	at, _ := e.userToken(adele)
	chat := e.chat(adele, bianca)
	if r := e.graph("GET", "//me", at, nil); r.status != 200 || r.json(t)["id"] != adele {
		t.Fatalf("GET /v1.0//me: %d %s", r.status, r.body)
	}
	encoded := strings.NewReplacer(":", "%3A", "@", "%40").Replace(chat)
	r := e.graph("POST", "//chats/"+encoded+"//messages", at, map[string]any{"body": map[string]any{"content": "double"}})
	if r.status != 201 {
		t.Fatalf("POST /v1.0//chats/{id}//messages: %d %s", r.status, r.body)
	}
	if r := e.do("GET", e.emu.GraphURL+"//v1.0/me", at, nil); r.status != 200 {
		t.Errorf("GET //v1.0/me: %d", r.status)
	}
}
