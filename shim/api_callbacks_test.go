package main

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net"
	"os"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/mattermost/mattermost/server/public/model"
	"github.com/mattermost/mattermost/server/public/plugin"
	"github.com/mattermost/mattermost/server/public/plugin/plugintest"
	"github.com/stretchr/testify/mock"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	"github.com/msteams-bridge/msteams/shim/gen/corepb"
)

// apiClient serves MattermostApi over a real unix socket backed by the SDK's API mock.
func apiClient(t *testing.T) (corepb.MattermostApiClient, *plugintest.API) {
	t.Helper()
	api := &plugintest.API{}
	t.Cleanup(func() { api.AssertExpectations(t) })
	return apiClientFor(t, api), api
}

// apiClientFor serves MattermostApi backed by api.
func apiClientFor(t *testing.T, api plugin.API) corepb.MattermostApiClient {
	t.Helper()
	dir, err := os.MkdirTemp("", "mst-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	lis, err := net.Listen("unix", dir+"/api.sock")
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer(apiMessageLimits()...)
	corepb.RegisterMattermostApiServer(srv, &apiServer{api: api})
	go srv.Serve(lis) //nolint:errcheck
	t.Cleanup(srv.Stop)
	// The core's channel allows messages as large as the server does (rpc/limits.hpp).
	conn, err := grpc.NewClient("unix://"+dir+"/api.sock", grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(maxAPIMessage), grpc.MaxCallSendMsgSize(maxAPIMessage)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return corepb.NewMattermostApiClient(conn)
}

var sampleAppErr = &model.AppError{
	Id: "app.user.missing_account.const", Message: "Unable to find the user.", DetailedError: "resource: User id: x",
	RequestId: "req-7", StatusCode: 404, Where: "SqlUserStore.Get",
}

var wantAppErr = &corepb.AppError{
	Id: "app.user.missing_account.const", Message: "Unable to find the user.", DetailedError: "resource: User id: x",
	RequestId: "req-7", StatusCode: 404, Where: "SqlUserStore.Get",
}

func checkAppErr(t *testing.T, got *corepb.AppError, want *corepb.AppError) {
	t.Helper()
	if !proto.Equal(got, want) {
		t.Errorf("AppError\n got  %s\n want %s", protojson.Format(got), protojson.Format(want))
	}
}

func TestAPIUserLookupsCarryAppErrorsFaithfully(t *testing.T) {
	c, api := apiClient(t)
	ctx := context.Background()
	api.On("GetUser", "missing").Return(nil, sampleAppErr)
	api.On("GetUser", "u1").Return(&model.User{Id: "u1", Username: "alice", Email: "a@x", Password: "hash",
		NotifyProps: model.StringMap{"email": "true", "push": "mention", "desktop_threads": "mention", "desktop": "all"}}, nil)
	api.On("GetUserByEmail", "a@x").Return(&model.User{Id: "u1"}, nil)
	api.On("GetUserByUsername", "nobody").Return(nil, sampleAppErr)

	r, err := c.GetUser(ctx, &corepb.IdRequest{Id: "missing"})
	if err != nil {
		t.Fatal(err)
	}
	checkAppErr(t, r.Error, wantAppErr)
	if r.User != nil {
		t.Error("user with an error")
	}
	r, _ = c.GetUser(ctx, &corepb.IdRequest{Id: "u1"})
	if r.Error != nil || r.User.GetUsername() != "alice" || r.User.GetEmail() != "a@x" {
		t.Errorf("GetUser = %v", r)
	}
	// Of the notify props, what the bridge mutes and the thread setting the activity feed follows.
	if n := r.User.GetNotifyProps(); len(n) != 3 || n["email"] != "true" || n["push"] != "mention" || n["desktop_threads"] != "mention" {
		t.Errorf("GetUser notify props = %v", n)
	}
	r, _ = c.GetUserByEmail(ctx, &corepb.ValueRequest{Value: "a@x"})
	if r.Error != nil || r.User.GetId() != "u1" {
		t.Errorf("GetUserByEmail = %v", r)
	}
	r, _ = c.GetUserByUsername(ctx, &corepb.ValueRequest{Value: "nobody"})
	checkAppErr(t, r.Error, wantAppErr)
}

func TestAPIChannels(t *testing.T) {
	c, api := apiClient(t)
	ctx := context.Background()
	api.On("GetChannel", "c1").Return(&model.Channel{Id: "c1", Type: model.ChannelTypeOpen, Name: "town-square"}, nil)
	api.On("GetDirectChannel", "u1", "u2").Return(nil, sampleAppErr)
	r, _ := c.GetChannel(ctx, &corepb.IdRequest{Id: "c1"})
	if r.Error != nil || r.Channel.GetType() != "O" || r.Channel.GetName() != "town-square" {
		t.Errorf("GetChannel = %v", r)
	}
	r, _ = c.GetDirectChannel(ctx, &corepb.UserPairRequest{UserId_1: "u1", UserId_2: "u2"})
	checkAppErr(t, r.Error, wantAppErr)
}

func TestAPIHasPermissionToLooksUpById(t *testing.T) {
	c, api := apiClient(t)
	ctx := context.Background()
	api.On("HasPermissionTo", "u1", model.PermissionManageSystem).Return(true)
	r, err := c.HasPermissionTo(ctx, &corepb.PermissionRequest{UserId: "u1", Permission: "manage_system"})
	if err != nil || r.Error != nil || !r.Value {
		t.Fatalf("HasPermissionTo = %v, %v", r, err)
	}
	// An unknown permission is an error, never a quiet false.
	r, _ = c.HasPermissionTo(ctx, &corepb.PermissionRequest{UserId: "u1", Permission: "manage_everything"})
	if r.Error == nil || r.Error.StatusCode != 400 || r.Value {
		t.Fatalf("unknown permission = %v", r)
	}
}

func TestAPIHasPermissionToChannelAsksAboutTheChannel(t *testing.T) {
	c, api := apiClient(t)
	ctx := context.Background()
	api.On("HasPermissionToChannel", "u1", "c1", model.PermissionManageChannelRoles).Return(true)
	api.On("HasPermissionToChannel", "u2", "c1", model.PermissionManageChannelRoles).Return(false)
	r, err := c.HasPermissionTo(ctx, &corepb.PermissionRequest{UserId: "u1", Permission: "manage_channel_roles", ChannelId: "c1"})
	if err != nil || r.Error != nil || !r.Value {
		t.Fatalf("channel admin = %v, %v", r, err)
	}
	r, _ = c.HasPermissionTo(ctx, &corepb.PermissionRequest{UserId: "u2", Permission: "manage_channel_roles", ChannelId: "c1"})
	if r.Error != nil || r.Value {
		t.Fatalf("member = %v", r)
	}
}

func TestAPICreatePostRoundTripsPropsAndErrors(t *testing.T) {
	c, api := apiClient(t)
	ctx := context.Background()
	api.On("CreatePost", mock.MatchedBy(func(p *model.Post) bool {
		return p.Message == "hi" && p.ChannelId == "c1" && p.GetProps()["msteams_id"] == "m1" && p.GetRemoteID() == ""
	})).Return(func(p *model.Post) *model.Post {
		out := p.Clone()
		out.Id = "new-post"
		out.CreateAt = 42
		return out
	}, nil).Once()
	api.On("CreatePost", mock.Anything).Return(nil, &model.AppError{Id: "api.post.create_post.channel_root_id.app_error",
		Message: "Invalid ChannelId for RootId parameter.", StatusCode: 400, Where: "CreatePost"}).Once()

	r, err := c.CreatePost(ctx, &corepb.PostRequest{Post: &corepb.Post{UserId: "bot", ChannelId: "c1", Message: "hi",
		PropsJson: `{"msteams_id":"m1"}`}})
	if err != nil || r.Error != nil || r.Post.GetId() != "new-post" || r.Post.GetCreateAt() != 42 ||
		r.Post.GetPropsJson() != `{"msteams_id":"m1"}` {
		t.Fatalf("CreatePost = %v, %v", r, err)
	}
	r, _ = c.CreatePost(ctx, &corepb.PostRequest{Post: &corepb.Post{ChannelId: "c1", RootId: "bad"}})
	if r.Error.GetStatusCode() != 400 || r.Error.GetId() != "api.post.create_post.channel_root_id.app_error" {
		t.Fatalf("CreatePost error = %v", r)
	}
	// Malformed input from the core is a 400 AppError, not a crash or a Mattermost call.
	r, _ = c.CreatePost(ctx, &corepb.PostRequest{Post: &corepb.Post{PropsJson: `[1,2]`}})
	if r.Error.GetStatusCode() != 400 {
		t.Fatalf("bad props = %v", r)
	}
	r, _ = c.CreatePost(ctx, &corepb.PostRequest{})
	if r.Error.GetStatusCode() != 400 {
		t.Fatalf("missing post = %v", r)
	}
}

func TestAPISendEphemeralPost(t *testing.T) {
	c, api := apiClient(t)
	api.On("SendEphemeralPost", "u1", mock.MatchedBy(func(p *model.Post) bool { return p.Message == "only you" })).
		Return(&model.Post{Id: "eph", Message: "only you"})
	r, err := c.SendEphemeralPost(context.Background(), &corepb.EphemeralPostRequest{UserId: "u1",
		Post: &corepb.Post{ChannelId: "c1", Message: "only you"}})
	if err != nil || r.Post.GetId() != "eph" {
		t.Fatalf("SendEphemeralPost = %v, %v", r, err)
	}
}

func TestAPIRegisterCommandWithAutocompleteAndIcon(t *testing.T) {
	c, api := apiClient(t)
	ad := model.NewAutocompleteData("msteams", "[command]", "MS Teams")
	ad.AddCommand(model.NewAutocompleteData("connect", "", "Connect your account"))
	adJSON, err := jsonMarshal(ad)
	if err != nil {
		t.Fatal(err)
	}
	icon := []byte("<svg/>")
	api.On("RegisterCommand", mock.MatchedBy(func(cmd *model.Command) bool {
		return cmd.Trigger == "msteams" && cmd.AutoComplete && cmd.AutoCompleteDesc == "desc" && cmd.AutoCompleteHint == "[command]" &&
			cmd.DisplayName == "MS Teams" && cmd.Description == "bridge" && cmd.AutocompleteData != nil &&
			len(cmd.AutocompleteData.SubCommands) == 1 && cmd.AutocompleteData.SubCommands[0].Trigger == "connect" &&
			cmd.AutocompleteIconData == base64.StdEncoding.EncodeToString(icon)
	})).Return(nil).Once()
	api.On("RegisterCommand", mock.Anything).Return(errors.New("plain error from the server")).Once()
	req := &corepb.RegisterCommandRequest{Trigger: "msteams", DisplayName: "MS Teams", Description: "bridge", AutoComplete: true,
		AutoCompleteDesc: "desc", AutoCompleteHint: "[command]", AutocompleteDataJson: adJSON, Icon: icon}
	r, err := c.RegisterCommand(context.Background(), req)
	if err != nil || r.Error != nil {
		t.Fatalf("RegisterCommand = %v, %v", r, err)
	}
	r, _ = c.RegisterCommand(context.Background(), &corepb.RegisterCommandRequest{Trigger: "x"})
	if r.Error.GetMessage() != "plain error from the server" || r.Error.GetStatusCode() != 500 {
		t.Fatalf("plain error = %v", r)
	}
	r, _ = c.RegisterCommand(context.Background(), &corepb.RegisterCommandRequest{Trigger: "x", AutocompleteDataJson: "{"})
	if r.Error.GetStatusCode() != 400 {
		t.Fatalf("bad autocomplete JSON = %v", r)
	}
}

func TestAPIUnregisterCommandAndSavePluginConfig(t *testing.T) {
	c, api := apiClient(t)
	ctx := context.Background()
	api.On("UnregisterCommand", "", "msteams").Return(nil)
	api.On("SavePluginConfig", map[string]any{"encryptionkey": "k", "n": float64(2)}).Return(sampleAppErr)
	if r, err := c.UnregisterCommand(ctx, &corepb.UnregisterCommandRequest{Trigger: "msteams"}); err != nil || r.Error != nil {
		t.Fatalf("UnregisterCommand = %v %v", r, err)
	}
	r, _ := c.SavePluginConfig(ctx, &corepb.SavePluginConfigRequest{SettingsJson: `{"encryptionkey":"k","n":2}`})
	checkAppErr(t, r.Error, wantAppErr)
	r, _ = c.SavePluginConfig(ctx, &corepb.SavePluginConfigRequest{SettingsJson: `"string"`})
	if r.Error.GetStatusCode() != 400 {
		t.Fatalf("non-object settings = %v", r)
	}
}

func TestAPIEnsureBotSetsProfileImage(t *testing.T) {
	c, api := apiClient(t)
	ctx := context.Background()
	png := []byte{0x89, 'P', 'N', 'G'}
	api.On("EnsureBotUser", &model.Bot{Username: "msteams", DisplayName: "MS Teams", Description: "bridge bot"}).Return("bot-id", nil)
	api.On("SetProfileImage", "bot-id", png).Return(nil)
	r, err := c.EnsureBot(ctx, &corepb.EnsureBotRequest{Username: "msteams", DisplayName: "MS Teams",
		Description: "bridge bot", ProfileImage: png})
	if err != nil || r.Error != nil || r.Id != "bot-id" {
		t.Fatalf("EnsureBot = %v, %v", r, err)
	}
	// EnsureBotUser returns a plain error whose dynamic type may be *model.AppError: its fields survive.
	api.On("EnsureBotUser", &model.Bot{Username: "broken"}).Return("", error(sampleAppErr))
	r, _ = c.EnsureBot(ctx, &corepb.EnsureBotRequest{Username: "broken"})
	checkAppErr(t, r.Error, wantAppErr)
}

func TestAPILogLevelsAndKeyValues(t *testing.T) {
	c, api := apiClient(t)
	ctx := context.Background()
	api.On("LogDebug", "d").Return()
	api.On("LogInfo", "i", "k", "v").Return()
	api.On("LogWarn", "w", "k", "(missing value)").Return()
	api.On("LogError", "e", "a", "1", "b", "2").Return()
	for _, r := range []*corepb.LogRequest{
		{Level: corepb.LogRequest_DEBUG, Message: "d"},
		{Level: corepb.LogRequest_INFO, Message: "i", KeyValues: []string{"k", "v"}},
		{Level: corepb.LogRequest_WARN, Message: "w", KeyValues: []string{"k"}},
		{Level: corepb.LogRequest_ERROR, Message: "e", KeyValues: []string{"a", "1", "b", "2"}},
	} {
		if _, err := c.Log(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
}

// A long message is cut on a character boundary: Mattermost's log gets valid UTF-8.
func TestAPILogCutsLongMessagesOnACharacterBoundary(t *testing.T) {
	c, api := apiClient(t)
	var got string
	api.On("LogWarn", mock.AnythingOfType("string"), "k", "v").Run(func(args mock.Arguments) {
		got = args.String(0)
	}).Return()
	msg := "x" + strings.Repeat("é", maxLogMessage) // the byte limit falls inside an "é"
	if _, err := c.Log(context.Background(), &corepb.LogRequest{Level: corepb.LogRequest_WARN, Message: msg,
		KeyValues: []string{"k", "v"}}); err != nil {
		t.Fatal(err)
	}
	if !utf8.ValidString(got) || !strings.HasSuffix(got, "…(truncated)") || len(got) > maxLogMessage+20 {
		t.Errorf("logged %d bytes, valid UTF-8 %v: %q", len(got), utf8.ValidString(got), got[len(got)-20:])
	}
	if utf8Prefix("aé", 2) != "a" || utf8Prefix("aé", 3) != "aé" || utf8Prefix("€x", 1) != "" {
		t.Error("utf8Prefix cuts inside a character")
	}
}

func TestAPIPublishWebSocketEvent(t *testing.T) {
	c, api := apiClient(t)
	ctx := context.Background()
	api.On("PublishWebSocketEvent", "connect", map[string]any{"connected": true},
		&model.WebsocketBroadcast{UserId: "u1"}).Return()
	api.On("PublishWebSocketEvent", "config_changed", map[string]any{},
		&model.WebsocketBroadcast{}).Return()
	resp, err := c.PublishWebSocketEvent(ctx, &corepb.WebSocketEventRequest{Event: "connect",
		PayloadJson: `{"connected":true}`, UserId: "u1"})
	if err != nil || resp.GetError() != nil {
		t.Fatalf("to one user: %v %v", err, resp.GetError())
	}
	resp, err = c.PublishWebSocketEvent(ctx, &corepb.WebSocketEventRequest{Event: "config_changed", PayloadJson: `{}`,
		AllUsers: true})
	if err != nil || resp.GetError() != nil {
		t.Fatalf("to everyone, explicitly: %v %v", err, resp.GetError())
	}
	for name, req := range map[string]*corepb.WebSocketEventRequest{
		"no target":             {Event: "x", PayloadJson: `{}`},
		"a target and everyone": {Event: "x", PayloadJson: `{}`, UserId: "u1", AllUsers: true},
		"bad payload":           {Event: "x", PayloadJson: `nope`, TeamId: "t"},
	} {
		resp, err := c.PublishWebSocketEvent(ctx, req)
		if err != nil || resp.GetError().GetStatusCode() != 400 {
			t.Errorf("%s: %v %v, want a 400 AppError", name, err, resp.GetError())
		}
	}
	api.AssertNumberOfCalls(t, "PublishWebSocketEvent", 2)
}

func jsonMarshal(v any) (string, error) {
	b, err := json.Marshal(v)
	return string(b), err
}
