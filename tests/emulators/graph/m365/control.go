package m365

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/msteams-bridge/msteams/tests/emulators/graph/wire"
)

// ctlError writes the control API's error JSON.
func ctlError(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, wire.Error{Error: msg})
}

// ctlList is the control API's collection answer.
func ctlList[T any](v []T) wire.List[T] { return wire.List[T]{Value: v} }

func ctlFail(w http.ResponseWriter, err error) {
	var se *storeError
	if errors.As(err, &se) {
		ctlError(w, se.status, se.msg)
		return
	}
	ctlError(w, 400, err.Error())
}

func (e *Emulator) ctlDecode(w http.ResponseWriter, r *http.Request, v any) bool {
	if err := decodeJSONBody(w, r, e.opts.MaxUploadBytes, v); err != nil {
		ctlError(w, 400, "invalid JSON body: "+err.Error())
		return false
	}
	return true
}

func (e *Emulator) controlHandler() http.Handler {
	mux := http.NewServeMux()
	h := func(pattern string, fn http.HandlerFunc) {
		mux.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) {
			sw := &statusWriter{ResponseWriter: w}
			defer func() {
				st := sw.status
				if st == 0 {
					st = 200
				}
				e.counters.inc(CounterKey{Host: "control", Route: pattern, Caller: "none", Status: st})
			}()
			fn(sw, r)
		})
	}
	h("GET /healthz", func(w http.ResponseWriter, r *http.Request) { writeJSON(w, 200, wire.Health{OK: true}) })
	h("GET /env", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Write([]byte(strings.Join(e.Env(), "\n") + "\n"))
	})
	h("GET /tenant", e.ctlTenant)
	h("PATCH /app", e.ctlPatchApp)
	h("GET /users", e.ctlListUsers)
	h("POST /users", e.ctlCreateUser)
	h("PATCH /users/{uid}", e.ctlPatchUser)
	h("DELETE /users/{uid}", e.ctlDeleteUser)
	h("POST /users/{uid}/restore", e.ctlDeleteUser)
	h("GET /teams", e.ctlListTeams)
	h("POST /teams", e.ctlCreateTeam)
	h("POST /teams/{tid}/channels", e.ctlCreateChannel)
	h("POST /teams/{tid}/members", e.ctlTeamMember)
	h("DELETE /teams/{tid}/members/{uid}", e.ctlTeamMember)
	h("GET /chats", e.ctlListChats)
	h("POST /chats", e.ctlCreateChat)
	h("POST /chats/{chid}/members", e.ctlChatMember)
	h("DELETE /chats/{chid}/members/{uid}", e.ctlChatMember)
	for _, base := range []string{"/chats/{chid}", "/teams/{tid}/channels/{cid}"} {
		h("GET "+base+"/messages", e.ctlListMessages)
		h("POST "+base+"/messages", e.ctlPostMessage)
		h("GET "+base+"/messages/{mid}", e.ctlGetMessage)
		h("PATCH "+base+"/messages/{mid}", e.ctlEditMessage)
		h("DELETE "+base+"/messages/{mid}", e.ctlDeleteMessage)
		h("POST "+base+"/messages/{mid}/undelete", e.ctlDeleteMessage)
		h("POST "+base+"/messages/{mid}/reactions", e.ctlReact)
		h("DELETE "+base+"/messages/{mid}/reactions", e.ctlReact)
	}
	rb := "/teams/{tid}/channels/{cid}/messages/{mid}/replies"
	h("GET "+rb, e.ctlListMessages)
	h("POST "+rb, e.ctlPostMessage)
	h("GET "+rb+"/{rid}", e.ctlGetMessage)
	h("PATCH "+rb+"/{rid}", e.ctlEditMessage)
	h("DELETE "+rb+"/{rid}", e.ctlDeleteMessage)
	h("POST "+rb+"/{rid}/undelete", e.ctlDeleteMessage)
	h("POST "+rb+"/{rid}/reactions", e.ctlReact)
	h("DELETE "+rb+"/{rid}/reactions", e.ctlReact)
	h("POST /users/{uid}/files", e.ctlUpload)
	h("GET /users/{uid}/files", e.ctlListFiles)
	h("GET /files/{iid}/content", e.ctlFileContent)
	h("GET /activity", func(w http.ResponseWriter, r *http.Request) {
		e.st.mu.RLock()
		out := append([]ActivityRecord{}, e.st.activity...)
		e.st.mu.RUnlock()
		writeJSON(w, 200, ctlList(out))
	})
	h("DELETE /activity", func(w http.ResponseWriter, r *http.Request) {
		e.st.mu.Lock()
		e.st.activity = nil
		e.st.mu.Unlock()
		w.WriteHeader(204)
	})
	h("GET /subscriptions", e.ctlListSubs)
	h("DELETE /subscriptions/{sid}", e.ctlRemoveSub)
	h("POST /subscriptions/{sid}/lifecycle", e.ctlLifecycle)
	h("POST /subscriptions/{sid}/expire", e.ctlExpireSub)
	h("GET /faults", func(w http.ResponseWriter, r *http.Request) { writeJSON(w, 200, e.faults.get()) })
	h("PUT /faults", func(w http.ResponseWriter, r *http.Request) {
		var f Faults
		if !e.ctlDecode(w, r, &f) {
			return
		}
		if f.ErrorShare < 0 || f.ErrorShare > 1 || f.DropShare < 0 || f.DropShare > 1 || f.DuplicateShare < 0 || f.DuplicateShare > 1 {
			ctlError(w, 400, "shares must be within 0..1")
			return
		}
		if f.DuplicateCopies < 0 || f.DuplicateCopies > 10 || f.LateResponseMs < 0 || f.LateResponseMs > 600_000 || f.LateResponses < 0 {
			ctlError(w, 400, "duplicateCopies must be within 0..10, lateResponseMs within 0..600000, lateResponses ≥ 0")
			return
		}
		e.faults.set(f)
		writeJSON(w, 200, e.faults.get())
	})
	h("DELETE /faults", func(w http.ResponseWriter, r *http.Request) { e.faults.set(Faults{}); w.WriteHeader(204) })
	h("POST /tokens/revoke", e.ctlRevoke)
	h("GET /lifetimes", func(w http.ResponseWriter, r *http.Request) { writeJSON(w, 200, e.auth.lifetimes()) })
	h("PUT /lifetimes", func(w http.ResponseWriter, r *http.Request) {
		var lt Lifetimes
		if !e.ctlDecode(w, r, &lt) {
			return
		}
		e.auth.setLifetimes(lt)
		writeJSON(w, 200, e.auth.lifetimes())
	})
	h("GET /throttle", func(w http.ResponseWriter, r *http.Request) { writeJSON(w, 200, e.thr.config()) })
	h("PUT /throttle", func(w http.ResponseWriter, r *http.Request) {
		cur := e.thr.config()
		var in wire.ThrottleUpdate
		if !e.ctlDecode(w, r, &in) {
			return
		}
		if in.Reset {
			cur = DefaultThrottleConfig()
		}
		if in.Enabled != nil {
			cur.Enabled = *in.Enabled
		}
		for k, v := range in.Limits {
			cur.Limits[k] = v
		}
		e.thr.set(cur)
		writeJSON(w, 200, e.thr.config())
	})
	h("GET /quotas", func(w http.ResponseWriter, r *http.Request) {
		e.subs.mu.RLock()
		q := e.subs.quotas
		e.subs.mu.RUnlock()
		writeJSON(w, 200, q)
	})
	h("PUT /quotas", func(w http.ResponseWriter, r *http.Request) {
		var q Quotas
		if !e.ctlDecode(w, r, &q) {
			return
		}
		d := DefaultQuotas()
		if q.PerAppPerThread <= 0 {
			q.PerAppPerThread = d.PerAppPerThread
		}
		if q.PerUser <= 0 {
			q.PerUser = d.PerUser
		}
		if q.PerTenant <= 0 {
			q.PerTenant = d.PerTenant
		}
		e.subs.mu.Lock()
		e.subs.quotas = q
		e.subs.mu.Unlock()
		writeJSON(w, 200, q)
	})
	h("GET /counters", func(w http.ResponseWriter, r *http.Request) { writeJSON(w, 200, e.Counters()) })
	h("DELETE /counters", func(w http.ResponseWriter, r *http.Request) {
		e.counters.reset()
		e.dlv.resetStats()
		w.WriteHeader(204)
	})
	h("GET /deliveries", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, 200, ctlList(e.dlv.records()))
	})
	h("POST /deliveries/wait", func(w http.ResponseWriter, r *http.Request) {
		ms, _ := strconv.Atoi(r.URL.Query().Get("timeoutMs"))
		if ms <= 0 || ms > 60000 {
			ms = 10000
		}
		deadline := time.Now().Add(time.Duration(ms) * time.Millisecond)
		for e.dlv.stats.queued.Load() > 0 && time.Now().Before(deadline) {
			select {
			case <-r.Context().Done():
				return
			case <-time.After(5 * time.Millisecond):
			}
		}
		st := e.dlv.snapshot()
		if st.Queued > 0 {
			writeJSON(w, 408, st)
			return
		}
		writeJSON(w, 200, st)
	})
	e.embeddedControlRoutes(h)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		e.counters.inc(CounterKey{Host: "control", Route: "unmatched", Caller: "none", Status: 404})
		ctlError(w, 404, "no such control route: "+r.Method+" "+r.URL.Path)
	})
	return mux
}

