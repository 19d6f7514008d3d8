package m365

import (
	"context"
	"encoding/base64"
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"
)

type ctxKey int

const batchKey ctxKey = 1

// graphHandler builds the Graph host's routes.
func (e *Emulator) graphHandler() http.Handler {
	mux := http.NewServeMux()
	r := func(pattern string, fn func(*call)) { mux.HandleFunc(pattern, e.wrap(pattern, fn, false)) }

	// users
	r("GET /v1.0/me", e.getMe)
	r("GET /v1.0/users", e.listUsers)
	r("GET /v1.0/users/{uid}", e.getUser)
	r("GET /v1.0/me/presence", e.getPresence)
	r("GET /v1.0/users/{uid}/presence", e.getPresence)
	r("POST /v1.0/communications/getPresencesByUserId", e.getPresences)
	// applications (the app registration's own secrets: their hint and dates)
	r("GET /v1.0/applications", e.listApplications)
	r("GET /v1.0/applications/{aid}", e.getApplication)
	r("GET /v1.0/me/photo", e.getPhoto)
	r("GET /v1.0/users/{uid}/photo", e.getPhoto)
	r("GET /v1.0/me/photo/$value", e.getPhotoValue)
	r("GET /v1.0/users/{uid}/photo/$value", e.getPhotoValue)
	// teams and channels
	r("GET /v1.0/me/joinedTeams", e.joinedTeams)
	r("GET /v1.0/users/{uid}/joinedTeams", e.joinedTeams)
	r("GET /v1.0/teams/{tid}", e.getTeam)
	r("GET /v1.0/teams/{tid}/members", e.teamMembers)
	r("GET /v1.0/teams/{tid}/channels", e.listChannels)
	r("GET /v1.0/teams/{tid}/channels/{cid}", e.getChannel)
	// chats
	r("GET /v1.0/chats", e.listChats)
	r("GET /v1.0/me/chats", e.listChats)
	r("GET /v1.0/users/{uid}/chats", e.listChats)
	r("POST /v1.0/chats", e.createChat)
	r("GET /v1.0/chats/{chid}", e.getChat)
	r("GET /v1.0/me/chats/{chid}", e.getChat)
	r("GET /v1.0/users/{uid}/chats/{chid}", e.getChat)
	r("GET /v1.0/chats/{chid}/members", e.listChatMembers)
	r("POST /v1.0/chats/{chid}/members", e.addChatMember)
	r("DELETE /v1.0/chats/{chid}/members/{mbid}", e.removeChatMember)
	// chat messages
	for _, base := range []string{"/v1.0/chats/{chid}", "/v1.0/me/chats/{chid}", "/v1.0/users/{uid}/chats/{chid}"} {
		r("GET "+base+"/messages", e.listMessages)
		r("GET "+base+"/messages/{mid}", e.getMessage)
		r("GET "+base+"/messages/{mid}/hostedContents", e.listHosted)
		r("GET "+base+"/messages/{mid}/hostedContents/{hid}", e.getHosted)
		r("GET "+base+"/messages/{mid}/hostedContents/{hid}/$value", e.getHostedValue)
	}
	r("GET /v1.0/chats/{chid}/messages/delta", func(c *call) {
		c.fail(400, "BadRequest", "Resource not found for the segment 'delta'.")
	})
	r("POST /v1.0/chats/{chid}/messages", e.postMessage)
	r("PATCH /v1.0/chats/{chid}/messages/{mid}", e.patchMessage)
	r("POST /v1.0/chats/{chid}/messages/{mid}/setReaction", e.reactMessage)
	r("POST /v1.0/chats/{chid}/messages/{mid}/unsetReaction", e.reactMessage)
	r("POST /v1.0/users/{uid}/chats/{chid}/messages/{mid}/softDelete", e.softDelete)
	r("POST /v1.0/users/{uid}/chats/{chid}/messages/{mid}/undoSoftDelete", e.softDelete)
	r("POST /v1.0/chats/{chid}/sendActivityNotification", e.sendActivity)
	// channel messages
	ch := "/v1.0/teams/{tid}/channels/{cid}/messages"
	r("GET "+ch, e.listMessages)
	r("GET "+ch+"/delta", e.channelDelta)
	r("POST "+ch, e.postMessage)
	r("GET "+ch+"/{mid}", e.getMessage)
	r("PATCH "+ch+"/{mid}", e.patchMessage)
	r("POST "+ch+"/{mid}/softDelete", e.softDelete)
	r("POST "+ch+"/{mid}/undoSoftDelete", e.softDelete)
	r("POST "+ch+"/{mid}/setReaction", e.reactMessage)
	r("POST "+ch+"/{mid}/unsetReaction", e.reactMessage)
	r("GET "+ch+"/{mid}/hostedContents", e.listHosted)
	r("GET "+ch+"/{mid}/hostedContents/{hid}", e.getHosted)
	r("GET "+ch+"/{mid}/hostedContents/{hid}/$value", e.getHostedValue)
	r("GET "+ch+"/{mid}/replies", e.listMessages)
	r("POST "+ch+"/{mid}/replies", e.postMessage)
	r("GET "+ch+"/{mid}/replies/{rid}", e.getMessage)
	r("PATCH "+ch+"/{mid}/replies/{rid}", e.patchMessage)
	r("POST "+ch+"/{mid}/replies/{rid}/softDelete", e.softDelete)
	r("POST "+ch+"/{mid}/replies/{rid}/undoSoftDelete", e.softDelete)
	r("POST "+ch+"/{mid}/replies/{rid}/setReaction", e.reactMessage)
	r("POST "+ch+"/{mid}/replies/{rid}/unsetReaction", e.reactMessage)
	r("GET "+ch+"/{mid}/replies/{rid}/hostedContents/{hid}/$value", e.getHostedValue)
	r("POST /v1.0/teams/{tid}/sendActivityNotification", e.sendActivity)
	r("POST /v1.0/users/{uid}/teamwork/sendActivityNotification", e.sendActivity)
	r("POST /v1.0/teamwork/sendActivityNotificationToRecipients", e.sendActivityToRecipients)
	// getAllMessages and delta
	r("GET /v1.0/users/{uid}/chats/getAllMessages", e.getAllMessages)
	r("GET /v1.0/users/{uid}/chats/getAllMessages/delta", e.chatsDelta)
	r("GET /v1.0/me/chats/getAllMessages/delta", e.chatsDelta)
	// subscriptions
	r("POST /v1.0/subscriptions", e.createSubscription)
	r("GET /v1.0/subscriptions", e.listSubscriptions)
	r("GET /v1.0/subscriptions/{sid}", e.getSubscription)
	r("PATCH /v1.0/subscriptions/{sid}", e.patchSubscription)
	r("DELETE /v1.0/subscriptions/{sid}", e.deleteSubscription)
	r("POST /v1.0/subscriptions/{sid}/reauthorize", e.reauthorizeSubscription)
	// Teams app catalog and installations
	e.catalogRoutes(r)
	// files
	e.fileRoutes(r)
	mux.HandleFunc("GET /_download/{key}", e.wrap("GET /_download/{key}", e.download, true))
	// batch
	r("POST /v1.0/$batch", func(c *call) { e.batch(c, mux) })
	unmatched := e.wrap("unmatched", func(c *call) {
		c.fail(400, "BadRequest", fmt.Sprintf("Resource not found for the segment '%s'.", lastSegment(c.r.URL.Path)))
	}, true)
	// GET /applications(appId='{appId}'): the alternate key of L /graph/api/application-get. A key in
	// parentheses is part of the segment, which ServeMux wildcards cannot split, so one-segment paths that no
	// other route takes come here and everything but that key is unmatched.
	byAppID := e.wrap("GET /v1.0/applications(appId='{appId}')", e.getApplication, false)
	mux.HandleFunc("GET /v1.0/{segment}", func(w http.ResponseWriter, r *http.Request) {
		if _, ok := appIDKey(r.PathValue("segment")); ok {
			byAppID(w, r)
			return
		}
		unmatched(w, r)
	})
	mux.HandleFunc("/", unmatched)
	return collapseSlashes(mux)
}

