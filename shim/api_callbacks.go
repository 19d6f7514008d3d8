package main

// The MattermostApi service the core calls: one RPC per plugin API method, each a straight call of p.API. Mattermost
// errors travel in the response's AppError; a gRPC error status means only that the call itself failed.

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/mattermost/mattermost/server/public/model"
	"github.com/mattermost/mattermost/server/public/plugin"

	"github.com/msteams-bridge/msteams/shim/gen/corepb"
)

const (
	maxLogMessage   = 64 << 10
	maxLogKeyValues = 128
)

type apiServer struct {
	corepb.UnimplementedMattermostApiServer
	api plugin.API
}

var (
	permissionsOnce sync.Once
	permissionsByID map[string]*model.Permission
)

// permissionByID looks a permission up among every permission this server version knows.
func permissionByID(id string) *model.Permission {
	permissionsOnce.Do(func() {
		permissionsByID = make(map[string]*model.Permission, len(model.AllPermissions)+len(model.DeprecatedPermissions))
		for _, list := range [][]*model.Permission{model.DeprecatedPermissions, model.AllPermissions} {
			for _, p := range list {
				if p != nil {
					permissionsByID[p.Id] = p
				}
			}
		}
	})
	return permissionsByID[id]
}

func (s *apiServer) Log(_ context.Context, req *corepb.LogRequest) (*corepb.Empty, error) {
	msg := validUTF8(req.GetMessage())
	if len(msg) > maxLogMessage {
		msg = utf8Prefix(msg, maxLogMessage) + "…(truncated)"
	}
	kv := req.GetKeyValues()
	if len(kv) > maxLogKeyValues {
		kv = kv[:maxLogKeyValues]
	}
	pairs := make([]any, 0, len(kv)+1)
	for _, v := range kv {
		pairs = append(pairs, validUTF8(v))
	}
	if len(pairs)%2 == 1 {
		pairs = append(pairs, "(missing value)")
	}
	switch req.GetLevel() {
	case corepb.LogRequest_DEBUG:
		s.api.LogDebug(msg, pairs...)
	case corepb.LogRequest_INFO:
		s.api.LogInfo(msg, pairs...)
	case corepb.LogRequest_WARN:
		s.api.LogWarn(msg, pairs...)
	default:
		s.api.LogError(msg, pairs...)
	}
	return &corepb.Empty{}, nil
}

func (s *apiServer) SavePluginConfig(_ context.Context, req *corepb.SavePluginConfigRequest) (*corepb.ErrorResponse, error) {
	cfg, err := unmarshalObject(req.GetSettingsJson())
	if err != nil {
		return &corepb.ErrorResponse{Error: badRequest("SavePluginConfig", fmt.Errorf("settings_json: %w", err))}, nil
	}
	if cfg == nil {
		cfg = map[string]any{}
	}
	return &corepb.ErrorResponse{Error: appErrorToProto(s.api.SavePluginConfig(cfg))}, nil
}

func (s *apiServer) RegisterCommand(_ context.Context, req *corepb.RegisterCommandRequest) (*corepb.ErrorResponse, error) {
	cmd := &model.Command{
		Trigger:          req.GetTrigger(),
		DisplayName:      req.GetDisplayName(),
		Description:      req.GetDescription(),
		AutoComplete:     req.GetAutoComplete(),
		AutoCompleteDesc: req.GetAutoCompleteDesc(),
		AutoCompleteHint: req.GetAutoCompleteHint(),
	}
	if js := req.GetAutocompleteDataJson(); js != "" {
		if len(js) > maxJSONField {
			return &corepb.ErrorResponse{Error: badRequest("RegisterCommand", errors.New("autocomplete_data_json is too large"))}, nil
		}
		var data model.AutocompleteData
		if err := jsonUnmarshalStrict(js, &data); err != nil {
			return &corepb.ErrorResponse{Error: badRequest("RegisterCommand", fmt.Errorf("autocomplete_data_json: %w", err))}, nil
		}
		cmd.AutocompleteData = &data
	}
	if icon := req.GetIcon(); len(icon) > 0 {
		cmd.AutocompleteIconData = base64.StdEncoding.EncodeToString(icon)
	}
	return &corepb.ErrorResponse{Error: errorToProto(s.api.RegisterCommand(cmd), "RegisterCommand", "plugin.msteams.shim.register_command")}, nil
}

