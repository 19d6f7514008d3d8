package main

// Conversions between Mattermost model types and the generated proto types. Nothing here decides anything: every
// field the proto carries is copied as it is, free-form maps travel as JSON.

import (
	"encoding/json"
	"errors"
	"fmt"

	"github.com/mattermost/mattermost/server/public/model"
	"github.com/mattermost/mattermost/server/public/plugin"

	"github.com/msteams-bridge/msteams/shim/gen/corepb"
)

// maxJSONField bounds every JSON string the core sends us (props, payloads, autocomplete data).
const maxJSONField = 4 << 20

func contextToProto(c *plugin.Context) *corepb.RequestContext {
	if c == nil {
		return nil
	}
	return &corepb.RequestContext{
		SessionId:      c.SessionId,
		RequestId:      c.RequestId,
		IpAddress:      c.IPAddress,
		AcceptLanguage: c.AcceptLanguage,
		UserAgent:      c.UserAgent,
	}
}

// marshalMap renders a free-form map as JSON; an empty or nil map is "" so the core can tell "none" cheaply.
func marshalMap[M ~map[string]any](m M) string {
	if len(m) == 0 {
		return ""
	}
	b, err := json.Marshal(m)
	if err != nil {
		// Props that cannot be JSON-encoded (never seen in practice) must not stop the event; keep it visible.
		b, _ = json.Marshal(map[string]string{"msteams_shim_error": "props not JSON-encodable: " + err.Error()})
	}
	return string(b)
}

// unmarshalObject parses a JSON object; "" is an empty (nil) map.
func unmarshalObject(s string) (map[string]any, error) {
	if s == "" {
		return nil, nil
	}
	if len(s) > maxJSONField {
		return nil, fmt.Errorf("JSON object of %d bytes exceeds the limit of %d", len(s), maxJSONField)
	}
	var m map[string]any
	if err := json.Unmarshal([]byte(s), &m); err != nil {
		return nil, fmt.Errorf("not a JSON object: %w", err)
	}
	return m, nil
}

func postToProto(p *model.Post) *corepb.Post {
	if p == nil {
		return nil
	}
	return &corepb.Post{
		Id:        p.Id,
		CreateAt:  p.CreateAt,
		UpdateAt:  p.UpdateAt,
		DeleteAt:  p.DeleteAt,
		UserId:    p.UserId,
		ChannelId: p.ChannelId,
		RootId:    p.RootId,
		Message:   p.Message,
		Type:      p.Type,
		PropsJson: marshalMap(p.GetProps()),
		FileIds:   append([]string(nil), p.FileIds...),
	}
}

func postFromProto(p *corepb.Post) (*model.Post, error) {
	if p == nil {
		return nil, errors.New("post is missing")
	}
	props, err := unmarshalObject(p.PropsJson)
	if err != nil {
		return nil, fmt.Errorf("post props: %w", err)
	}
	post := &model.Post{
		Id:        p.Id,
		CreateAt:  p.CreateAt,
		UpdateAt:  p.UpdateAt,
		DeleteAt:  p.DeleteAt,
		UserId:    p.UserId,
		ChannelId: p.ChannelId,
		RootId:    p.RootId,
		Message:   p.Message,
		Type:      p.Type,
		FileIds:   append(model.StringArray(nil), p.FileIds...),
	}
	if props != nil {
		post.SetProps(props)
	}
	return post, nil
}

func userToProto(u *model.User) *corepb.User {
	if u == nil {
		return nil
	}
	var props map[string]string
	if len(u.Props) > 0 {
		props = make(map[string]string, len(u.Props))
		for k, v := range u.Props {
			props[k] = v
		}
	}
	// Password and MFA secret are deliberately not carried, and of the notify props only those the bridge mutes
	// and the one the activity feed follows for thread replies.
	var notify map[string]string
	for _, k := range []string{"email", "push", "desktop_threads"} {
		if v, ok := u.NotifyProps[k]; ok {
			if notify == nil {
				notify = map[string]string{}
			}
			notify[k] = v
		}
	}
	return &corepb.User{
		Id:            u.Id,
		Username:      u.Username,
		AuthData:      u.GetAuthData(),
		AuthService:   u.AuthService,
		Email:         u.Email,
		EmailVerified: u.EmailVerified,
		Nickname:      u.Nickname,
		FirstName:     u.FirstName,
		LastName:      u.LastName,
		Position:      u.Position,
		IsBot:         u.IsBot,
		Props:         props,
		Deactivated:   u.DeleteAt != 0,
		NotifyProps:   notify,
	}
}

// userFromProto is the inverse of userToProto (no password: CreateUser sets it from its request).
func userFromProto(u *corepb.User) *model.User {
	if u == nil {
		return nil
	}
	out := &model.User{
		Id:            u.Id,
		Username:      u.Username,
		AuthService:   u.AuthService,
		Email:         u.Email,
		EmailVerified: u.EmailVerified,
		Nickname:      u.Nickname,
		FirstName:     u.FirstName,
		LastName:      u.LastName,
		Position:      u.Position,
		IsBot:         u.IsBot,
		Props:         model.StringMap(copyStringMap(u.Props)),
	}
	if len(u.NotifyProps) > 0 {
		// Mattermost fills in its defaults only for an empty map, so start from them and apply the overrides.
		out.SetDefaultNotifications()
		for k, v := range u.NotifyProps {
			out.NotifyProps[k] = v
		}
	}
	if u.AuthData != "" {
		data := u.AuthData
		out.AuthData = &data
	}
	return out
}