// CountersSnapshot is GET /counters.
type CountersSnapshot = wire.Counters

// Counters returns a snapshot of all counters.
func (e *Emulator) Counters() CountersSnapshot {
	rows := e.counters.rows()
	if rows == nil {
		rows = []CounterRow{}
	}
	return CountersSnapshot{Requests: rows, Delivery: e.dlv.snapshot(), Throttled: e.thr.stats()}
}

func (e *Emulator) ctlTenant(w http.ResponseWriter, r *http.Request) {
	e.st.mu.RLock()
	defer e.st.mu.RUnlock()
	keys := func(m map[string]bool) []string {
		out := []string{}
		for k := range m {
			out = append(out, k)
		}
		sort.Strings(out)
		return out
	}
	a := e.st.app
	writeJSON(w, 200, wire.Tenant{TenantID: e.st.tenantID, Domain: e.st.domain, DisplayName: e.st.tenantName,
		ClientID: a.ClientID, ClientSecret: a.ClientSecret, SecretExpiresAt: a.SecretExpiresAt.UTC().Format(time.RFC3339),
		RedirectURIs: a.RedirectURIs, DelegatedPermissions: keys(a.Delegated), ApplicationPermissions: keys(a.Application),
		Cloud: e.cloud.name, RequirePKCE: a.RequirePKCE, IdentifierURIs: append([]string{}, a.IdentifierURIs...), LoginURL: e.LoginURL, GraphURL: e.GraphURL, ControlURL: e.ControlURL, CAFile: e.CAFile})
}