func (s *apiServer) UnregisterCommand(_ context.Context, req *corepb.UnregisterCommandRequest) (*corepb.ErrorResponse, error) {
	err := s.api.UnregisterCommand(req.GetTeamId(), req.GetTrigger())
	return &corepb.ErrorResponse{Error: errorToProto(err, "UnregisterCommand", "plugin.msteams.shim.unregister_command")}, nil
}

func (s *apiServer) EnsureBot(_ context.Context, req *corepb.EnsureBotRequest) (*corepb.IdResponse, error) {
	id, err := s.api.EnsureBotUser(&model.Bot{
		Username:    req.GetUsername(),
		DisplayName: req.GetDisplayName(),
		Description: req.GetDescription(),
	})
	if err != nil {
		return &corepb.IdResponse{Error: errorToProto(err, "EnsureBot", "plugin.msteams.shim.ensure_bot")}, nil
	}
	if img := req.GetProfileImage(); len(img) > 0 {
		if appErr := s.api.SetProfileImage(id, img); appErr != nil {
			return &corepb.IdResponse{Error: appErrorToProto(appErr), Id: id}, nil
		}
	}
	return &corepb.IdResponse{Id: id}, nil
}

func (s *apiServer) GetUser(_ context.Context, req *corepb.IdRequest) (*corepb.UserResponse, error) {
	u, appErr := s.api.GetUser(req.GetId())
	return userResponse(u, appErr), nil
}

func (s *apiServer) GetUserByEmail(_ context.Context, req *corepb.ValueRequest) (*corepb.UserResponse, error) {
	u, appErr := s.api.GetUserByEmail(req.GetValue())
	return userResponse(u, appErr), nil
}

func (s *apiServer) GetUserByUsername(_ context.Context, req *corepb.ValueRequest) (*corepb.UserResponse, error) {
	u, appErr := s.api.GetUserByUsername(req.GetValue())
	return userResponse(u, appErr), nil
}

func userResponse(u *model.User, appErr *model.AppError) *corepb.UserResponse {
	if appErr != nil {
		return &corepb.UserResponse{Error: appErrorToProto(appErr)}
	}
	return &corepb.UserResponse{User: userToProto(u)}
}

func (s *apiServer) HasPermissionTo(_ context.Context, req *corepb.PermissionRequest) (*corepb.BoolResponse, error) {
	perm := permissionByID(req.GetPermission())
	if perm == nil {
		return &corepb.BoolResponse{Error: &corepb.AppError{
			Id:         "plugin.msteams.shim.unknown_permission",
			Message:    fmt.Sprintf("unknown permission %q", req.GetPermission()),
			StatusCode: 400,
			Where:      "HasPermissionTo",
		}}, nil
	}
	if channelID := req.GetChannelId(); channelID != "" {
		return &corepb.BoolResponse{Value: s.api.HasPermissionToChannel(req.GetUserId(), channelID, perm)}, nil
	}
	return &corepb.BoolResponse{Value: s.api.HasPermissionTo(req.GetUserId(), perm)}, nil
}

func (s *apiServer) GetChannel(_ context.Context, req *corepb.IdRequest) (*corepb.ChannelResponse, error) {
	ch, appErr := s.api.GetChannel(req.GetId())
	return channelResponse(ch, appErr), nil
}