// collapseSlashes serves a path with repeated slashes as the path with single ones, where ServeMux would
// answer 301. Graph serves them (obs): msgraph-sdk for Python with microsoft-kiota-http 1.16, in its default
// configuration, requests https://graph.microsoft.com/v1.0//me (httpx gives the client's base URL a
// trailing slash and the SDK's URL templates start with another), and GET /v1.0//servicePrincipals is
// answered (github.com/manicminer/hamilton issue 223).
func collapseSlashes(next http.Handler) http.Handler {
	collapse := func(p string) string {
		for strings.Contains(p, "//") {
			p = strings.ReplaceAll(p, "//", "/")
		}
		return p
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.Contains(r.URL.Path, "//") || strings.Contains(r.URL.RawPath, "//") {
			u := *r.URL
			u.Path, u.RawPath = collapse(u.Path), collapse(u.RawPath)
			r2 := r.Clone(r.Context())
			r2.URL = &u
			r = r2
		}
		next.ServeHTTP(w, r)
	})
}

// appIDKey parses the segment applications(appId='{appId}').
func appIDKey(seg string) (string, bool) {
	inner, ok := strings.CutPrefix(seg, "applications(appId=")
	if !ok {
		return "", false
	}
	inner, ok = strings.CutSuffix(inner, ")")
	if !ok || len(inner) < 2 || inner[0] != '\'' || inner[len(inner)-1] != '\'' {
		return "", false
	}
	return inner[1 : len(inner)-1], true
}

func lastSegment(p string) string {
	p = strings.TrimSuffix(p, "/")
	if i := strings.LastIndexByte(p, '/'); i >= 0 {
		return p[i+1:]
	}
	return p
}

// wrap adds request ids, counting, faults, authentication and the global
// per-app throttle around a Graph handler.
func (e *Emulator) wrap(pattern string, fn func(*call), anonymous bool) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		sw := &statusWriter{ResponseWriter: w}
		c := &call{e: e, w: sw, r: r, route: pattern, reqID: newGUID(), inBatch: r.Context().Value(batchKey) != nil}
		h := sw.Header()
		h.Set("request-id", c.reqID)
		h.Set("client-request-id", clientRequestID(r, c.reqID))
		defer func() {
			st := sw.status
			if st == 0 {
				st = 200
			}
			kind, id := c.p.callerKind()
			e.counters.inc(CounterKey{Host: "graph", Route: pattern, Caller: kind, CallerID: id, Status: st})
		}()
		if !c.inBatch && e.requestFault("graph", pattern, sw, r, c.reqID) {
			return
		}
		if !c.inBatch {
			if d := e.faults.takeLate("graph", pattern); d > 0 {
				held := &heldWriter{w: w}
				sw.ResponseWriter = held
				defer held.release(r, d)
			}
		}
		if !anonymous {
			if !c.authenticate() {
				return
			}
			if !c.inBatch && !c.throttle("global", "") {
				return
			}
		}
		if !c.decodeContentEncoding() {
			return
		}
		c.q = r.URL.Query()
		fn(c)
	}
}

func (c *call) authenticate() bool {
	auth := c.r.Header.Get("Authorization")
	if auth == "" {
		c.w.Header().Set("WWW-Authenticate", `Bearer realm="", authorization_uri="https://login.microsoftonline.com/common/oauth2/authorize", client_id="`+graphAppID+`"`)
		c.fail(401, "InvalidAuthenticationToken", "Access token is empty.")
		return false
	}
	tok, ok := strings.CutPrefix(auth, "Bearer ")
	if !ok {
		tok, ok = strings.CutPrefix(auth, "bearer ")
	}
	if !ok || tok == "" {
		c.fail(401, "InvalidAuthenticationToken", "Access token is empty.")
		return false
	}
	p, why := c.e.auth.lookup(tok, time.Now())
	if p == nil {
		c.w.Header().Set("WWW-Authenticate", `Bearer realm="", error="invalid_token", error_description="`+why+`"`)
		c.fail(401, "InvalidAuthenticationToken", why)
		return false
	}
	c.p = p
	return true
}

// permit checks delegated scopes or application roles. A nil list means the
// context is not supported at all.
func (c *call) permit(delegated, application []string) bool {
	if c.p.app {
		if application == nil {
			c.fail(403, "Forbidden", "Requested API is not supported in application-only context")
			return false
		}
		for _, r := range application {
			if c.p.scopes[r] {
				return true
			}
		}
		c.fail(403, "Forbidden", fmt.Sprintf("Missing role permissions on the request. API requires one of '%s'. Roles on the request '%s'.", strings.Join(application, ", "), c.p.scopeStr))
		return false
	}
	if delegated == nil {
		c.fail(403, "Forbidden", "Requested API is not supported in delegated context")
		return false
	}
	for _, s := range delegated {
		if c.p.scopes[s] {
			return true
		}
	}
	c.fail(403, "Forbidden", fmt.Sprintf("Missing scope permissions on the request. API requires one of '%s'. Scopes on the request '%s'", strings.Join(delegated, ", "), c.p.scopeStr))
	return false
}