func (e *Emulator) ctlPatchApp(w http.ResponseWriter, r *http.Request) {
	var in wire.AppPatch
	if !e.ctlDecode(w, r, &in) {
		return
	}
	var exp time.Time
	if in.SecretExpiresAt != "" {
		t, err := time.Parse(time.RFC3339, in.SecretExpiresAt)
		if err != nil {
			ctlError(w, 400, "secretExpiresAt: "+err.Error())
			return
		}
		exp = t
	}
	e.st.mu.Lock()
	a := &e.st.app
	if in.RedirectURIs != nil {
		a.RedirectURIs = append([]string(nil), in.RedirectURIs...)
	}
	for _, u := range in.AddRedirectURIs {
		if !contains(a.RedirectURIs, u) {
			a.RedirectURIs = append(a.RedirectURIs, u)
		}
	}
	if !exp.IsZero() {
		a.SecretExpiresAt = exp
	}
	if in.SecretExpired != nil {
		if *in.SecretExpired {
			a.SecretExpiresAt = time.Now().Add(-time.Minute)
		} else {
			a.SecretExpiresAt = time.Now().AddDate(2, 0, 0)
		}
	}
	if in.ClientSecret != "" {
		a.ClientSecret = in.ClientSecret
	}
	if in.DelegatedPermissions != nil {
		a.Delegated = setOf(in.DelegatedPermissions)
	}
	if in.ApplicationPermissions != nil {
		a.Application = setOf(in.ApplicationPermissions)
	}
	if in.RequirePKCE != nil {
		a.RequirePKCE = *in.RequirePKCE
	}
	if in.IdentifierURIs != nil {
		a.IdentifierURIs = append([]string(nil), in.IdentifierURIs...)
	}
	e.st.mu.Unlock()
	e.ctlTenant(w, r)
}

func ctlUserJSON(u *User) map[string]any {
	m := userAll(u)
	m["presence"] = u.Presence
	m["hasPhoto"] = u.Photo != nil
	m["deleted"] = u.Deleted
	m["requireMfa"] = u.RequireMFA
	return m
}

// ctlDeleteUser deletes a user as an admin would (DELETE: to the directory's deleted items; Graph then lists them no
// more and answers 404 for them) or restores them (POST …/restore, as /directory/deletedItems/{id}/restore).
func (e *Emulator) ctlDeleteUser(w http.ResponseWriter, r *http.Request) {
	e.st.mu.Lock()
	u := e.st.findUser(r.PathValue("uid"))
	if u == nil {
		e.st.mu.Unlock()
		ctlError(w, 404, "no such user")
		return
	}
	u.Deleted = r.Method == http.MethodDelete
	out := ctlUserJSON(u)
	e.st.mu.Unlock()
	writeJSON(w, 200, out)
}