func channelToProto(c *model.Channel) *corepb.Channel {
	if c == nil {
		return nil
	}
	return &corepb.Channel{
		Id:          c.Id,
		DeleteAt:    c.DeleteAt,
		TeamId:      c.TeamId,
		Type:        string(c.Type),
		DisplayName: c.DisplayName,
		Name:        c.Name,
		CreatorId:   c.CreatorId,
	}
}

func reactionToProto(r *model.Reaction) *corepb.Reaction {
	if r == nil {
		return nil
	}
	return &corepb.Reaction{
		UserId:    r.UserId,
		PostId:    r.PostId,
		EmojiName: r.EmojiName,
		CreateAt:  r.CreateAt,
		ChannelId: r.ChannelId,
	}
}

func reactionFromProto(r *corepb.Reaction) *model.Reaction {
	if r == nil {
		return nil
	}
	return &model.Reaction{
		UserId:    r.UserId,
		PostId:    r.PostId,
		EmojiName: r.EmojiName,
		CreateAt:  r.CreateAt,
		ChannelId: r.ChannelId,
	}
}

func fileInfoToProto(f *model.FileInfo) *corepb.FileInfo {
	if f == nil {
		return nil
	}
	return &corepb.FileInfo{
		Id:        f.Id,
		UserId:    f.CreatorId,
		PostId:    f.PostId,
		ChannelId: f.ChannelId,
		Name:      f.Name,
		Extension: f.Extension,
		Size:      f.Size,
		MimeType:  f.MimeType,
	}
}

func commandArgsToProto(a *model.CommandArgs) *corepb.CommandArgs {
	if a == nil {
		return nil
	}
	return &corepb.CommandArgs{
		UserId:          a.UserId,
		ChannelId:       a.ChannelId,
		TeamId:          a.TeamId,
		RootId:          a.RootId,
		ParentId:        a.ParentId,
		TriggerId:       a.TriggerId,
		Command:         a.Command,
		SiteUrl:         a.SiteURL,
		UserMentions:    copyStringMap(a.UserMentions),
		ChannelMentions: copyStringMap(a.ChannelMentions),
	}
}

func copyStringMap[M ~map[string]string](m M) map[string]string {
	if len(m) == 0 {
		return nil
	}
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

func commandResponseFromProto(r *corepb.CommandResponse) (*model.CommandResponse, error) {
	if r == nil {
		return &model.CommandResponse{}, nil
	}
	props, err := unmarshalObject(r.PropsJson)
	if err != nil {
		return nil, fmt.Errorf("command response props: %w", err)
	}
	return &model.CommandResponse{
		ResponseType:     r.ResponseType,
		Text:             r.Text,
		Username:         r.Username,
		ChannelId:        r.ChannelId,
		IconURL:          r.IconUrl,
		Type:             r.Type,
		Props:            props,
		GotoLocation:     r.GotoLocation,
		SkipSlackParsing: r.SkipSlackParsing,
	}, nil
}

// appErrorToProto carries a Mattermost error field for field. A nil error is nil.
func appErrorToProto(e *model.AppError) *corepb.AppError {
	if e == nil {
		return nil
	}
	return &corepb.AppError{
		Id:            e.Id,
		Message:       e.Message,
		DetailedError: e.DetailedError,
		RequestId:     e.RequestId,
		StatusCode:    int32(e.StatusCode),
		Where:         e.Where,
	}
}

// errorToProto maps an error of an API method declared as plain `error`: an *model.AppError keeps its fields, any
// other error becomes an AppError with the given id and status 500.
func errorToProto(err error, where, id string) *corepb.AppError {
	if err == nil {
		return nil
	}
	var appErr *model.AppError
	if errors.As(err, &appErr) && appErr != nil {
		return appErrorToProto(appErr)
	}
	return &corepb.AppError{Id: id, Message: err.Error(), StatusCode: 500, Where: where}
}

// appErrorFromProto is the inverse of appErrorToProto; it returns a real nil (never a typed nil in an interface)
// for a missing error.
func appErrorFromProto(e *corepb.AppError) *model.AppError {
	if e == nil {
		return nil
	}
	status := int(e.StatusCode)
	if status < 100 || status > 999 {
		status = 500
	}
	return &model.AppError{
		Id:            e.Id,
		Message:       e.Message,
		DetailedError: e.DetailedError,
		RequestId:     e.RequestId,
		StatusCode:    status,
		Where:         e.Where,
		// The core's messages are final text; without this Mattermost would "translate" an unknown id into itself.
		SkipTranslation: true,
	}
}

// badRequest is the AppError for malformed input from the core.
func badRequest(where string, err error) *corepb.AppError {
	return &corepb.AppError{
		Id:         "plugin.msteams.shim.bad_request",
		Message:    err.Error(),
		StatusCode: 400,
		Where:      where,
	}
}