func (s *apiServer) GetDirectChannel(_ context.Context, req *corepb.UserPairRequest) (*corepb.ChannelResponse, error) {
	ch, appErr := s.api.GetDirectChannel(req.GetUserId_1(), req.GetUserId_2())
	return channelResponse(ch, appErr), nil
}

func channelResponse(ch *model.Channel, appErr *model.AppError) *corepb.ChannelResponse {
	if appErr != nil {
		return &corepb.ChannelResponse{Error: appErrorToProto(appErr)}
	}
	return &corepb.ChannelResponse{Channel: channelToProto(ch)}
}

func (s *apiServer) CreatePost(_ context.Context, req *corepb.PostRequest) (*corepb.PostResponse, error) {
	post, err := postFromProto(req.GetPost())
	if err != nil {
		return &corepb.PostResponse{Error: badRequest("CreatePost", err)}, nil
	}
	created, appErr := s.api.CreatePost(post)
	if appErr != nil {
		return &corepb.PostResponse{Error: appErrorToProto(appErr)}, nil
	}
	return &corepb.PostResponse{Post: postToProto(created)}, nil
}

func (s *apiServer) SendEphemeralPost(_ context.Context, req *corepb.EphemeralPostRequest) (*corepb.PostResponse, error) {
	post, err := postFromProto(req.GetPost())
	if err != nil {
		return &corepb.PostResponse{Error: badRequest("SendEphemeralPost", err)}, nil
	}
	return &corepb.PostResponse{Post: postToProto(s.api.SendEphemeralPost(req.GetUserId(), post))}, nil
}

func (s *apiServer) PublishWebSocketEvent(_ context.Context, req *corepb.WebSocketEventRequest) (*corepb.ErrorResponse, error) {
	badRequest := func(msg string) *corepb.ErrorResponse {
		return &corepb.ErrorResponse{Error: &corepb.AppError{Id: "msteams.shim.websocket_event.invalid", Message: msg,
			StatusCode: 400, Where: "PublishWebSocketEvent"}}
	}
	targeted := req.GetUserId() != "" || req.GetChannelId() != "" || req.GetTeamId() != ""
	if targeted == req.GetAllUsers() {
		return badRequest("PublishWebSocketEvent needs exactly one of: a user_id, channel_id or team_id target, or all_users"), nil
	}
	payload, err := unmarshalObject(req.GetPayloadJson())
	if err != nil {
		return badRequest("payload_json: " + err.Error()), nil
	}
	if payload == nil {
		payload = map[string]any{}
	}
	s.api.PublishWebSocketEvent(req.GetEvent(), payload, &model.WebsocketBroadcast{
		UserId:    req.GetUserId(),
		ChannelId: req.GetChannelId(),
		TeamId:    req.GetTeamId(),
	})
	return &corepb.ErrorResponse{}, nil
}

func (s *apiServer) CreateUser(_ context.Context, req *corepb.CreateUserRequest) (*corepb.UserResponse, error) {
	if req.GetUser() == nil {
		return &corepb.UserResponse{Error: badRequest("CreateUser", errors.New("user is missing"))}, nil
	}
	u := userFromProto(req.GetUser())
	u.Password = req.GetPassword()
	created, appErr := s.api.CreateUser(u)
	return userResponse(created, appErr), nil
}