func (e *Emulator) ctlListUsers(w http.ResponseWriter, r *http.Request) {
	e.st.mu.RLock()
	out := []map[string]any{}
	for _, u := range e.st.userOrder {
		out = append(out, ctlUserJSON(u))
	}
	e.st.mu.RUnlock()
	writeJSON(w, 200, ctlList(out))
}

func (e *Emulator) ctlCreateUser(w http.ResponseWriter, r *http.Request) {
	var in UserSpec
	if !e.ctlDecode(w, r, &in) {
		return
	}
	e.st.mu.Lock()
	u, err := e.st.addUser(in)
	var out map[string]any
	if err == nil {
		out = ctlUserJSON(u)
	}
	e.st.mu.Unlock()
	if err != nil {
		ctlFail(w, err)
		return
	}
	writeJSON(w, 201, out)
}

func (e *Emulator) ctlPatchUser(w http.ResponseWriter, r *http.Request) {
	var in wire.UserPatch
	if !e.ctlDecode(w, r, &in) {
		return
	}
	var photo []byte
	if in.Photo != nil && *in.Photo != "" {
		var err error
		if photo, err = base64.StdEncoding.DecodeString(*in.Photo); err != nil {
			ctlError(w, 400, "photo is not base64")
			return
		}
	}
	e.st.mu.Lock()
	u := e.st.findUser(r.PathValue("uid"))
	if u == nil {
		e.st.mu.Unlock()
		ctlError(w, 404, "no such user")
		return
	}
	if in.AccountEnabled != nil {
		u.AccountEnabled = *in.AccountEnabled
	}
	if in.DisplayName != "" {
		u.DisplayName = in.DisplayName
	}
	if in.UserType != "" {
		if in.UserType != "Member" && in.UserType != "Guest" {
			e.st.mu.Unlock()
			ctlError(w, 400, "userType must be Member or Guest")
			return
		}
		u.UserType = in.UserType
	}
	if in.Mail != nil && !strings.EqualFold(*in.Mail, u.Mail) {
		if other := e.st.userKeys[strings.ToLower(*in.Mail)]; *in.Mail != "" && other != nil && other != u {
			e.st.mu.Unlock()
			ctlError(w, 409, "a user with "+*in.Mail+" exists")
			return
		}
		if u.Mail != "" && !strings.EqualFold(u.Mail, u.UserPrincipalName) {
			delete(e.st.userKeys, strings.ToLower(u.Mail))
		}
		u.Mail = *in.Mail
		if u.Mail != "" {
			e.st.userKeys[strings.ToLower(u.Mail)] = u
		}
	}
	if in.JobTitle != nil {
		u.JobTitle = *in.JobTitle
	}
	if in.RequireMFA != nil {
		u.RequireMFA = *in.RequireMFA
	}
	if in.Presence != nil {
		u.Presence = *in.Presence
	}
	if in.Photo != nil {
		u.Photo, u.PhotoType = photo, in.PhotoType
		if u.PhotoType == "" {
			u.PhotoType = "image/jpeg"
		}
	}
	out := ctlUserJSON(u)
	e.st.mu.Unlock()
	writeJSON(w, 200, out)
}

func (e *Emulator) ctlTeamJSON(t *Team) map[string]any {
	m := e.teamJSON(t)
	chs := []map[string]any{}
	for _, c := range t.Channels {
		chs = append(chs, e.channelJSON(c))
	}
	m["channels"] = chs
	m["members"] = append([]string{}, t.Members...)
	return m
}

func (e *Emulator) ctlListTeams(w http.ResponseWriter, r *http.Request) {
	e.st.mu.RLock()
	out := []map[string]any{}
	for _, t := range e.st.teamOrder {
		out = append(out, e.ctlTeamJSON(t))
	}
	e.st.mu.RUnlock()
	writeJSON(w, 200, ctlList(out))
}

func (e *Emulator) ctlCreateTeam(w http.ResponseWriter, r *http.Request) {
	var in TeamSpec
	if !e.ctlDecode(w, r, &in) {
		return
	}
	e.st.mu.Lock()
	t, err := e.st.addTeam(in)
	var out map[string]any
	if err == nil {
		out = e.ctlTeamJSON(t)
	}
	e.st.mu.Unlock()
	if err != nil {
		ctlFail(w, err)
		return
	}
	writeJSON(w, 201, out)
}