// subject resolves {uid} or "me" to a user id; it enforces that a delegated
// caller addresses only themselves when self is true.
func (c *call) subject(self bool) (string, bool) {
	uid := c.r.PathValue("uid")
	if uid == "" {
		if c.p.app {
			c.fail(400, "BadRequest", "/me request is only valid with delegated authentication flow.")
			return "", false
		}
		return c.p.userID, true
	}
	c.e.st.mu.RLock()
	u := c.e.st.findGraphUser(uid)
	c.e.st.mu.RUnlock()
	if u == nil {
		c.fail(404, "Request_ResourceNotFound", fmt.Sprintf("Resource '%s' does not exist or one of its queried reference-property objects are not present.", uid))
		return "", false
	}
	if self && !c.p.app && u.ID != c.p.userID {
		c.fail(403, "Forbidden", "Forbidden: a delegated caller can only access its own resources here.")
		return "", false
	}
	return u.ID, true
}

func (c *call) nextLink(skip string) string {
	q := url.Values{}
	for k, v := range c.q {
		if k != "$skiptoken" {
			q[k] = v
		}
	}
	q.Set("$skiptoken", skip)
	return c.e.GraphURL + c.r.URL.Path + "?" + q.Encode()
}

func encodeSkip(off int) string {
	return base64.RawURLEncoding.EncodeToString([]byte("o:" + strconv.Itoa(off)))
}

func decodeSkip(s string) (int, bool) {
	if s == "" {
		return 0, true
	}
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil || !strings.HasPrefix(string(b), "o:") {
		return 0, false
	}
	n, err := strconv.Atoi(string(b[2:]))
	return n, err == nil && n >= 0
}