// UpdateUser reads the stored user and changes only the fields the core owns: the plugin API's UpdateUser writes
// the whole record (notify props, timezone, ...) and ignores auth_service/auth_data, which need UpdateUserAuth.
func (s *apiServer) UpdateUser(_ context.Context, req *corepb.UserRequest) (*corepb.UserResponse, error) {
	in := req.GetUser()
	if in.GetId() == "" {
		return &corepb.UserResponse{Error: badRequest("UpdateUser", errors.New("user.id is missing"))}, nil
	}
	cur, appErr := s.api.GetUser(in.GetId())
	if appErr != nil {
		return userResponse(nil, appErr), nil
	}
	oldAuthService, oldAuthData := cur.AuthService, cur.GetAuthData()
	cur.Username = in.GetUsername()
	cur.Nickname = in.GetNickname()
	cur.FirstName = in.GetFirstName()
	cur.LastName = in.GetLastName()
	cur.Email = in.GetEmail()
	cur.Props = model.StringMap(copyStringMap(in.GetProps()))
	if len(in.GetNotifyProps()) > 0 {
		if cur.NotifyProps == nil {
			cur.NotifyProps = model.StringMap{}
		}
		for k, v := range in.GetNotifyProps() {
			cur.NotifyProps[k] = v
		}
	}
	updated, appErr := s.api.UpdateUser(cur)
	if appErr != nil {
		return userResponse(nil, appErr), nil
	}
	if in.GetAuthService() != oldAuthService || in.GetAuthData() != oldAuthData {
		auth := &model.UserAuth{AuthService: in.GetAuthService()}
		if in.GetAuthData() != "" {
			data := in.GetAuthData()
			auth.AuthData = &data
		}
		if _, appErr := s.api.UpdateUserAuth(in.GetId(), auth); appErr != nil {
			return userResponse(nil, appErr), nil
		}
		updated.AuthService, updated.AuthData = auth.AuthService, auth.AuthData
	}
	return userResponse(updated, nil), nil
}

func (s *apiServer) UpdatePreference(_ context.Context, req *corepb.PreferenceRequest) (*corepb.ErrorResponse, error) {
	appErr := s.api.UpdatePreferencesForUser(req.GetUserId(), []model.Preference{{
		UserId:   req.GetUserId(),
		Category: req.GetCategory(),
		Name:     req.GetName(),
		Value:    req.GetValue(),
	}})
	return &corepb.ErrorResponse{Error: appErrorToProto(appErr)}, nil
}

func (s *apiServer) SetProfileImage(_ context.Context, req *corepb.ProfileImageRequest) (*corepb.ErrorResponse, error) {
	appErr := s.api.SetProfileImage(req.GetUserId(), req.GetImage())
	return &corepb.ErrorResponse{Error: appErrorToProto(appErr)}, nil
}

func (s *apiServer) UpdateUserStatus(_ context.Context, req *corepb.UserStatusRequest) (*corepb.ErrorResponse, error) {
	_, appErr := s.api.UpdateUserStatus(req.GetUserId(), req.GetStatus())
	return &corepb.ErrorResponse{Error: appErrorToProto(appErr)}, nil
}

func (s *apiServer) GetGroupChannel(_ context.Context, req *corepb.UserIdsRequest) (*corepb.ChannelResponse, error) {
	ch, appErr := s.api.GetGroupChannel(req.GetUserIds())
	return channelResponse(ch, appErr), nil
}

func (s *apiServer) GetChannelMemberIds(_ context.Context, req *corepb.ChannelMembersRequest) (*corepb.IdsResponse, error) {
	members, appErr := s.api.GetChannelMembers(req.GetChannelId(), int(req.GetPage()), int(req.GetPerPage()))
	if appErr != nil {
		return &corepb.IdsResponse{Error: appErrorToProto(appErr)}, nil
	}
	ids := make([]string, 0, len(members))
	for _, m := range members {
		ids = append(ids, m.UserId)
	}
	return &corepb.IdsResponse{Ids: ids}, nil
}

func (s *apiServer) GetChannelMember(_ context.Context, req *corepb.ChannelMemberRequest) (*corepb.ChannelMemberResponse, error) {
	m, appErr := s.api.GetChannelMember(req.GetChannelId(), req.GetUserId())
	if appErr != nil {
		return &corepb.ChannelMemberResponse{Error: appErrorToProto(appErr)}, nil
	}
	notify := make(map[string]string, len(m.NotifyProps))
	for k, v := range m.NotifyProps {
		notify[k] = v
	}
	return &corepb.ChannelMemberResponse{LastViewedAt: m.LastViewedAt, NotifyProps: notify}, nil
}