func (e *Emulator) ctlCreateChannel(w http.ResponseWriter, r *http.Request) {
	var in ChannelSpec
	if !e.ctlDecode(w, r, &in) {
		return
	}
	e.st.mu.Lock()
	defer e.st.mu.Unlock()
	t := e.st.teams[r.PathValue("tid")]
	if t == nil {
		ctlError(w, 404, "no such team")
		return
	}
	ch, err := e.st.addChannel(t, in)
	if err != nil {
		ctlFail(w, err)
		return
	}
	writeJSON(w, 201, e.channelJSON(ch))
}

func (e *Emulator) ctlTeamMember(w http.ResponseWriter, r *http.Request) {
	uid := r.PathValue("uid")
	if r.Method == "POST" {
		var in wire.Member
		if !e.ctlDecode(w, r, &in) {
			return
		}
		uid = in.UserID
	}
	e.st.mu.Lock()
	defer e.st.mu.Unlock()
	t := e.st.teams[r.PathValue("tid")]
	u := e.st.findUser(uid)
	if t == nil || u == nil {
		ctlError(w, 404, "no such team or user")
		return
	}
	if r.Method == "POST" {
		if !t.hasMember(u.ID) {
			t.Members = append(t.Members, u.ID)
		}
	} else {
		for i, m := range t.Members {
			if m == u.ID {
				t.Members = append(t.Members[:i:i], t.Members[i+1:]...)
				break
			}
		}
	}
	writeJSON(w, 200, e.ctlTeamJSON(t))
}

func (e *Emulator) ctlListChats(w http.ResponseWriter, r *http.Request) {
	uid := r.URL.Query().Get("user")
	e.st.mu.RLock()
	defer e.st.mu.RUnlock()
	chats := e.st.chatOrder
	if uid != "" {
		u := e.st.findUser(uid)
		if u == nil {
			ctlError(w, 404, "no such user")
			return
		}
		chats = e.st.chatsOf(u.ID)
	}
	out := []map[string]any{}
	for _, c := range chats {
		out = append(out, e.chatJSON(c, "members"))
	}
	writeJSON(w, 200, ctlList(out))
}

func (e *Emulator) ctlCreateChat(w http.ResponseWriter, r *http.Request) {
	var in ChatSpec
	if !e.ctlDecode(w, r, &in) {
		return
	}
	e.st.mu.Lock()
	ch, created, err := e.st.createChat(in.ChatType, in.Topic, in.Members, in.ID)
	var out map[string]any
	var members []string
	if err == nil {
		out = e.chatJSON(ch, "members")
		for _, m := range ch.Members {
			members = append(members, m.UserID)
		}
	}
	e.st.mu.Unlock()
	if err != nil {
		ctlFail(w, err)
		return
	}
	if created {
		e.publishChat(ch.ID, members, "created", e.chatBody(ch.ID))
	}
	status := 200
	if created {
		status = 201
	}
	writeJSON(w, status, out)
}

func (e *Emulator) chatBody(id string) map[string]any {
	e.st.mu.RLock()
	defer e.st.mu.RUnlock()
	if ch := e.st.chats[id]; ch != nil {
		return e.chatJSON(ch, "")
	}
	return nil
}

func (e *Emulator) ctlChatMember(w http.ResponseWriter, r *http.Request) {
	uid := r.PathValue("uid")
	if r.Method == "POST" {
		var in wire.Member
		if !e.ctlDecode(w, r, &in) {
			return
		}
		uid = in.UserID
	}
	e.st.mu.Lock()
	ch := e.st.chats[r.PathValue("chid")]
	u := e.st.findUser(uid)
	if ch == nil || u == nil {
		e.st.mu.Unlock()
		ctlError(w, 404, "no such chat or user")
		return
	}
	if ch.ChatType != "group" {
		e.st.mu.Unlock()
		ctlError(w, 400, "members can only change in group chats")
		return
	}
	if r.Method == "POST" {
		if ch.member(u.ID) == nil {
			ch.Members = append(ch.Members, e.st.newMember(u.ID, time.Now().UTC()))
		}
	} else {
		for i, m := range ch.Members {
			if m.UserID == u.ID {
				ch.Members = append(ch.Members[:i:i], ch.Members[i+1:]...)
				break
			}
		}
	}
	ch.LastUpdated = time.Now().UTC()
	out := e.chatJSON(ch, "members")
	e.st.mu.Unlock()
	writeJSON(w, 200, out)
}

