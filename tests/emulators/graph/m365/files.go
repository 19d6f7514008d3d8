package m365

import (
	"encoding/base64"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"path"
	"sort"
	"strconv"
	"strings"
	"time"
)

// TeamsChatFilesFolder is where Teams keeps files sent in chats.
const TeamsChatFilesFolder = "Microsoft Teams Chat Files"

func driveID(uid string) string {
	return "b!" + base64.RawURLEncoding.EncodeToString([]byte("drive:"+uid))
}

func (e *Emulator) sharepointBase() string {
	prefix := strings.SplitN(e.st.domain, ".", 2)[0]
	return "https://" + prefix + "-my.sharepoint.com"
}

// itemWebURL is the SharePoint-style URL of an item (the bridge must resolve
// it through /shares; it is never fetched directly).
func (e *Emulator) itemWebURL(it *DriveItem) string {
	u := e.st.users[it.OwnerID]
	who := strings.NewReplacer("@", "_", ".", "_").Replace(u.UserPrincipalName)
	p := "/personal/" + who + "/Documents/"
	if it.Path != "" {
		p += it.Path + "/"
	}
	return e.sharepointBase() + (&url.URL{Path: p + it.Name}).EscapedPath()
}

func (e *Emulator) driveItemJSON(it *DriveItem) map[string]any {
	owner := e.st.users[it.OwnerID]
	by := map[string]any{"user": map[string]any{"id": owner.ID, "displayName": owner.DisplayName, "email": owner.Mail}}
	parentPath := "/drive/root:"
	if it.Path != "" {
		parentPath += "/" + it.Path
	}
	etag := fmt.Sprintf("\"{%s},%d\"", strings.ToUpper(it.ETagGUID), it.Version)
	return map[string]any{
		"@microsoft.graph.downloadUrl": e.GraphURL + "/_download/" + it.DownloadKey,
		"createdDateTime":              graphTime(it.Created), "lastModifiedDateTime": graphTime(it.Modified),
		"eTag": etag, "cTag": fmt.Sprintf("\"c:{%s},%d\"", strings.ToUpper(it.ETagGUID), it.Version),
		"id": it.ID, "name": it.Name, "size": len(it.Content), "webUrl": e.itemWebURL(it),
		"createdBy": by, "lastModifiedBy": by,
		"parentReference": map[string]any{"driveType": "business", "driveId": driveID(it.OwnerID), "path": parentPath},
		"file":            map[string]any{"mimeType": it.ContentType},
		"fileSystemInfo":  map[string]any{"createdDateTime": graphTime(it.Created), "lastModifiedDateTime": graphTime(it.Modified)},
	}
}

func (e *Emulator) fileRoutes(r func(string, func(*call))) {
	for _, base := range []string{"/v1.0/me/drive", "/v1.0/users/{uid}/drive", "/v1.0/drives/{did}"} {
		r("PUT "+base+"/root:/{rest...}", e.putByPath)
		r("GET "+base+"/root:/{rest...}", e.getByPath)
		r("GET "+base+"/items/{iid}", e.getItem)
		r("GET "+base+"/items/{iid}/content", e.getItem)
		r("PUT "+base+"/items/{iid}/content", e.putItemContent)
		r("POST "+base+"/items/{iid}/createLink", e.createLink)
		r("GET "+base+"/root/children", e.listRoot)
	}
	r("GET /v1.0/shares/{token}/driveItem", e.getShare)
	r("GET /v1.0/shares/{token}/driveItem/content", e.getShare)
}

func (c *call) filesPermit(write bool) bool {
	if write {
		return c.permit([]string{"Files.ReadWrite", "Files.ReadWrite.All", "Sites.ReadWrite.All"}, []string{"Files.ReadWrite.All", "Sites.ReadWrite.All"})
	}
	return c.permit([]string{"Files.Read", "Files.ReadWrite", "Files.Read.All", "Files.ReadWrite.All", "Sites.Read.All", "Sites.ReadWrite.All"},
		[]string{"Files.Read.All", "Files.ReadWrite.All", "Sites.Read.All", "Sites.ReadWrite.All"})
}