func (s *apiServer) GetUserStatus(_ context.Context, req *corepb.IdRequest) (*corepb.UserStatusResponse, error) {
	st, appErr := s.api.GetUserStatus(req.GetId())
	if appErr != nil {
		return &corepb.UserStatusResponse{Error: appErrorToProto(appErr)}, nil
	}
	return &corepb.UserStatusResponse{Status: st.Status, LastActivityAt: st.LastActivityAt, Manual: st.Manual}, nil
}

// maxUsersInRole bounds GetActiveUserIdsInRole: the core tells system admins about problems, not a whole directory.
const maxUsersInRole = 200

func (s *apiServer) GetActiveUserIdsInRole(_ context.Context, req *corepb.ValueRequest) (*corepb.IdsResponse, error) {
	users, appErr := s.api.GetUsers(&model.UserGetOptions{Role: req.GetValue(), Active: true, Page: 0, PerPage: maxUsersInRole})
	if appErr != nil {
		return &corepb.IdsResponse{Error: appErrorToProto(appErr)}, nil
	}
	ids := make([]string, 0, len(users))
	for _, u := range users {
		ids = append(ids, u.Id)
	}
	return &corepb.IdsResponse{Ids: ids}, nil
}

func (s *apiServer) UpdateUserActive(_ context.Context, req *corepb.UserActiveRequest) (*corepb.ErrorResponse, error) {
	if req.GetUserId() == "" {
		return &corepb.ErrorResponse{Error: badRequest("UpdateUserActive", errors.New("user_id is missing"))}, nil
	}
	appErr := s.api.UpdateUserActive(req.GetUserId(), req.GetActive())
	return &corepb.ErrorResponse{Error: appErrorToProto(appErr)}, nil
}

func (s *apiServer) GetTeamIdsForUser(_ context.Context, req *corepb.IdRequest) (*corepb.IdsResponse, error) {
	teams, appErr := s.api.GetTeamsForUser(req.GetId())
	if appErr != nil {
		return &corepb.IdsResponse{Error: appErrorToProto(appErr)}, nil
	}
	ids := make([]string, 0, len(teams))
	for _, t := range teams {
		if t != nil && t.DeleteAt == 0 {
			ids = append(ids, t.Id)
		}
	}
	return &corepb.IdsResponse{Ids: ids}, nil
}

func (s *apiServer) GetGroupNamesForUser(_ context.Context, req *corepb.IdRequest) (*corepb.IdsResponse, error) {
	if req.GetId() == "" {
		return &corepb.IdsResponse{Error: badRequest("GetGroupNamesForUser", errors.New("id is missing"))}, nil
	}
	groups, appErr := s.api.GetGroupsForUser(req.GetId())
	if appErr != nil {
		return &corepb.IdsResponse{Error: appErrorToProto(appErr)}, nil
	}
	names := make([]string, 0, len(groups))
	for _, g := range groups {
		if g != nil && g.DeleteAt == 0 && g.Name != nil && *g.Name != "" {
			names = append(names, strings.ToLower(*g.Name))
		}
	}
	return &corepb.IdsResponse{Ids: names}, nil
}

// defaultSSOSessionHours is Mattermost's default SessionLengthSSOInHours (30 days).
const defaultSSOSessionHours = 30 * 24