// ctlTarget resolves a control path to a message target; st.mu held.
func (e *Emulator) ctlTarget(r *http.Request, route string) (*msgTarget, error) {
	t := &msgTarget{}
	var th *thread
	if id := r.PathValue("chid"); id != "" {
		ch := e.st.chats[id]
		if ch == nil {
			return nil, notFound("no such chat %s", id)
		}
		t.chat, th = ch, &ch.thread
	} else {
		team := e.st.teams[r.PathValue("tid")]
		ch := e.st.channels[r.PathValue("cid")]
		if team == nil || ch == nil || ch.TeamID != team.ID {
			return nil, notFound("no such team or channel")
		}
		t.team, t.channel, th = team, ch, &ch.thread
	}
	mid := r.PathValue("mid")
	if mid == "" {
		return t, nil
	}
	m := th.byID[mid]
	if m == nil {
		return nil, notFound("no such message %s", mid)
	}
	if rid := r.PathValue("rid"); rid != "" {
		rep := m.repliesByID[rid]
		if rep == nil {
			return nil, notFound("no such reply %s", rid)
		}
		t.root, t.msg = m, rep
		return t, nil
	}
	if strings.Contains(route, "/replies") {
		t.root = m
		return t, nil
	}
	t.msg = m
	return t, nil
}

func (e *Emulator) ctlListMessages(w http.ResponseWriter, r *http.Request) {
	e.st.mu.RLock()
	defer e.st.mu.RUnlock()
	t, err := e.ctlTarget(r, r.URL.Path)
	if err != nil {
		ctlFail(w, err)
		return
	}
	var src []*Message
	switch {
	case t.root != nil:
		src = t.root.Replies
	case t.chat != nil:
		src = t.chat.msgs
	default:
		src = t.channel.msgs
	}
	out := make([]msgJSON, 0, len(src))
	for _, m := range src {
		out = append(out, e.messageJSON(m, true))
	}
	writeJSON(w, 200, ctlList(out))
}

func (e *Emulator) ctlGetMessage(w http.ResponseWriter, r *http.Request) {
	e.st.mu.RLock()
	defer e.st.mu.RUnlock()
	t, err := e.ctlTarget(r, r.URL.Path)
	if err != nil {
		ctlFail(w, err)
		return
	}
	writeJSON(w, 200, e.messageJSON(t.msg, true))
}

func isMember(t *msgTarget, uid string) bool {
	if t.chat != nil {
		return t.chat.member(uid) != nil
	}
	return t.team.hasMember(uid)
}

func (e *Emulator) ctlPostMessage(w http.ResponseWriter, r *http.Request) {
	var in wire.PostMessage
	if !e.ctlDecode(w, r, &in) {
		return
	}
	e.st.mu.Lock()
	t, err := e.ctlTarget(r, r.URL.Path)
	var m *Message
	var ch *change
	var out msgJSON
	if err == nil {
		u := e.st.findUser(in.From)
		switch {
		case u == nil:
			err = badRequest("from: no such user %q", in.From)
		case !isMember(t, u.ID):
			err = forbidden("%s is not a member", u.ID)
		default:
			err = e.attachFiles(u.ID, &in)
			if err == nil {
				m, err = e.addMessage(t, u.ID, &in.MessageInput)
			}
		}
		if err == nil {
			m.ViaControl = true
			out = e.messageJSON(m, false)
			ch = e.messageChange(m, t, "created")
		}
	}
	e.st.mu.Unlock()
	if err != nil {
		ctlFail(w, err)
		return
	}
	e.publish(ch)
	writeJSON(w, 201, out)
}

// attachFiles uploads files to the sender's OneDrive and references them as
// Teams does; st.mu held.
func (e *Emulator) attachFiles(uid string, in *wire.PostMessage) error {
	if len(in.Files) == 0 {
		return nil
	}
	if in.Body == nil {
		in.Body = &wire.Body{ContentType: "html"}
	}
	if in.Body.ContentType != "html" {
		in.Body.Content = htmlEscape(in.Body.Content)
		in.Body.ContentType = "html"
	}
	for _, f := range in.Files {
		data, err := base64.StdEncoding.DecodeString(f.ContentBase64)
		if err != nil {
			return badRequest("file %s: contentBase64 is not base64", f.Name)
		}
		folder := f.Folder
		if folder == "" {
			folder = TeamsChatFilesFolder
		}
		it, _, err := e.storeFile(uid, folder, f.Name, f.ContentType, data, "rename")
		if err != nil {
			return err
		}
		web := e.itemWebURL(it)
		name := it.Name
		in.Attachments = append(in.Attachments, Attachment{ID: it.ETagGUID, ContentType: "reference", ContentURL: &web, Name: &name})
		in.Body.Content += `<attachment id="` + it.ETagGUID + `"></attachment>`
	}
	return nil
}

func htmlEscape(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;", "\"", "&quot;").Replace(s)
}

