package main

// The MattermostApi service the core calls: one RPC per plugin API method, each a straight call of p.API. Mattermost
// errors travel in the response's AppError; a gRPC error status means only that the call itself failed.

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"

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
	msg := req.GetMessage()
	if len(msg) > maxLogMessage {
		msg = msg[:maxLogMessage] + "…(truncated)"
	}
	kv := req.GetKeyValues()
	if len(kv) > maxLogKeyValues {
		kv = kv[:maxLogKeyValues]
	}
	pairs := make([]any, 0, len(kv)+1)
	for _, v := range kv {
		pairs = append(pairs, v)
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