func (s *apiServer) CreateSession(_ context.Context, req *corepb.CreateSessionRequest) (*corepb.SessionResponse, error) {
	if req.GetUserId() == "" {
		return &corepb.SessionResponse{Error: badRequest("CreateSession", errors.New("user_id is missing"))}, nil
	}
	user, appErr := s.api.GetUser(req.GetUserId())
	if appErr != nil {
		return &corepb.SessionResponse{Error: appErrorToProto(appErr)}, nil
	}
	if user.DeleteAt != 0 || user.IsBot || user.IsRemote() {
		return &corepb.SessionResponse{Error: &corepb.AppError{Id: "msteams.session.refused",
			Message: "This account cannot sign in.", StatusCode: http.StatusForbidden, Where: "CreateSession"}}, nil
	}
	hours := defaultSSOSessionHours
	cookiePath := "/"
	if cfg := s.api.GetConfig(); cfg != nil {
		if h := cfg.ServiceSettings.SessionLengthSSOInHours; h != nil && *h > 0 {
			hours = *h
		}
		if site := cfg.ServiceSettings.SiteURL; site != nil {
			if u, err := url.Parse(*site); err == nil && strings.Trim(u.Path, "/") != "" {
				cookiePath = "/" + strings.Trim(u.Path, "/")
			}
		}
	}
	// As Mattermost's own login makes one (app.DoLogin): the user's roles, a CSRF token, and the SSO length, which
	// Mattermost also uses when it extends the session (Session.IsSSOLogin).
	session := &model.Session{UserId: user.Id, Roles: user.GetRawRoles()}
	for k, v := range req.GetProps() {
		session.AddProp(k, v)
	}
	session.AddProp(model.UserAuthServiceIsOAuth, "true")
	session.AddProp(model.UserAuthServiceIsMobile, "false")
	session.AddProp(model.UserAuthServiceIsSaml, "false")
	session.AddProp(model.SessionPropIsGuest, strconv.FormatBool(user.IsGuest()))
	session.GenerateCSRF()
	session.ExpiresAt = model.GetMillis() + int64(hours)*int64(time.Hour/time.Millisecond)
	created, appErr := s.api.CreateSession(session)
	if appErr != nil {
		return &corepb.SessionResponse{Error: appErrorToProto(appErr)}, nil
	}
	return &corepb.SessionResponse{Token: created.Token, UserId: created.UserId, Csrf: created.GetCSRF(),
		ExpiresAt: created.ExpiresAt, CookiePath: cookiePath}, nil
}

func (s *apiServer) CreateTeamMember(_ context.Context, req *corepb.TeamMemberRequest) (*corepb.ErrorResponse, error) {
	if req.GetTeamId() == "" || req.GetUserId() == "" {
		return &corepb.ErrorResponse{Error: badRequest("CreateTeamMember", errors.New("team_id and user_id are required"))}, nil
	}
	_, appErr := s.api.CreateTeamMember(req.GetTeamId(), req.GetUserId())
	return &corepb.ErrorResponse{Error: appErrorToProto(appErr)}, nil
}

func (s *apiServer) GetPost(_ context.Context, req *corepb.IdRequest) (*corepb.PostResponse, error) {
	post, appErr := s.api.GetPost(req.GetId())
	return postResponse(post, appErr), nil
}

// UpdatePost reads the stored post and changes only message, props and file ids: the plugin API's UpdatePost also
// takes is_pinned and has_reactions from its argument, which the core does not track.
func (s *apiServer) UpdatePost(_ context.Context, req *corepb.PostRequest) (*corepb.PostResponse, error) {
	in, err := postFromProto(req.GetPost())
	if err != nil {
		return &corepb.PostResponse{Error: badRequest("UpdatePost", err)}, nil
	}
	if in.Id == "" {
		return &corepb.PostResponse{Error: badRequest("UpdatePost", errors.New("post.id is missing"))}, nil
	}
	cur, appErr := s.api.GetPost(in.Id)
	if appErr != nil {
		return postResponse(nil, appErr), nil
	}
	cur.Message = in.Message
	cur.SetProps(in.GetProps())
	cur.FileIds = in.FileIds
	updated, appErr := s.api.UpdatePost(cur)
	return postResponse(updated, appErr), nil
}

func (s *apiServer) DeletePost(_ context.Context, req *corepb.IdRequest) (*corepb.ErrorResponse, error) {
	return &corepb.ErrorResponse{Error: appErrorToProto(s.api.DeletePost(req.GetId()))}, nil
}