// driveOwner resolves the drive in the path (me, users/{uid}, drives/{did}).
func (c *call) driveOwner() (string, bool) {
	if did := c.r.PathValue("did"); did != "" {
		b, err := base64.RawURLEncoding.DecodeString(strings.TrimPrefix(did, "b!"))
		uid, ok := strings.CutPrefix(string(b), "drive:")
		if err != nil || !ok || c.e.st.users[uid] == nil {
			c.fail(404, "itemNotFound", "The requested drive was not found.")
			return "", false
		}
		if !c.p.app && uid != c.p.userID {
			c.fail(403, "accessDenied", "Access denied.")
			return "", false
		}
		return uid, true
	}
	return c.subject(true)
}

// splitItemPath turns "folder/name.ext:/content" into folder, name, suffix.
func splitItemPath(rest string) (folder, name, suffix string, ok bool) {
	p := rest
	if i := strings.Index(p, ":"); i >= 0 {
		suffix = strings.TrimPrefix(p[i+1:], "/")
		p = p[:i]
	}
	p = strings.Trim(p, "/")
	if p == "" {
		return "", "", "", false
	}
	folder, name = path.Split(p)
	return strings.Trim(folder, "/"), name, suffix, name != ""
}

func pathKey(owner, folder, name string) string {
	return owner + "/" + strings.ToLower(folder) + "/" + strings.ToLower(name)
}

// storeFile creates or replaces a file; st.mu held.
func (e *Emulator) storeFile(owner, folder, name, ctype string, data []byte, conflict string) (*DriveItem, bool, error) {
	if strings.ContainsAny(name, "\"*:<>?\\|") {
		return nil, false, &storeError{400, "invalidRequest", "The file name contains invalid characters."}
	}
	now := time.Now().UTC()
	key := pathKey(owner, folder, name)
	if it := e.st.drivePath[key]; it != nil {
		switch conflict {
		case "fail":
			return nil, false, &storeError{409, "nameAlreadyExists", "The specified item name already exists."}
		case "rename":
			ext := path.Ext(name)
			base := strings.TrimSuffix(name, ext)
			for i := 1; ; i++ {
				cand := fmt.Sprintf("%s %d%s", base, i, ext)
				if e.st.drivePath[pathKey(owner, folder, cand)] == nil {
					name, key = cand, pathKey(owner, folder, cand)
					break
				}
			}
		default:
			it.Content, it.ContentType, it.Modified = data, ctype, now
			it.Version++
			return it, false, nil
		}
	}
	if ctype == "" || ctype == "application/x-www-form-urlencoded" {
		ctype = mime.TypeByExtension(path.Ext(name))
		if ctype == "" {
			ctype = "application/octet-stream"
		}
	}
	it := &DriveItem{ID: "01" + strings.ToUpper(randomHex(16))[:32], OwnerID: owner, Name: name, Path: folder, Content: data,
		ContentType: ctype, Created: now, Modified: now, ETagGUID: newGUID(), Version: 1, DownloadKey: randomToken(32)}
	e.st.drive[it.ID] = it
	e.st.drivePath[key] = it
	e.st.downloads[it.DownloadKey] = it
	return it, true, nil
}

func (e *Emulator) putByPath(c *call) {
	if !c.filesPermit(true) || !c.throttle("files", "") {
		return
	}
	folder, name, suffix, ok := splitItemPath(c.r.PathValue("rest"))
	if !ok || suffix != "content" {
		c.fail(400, "invalidRequest", "Use PUT …/root:/{path}:/content to upload.")
		return
	}
	data, err := io.ReadAll(http.MaxBytesReader(c.w, c.r.Body, e.opts.MaxUploadBytes))
	if err != nil {
		c.failErr(err)
		return
	}
	e.st.mu.Lock()
	owner, ok := c.driveOwner()
	if !ok {
		e.st.mu.Unlock()
		return
	}
	it, created, err := e.storeFile(owner, folder, name, c.r.Header.Get("Content-Type"), data, c.q.Get("@microsoft.graph.conflictBehavior"))
	var out map[string]any
	if err == nil {
		out = e.driveItemJSON(it)
	}
	e.st.mu.Unlock()
	if err != nil {
		c.failErr(err)
		return
	}
	out["@odata.context"] = e.meta("drives('" + driveID(owner) + "')/items/$entity")
	status := 200
	if created {
		status = 201
	}
	c.json(status, out)
}