// top parses $top within [1, max]; def when absent.
func (c *call) top(def, max int) (int, bool) {
	s := c.q.Get("$top")
	if s == "" {
		return def, true
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 {
		c.fail(400, "BadRequest", "Invalid page size specified: '"+s+"'. Must be between 1 and "+strconv.Itoa(max)+" inclusive.")
		return 0, false
	}
	if n > max {
		if max == 999 {
			c.fail(400, "Request_BadRequest", "Invalid page size specified: '"+s+"'. Must be between 1 and 999 inclusive.")
		} else {
			c.fail(400, "BadRequest", fmt.Sprintf("$top: The limit of '%d' for Top query has been exceeded. The value from the incoming request is '%d'.", max, n))
		}
		return 0, false
	}
	return n, true
}

func (c *call) page(total int, def, max int) (start, end int, ok bool) {
	n, ok := c.top(def, max)
	if !ok {
		return 0, 0, false
	}
	off, ok := decodeSkip(c.q.Get("$skiptoken"))
	if !ok {
		c.fail(400, "BadRequest", "Invalid $skiptoken.")
		return 0, 0, false
	}
	if off > total {
		off = total
	}
	end = off + n
	if end > total {
		end = total
	}
	return off, end, true
}

func collection(ctxURL string, items any, next string) map[string]any {
	m := map[string]any{"@odata.context": ctxURL, "value": items}
	if next != "" {
		m["@odata.nextLink"] = next
	}
	return m
}

func (e *Emulator) meta(s string) string { return e.GraphURL + "/v1.0/$metadata#" + s }

// ---- users ----

var userDefaultProps = []string{"businessPhones", "displayName", "givenName", "jobTitle", "mail", "mobilePhone", "officeLocation", "preferredLanguage", "surname", "userPrincipalName", "id"}

func userAll(u *User) map[string]any {
	nz := func(s string) any {
		if s == "" {
			return nil
		}
		return s
	}
	return map[string]any{
		"businessPhones": []string{}, "displayName": u.DisplayName, "givenName": nz(u.GivenName), "jobTitle": nz(u.JobTitle),
		"mail": nz(u.Mail), "mobilePhone": nil, "officeLocation": nil, "preferredLanguage": nil, "surname": nz(u.Surname),
		"userPrincipalName": u.UserPrincipalName, "id": u.ID, "userType": u.UserType, "accountEnabled": u.AccountEnabled,
		"mailNickname": strings.SplitN(u.UserPrincipalName, "@", 2)[0],
	}
}

func (c *call) selectUser(u *User) (map[string]any, bool) {
	all := userAll(u)
	sel := c.q.Get("$select")
	out := map[string]any{}
	if sel == "" {
		for _, k := range userDefaultProps {
			out[k] = all[k]
		}
		return out, true
	}
	for _, k := range strings.Split(sel, ",") {
		k = strings.TrimSpace(k)
		v, ok := all[k]
		if !ok {
			c.fail(400, "Request_BadRequest", fmt.Sprintf("Could not find a property named '%s' on type 'microsoft.graph.user'.", k))
			return nil, false
		}
		out[k] = v
	}
	return out, true
}

func (e *Emulator) getMe(c *call) {
	if c.p.app {
		c.fail(400, "BadRequest", "/me request is only valid with delegated authentication flow.")
		return
	}
	if !c.permit([]string{"User.Read", "User.ReadWrite", "User.ReadBasic.All", "User.Read.All", "Directory.Read.All"}, nil) {
		return
	}
	if !c.identityThrottle(1) {
		return
	}
	e.st.mu.RLock()
	u := *e.st.users[c.p.userID]
	e.st.mu.RUnlock()
	m, ok := c.selectUser(&u)
	if !ok {
		return
	}
	m["@odata.context"] = e.meta("users/$entity")
	c.json(200, m)
}

func (e *Emulator) getUser(c *call) {
	uid := c.r.PathValue("uid")
	e.st.mu.RLock()
	u := e.st.findGraphUser(uid)
	var cp User
	if u != nil {
		cp = *u
	}
	e.st.mu.RUnlock()
	self := u != nil && !c.p.app && u.ID == c.p.userID
	if self {
		if !c.permit([]string{"User.Read", "User.ReadWrite", "User.ReadBasic.All", "User.Read.All", "Directory.Read.All"}, nil) {
			return
		}
	} else if !c.permit([]string{"User.ReadBasic.All", "User.Read.All", "Directory.Read.All"}, []string{"User.Read.All", "User.ReadWrite.All", "Directory.Read.All"}) {
		return
	}
	if !c.identityThrottle(1) {
		return
	}
	if u == nil {
		c.fail(404, "Request_ResourceNotFound", fmt.Sprintf("Resource '%s' does not exist or one of its queried reference-property objects are not present.", uid))
		return
	}
	m, ok := c.selectUser(&cp)
	if !ok {
		return
	}
	m["@odata.context"] = e.meta("users/$entity")
	c.json(200, m)
}

func (e *Emulator) listUsers(c *call) {
	if !c.permit([]string{"User.ReadBasic.All", "User.Read.All", "Directory.Read.All"}, []string{"User.Read.All", "User.ReadWrite.All", "Directory.Read.All"}) {
		return
	}
	cost := 2
	if c.q.Get("$select") != "" {
		cost--
	}
	if t, err := strconv.Atoi(c.q.Get("$top")); err == nil && t < 20 {
		cost--
	}
	if cost < 1 {
		cost = 1
	}
	if !c.identityThrottle(cost) {
		return
	}
	if (c.q.Get("$count") != "" || c.q.Get("$search") != "") && c.r.Header.Get("ConsistencyLevel") != "eventual" {
		c.fail(400, "Request_UnsupportedQuery", "Request with $search query parameter or $count is only supported with the ConsistencyLevel:eventual header.")
		return
	}
	var pred func(*User) bool
	if f := c.q.Get("$filter"); f != "" {
		p, err := parseUserFilter(f)
		if err != nil {
			c.fail(400, "Request_UnsupportedQuery", err.Error())
			return
		}
		pred = p
	}
	e.st.mu.RLock()
	var all []User
	for _, u := range e.st.userOrder {
		if !u.Deleted && (pred == nil || pred(u)) {
			all = append(all, *u)
		}
	}
	e.st.mu.RUnlock()
	start, end, ok := c.page(len(all), 100, 999)
	if !ok {
		return
	}
	items := make([]map[string]any, 0, end-start)
	for i := start; i < end; i++ {
		m, ok := c.selectUser(&all[i])
		if !ok {
			return
		}
		items = append(items, m)
	}
	next := ""
	if end < len(all) {
		next = c.nextLink(encodeSkip(end))
	}
	out := collection(e.meta("users"), items, next)
	if c.q.Get("$count") == "true" {
		out["@odata.count"] = len(all)
	}
	c.json(200, out)
}

// parseUserFilter supports: prop eq 'v', prop eq true|false, startswith(prop,'v'),
// prop in ('a','b'), combined with "and" / "or" (no parentheses).
func parseUserFilter(f string) (func(*User) bool, error) {
	unsupported := fmt.Errorf("Unsupported or invalid query filter clause specified for property or the property is not filterable: '%s'.", f)
	get := func(u *User, prop string) (string, bool) {
		switch strings.ToLower(prop) {
		case "id":
			return u.ID, true
		case "mail":
			return u.Mail, true
		case "userprincipalname":
			return u.UserPrincipalName, true
		case "displayname":
			return u.DisplayName, true
		case "givenname":
			return u.GivenName, true
		case "surname":
			return u.Surname, true
		case "usertype":
			return u.UserType, true
		case "accountenabled":
			return strconv.FormatBool(u.AccountEnabled), true
		}
		return "", false
	}
	unquote := func(s string) (string, bool) {
		s = strings.TrimSpace(s)
		if s == "true" || s == "false" {
			return s, true
		}
		if len(s) >= 2 && s[0] == '\'' && s[len(s)-1] == '\'' {
			return strings.ReplaceAll(s[1:len(s)-1], "''", "'"), true
		}
		return "", false
	}
	atom := func(a string) (func(*User) bool, error) {
		a = strings.TrimSpace(a)
		la := strings.ToLower(a)
		if strings.HasPrefix(la, "startswith(") && strings.HasSuffix(a, ")") {
			args := strings.SplitN(a[len("startswith("):len(a)-1], ",", 2)
			if len(args) != 2 {
				return nil, unsupported
			}
			prop := strings.TrimSpace(args[0])
			v, ok := unquote(args[1])
			if _, known := get(&User{}, prop); !known || !ok {
				return nil, unsupported
			}
			return func(u *User) bool {
				s, _ := get(u, prop)
				return strings.HasPrefix(strings.ToLower(s), strings.ToLower(v))
			}, nil
		}
		parts := strings.SplitN(a, " ", 3)
		if len(parts) != 3 {
			return nil, unsupported
		}
		prop, op, val := parts[0], strings.ToLower(parts[1]), parts[2]
		if _, known := get(&User{}, prop); !known {
			return nil, unsupported
		}
		switch op {
		case "eq", "ne":
			v, ok := unquote(val)
			if !ok {
				return nil, unsupported
			}
			return func(u *User) bool {
				s, _ := get(u, prop)
				return strings.EqualFold(s, v) == (op == "eq")
			}, nil
		case "in":
			val = strings.TrimSpace(val)
			if !strings.HasPrefix(val, "(") || !strings.HasSuffix(val, ")") {
				return nil, unsupported
			}
			var vals []string
			for _, x := range strings.Split(val[1:len(val)-1], ",") {
				v, ok := unquote(x)
				if !ok {
					return nil, unsupported
				}
				vals = append(vals, v)
			}
			return func(u *User) bool {
				s, _ := get(u, prop)
				for _, v := range vals {
					if strings.EqualFold(s, v) {
						return true
					}
				}
				return false
			}, nil
		}
		return nil, unsupported
	}
	var ors []func(*User) bool
	for _, o := range splitWord(f, " or ") {
		var ands []func(*User) bool
		for _, a := range splitWord(o, " and ") {
			p, err := atom(a)
			if err != nil {
				return nil, err
			}
			ands = append(ands, p)
		}
		ors = append(ors, func(u *User) bool {
			for _, p := range ands {
				if !p(u) {
					return false
				}
			}
			return true
		})
	}
	return func(u *User) bool {
		for _, p := range ors {
			if p(u) {
				return true
			}
		}
		return false
	}, nil
}

// splitWord splits on sep (case-insensitive) outside single quotes.
func splitWord(s, sep string) []string {
	var out []string
	ls := strings.ToLower(s)
	inQ := false
	last := 0
	for i := 0; i < len(s); i++ {
		if s[i] == '\'' {
			inQ = !inQ
		}
		if !inQ && strings.HasPrefix(ls[i:], sep) {
			out = append(out, s[last:i])
			last = i + len(sep)
			i += len(sep) - 1
		}
	}
	return append(out, s[last:])
}

func (e *Emulator) getPresence(c *call) {
	if !c.permit([]string{"Presence.Read", "Presence.Read.All"}, []string{"Presence.Read.All", "Presence.ReadWrite.All"}) {
		return
	}
	uid, ok := c.subject(false)
	if !ok {
		return
	}
	if !c.throttle("teamsOtherGet", "") {
		return
	}
	e.st.mu.RLock()
	pr := e.st.users[uid].Presence
	e.st.mu.RUnlock()
	c.json(200, map[string]any{"@odata.context": e.meta("users('" + uid + "')/presence/$entity"), "id": uid,
		"availability": pr.Availability, "activity": pr.Activity})
}

// photoUser answers the checks every photo request shares and returns the user's photo and its media type; nil when
// an answer was already written.
func (c *call) photoUser() (uid string, photo []byte, mediaType string, ok bool) {
	if !c.permit([]string{"User.Read", "User.ReadBasic.All", "User.Read.All", "ProfilePhoto.Read.All"},
		[]string{"User.Read.All", "ProfilePhoto.Read.All", "Directory.Read.All"}) {
		return "", nil, "", false
	}
	uid, ok = c.subject(false)
	if !ok || !c.identityThrottle(1) {
		return "", nil, "", false
	}
	c.e.st.mu.RLock()
	u := c.e.st.users[uid]
	photo, mediaType = u.Photo, u.PhotoType
	c.e.st.mu.RUnlock()
	if photo == nil {
		// What Graph answers for a user without a photo.
		c.fail(404, "ImageNotFound", "Exception of type 'Microsoft.Fast.Profile.Core.Exception.ImageNotFoundException' was thrown.")
		return "", nil, "", false
	}
	return uid, photo, mediaType, true
}

func (e *Emulator) getPhoto(c *call) {
	uid, photo, mediaType, ok := c.photoUser()
	if !ok {
		return
	}
	c.json(200, map[string]any{"@odata.context": e.meta("users('" + uid + "')/photo/$entity"),
		"@odata.mediaContentType": mediaType, "@odata.mediaEtag": fmt.Sprintf("\"%08X\"", len(photo)),
		"id": "default", "height": nil, "width": nil})
}

func (e *Emulator) getPhotoValue(c *call) {
	_, photo, mediaType, ok := c.photoUser()
	if !ok {
		return
	}
	c.w.Header().Set("Content-Type", mediaType)
	c.w.Header().Set("Content-Length", strconv.Itoa(len(photo)))
	c.w.WriteHeader(200)
	c.w.Write(photo)
}

func (e *Emulator) getPresences(c *call) {
	if !c.permit([]string{"Presence.Read.All"}, []string{"Presence.Read.All", "Presence.ReadWrite.All"}) {
		return
	}
	var body struct {
		IDs []string `json:"ids"`
	}
	if !c.decode(&body) {
		return
	}
	if len(body.IDs) == 0 || len(body.IDs) > 650 {
		c.fail(400, "BadRequest", "ids must hold between 1 and 650 user ids.")
		return
	}
	e.st.mu.RLock()
	var out []map[string]any
	for _, id := range body.IDs {
		if u := e.st.users[id]; u != nil {
			out = append(out, map[string]any{"id": u.ID, "availability": u.Presence.Availability, "activity": u.Presence.Activity})
		}
	}
	e.st.mu.RUnlock()
	if out == nil {
		out = []map[string]any{}
	}
	c.json(200, collection(e.meta("Collection(microsoft.graph.presence)"), out, ""))
}

// ---- teams and channels ----

func (e *Emulator) teamJSON(t *Team) map[string]any {
	return map[string]any{"id": t.ID, "createdDateTime": graphTime(t.Created), "displayName": t.DisplayName, "description": t.Description,
		"isArchived": false, "tenantId": e.TenantID, "visibility": "private", "classification": nil, "specialization": "none",
		"webUrl": "https://teams.microsoft.com/l/team/" + url.PathEscape(t.Channels[0].ID) + "/conversations?groupId=" + t.ID + "&tenantId=" + e.TenantID}
}

func (e *Emulator) channelJSON(ch *Channel) map[string]any {
	return map[string]any{"id": ch.ID, "createdDateTime": graphTime(ch.Created), "displayName": ch.DisplayName, "description": ch.Description,
		"isFavoriteByDefault": nil, "email": "", "tenantId": e.TenantID, "membershipType": ch.MembershipType,
		"webUrl": "https://teams.microsoft.com/l/channel/" + url.PathEscape(ch.ID) + "/" + url.PathEscape(ch.DisplayName) + "?groupId=" + ch.TeamID + "&tenantId=" + e.TenantID}
}

func (e *Emulator) joinedTeams(c *call) {
	if !c.permit([]string{"Team.ReadBasic.All", "TeamSettings.Read.All", "TeamSettings.ReadWrite.All"}, []string{"Team.ReadBasic.All", "TeamSettings.Read.All", "TeamSettings.ReadWrite.All"}) {
		return
	}
	uid, ok := c.subject(true)
	if !ok {
		return
	}
	if !c.throttle("teamsOtherGet", "") {
		return
	}
	e.st.mu.RLock()
	out := []map[string]any{}
	for _, t := range e.st.teamOrder {
		if t.hasMember(uid) {
			out = append(out, e.teamJSON(t))
		}
	}
	e.st.mu.RUnlock()
	c.json(200, collection(e.meta("teams"), out, ""))
}

// team resolves {tid} and, for delegated callers, membership.
func (c *call) team() (*Team, bool) {
	tid := c.r.PathValue("tid")
	t := c.e.st.teams[tid]
	if t == nil {
		c.fail(404, "NotFound", "No team found with Group Id "+tid)
		return nil, false
	}
	if !c.p.app && !t.hasMember(c.p.userID) {
		c.fail(403, "Forbidden", "Caller is not a member of the team.")
		return nil, false
	}
	return t, true
}

func (c *call) channel() (*Team, *Channel, bool) {
	t, ok := c.team()
	if !ok {
		return nil, nil, false
	}
	cid := c.r.PathValue("cid")
	ch := c.e.st.channels[cid]
	if ch == nil || ch.TeamID != t.ID {
		c.fail(404, "NotFound", "Channel "+cid+" not found.")
		return nil, nil, false
	}
	return t, ch, true
}

func (e *Emulator) getTeam(c *call) {
	if !c.permit([]string{"Team.ReadBasic.All", "TeamSettings.Read.All", "TeamSettings.ReadWrite.All", "Group.Read.All"}, []string{"Team.ReadBasic.All", "TeamSettings.Read.All", "TeamSettings.ReadWrite.All", "Group.Read.All"}) {
		return
	}
	if !c.throttle("teamGet", c.r.PathValue("tid")) {
		return
	}
	e.st.mu.RLock()
	defer e.st.mu.RUnlock()
	t, ok := c.team()
	if !ok {
		return
	}
	m := e.teamJSON(t)
	m["@odata.context"] = e.meta("teams/$entity")
	c.json(200, m)
}

func (e *Emulator) teamMembers(c *call) {
	if !c.permit([]string{"TeamMember.Read.All", "TeamMember.ReadWrite.All", "Group.Read.All"}, []string{"TeamMember.Read.All", "TeamMember.ReadWrite.All", "Group.Read.All"}) {
		return
	}
	if !c.throttle("teamMembers", "") {
		return
	}
	e.st.mu.RLock()
	defer e.st.mu.RUnlock()
	t, ok := c.team()
	if !ok {
		return
	}
	out := []map[string]any{}
	for _, uid := range t.Members {
		out = append(out, e.memberJSON(&ChatMember{ID: membershipID(uid), UserID: uid, Roles: roleFor(e.st.users[uid])}))
	}
	c.json(200, collection(e.meta("teams('"+t.ID+"')/members"), out, ""))
}

func roleFor(u *User) []string {
	if u != nil && u.UserType == "Guest" {
		return []string{"guest"}
	}
	return []string{}
}

func (e *Emulator) listChannels(c *call) {
	if !c.permit([]string{"Channel.ReadBasic.All", "ChannelSettings.Read.All", "ChannelSettings.ReadWrite.All"}, []string{"Channel.ReadBasic.All", "ChannelSettings.Read.All", "ChannelSettings.ReadWrite.All"}) {
		return
	}
	if !c.throttle("teamMembers", "") || !c.throttle("teamGet", c.r.PathValue("tid")) {
		return
	}
	e.st.mu.RLock()
	defer e.st.mu.RUnlock()
	t, ok := c.team()
	if !ok {
		return
	}
	out := []map[string]any{}
	for _, ch := range t.Channels {
		out = append(out, e.channelJSON(ch))
	}
	c.json(200, collection(e.meta("teams('"+t.ID+"')/channels"), out, ""))
}

func (e *Emulator) getChannel(c *call) {
	if !c.permit([]string{"Channel.ReadBasic.All", "ChannelSettings.Read.All", "ChannelSettings.ReadWrite.All"}, []string{"Channel.ReadBasic.All", "ChannelSettings.Read.All", "ChannelSettings.ReadWrite.All"}) {
		return
	}
	if !c.throttle("teamGet", c.r.PathValue("tid")) {
		return
	}
	e.st.mu.RLock()
	defer e.st.mu.RUnlock()
	_, ch, ok := c.channel()
	if !ok {
		return
	}
	m := e.channelJSON(ch)
	m["@odata.context"] = e.meta("teams('" + ch.TeamID + "')/channels/$entity")
	c.json(200, m)
}

// ---- chats ----

func (e *Emulator) memberJSON(m *ChatMember) map[string]any {
	u := e.st.users[m.UserID]
	var name, mail any
	if u != nil {
		name = u.DisplayName
		if u.Mail != "" {
			mail = u.Mail
		}
	}
	roles := m.Roles
	if roles == nil {
		roles = []string{}
	}
	var vis any = "0001-01-01T00:00:00Z"
	if !m.VisibleHistory.IsZero() {
		vis = graphTime(m.VisibleHistory)
	}
	return map[string]any{"@odata.type": "#microsoft.graph.aadUserConversationMember", "id": m.ID, "roles": roles,
		"displayName": name, "visibleHistoryStartDateTime": vis, "userId": m.UserID, "email": mail, "tenantId": e.TenantID}
}

// chatJSON renders a chat; st.mu must be held.
func (e *Emulator) chatJSON(ch *Chat, expand string) map[string]any {
	var topic any
	if ch.Topic != "" {
		topic = ch.Topic
	}
	m := map[string]any{"id": ch.ID, "topic": topic, "createdDateTime": graphTime(ch.Created),
		"lastUpdatedDateTime": graphTime(ch.LastUpdated), "chatType": ch.ChatType,
		"webUrl":   "https://teams.microsoft.com/l/chat/" + url.PathEscape(ch.ID) + "/0?tenantId=" + e.TenantID,
		"tenantId": e.TenantID, "isHiddenForAllMembers": false, "onlineMeetingInfo": nil,
		"viewpoint": map[string]any{"isHidden": false, "lastMessageReadDateTime": graphTime(ch.LastUpdated)}}
	for _, x := range strings.Split(expand, ",") {
		switch strings.TrimSpace(x) {
		case "members":
			ms := []map[string]any{}
			for i, mb := range ch.Members {
				if i == 25 { // documented known issue: at most 25 members
					break
				}
				ms = append(ms, e.memberJSON(mb))
			}
			m["members"] = ms
		case "lastMessagePreview":
			var prev any
			for i := len(ch.msgs) - 1; i >= 0; i-- {
				mm := ch.msgs[i]
				prev = map[string]any{"id": mm.ID, "createdDateTime": graphTime(mm.Created), "isDeleted": !mm.Deleted.IsZero(),
					"messageType": mm.MessageType, "eventDetail": nil, "body": map[string]any{"contentType": mm.BodyType, "content": mm.renderContent()},
					"from": e.fromJSON(mm)}
				break
			}
			m["lastMessagePreview"] = prev
		}
	}
	return m
}

func (e *Emulator) listChats(c *call) {
	if c.r.PathValue("uid") == "" && c.p.app {
		c.fail(403, "Forbidden", "Requested API is not supported in application-only context")
		return
	}
	if !c.permit([]string{"Chat.ReadBasic", "Chat.Read", "Chat.ReadWrite"}, []string{"Chat.ReadBasic.All", "Chat.Read.All", "Chat.ReadWrite.All"}) {
		return
	}
	uid, ok := c.subject(true)
	if !ok {
		return
	}
	if !c.throttle("chatList", "") {
		return
	}
	expand := c.q.Get("$expand")
	for _, x := range strings.Split(expand, ",") {
		if x = strings.TrimSpace(x); x != "" && x != "members" && x != "lastMessagePreview" {
			c.fail(400, "BadRequest", "Expand on '"+x+"' is not supported.")
			return
		}
	}
	var filterType, filterTopic string
	if f := c.q.Get("$filter"); f != "" {
		parts := strings.SplitN(f, " ", 3)
		if len(parts) != 3 || strings.ToLower(parts[1]) != "eq" || len(parts[2]) < 2 || parts[2][0] != '\'' {
			c.fail(400, "BadRequest", "Filter '"+f+"' is not supported.")
			return
		}
		v := strings.Trim(parts[2], "'")
		switch parts[0] {
		case "chatType":
			filterType = v
		case "topic":
			filterTopic = v
		default:
			c.fail(400, "BadRequest", "Filter '"+f+"' is not supported.")
			return
		}
	}
	orderByPreview := false
	if ob := c.q.Get("$orderby"); ob != "" {
		if ob != "lastMessagePreview/createdDateTime desc" {
			c.fail(400, "BadRequest", "Only '$orderby=lastMessagePreview/createdDateTime desc' is supported.")
			return
		}
		orderByPreview = true
	}
	e.st.mu.RLock()
	defer e.st.mu.RUnlock()
	chats := e.st.chatsOf(uid)
	var sel []*Chat
	for _, ch := range chats {
		if (filterType == "" || ch.ChatType == filterType) && (filterTopic == "" || ch.Topic == filterTopic) {
			sel = append(sel, ch)
		}
	}
	if orderByPreview {
		last := func(ch *Chat) time.Time {
			if n := len(ch.msgs); n > 0 {
				return ch.msgs[n-1].Created
			}
			return ch.Created
		}
		sort.SliceStable(sel, func(i, j int) bool { return last(sel[i]).After(last(sel[j])) })
	}
	start, end, ok := c.page(len(sel), 50, 50)
	if !ok {
		return
	}
	out := make([]map[string]any, 0, end-start)
	for _, ch := range sel[start:end] {
		out = append(out, e.chatJSON(ch, expand))
	}
	next := ""
	if end < len(sel) {
		next = c.nextLink(encodeSkip(end))
	}
	c.json(200, collection(e.meta("chats"), out, next))
}

// chat resolves {chid}; delegated callers must be members. st.mu held.
func (c *call) chat() (*Chat, bool) {
	id := c.r.PathValue("chid")
	ch := c.e.st.chats[id]
	if ch == nil {
		c.fail(404, "NotFound", "NotFound")
		return nil, false
	}
	if !c.p.app && ch.member(c.p.userID) == nil {
		c.fail(403, "Forbidden", "Forbidden")
		return nil, false
	}
	if uid := c.r.PathValue("uid"); uid != "" {
		u := c.e.st.findUser(uid)
		if u == nil || ch.member(u.ID) == nil {
			c.fail(404, "NotFound", "NotFound")
			return nil, false
		}
	}
	return ch, true
}

func (e *Emulator) getChat(c *call) {
	if !c.permit([]string{"Chat.ReadBasic", "Chat.Read", "Chat.ReadWrite"}, []string{"Chat.ReadBasic.All", "Chat.Read.All", "Chat.ReadWrite.All"}) {
		return
	}
	if !c.throttle("chatList", c.r.PathValue("chid")) {
		return
	}
	e.st.mu.RLock()
	defer e.st.mu.RUnlock()
	ch, ok := c.chat()
	if !ok {
		return
	}
	m := e.chatJSON(ch, c.q.Get("$expand"))
	m["@odata.context"] = e.meta("chats/$entity")
	c.json(200, m)
}

// bindUser extracts the user from "user@odata.bind" (users('x') or users/x) or userId.
func bindUser(m map[string]any) string {
	if s, ok := m["user@odata.bind"].(string); ok {
		if i := strings.Index(s, "users('"); i >= 0 {
			rest := s[i+len("users('"):]
			if j := strings.Index(rest, "')"); j >= 0 {
				return rest[:j]
			}
		}
		if i := strings.Index(s, "/users/"); i >= 0 {
			return strings.Trim(s[i+len("/users/"):], "/")
		}
		return ""
	}
	if s, ok := m["userId"].(string); ok {
		return s
	}
	return ""
}

func (e *Emulator) createChat(c *call) {
	if !c.permit([]string{"Chat.Create", "Chat.ReadWrite"}, []string{"Chat.Create", "Teamwork.Migrate.All"}) {
		return
	}
	if !c.throttle("chatCreate", "") {
		return
	}
	var body struct {
		ChatType string           `json:"chatType"`
		Topic    string           `json:"topic"`
		Members  []map[string]any `json:"members"`
	}
	if !c.decode(&body) {
		return
	}
	var members []string
	for _, m := range body.Members {
		if t, _ := m["@odata.type"].(string); t != "#microsoft.graph.aadUserConversationMember" {
			c.fail(400, "BadRequest", "Members must be of type '#microsoft.graph.aadUserConversationMember'.")
			return
		}
		uid := bindUser(m)
		if uid == "" {
			c.fail(400, "BadRequest", "Member is missing 'user@odata.bind'.")
			return
		}
		if roles, ok := m["roles"].([]any); !ok || len(roles) == 0 {
			c.fail(400, "BadRequest", "Member roles must be specified.")
			return
		}
		members = append(members, uid)
	}
	e.st.mu.Lock()
	if !c.p.app {
		found := false
		for _, m := range members {
			if u := e.st.findUser(m); u != nil && u.ID == c.p.userID {
				found = true
			}
		}
		if !found {
			e.st.mu.Unlock()
			c.fail(403, "Forbidden", "The caller must be one of the members of the chat.")
			return
		}
	}
	ch, created, err := e.st.createChat(body.ChatType, body.Topic, members, "")
	var out map[string]any
	var members2 []string
	if err == nil {
		out = e.chatJSON(ch, "")
		for _, m := range ch.Members {
			members2 = append(members2, m.UserID)
		}
	}
	e.st.mu.Unlock()
	if err != nil {
		c.failErr(err)
		return
	}
	out["@odata.context"] = e.meta("chats/$entity")
	if created {
		e.publishChat(ch.ID, members2, "created", out)
	}
	c.json(201, out)
}

func (e *Emulator) listChatMembers(c *call) {
	if !c.permit([]string{"ChatMember.Read", "ChatMember.ReadWrite", "Chat.ReadBasic", "Chat.Read", "Chat.ReadWrite"}, []string{"ChatMember.Read.All", "ChatMember.ReadWrite.All", "Chat.ReadBasic.All", "Chat.Read.All", "Chat.ReadWrite.All"}) {
		return
	}
	if !c.throttle("teamsOtherGet", c.r.PathValue("chid")) {
		return
	}
	e.st.mu.RLock()
	defer e.st.mu.RUnlock()
	ch, ok := c.chat()
	if !ok {
		return
	}
	out := []map[string]any{}
	for _, m := range ch.Members {
		out = append(out, e.memberJSON(m))
	}
	c.json(200, collection(e.meta("chats('"+ch.ID+"')/members"), out, ""))
}

func (e *Emulator) addChatMember(c *call) {
	if !c.permit([]string{"ChatMember.ReadWrite", "Chat.ReadWrite"}, []string{"ChatMember.ReadWrite.All", "Chat.ReadWrite.All"}) {
		return
	}
	if !c.throttle("chatMember", c.r.PathValue("chid")) {
		return
	}
	var body map[string]any
	if !c.decode(&body) {
		return
	}
	uid := bindUser(body)
	e.st.mu.Lock()
	ch, ok := c.chat()
	if !ok {
		e.st.mu.Unlock()
		return
	}
	var err error
	u := e.st.findUser(uid)
	switch {
	case ch.ChatType != "group":
		err = badRequest("Members cannot be added to a one on one chat.")
	case u == nil:
		err = notFound("The user '%s' is not found.", uid)
	case ch.member(u.ID) != nil:
		err = &storeError{409, "Conflict", "The user is already a member of the chat."}
	}
	var out map[string]any
	if err == nil {
		m := e.st.newMember(u.ID, time.Now().UTC())
		if v, ok := body["visibleHistoryStartDateTime"].(string); ok {
			if t, perr := time.Parse(time.RFC3339Nano, v); perr == nil {
				m.VisibleHistory = t
			}
		}
		ch.Members = append(ch.Members, m)
		ch.LastUpdated = time.Now().UTC()
		out = e.memberJSON(m)
	}
	e.st.mu.Unlock()
	if err != nil {
		c.failErr(err)
		return
	}
	out["@odata.context"] = e.meta("chats('" + ch.ID + "')/members/$entity")
	c.json(201, out)
}

func (e *Emulator) removeChatMember(c *call) {
	if !c.permit([]string{"ChatMember.ReadWrite", "Chat.ReadWrite"}, []string{"ChatMember.ReadWrite.All", "Chat.ReadWrite.All"}) {
		return
	}
	if !c.throttle("chatMember", c.r.PathValue("chid")) {
		return
	}
	e.st.mu.Lock()
	defer e.st.mu.Unlock()
	ch, ok := c.chat()
	if !ok {
		return
	}
	if ch.ChatType != "group" {
		c.fail(400, "BadRequest", "Members cannot be removed from a one on one chat.")
		return
	}
	id := c.r.PathValue("mbid")
	for i, m := range ch.Members {
		if m.ID == id || m.UserID == id {
			ch.Members = append(ch.Members[:i:i], ch.Members[i+1:]...)
			ch.LastUpdated = time.Now().UTC()
			c.w.WriteHeader(204)
			return
		}
	}
	c.fail(404, "NotFound", "Member not found.")
}

// withTimeout is used by $batch to bound inner requests.
func withTimeout(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, 30*time.Second)
}

