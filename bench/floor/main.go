// The floor of `msteams-bench -scenario rich`: a Mattermost plugin that creates each post it is asked for through the
// plugin API, with nothing else in the path (no Graph, no gRPC hop to a core, no store). The bridge's rich mode is
// measured against it on the same server: what a bridge can never beat.
package main

import (
	"encoding/json"
	"io"
	"net/http"

	"github.com/mattermost/mattermost/server/public/model"
	"github.com/mattermost/mattermost/server/public/plugin"
)

type floor struct {
	plugin.MattermostPlugin
}

type postRequest struct {
	ChannelID string `json:"channel_id"`
	UserID    string `json:"user_id"`
	Message   string `json:"message"`
}

// ServeHTTP answers POST /post {channel_id, user_id, message} with the post's id and CreateAt. System admins only:
// it posts as anyone.
func (f *floor) ServeHTTP(_ *plugin.Context, w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost || r.URL.Path != "/post" {
		http.NotFound(w, r)
		return
	}
	user := r.Header.Get("Mattermost-User-Id")
	if user == "" || !f.API.HasPermissionTo(user, model.PermissionManageSystem) {
		http.Error(w, "system admins only", http.StatusForbidden)
		return
	}
	var in postRequest
	if err := json.NewDecoder(io.LimitReader(r.Body, 64<<10)).Decode(&in); err != nil {
		http.Error(w, "bad request", http.StatusBadRequest)
		return
	}
	post, appErr := f.API.CreatePost(&model.Post{ChannelId: in.ChannelID, UserId: in.UserID, Message: in.Message})
	if appErr != nil {
		http.Error(w, appErr.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]any{"id": post.Id, "create_at": post.CreateAt})
}

func main() { plugin.ClientMain(&floor{}) }