// GetPostsSince answers the posts of the list's order (those changed after `since`; the list's map also holds the
// unchanged roots of changed replies, which are left out), oldest first. Mattermost includes deleted posts and
// answers at most 1000 changed posts per call.
func (s *apiServer) GetPostsSince(_ context.Context, req *corepb.PostsSinceRequest) (*corepb.PostsResponse, error) {
	list, appErr := s.api.GetPostsSince(req.GetChannelId(), req.GetSince())
	if appErr != nil {
		return &corepb.PostsResponse{Error: appErrorToProto(appErr)}, nil
	}
	var posts []*model.Post
	if list != nil {
		seen := make(map[string]bool, len(list.Order))
		for _, id := range list.Order {
			if p := list.Posts[id]; p != nil && !seen[id] {
				seen[id] = true
				posts = append(posts, p)
			}
		}
	}
	sort.SliceStable(posts, func(i, j int) bool { return posts[i].CreateAt < posts[j].CreateAt })
	out := make([]*corepb.Post, 0, len(posts))
	for _, p := range posts {
		out = append(out, postToProto(p))
	}
	return &corepb.PostsResponse{Posts: out}, nil
}

// maxThreadPosts bounds GetPostThread: the root and the newest replies, this many posts in all. Mattermost's plugin
// API answers a whole thread at once; the core reads it for the thread's followers (who took part, who was mentioned).
const maxThreadPosts = 1000

// GetPostThread answers the thread of a post (its root or any reply): the root first, then the newest replies
// oldest first, at most maxThreadPosts posts, without deleted ones, each with only the fields the core needs.
func (s *apiServer) GetPostThread(_ context.Context, req *corepb.IdRequest) (*corepb.PostThreadResponse, error) {
	if req.GetId() == "" {
		return &corepb.PostThreadResponse{Error: badRequest("GetPostThread", errors.New("id is required"))}, nil
	}
	list, appErr := s.api.GetPostThread(req.GetId())
	if appErr != nil {
		return &corepb.PostThreadResponse{Error: appErrorToProto(appErr)}, nil
	}
	var root *model.Post
	var replies []*model.Post
	if list != nil {
		for _, p := range list.Posts {
			switch {
			case p == nil || p.DeleteAt != 0:
			case p.RootId == "":
				root = p
			default:
				replies = append(replies, p)
			}
		}
	}
	sort.Slice(replies, func(i, j int) bool {
		if replies[i].CreateAt != replies[j].CreateAt {
			return replies[i].CreateAt < replies[j].CreateAt
		}
		return replies[i].Id < replies[j].Id
	})
	out := &corepb.PostThreadResponse{}
	room := maxThreadPosts
	if root != nil {
		out.Posts = append(out.Posts, threadPostToProto(root))
		room--
	}
	if len(replies) > room {
		replies = replies[len(replies)-room:]
		out.Truncated = true
	}
	for _, p := range replies {
		out.Posts = append(out.Posts, threadPostToProto(p))
	}
	return out, nil
}

// threadPostToProto keeps what tells who follows a thread: the author and the message (for its @-mentions).
func threadPostToProto(p *model.Post) *corepb.Post {
	return &corepb.Post{Id: p.Id, CreateAt: p.CreateAt, UserId: p.UserId, ChannelId: p.ChannelId, RootId: p.RootId,
		Message: p.Message, Type: p.Type}
}

func postResponse(p *model.Post, appErr *model.AppError) *corepb.PostResponse {
	if appErr != nil {
		return &corepb.PostResponse{Error: appErrorToProto(appErr)}
	}
	return &corepb.PostResponse{Post: postToProto(p)}
}