func (e *Emulator) putItemContent(c *call) {
	if !c.filesPermit(true) || !c.throttle("files", "") {
		return
	}
	data, err := io.ReadAll(http.MaxBytesReader(c.w, c.r.Body, e.opts.MaxUploadBytes))
	if err != nil {
		c.failErr(err)
		return
	}
	e.st.mu.Lock()
	defer e.st.mu.Unlock()
	it, ok := c.item()
	if !ok {
		return
	}
	it.Content, it.Modified = data, time.Now().UTC()
	it.Version++
	c.json(200, e.driveItemJSON(it))
}

func (c *call) item() (*DriveItem, bool) {
	owner, ok := c.driveOwner()
	if !ok {
		return nil, false
	}
	it := c.e.st.drive[c.r.PathValue("iid")]
	if it == nil || it.OwnerID != owner {
		c.fail(404, "itemNotFound", "The resource could not be found.")
		return nil, false
	}
	return it, true
}

func (e *Emulator) serveItem(c *call, it *DriveItem) {
	if strings.HasSuffix(c.route, "/content") {
		c.w.Header().Set("Location", e.GraphURL+"/_download/"+it.DownloadKey)
		c.w.WriteHeader(http.StatusFound)
		return
	}
	out := e.driveItemJSON(it)
	out["@odata.context"] = e.meta("drives('" + driveID(it.OwnerID) + "')/items/$entity")
	c.json(200, out)
}

func (e *Emulator) getItem(c *call) {
	if !c.filesPermit(false) || !c.throttle("files", "") {
		return
	}
	e.st.mu.RLock()
	defer e.st.mu.RUnlock()
	it, ok := c.item()
	if !ok {
		return
	}
	e.serveItem(c, it)
}

func (e *Emulator) getByPath(c *call) {
	if !c.filesPermit(false) || !c.throttle("files", "") {
		return
	}
	folder, name, suffix, ok := splitItemPath(c.r.PathValue("rest"))
	if !ok || (suffix != "" && suffix != "content") {
		c.fail(400, "invalidRequest", "Invalid path.")
		return
	}
	e.st.mu.RLock()
	defer e.st.mu.RUnlock()
	owner, ok := c.driveOwner()
	if !ok {
		return
	}
	it := e.st.drivePath[pathKey(owner, folder, name)]
	if it == nil {
		c.fail(404, "itemNotFound", "The resource could not be found.")
		return
	}
	if suffix == "content" {
		c.route += "/content"
	}
	e.serveItem(c, it)
}

func (e *Emulator) listRoot(c *call) {
	if !c.filesPermit(false) || !c.throttle("files", "") {
		return
	}
	e.st.mu.RLock()
	defer e.st.mu.RUnlock()
	owner, ok := c.driveOwner()
	if !ok {
		return
	}
	out := []map[string]any{}
	var items []*DriveItem
	for _, it := range e.st.drive {
		if it.OwnerID == owner {
			items = append(items, it)
		}
	}
	sort.Slice(items, func(i, j int) bool { return items[i].Created.Before(items[j].Created) })
	for _, it := range items {
		out = append(out, e.driveItemJSON(it))
	}
	c.json(200, collection(e.meta("drives('"+driveID(owner)+"')/root/children"), out, ""))
}