func (e *Emulator) ctlEditMessage(w http.ResponseWriter, r *http.Request) {
	var raw map[string]json.RawMessage
	if !e.ctlDecode(w, r, &raw) {
		return
	}
	var from string
	json.Unmarshal(raw["from"], &from)
	delete(raw, "from")
	e.st.mu.Lock()
	t, err := e.ctlTarget(r, r.URL.Path)
	var ch *change
	if err == nil {
		u := e.st.findUser(from)
		switch {
		case u == nil:
			err = badRequest("from: no such user %q", from)
		case t.msg.FromUserID != u.ID:
			err = forbidden("only the sender can edit")
		case !t.msg.Deleted.IsZero():
			err = badRequest("message is deleted")
		default:
			err = e.applyEdit(t.msg, raw, false)
		}
		if err == nil {
			ch = e.messageChange(t.msg, t, "updated")
		}
	}
	var out msgJSON
	if err == nil {
		out = e.messageJSON(t.msg, false)
	}
	e.st.mu.Unlock()
	if err != nil {
		ctlFail(w, err)
		return
	}
	e.publish(ch)
	writeJSON(w, 200, out)
}

func (e *Emulator) ctlDeleteMessage(w http.ResponseWriter, r *http.Request) {
	undo := strings.HasSuffix(r.URL.Path, "/undelete")
	from := r.URL.Query().Get("from")
	e.st.mu.Lock()
	t, err := e.ctlTarget(r, strings.TrimSuffix(r.URL.Path, "/undelete"))
	var ch *change
	if err == nil {
		u := e.st.findUser(from)
		m := t.msg
		switch {
		case u == nil:
			err = badRequest("from: no such user %q", from)
		case m.FromUserID != u.ID:
			err = forbidden("only the sender can delete")
		default:
			ch = e.setDeleted(t, !undo)
		}
	}
	e.st.mu.Unlock()
	if err != nil {
		ctlFail(w, err)
		return
	}
	e.publish(ch)
	w.WriteHeader(204)
}

func (e *Emulator) ctlReact(w http.ResponseWriter, r *http.Request) {
	var in wire.ReactionInput
	if r.Method == "POST" {
		if !e.ctlDecode(w, r, &in) {
			return
		}
	} else {
		in.From, in.ReactionType = r.URL.Query().Get("from"), r.URL.Query().Get("reactionType")
	}
	if in.ReactionType == "" {
		ctlError(w, 400, "reactionType is required")
		return
	}
	e.st.mu.Lock()
	t, err := e.ctlTarget(r, strings.TrimSuffix(r.URL.Path, "/reactions"))
	var ch *change
	if err == nil {
		u := e.st.findUser(in.From)
		if u == nil {
			err = badRequest("from: no such user %q", in.From)
		} else if !isMember(t, u.ID) {
			err = forbidden("%s is not a member", u.ID)
		} else {
			var changed bool
			changed, err = e.react(t.msg, u.ID, in.ReactionType, r.Method == "DELETE")
			if changed {
				ch = e.messageChange(t.msg, t, "updated")
			}
		}
	}
	e.st.mu.Unlock()
	if err != nil {
		ctlFail(w, err)
		return
	}
	e.publish(ch)
	w.WriteHeader(204)
}

func (e *Emulator) ctlUpload(w http.ResponseWriter, r *http.Request) {
	var in wire.FileInput
	if !e.ctlDecode(w, r, &in) {
		return
	}
	data, err := base64.StdEncoding.DecodeString(in.ContentBase64)
	if err != nil {
		ctlError(w, 400, "contentBase64 is not base64")
		return
	}
	folder := in.Folder
	if folder == "" {
		folder = TeamsChatFilesFolder
	}
	e.st.mu.Lock()
	defer e.st.mu.Unlock()
	u := e.st.findUser(r.PathValue("uid"))
	if u == nil {
		ctlError(w, 404, "no such user")
		return
	}
	it, _, err := e.storeFile(u.ID, folder, in.Name, in.ContentType, data, "rename")
	if err != nil {
		ctlFail(w, err)
		return
	}
	web := e.itemWebURL(it)
	writeJSON(w, 201, map[string]any{"item": e.driveItemJSON(it),
		"attachment": Attachment{ID: it.ETagGUID, ContentType: "reference", ContentURL: &web, Name: &it.Name}})
}