func (s *apiServer) AddReaction(_ context.Context, req *corepb.ReactionRequest) (*corepb.ReactionResponse, error) {
	if req.GetReaction() == nil {
		return &corepb.ReactionResponse{Error: badRequest("AddReaction", errors.New("reaction is missing"))}, nil
	}
	r, appErr := s.api.AddReaction(reactionFromProto(req.GetReaction()))
	if appErr != nil {
		return &corepb.ReactionResponse{Error: appErrorToProto(appErr)}, nil
	}
	return &corepb.ReactionResponse{Reaction: reactionToProto(r)}, nil
}

func (s *apiServer) RemoveReaction(_ context.Context, req *corepb.ReactionRequest) (*corepb.ErrorResponse, error) {
	if req.GetReaction() == nil {
		return &corepb.ErrorResponse{Error: badRequest("RemoveReaction", errors.New("reaction is missing"))}, nil
	}
	return &corepb.ErrorResponse{Error: appErrorToProto(s.api.RemoveReaction(reactionFromProto(req.GetReaction())))}, nil
}

func (s *apiServer) GetReactions(_ context.Context, req *corepb.IdRequest) (*corepb.ReactionsResponse, error) {
	rs, appErr := s.api.GetReactions(req.GetId())
	if appErr != nil {
		return &corepb.ReactionsResponse{Error: appErrorToProto(appErr)}, nil
	}
	out := make([]*corepb.Reaction, 0, len(rs))
	for _, r := range rs {
		if r != nil {
			out = append(out, reactionToProto(r))
		}
	}
	return &corepb.ReactionsResponse{Reactions: out}, nil
}

// fileTooLarge is the 413 for data over maxFileData (gRPC would refuse the message with a transport error).
func fileTooLarge(where string, size int) *corepb.AppError {
	return &corepb.AppError{
		Id:         "plugin.msteams.shim.file_too_large",
		Message:    fmt.Sprintf("the file of %d bytes is larger than the bridge's limit of %d bytes", size, maxFileData),
		StatusCode: 413,
		Where:      where,
	}
}

func (s *apiServer) UploadFile(_ context.Context, req *corepb.UploadFileRequest) (*corepb.FileInfoResponse, error) {
	if n := len(req.GetData()); n > maxFileData {
		return &corepb.FileInfoResponse{Error: fileTooLarge("UploadFile", n)}, nil
	}
	info, appErr := s.api.UploadFile(req.GetData(), req.GetChannelId(), req.GetName())
	if appErr != nil {
		e := appErrorToProto(appErr)
		if req.GetUserId() != "" {
			e.DetailedError = strings.TrimPrefix(e.DetailedError+"; ", "; ") + "uploading for user " + req.GetUserId()
		}
		return &corepb.FileInfoResponse{Error: e}, nil
	}
	return &corepb.FileInfoResponse{FileInfo: fileInfoToProto(info)}, nil
}

func (s *apiServer) GetFileInfo(_ context.Context, req *corepb.IdRequest) (*corepb.FileInfoResponse, error) {
	info, appErr := s.api.GetFileInfo(req.GetId())
	if appErr != nil {
		return &corepb.FileInfoResponse{Error: appErrorToProto(appErr)}, nil
	}
	return &corepb.FileInfoResponse{FileInfo: fileInfoToProto(info)}, nil
}

func (s *apiServer) GetFile(_ context.Context, req *corepb.IdRequest) (*corepb.FileResponse, error) {
	data, appErr := s.api.GetFile(req.GetId())
	if appErr != nil {
		return &corepb.FileResponse{Error: appErrorToProto(appErr)}, nil
	}
	if len(data) > maxFileData {
		return &corepb.FileResponse{Error: fileTooLarge("GetFile", len(data))}, nil
	}
	return &corepb.FileResponse{Data: data}, nil
}

// jsonUnmarshalStrict decodes one JSON value and refuses trailing data.
func jsonUnmarshalStrict(s string, v any) error {
	dec := json.NewDecoder(strings.NewReader(s))
	if err := dec.Decode(v); err != nil {
		return err
	}
	if dec.More() {
		return errors.New("trailing data after the JSON value")
	}
	return nil
}