// listApplications answers GET /applications, usually with $filter=appId eq '{id}': the tenant's one app
// registration (application below).
func (e *Emulator) listApplications(c *call) {
	if !c.permit([]string{"Application.Read.All", "Directory.Read.All"},
		[]string{"Application.Read.All", "Application.ReadWrite.All", "Directory.Read.All"}) {
		return
	}
	want := ""
	if f := strings.TrimSpace(c.q.Get("$filter")); f != "" {
		const prefix = "appId eq '"
		if !strings.HasPrefix(f, prefix) || !strings.HasSuffix(f, "'") || len(f) < len(prefix)+1 {
			c.fail(400, "Request_UnsupportedQuery", "Unsupported or invalid query filter clause specified for property 'appId' of resource 'Application'.")
			return
		}
		want = f[len(prefix) : len(f)-1]
	}
	app := e.application()
	value := []any{}
	if want == "" || strings.EqualFold(want, app["appId"].(string)) {
		value = append(value, app)
	}
	c.json(200, map[string]any{"@odata.context": e.meta("applications"), "value": value})
}

// getApplication answers GET /applications/{id} (object id) and GET /applications(appId='{appId}') (client id),
// the two addresses of L /graph/api/application-get, with the permissions of the list; an unknown key is
// Graph's directory 404.
func (e *Emulator) getApplication(c *call) {
	if !c.permit([]string{"Application.Read.All", "Directory.Read.All"},
		[]string{"Application.Read.All", "Application.ReadWrite.All", "Directory.Read.All"}) {
		return
	}
	app := e.application()
	key, byAppID := appIDKey(c.r.PathValue("segment"))
	if !byAppID {
		key = c.r.PathValue("aid")
	}
	if (byAppID && !strings.EqualFold(key, app["appId"].(string))) || (!byAppID && !strings.EqualFold(key, app["id"].(string))) {
		c.fail(404, "Request_ResourceNotFound", fmt.Sprintf("Resource '%s' does not exist or one of its queried reference-property objects are not present.", key))
		return
	}
	app["@odata.context"] = e.meta("applications/$entity")
	c.json(200, app)
}

// application is the tenant's one app registration as Graph shows it, with its password credential (the
// first three characters of the secret as hint, the dates; never the secret).
func (e *Emulator) application() map[string]any {
	e.st.mu.RLock()
	app := e.st.app
	e.st.mu.RUnlock()
	hint := app.ClientSecret
	if len(hint) > 3 {
		hint = hint[:3]
	}
	start := app.SecretExpiresAt.AddDate(-2, 0, 0)
	return map[string]any{
		"id": uuidFrom("application:" + app.ClientID), "appId": app.ClientID, "displayName": app.DisplayName,
		"passwordCredentials": []any{map[string]any{
			"customKeyIdentifier": nil, "displayName": "bridge", "endDateTime": app.SecretExpiresAt.UTC().Format(time.RFC3339),
			"hint": hint, "keyId": uuidFrom("secret:" + app.ClientSecret), "secretText": nil,
			"startDateTime": start.UTC().Format(time.RFC3339)}},
	}
}