func (e *Emulator) createLink(c *call) {
	if !c.filesPermit(true) || !c.throttleCost("files", "", 5) {
		return
	}
	var body struct {
		Type  string `json:"type"`
		Scope string `json:"scope"`
	}
	if !c.decode(&body) {
		return
	}
	if body.Type != "view" && body.Type != "edit" && body.Type != "embed" {
		c.fail(400, "invalidRequest", "Invalid link type.")
		return
	}
	if body.Scope == "" {
		body.Scope = "organization"
	}
	if body.Scope != "anonymous" && body.Scope != "organization" && body.Scope != "users" {
		c.fail(400, "invalidRequest", "Invalid link scope.")
		return
	}
	e.st.mu.Lock()
	defer e.st.mu.Unlock()
	it, ok := c.item()
	if !ok {
		return
	}
	status := 200
	var link *SharingLink
	for _, l := range it.Links {
		if l.Type == body.Type && l.Scope == body.Scope {
			link = l
		}
	}
	if link == nil {
		letter := map[string]string{"view": "r", "edit": "w", "embed": "e"}[body.Type]
		link = &SharingLink{ID: newGUID(), Type: body.Type, Scope: body.Scope,
			WebURL: e.sharepointBase() + "/:" + letter + ":/g/personal/" + randomToken(12) + "/" + randomToken(24)}
		it.Links = append(it.Links, link)
		status = 201
	}
	c.json(status, map[string]any{"@odata.context": e.meta("microsoft.graph.permission"), "id": link.ID, "roles": []string{map[string]string{"view": "read", "edit": "write", "embed": "read"}[body.Type]},
		"shareId": "u!" + base64.RawURLEncoding.EncodeToString([]byte(link.WebURL)),
		"link":    map[string]any{"type": body.Type, "scope": body.Scope, "webUrl": link.WebURL, "application": map[string]any{"id": e.ClientID, "displayName": e.st.app.DisplayName}}})
}

// shareTarget decodes u!base64url(URL) and finds the item by web URL or link URL.
func (e *Emulator) shareTarget(token string) (*DriveItem, *SharingLink) {
	enc, ok := strings.CutPrefix(token, "u!")
	if !ok {
		return nil, nil
	}
	b, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(enc, "="))
	if err != nil {
		return nil, nil
	}
	target := string(b)
	if u, err := url.Parse(target); err == nil {
		u.RawQuery, u.Fragment = "", ""
		target = u.String()
	}
	for _, it := range e.st.drive {
		if e.itemWebURL(it) == target {
			return it, nil
		}
		for _, l := range it.Links {
			if l.WebURL == target {
				return it, l
			}
		}
	}
	return nil, nil
}

func (e *Emulator) getShare(c *call) {
	if !c.filesPermit(false) || !c.throttle("files", "") {
		return
	}
	e.st.mu.RLock()
	defer e.st.mu.RUnlock()
	it, link := e.shareTarget(c.r.PathValue("token"))
	if it == nil {
		c.fail(404, "itemNotFound", "The sharing link no longer exists, or you do not have permission to access it.")
		return
	}
	if !c.p.app && it.OwnerID != c.p.userID && !(link != nil && link.Scope != "users") && !e.sharedInChatWith(it, c.p.userID) {
		c.fail(403, "accessDenied", "Access denied.")
		return
	}
	e.serveItem(c, it)
}

// sharedInChatWith reports whether the item was sent in a chat the user is a
// member of (Teams grants chat members access); st.mu held.
func (e *Emulator) sharedInChatWith(it *DriveItem, uid string) bool {
	web := e.itemWebURL(it)
	for _, ch := range e.st.chatsOf(uid) {
		for _, m := range ch.msgs {
			for _, a := range m.Attachments {
				if a.ContentType == "reference" && a.ContentURL != nil && *a.ContentURL == web {
					return true
				}
			}
		}
	}
	for _, t := range e.st.teamOrder {
		if !t.hasMember(uid) {
			continue
		}
		for _, chn := range t.Channels {
			for _, m := range chn.msgs {
				for _, a := range m.Attachments {
					if a.ContentType == "reference" && a.ContentURL != nil && *a.ContentURL == web {
						return true
					}
				}
			}
		}
	}
	return false
}

func (e *Emulator) download(c *call) {
	e.st.mu.RLock()
	it := e.st.downloads[c.r.PathValue("key")]
	var data []byte
	var ct string
	if it != nil {
		data, ct = it.Content, it.ContentType
	}
	e.st.mu.RUnlock()
	if it == nil {
		c.fail(404, "itemNotFound", "The resource could not be found.")
		return
	}
	c.w.Header().Set("Content-Type", ct)
	c.w.Header().Set("Content-Length", strconv.Itoa(len(data)))
	c.w.WriteHeader(200)
	c.w.Write(data)
}