func (e *Emulator) ctlListFiles(w http.ResponseWriter, r *http.Request) {
	e.st.mu.RLock()
	defer e.st.mu.RUnlock()
	u := e.st.findUser(r.PathValue("uid"))
	if u == nil {
		ctlError(w, 404, "no such user")
		return
	}
	var items []*DriveItem
	for _, it := range e.st.drive {
		if it.OwnerID == u.ID {
			items = append(items, it)
		}
	}
	sort.Slice(items, func(i, j int) bool { return items[i].Created.Before(items[j].Created) })
	out := []map[string]any{}
	for _, it := range items {
		m := e.driveItemJSON(it)
		links := []map[string]any{}
		for _, l := range it.Links {
			links = append(links, map[string]any{"type": l.Type, "scope": l.Scope, "webUrl": l.WebURL})
		}
		m["links"] = links
		out = append(out, m)
	}
	writeJSON(w, 200, ctlList(out))
}

func (e *Emulator) ctlFileContent(w http.ResponseWriter, r *http.Request) {
	e.st.mu.RLock()
	it := e.st.drive[r.PathValue("iid")]
	var data []byte
	var ct string
	if it != nil {
		data, ct = it.Content, it.ContentType
	}
	e.st.mu.RUnlock()
	if it == nil {
		ctlError(w, 404, "no such item")
		return
	}
	w.Header().Set("Content-Type", ct)
	w.Write(data)
}

func (e *Emulator) ctlListSubs(w http.ResponseWriter, r *http.Request) {
	e.subs.mu.RLock()
	var all []*subscription
	for _, s := range e.subs.subs {
		all = append(all, s)
	}
	sort.Slice(all, func(i, j int) bool { return all[i].created.Before(all[j].created) })
	out := []map[string]any{}
	for _, s := range all {
		m := s.json(e)
		m["kind"], m["needsReauthorization"] = s.kind, s.needsReauth
		out = append(out, m)
	}
	e.subs.mu.RUnlock()
	writeJSON(w, 200, ctlList(out))
}

func (e *Emulator) ctlRemoveSub(w http.ResponseWriter, r *http.Request) {
	e.subs.mu.Lock()
	s := e.subs.subs[r.PathValue("sid")]
	var cp subscription
	if s != nil {
		cp = *s
		delete(e.subs.subs, s.ID)
	}
	e.subs.mu.Unlock()
	if s == nil {
		ctlError(w, 404, "no such subscription")
		return
	}
	sent := e.sendLifecycle(&cp, LifecycleSubscriptionRemoved)
	writeJSON(w, 200, wire.LifecycleResult{LifecycleSent: sent, Removed: cp.ID})
}

func (e *Emulator) ctlLifecycle(w http.ResponseWriter, r *http.Request) {
	var in wire.LifecycleInput
	if !e.ctlDecode(w, r, &in) {
		return
	}
	switch in.Event {
	case LifecycleReauthorizationRequired, LifecycleSubscriptionRemoved, LifecycleMissed:
	default:
		ctlError(w, 400, "event must be reauthorizationRequired, subscriptionRemoved or missed")
		return
	}
	e.subs.mu.Lock()
	s := e.subs.subs[r.PathValue("sid")]
	var cp subscription
	if s != nil {
		if in.Event == LifecycleSubscriptionRemoved {
			delete(e.subs.subs, s.ID)
		}
		if in.Event == LifecycleReauthorizationRequired {
			s.needsReauth = true
		}
		cp = *s
	}
	e.subs.mu.Unlock()
	if s == nil {
		ctlError(w, 404, "no such subscription")
		return
	}
	writeJSON(w, 200, wire.LifecycleResult{LifecycleSent: e.sendLifecycle(&cp, in.Event)})
}

func (e *Emulator) ctlExpireSub(w http.ResponseWriter, r *http.Request) {
	e.subs.mu.Lock()
	s := e.subs.subs[r.PathValue("sid")]
	if s != nil {
		delete(e.subs.subs, s.ID)
	}
	e.subs.mu.Unlock()
	if s == nil {
		ctlError(w, 404, "no such subscription")
		return
	}
	w.WriteHeader(204)
}

func (e *Emulator) ctlRevoke(w http.ResponseWriter, r *http.Request) {
	var in wire.Revoke
	if !e.ctlDecode(w, r, &in) {
		return
	}
	var uids []string
	e.st.mu.RLock()
	if in.AllUsers {
		for _, u := range e.st.userOrder {
			uids = append(uids, u.ID)
		}
	} else if in.UserID != "" {
		u := e.st.findUser(in.UserID)
		if u == nil {
			e.st.mu.RUnlock()
			ctlError(w, 404, "no such user")
			return
		}
		uids = append(uids, u.ID)
	}
	e.st.mu.RUnlock()
	n := 0
	for _, uid := range uids {
		n += e.auth.revokeUser(uid, !in.KeepAccessTokens)
		e.userRevoked(uid)
	}
	if in.App {
		n += e.auth.revokeApp()
	}
	writeJSON(w, 200, wire.Revoked{Revoked: n})
}
