package main

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/mattermost/mattermost/server/public/model"
	"github.com/mattermost/mattermost/server/public/plugin/plugintest"
	"github.com/stretchr/testify/mock"

	"github.com/msteams-bridge/msteams/shim/gen/corepb"
)

func TestAPICreateUserCarriesEveryField(t *testing.T) {
	c, api := apiClient(t)
	api.On("CreateUser", mock.MatchedBy(func(u *model.User) bool {
		return u.Username == "msteams_alice" && u.Email == "alice@example.com" && u.Password == "s3cret!" &&
			u.FirstName == "Alice" && u.LastName == "Liddell" && u.Position == "Microsoft Teams" && u.AuthService == "gitlab" &&
			u.GetAuthData() == "entra-1" && u.Props["msteams_user_id"] == "t1"
	})).Return(func(u *model.User) *model.User {
		out := *u
		out.Id, out.CreateAt, out.Password = "new-user", 1000, ""
		return &out
	}, nil).Once()
	api.On("CreateUser", mock.Anything).Return(nil, &model.AppError{Id: "app.user.save.username_exists.app_error",
		Message: "An account with that username already exists.", StatusCode: 400, Where: "CreateUser"}).Once()

	in := &corepb.User{Username: "msteams_alice", Email: "alice@example.com", FirstName: "Alice", LastName: "Liddell",
		Position:    "Microsoft Teams",
		AuthService: "gitlab", AuthData: "entra-1", Props: map[string]string{"msteams_user_id": "t1"}}
	r, err := c.CreateUser(context.Background(), &corepb.CreateUserRequest{User: in, Password: "s3cret!"})
	if err != nil || r.Error != nil {
		t.Fatalf("CreateUser = %v, %v", r, err)
	}
	u := r.User
	if u.Id != "new-user" || u.AuthData != "entra-1" || u.AuthService != "gitlab" || u.Position != "Microsoft Teams" ||
		u.Props["msteams_user_id"] != "t1" {
		t.Errorf("created user = %v", u)
	}
	r, _ = c.CreateUser(context.Background(), &corepb.CreateUserRequest{User: &corepb.User{Username: "taken"}})
	if r.Error.GetStatusCode() != 400 || r.Error.GetId() != "app.user.save.username_exists.app_error" {
		t.Errorf("taken = %v", r)
	}
	r, _ = c.CreateUser(context.Background(), &corepb.CreateUserRequest{})
	if r.Error.GetStatusCode() != 400 {
		t.Errorf("missing user = %v", r)
	}
}

func TestAPIUpdateUserKeepsOtherFieldsAndSetsAuthSeparately(t *testing.T) {
	c, api := apiClient(t)
	ctx := context.Background()
	stored := func() *model.User {
		return &model.User{Id: "u1", Username: "old", Email: "old@x", LastName: "Liddell", Locale: "de", Position: "boss",
			NotifyProps: model.StringMap{"email": "false"}, Timezone: model.StringMap{"automaticTimezone": "Europe/Berlin"},
			AuthService: "", Props: model.StringMap{"old": "1"}}
	}
	api.On("GetUser", "u1").Return(func(string) *model.User { return stored() }, nil).Twice()
	api.On("UpdateUser", mock.MatchedBy(func(u *model.User) bool {
		// The core's fields are replaced; everything it does not carry keeps its stored value.
		return u.Username == "new" && u.Email == "new@x" && u.FirstName == "N" && u.Nickname == "nick" &&
			u.Props["msteams"] == "1" && u.Props["old"] == "" && u.LastName == "Hargreaves" && u.Locale == "de" &&
			u.Position == "boss" &&
			u.NotifyProps["email"] == "false" && u.Timezone["automaticTimezone"] == "Europe/Berlin"
	})).Return(func(u *model.User) *model.User { return u }, nil).Twice()
	api.On("UpdateUserAuth", "u1", &model.UserAuth{AuthService: "gitlab", AuthData: model.NewPointer("entra-1")}).
		Return(&model.UserAuth{}, nil).Once()

	in := &corepb.User{Id: "u1", Username: "new", Email: "new@x", FirstName: "N", LastName: "Hargreaves", Nickname: "nick",
		AuthService: "gitlab", AuthData: "entra-1", Props: map[string]string{"msteams": "1"}}
	r, err := c.UpdateUser(ctx, &corepb.UserRequest{User: in})
	if err != nil || r.Error != nil {
		t.Fatalf("UpdateUser = %v, %v", r, err)
	}
	if r.User.Username != "new" || r.User.AuthService != "gitlab" || r.User.AuthData != "entra-1" || r.User.Position != "boss" {
		t.Errorf("updated user = %v", r.User)
	}
	// Unchanged auth: no UpdateUserAuth call (Once above would fail on a second).
	in.AuthService, in.AuthData = "", ""
	if r, _ = c.UpdateUser(ctx, &corepb.UserRequest{User: in}); r.Error != nil {
		t.Fatalf("UpdateUser without auth change = %v", r)
	}

	api.On("GetUser", "missing").Return(nil, sampleAppErr)
	r, _ = c.UpdateUser(ctx, &corepb.UserRequest{User: &corepb.User{Id: "missing"}})
	checkAppErr(t, r.Error, wantAppErr)
	r, _ = c.UpdateUser(ctx, &corepb.UserRequest{User: &corepb.User{Username: "no id"}})
	if r.Error.GetStatusCode() != 400 {
		t.Errorf("no id = %v", r)
	}
}

func TestAPIUpdatePreference(t *testing.T) {
	c, api := apiClient(t)
	api.On("UpdatePreferencesForUser", "u1", []model.Preference{{UserId: "u1", Category: "notifications",
		Name: "email_interval", Value: "0"}}).Return(nil).Once()
	api.On("UpdatePreferencesForUser", "missing", mock.Anything).Return(sampleAppErr).Once()
	r, err := c.UpdatePreference(context.Background(), &corepb.PreferenceRequest{UserId: "u1", Category: "notifications",
		Name: "email_interval", Value: "0"})
	if err != nil || r.Error != nil {
		t.Fatalf("UpdatePreference = %v, %v", r, err)
	}
	r, _ = c.UpdatePreference(context.Background(), &corepb.PreferenceRequest{UserId: "missing"})
	checkAppErr(t, r.Error, wantAppErr)
}

func TestAPIProfileImageAndStatus(t *testing.T) {
	c, api := apiClient(t)
	ctx := context.Background()
	api.On("SetProfileImage", "u1", []byte("\x89PNG")).Return(nil).Once()
	api.On("SetProfileImage", "missing", mock.Anything).Return(sampleAppErr).Once()
	api.On("UpdateUserStatus", "u1", "dnd").Return(&model.Status{UserId: "u1", Status: "dnd"}, nil).Once()
	api.On("UpdateUserStatus", "missing", mock.Anything).Return(nil, sampleAppErr).Once()
	if r, err := c.SetProfileImage(ctx, &corepb.ProfileImageRequest{UserId: "u1", Image: []byte("\x89PNG")}); err != nil || r.Error != nil {
		t.Fatalf("SetProfileImage = %v, %v", r, err)
	}
	r, _ := c.SetProfileImage(ctx, &corepb.ProfileImageRequest{UserId: "missing", Image: []byte("x")})
	checkAppErr(t, r.Error, wantAppErr)
	if r, err := c.UpdateUserStatus(ctx, &corepb.UserStatusRequest{UserId: "u1", Status: "dnd"}); err != nil || r.Error != nil {
		t.Fatalf("UpdateUserStatus = %v, %v", r, err)
	}
	r, _ = c.UpdateUserStatus(ctx, &corepb.UserStatusRequest{UserId: "missing", Status: "online"})
	checkAppErr(t, r.Error, wantAppErr)
	api.AssertExpectations(t)
}

func TestAPIGroupChannelAndMembers(t *testing.T) {
	c, api := apiClient(t)
	ctx := context.Background()
	api.On("GetGroupChannel", []string{"u1", "u2", "u3"}).Return(&model.Channel{Id: "gm", Type: model.ChannelTypeGroup}, nil)
	api.On("GetGroupChannel", []string{"u1"}).Return(nil, sampleAppErr)
	api.On("GetChannelMembers", "c1", 1, 2).Return(model.ChannelMembers{{ChannelId: "c1", UserId: "u3"},
		{ChannelId: "c1", UserId: "u4"}}, nil)
	api.On("GetChannelMembers", "missing", 0, 100).Return(nil, sampleAppErr)

	r, err := c.GetGroupChannel(ctx, &corepb.UserIdsRequest{UserIds: []string{"u1", "u2", "u3"}})
	if err != nil || r.Error != nil || r.Channel.GetId() != "gm" || r.Channel.GetType() != "G" {
		t.Fatalf("GetGroupChannel = %v, %v", r, err)
	}
	r, _ = c.GetGroupChannel(ctx, &corepb.UserIdsRequest{UserIds: []string{"u1"}})
	checkAppErr(t, r.Error, wantAppErr)

	m, err := c.GetChannelMemberIds(ctx, &corepb.ChannelMembersRequest{ChannelId: "c1", Page: 1, PerPage: 2})
	if err != nil || m.Error != nil || len(m.Ids) != 2 || m.Ids[0] != "u3" || m.Ids[1] != "u4" {
		t.Fatalf("GetChannelMemberIds = %v, %v", m, err)
	}
	m, _ = c.GetChannelMemberIds(ctx, &corepb.ChannelMembersRequest{ChannelId: "missing", PerPage: 100})
	checkAppErr(t, m.Error, wantAppErr)
}

func TestAPIChannelMemberAndStatus(t *testing.T) {
	c, api := apiClient(t)
	ctx := context.Background()
	api.On("GetChannelMember", "c1", "u1").Return(&model.ChannelMember{ChannelId: "c1", UserId: "u1", LastViewedAt: 1234,
		NotifyProps: model.StringMap{"ignore_channel_mentions": "on"}}, nil)
	api.On("GetChannelMember", "c1", "nobody").Return(nil, sampleAppErr)
	api.On("GetUserStatus", "u1").Return(&model.Status{UserId: "u1", Status: "away", LastActivityAt: 99, Manual: true}, nil)
	api.On("GetUserStatus", "nobody").Return(nil, sampleAppErr)

	m, err := c.GetChannelMember(ctx, &corepb.ChannelMemberRequest{ChannelId: "c1", UserId: "u1"})
	if err != nil || m.Error != nil || m.LastViewedAt != 1234 || m.NotifyProps["ignore_channel_mentions"] != "on" {
		t.Fatalf("GetChannelMember = %v, %v", m, err)
	}
	m, _ = c.GetChannelMember(ctx, &corepb.ChannelMemberRequest{ChannelId: "c1", UserId: "nobody"})
	checkAppErr(t, m.Error, wantAppErr)
	st, err := c.GetUserStatus(ctx, &corepb.IdRequest{Id: "u1"})
	if err != nil || st.Error != nil || st.Status != "away" || st.LastActivityAt != 99 || !st.Manual {
		t.Fatalf("GetUserStatus = %v, %v", st, err)
	}
	st, _ = c.GetUserStatus(ctx, &corepb.IdRequest{Id: "nobody"})
	checkAppErr(t, st.Error, wantAppErr)
}

func TestAPIGetUpdateDeletePost(t *testing.T) {
	c, api := apiClient(t)
	ctx := context.Background()
	stored := func() *model.Post {
		p := &model.Post{Id: "p1", ChannelId: "c1", UserId: "u1", Message: "old", IsPinned: true, HasReactions: true,
			FileIds: model.StringArray{"f1"}, RemoteId: model.NewPointer("remote1")}
		p.SetProps(model.StringInterface{"msteams_id": "m1"})
		return p
	}
	api.On("GetPost", "p1").Return(func(string) *model.Post { return stored() }, nil)
	api.On("GetPost", "missing").Return(nil, sampleAppErr)
	api.On("UpdatePost", mock.MatchedBy(func(p *model.Post) bool {
		// is_pinned, has_reactions and remote_id are not the core's: they keep their stored values.
		return p.Id == "p1" && p.Message == "edited" && p.IsPinned && p.HasReactions && len(p.FileIds) == 2 &&
			p.GetProp("msteams_id") == "m2" && p.GetRemoteID() == "remote1"
	})).Return(func(p *model.Post) *model.Post {
		out := p.Clone()
		out.UpdateAt = 99
		return out
	}, nil).Once()
	api.On("DeletePost", "p1").Return(nil)
	api.On("DeletePost", "missing").Return(sampleAppErr)

	r, err := c.GetPost(ctx, &corepb.IdRequest{Id: "p1"})
	if err != nil || r.Error != nil || r.Post.GetMessage() != "old" || r.Post.GetPropsJson() != `{"msteams_id":"m1"}` ||
		r.Post.GetChannelId() != "c1" || len(r.Post.GetFileIds()) != 1 {
		t.Fatalf("GetPost = %v, %v", r, err)
	}
	r, _ = c.GetPost(ctx, &corepb.IdRequest{Id: "missing"})
	checkAppErr(t, r.Error, wantAppErr)

	r, err = c.UpdatePost(ctx, &corepb.PostRequest{Post: &corepb.Post{Id: "p1", Message: "edited",
		PropsJson: `{"msteams_id":"m2"}`, FileIds: []string{"f1", "f2"}}})
	if err != nil || r.Error != nil || r.Post.GetUpdateAt() != 99 || r.Post.GetMessage() != "edited" {
		t.Fatalf("UpdatePost = %v, %v", r, err)
	}
	r, _ = c.UpdatePost(ctx, &corepb.PostRequest{Post: &corepb.Post{Id: "missing"}})
	checkAppErr(t, r.Error, wantAppErr)
	for name, req := range map[string]*corepb.PostRequest{
		"no post":   {},
		"no id":     {Post: &corepb.Post{Message: "x"}},
		"bad props": {Post: &corepb.Post{Id: "p1", PropsJson: "[]"}},
	} {
		if r, _ := c.UpdatePost(ctx, req); r.Error.GetStatusCode() != 400 {
			t.Errorf("%s: %v, want a 400 AppError", name, r)
		}
	}

	d, err := c.DeletePost(ctx, &corepb.IdRequest{Id: "p1"})
	if err != nil || d.Error != nil {
		t.Fatalf("DeletePost = %v, %v", d, err)
	}
	d, _ = c.DeletePost(ctx, &corepb.IdRequest{Id: "missing"})
	checkAppErr(t, d.Error, wantAppErr)
}

func TestAPIGetPostsSinceOldestFirstWithDeletedWithoutUnchangedRoots(t *testing.T) {
	c, api := apiClient(t)
	// As Mattermost answers: order newest first, the map also holding the unchanged root of a changed reply.
	list := model.NewPostList()
	list.AddPost(&model.Post{Id: "root", CreateAt: 10, UpdateAt: 10})
	list.AddPost(&model.Post{Id: "reply", RootId: "root", CreateAt: 300, UpdateAt: 300})
	list.AddPost(&model.Post{Id: "deleted", CreateAt: 200, UpdateAt: 310, DeleteAt: 310})
	list.AddPost(&model.Post{Id: "edited", CreateAt: 100, UpdateAt: 320, EditAt: 320})
	list.AddOrder("reply")
	list.AddOrder("deleted")
	list.AddOrder("edited")
	list.AddOrder("vanished") // in the order but not the map: skipped
	api.On("GetPostsSince", "c1", int64(50)).Return(list, nil)
	api.On("GetPostsSince", "missing", int64(0)).Return(nil, sampleAppErr)

	r, err := c.GetPostsSince(context.Background(), &corepb.PostsSinceRequest{ChannelId: "c1", Since: 50})
	if err != nil || r.Error != nil {
		t.Fatalf("GetPostsSince = %v, %v", r, err)
	}
	var ids []string
	for _, p := range r.Posts {
		ids = append(ids, p.Id)
	}
	if len(ids) != 3 || ids[0] != "edited" || ids[1] != "deleted" || ids[2] != "reply" {
		t.Fatalf("posts = %v, want edited, deleted, reply", ids)
	}
	if r.Posts[1].DeleteAt != 310 || r.Posts[2].RootId != "root" {
		t.Errorf("fields lost: %v", r.Posts)
	}
	r, _ = c.GetPostsSince(context.Background(), &corepb.PostsSinceRequest{ChannelId: "missing"})
	checkAppErr(t, r.Error, wantAppErr)
}

func TestAPIGetPostThreadRootFirstNewestRepliesBoundedFieldsTrimmed(t *testing.T) {
	c, api := apiClient(t)
	ctx := context.Background()
	small := model.NewPostList()
	root := &model.Post{Id: "root", UserId: "u0", ChannelId: "c1", CreateAt: 10, Message: "hi @bob", IsPinned: true,
		FileIds: model.StringArray{"f1"}}
	root.SetProps(model.StringInterface{"big": strings.Repeat("x", 1000)})
	small.AddPost(root)
	small.AddPost(&model.Post{Id: "r2", RootId: "root", UserId: "u2", CreateAt: 30})
	small.AddPost(&model.Post{Id: "r1", RootId: "root", UserId: "u1", CreateAt: 20, Message: "@carol look"})
	small.AddPost(&model.Post{Id: "gone", RootId: "root", UserId: "u9", CreateAt: 25, DeleteAt: 26})
	api.On("GetPostThread", "r1").Return(small, nil)
	// A thread longer than the bound: the root and the newest replies, maxThreadPosts in all.
	long := model.NewPostList()
	long.AddPost(&model.Post{Id: "root", UserId: "u0", CreateAt: 1})
	for i := 0; i < maxThreadPosts+5; i++ {
		long.AddPost(&model.Post{Id: fmt.Sprintf("r%05d", i), RootId: "root", UserId: "u1", CreateAt: int64(100 + i)})
	}
	api.On("GetPostThread", "root").Return(long, nil)
	api.On("GetPostThread", "missing").Return(nil, sampleAppErr)

	r, err := c.GetPostThread(ctx, &corepb.IdRequest{Id: "r1"})
	if err != nil || r.Error != nil || r.Truncated {
		t.Fatalf("GetPostThread = %v, %v", r, err)
	}
	var ids []string
	for _, p := range r.Posts {
		ids = append(ids, p.Id)
	}
	if strings.Join(ids, ",") != "root,r1,r2" {
		t.Fatalf("posts = %v, want root, r1, r2", ids)
	}
	if r.Posts[0].Message != "hi @bob" || r.Posts[0].UserId != "u0" || r.Posts[1].RootId != "root" ||
		r.Posts[1].Message != "@carol look" || r.Posts[0].PropsJson != "" || len(r.Posts[0].FileIds) != 0 {
		t.Errorf("fields: %v", r.Posts)
	}

	r, err = c.GetPostThread(ctx, &corepb.IdRequest{Id: "root"})
	if err != nil || r.Error != nil || !r.Truncated || len(r.Posts) != maxThreadPosts {
		t.Fatalf("a long thread: %d posts, truncated %v, %v", len(r.GetPosts()), r.GetTruncated(), err)
	}
	if r.Posts[0].Id != "root" || r.Posts[1].Id != "r00006" || r.Posts[len(r.Posts)-1].Id != fmt.Sprintf("r%05d", maxThreadPosts+4) {
		t.Errorf("a long thread keeps %s, %s … %s", r.Posts[0].Id, r.Posts[1].Id, r.Posts[len(r.Posts)-1].Id)
	}

	r, _ = c.GetPostThread(ctx, &corepb.IdRequest{Id: "missing"})
	checkAppErr(t, r.Error, wantAppErr)
	r, _ = c.GetPostThread(ctx, &corepb.IdRequest{})
	if r.Error == nil || r.Error.StatusCode != 400 {
		t.Errorf("no id: %v", r.Error)
	}
}

func TestAPIReactions(t *testing.T) {
	c, api := apiClient(t)
	ctx := context.Background()
	want := &model.Reaction{UserId: "u1", PostId: "p1", EmojiName: "+1", ChannelId: "c1"}
	api.On("AddReaction", want).Return(func(r *model.Reaction) *model.Reaction {
		out := *r
		out.CreateAt = 77
		return &out
	}, nil).Once()
	api.On("AddReaction", mock.Anything).Return(nil, sampleAppErr).Once()
	api.On("RemoveReaction", &model.Reaction{UserId: "u1", PostId: "p1", EmojiName: "+1"}).Return(nil).Once()
	api.On("RemoveReaction", mock.Anything).Return(sampleAppErr).Once()
	api.On("GetReactions", "p1").Return([]*model.Reaction{{UserId: "u1", PostId: "p1", EmojiName: "+1"},
		{UserId: "u2", PostId: "p1", EmojiName: "smile", CreateAt: 88}}, nil)
	api.On("GetReactions", "missing").Return(nil, sampleAppErr)

	r, err := c.AddReaction(ctx, &corepb.ReactionRequest{Reaction: &corepb.Reaction{UserId: "u1", PostId: "p1",
		EmojiName: "+1", ChannelId: "c1"}})
	if err != nil || r.Error != nil || r.Reaction.GetCreateAt() != 77 || r.Reaction.GetChannelId() != "c1" {
		t.Fatalf("AddReaction = %v, %v", r, err)
	}
	r, _ = c.AddReaction(ctx, &corepb.ReactionRequest{Reaction: &corepb.Reaction{PostId: "missing"}})
	checkAppErr(t, r.Error, wantAppErr)
	r, _ = c.AddReaction(ctx, &corepb.ReactionRequest{})
	if r.Error.GetStatusCode() != 400 {
		t.Errorf("missing reaction = %v", r)
	}

	e, err := c.RemoveReaction(ctx, &corepb.ReactionRequest{Reaction: &corepb.Reaction{UserId: "u1", PostId: "p1", EmojiName: "+1"}})
	if err != nil || e.Error != nil {
		t.Fatalf("RemoveReaction = %v, %v", e, err)
	}
	e, _ = c.RemoveReaction(ctx, &corepb.ReactionRequest{Reaction: &corepb.Reaction{PostId: "missing"}})
	checkAppErr(t, e.Error, wantAppErr)
	e, _ = c.RemoveReaction(ctx, &corepb.ReactionRequest{})
	if e.Error.GetStatusCode() != 400 {
		t.Errorf("missing reaction = %v", e)
	}

	l, err := c.GetReactions(ctx, &corepb.IdRequest{Id: "p1"})
	if err != nil || l.Error != nil || len(l.Reactions) != 2 || l.Reactions[1].EmojiName != "smile" || l.Reactions[1].CreateAt != 88 {
		t.Fatalf("GetReactions = %v, %v", l, err)
	}
	l, _ = c.GetReactions(ctx, &corepb.IdRequest{Id: "missing"})
	checkAppErr(t, l.Error, wantAppErr)
}

// fileAPI stores one file in memory: the SDK's mock formats every argument it matches, which takes seconds for
// megabytes of data.
type fileAPI struct {
	*plugintest.API
	data []byte
}

func (a *fileAPI) UploadFile(data []byte, channelID, name string) (*model.FileInfo, *model.AppError) {
	if channelID == "missing" {
		return nil, sampleAppErr
	}
	a.data = data
	return &model.FileInfo{Id: "f1", CreatorId: "nouser", ChannelId: channelID, Name: name, Extension: "png",
		Size: int64(len(data)), MimeType: "image/png", Width: 640, Height: 480}, nil
}

func (a *fileAPI) GetFile(id string) ([]byte, *model.AppError) {
	if id != "f1" {
		return nil, sampleAppErr
	}
	return a.data, nil
}

func TestAPIFilesOfSeveralMBRoundTrip(t *testing.T) {
	mockAPI := &plugintest.API{}
	t.Cleanup(func() { mockAPI.AssertExpectations(t) })
	api := &fileAPI{API: mockAPI}
	c := apiClientFor(t, api)
	ctx := context.Background()
	data := make([]byte, 6<<20) // more than gRPC's default 4 MiB, in both directions
	for i := range data {
		data[i] = byte(i * 131 % 251)
	}
	mockAPI.On("GetFileInfo", "f1").Return(&model.FileInfo{Id: "f1", PostId: "p1", Size: 5}, nil)
	mockAPI.On("GetFileInfo", "missing").Return(nil, sampleAppErr)

	r, err := c.UploadFile(ctx, &corepb.UploadFileRequest{UserId: "u1", ChannelId: "c1", Name: "diagram.png", Data: data})
	if err != nil || r.Error != nil {
		t.Fatalf("UploadFile = %v, %v", r.GetError(), err)
	}
	if f := r.FileInfo; f.Id != "f1" || f.UserId != "nouser" || f.Size != int64(len(data)) || f.MimeType != "image/png" ||
		f.Extension != "png" || f.Name != "diagram.png" || f.ChannelId != "c1" {
		t.Errorf("file info = %v", f)
	}
	if !bytes.Equal(api.data, data) {
		t.Fatalf("Mattermost got %d bytes, not the %d sent", len(api.data), len(data))
	}
	r, _ = c.UploadFile(ctx, &corepb.UploadFileRequest{UserId: "u1", ChannelId: "missing", Name: "x.png", Data: []byte("x")})
	if r.Error.GetStatusCode() != 404 || r.Error.GetId() != wantAppErr.Id ||
		r.Error.GetDetailedError() != wantAppErr.DetailedError+"; uploading for user u1" {
		t.Errorf("UploadFile error = %v", r.Error)
	}

	f, err := c.GetFile(ctx, &corepb.IdRequest{Id: "f1"})
	if err != nil || f.Error != nil || !bytes.Equal(f.Data, data) {
		t.Fatalf("GetFile: %v, error %v, %d bytes", err, f.GetError(), len(f.GetData()))
	}
	f, _ = c.GetFile(ctx, &corepb.IdRequest{Id: "missing"})
	checkAppErr(t, f.Error, wantAppErr)

	i, err := c.GetFileInfo(ctx, &corepb.IdRequest{Id: "f1"})
	if err != nil || i.Error != nil || i.FileInfo.PostId != "p1" || i.FileInfo.Size != 5 {
		t.Fatalf("GetFileInfo = %v, %v", i, err)
	}
	i, _ = c.GetFileInfo(ctx, &corepb.IdRequest{Id: "missing"})
	checkAppErr(t, i.Error, wantAppErr)
}

func TestAPIFilesOverTheLimitAre413NotTransportErrors(t *testing.T) {
	api := &fileAPI{API: &plugintest.API{}}
	c := apiClientFor(t, api)
	ctx := context.Background()
	// The core refuses such uploads itself; if one arrives anyway, Mattermost is not called.
	huge := make([]byte, maxFileData+1)
	r, err := c.UploadFile(ctx, &corepb.UploadFileRequest{ChannelId: "c1", Name: "huge.bin", Data: huge})
	if err != nil || r.Error.GetStatusCode() != 413 || api.data != nil {
		t.Fatalf("UploadFile of a huge file = %v, %v", r.GetError(), err)
	}
	// A stored file larger than one message can carry: a clear 413, and the shim stays up.
	api.data = huge
	f, err := c.GetFile(ctx, &corepb.IdRequest{Id: "f1"})
	if err != nil || f.Error.GetStatusCode() != 413 || len(f.Data) != 0 {
		t.Fatalf("GetFile of a huge file = %v, %v", f.GetError(), err)
	}
}

func TestAPIUserActiveTeamsAndNotifyProps(t *testing.T) {
	c, api := apiClient(t)
	ctx := context.Background()
	api.On("UpdateUserActive", "u1", false).Return(nil).Once()
	api.On("UpdateUserActive", "missing", true).Return(sampleAppErr).Once()
	if r, err := c.UpdateUserActive(ctx, &corepb.UserActiveRequest{UserId: "u1", Active: false}); err != nil || r.Error != nil {
		t.Fatalf("UpdateUserActive = %v, %v", r, err)
	}
	r, _ := c.UpdateUserActive(ctx, &corepb.UserActiveRequest{UserId: "missing", Active: true})
	checkAppErr(t, r.Error, wantAppErr)
	if r, _ := c.UpdateUserActive(ctx, &corepb.UserActiveRequest{}); r.Error.GetStatusCode() != 400 {
		t.Errorf("no user id = %v", r)
	}

	// Deleted teams are left out.
	api.On("GetTeamsForUser", "u1").Return([]*model.Team{{Id: "t1"}, {Id: "t2", DeleteAt: 5}, {Id: "t3"}}, nil).Once()
	api.On("GetTeamsForUser", "missing").Return(nil, sampleAppErr).Once()
	ids, err := c.GetTeamIdsForUser(ctx, &corepb.IdRequest{Id: "u1"})
	if err != nil || ids.Error != nil || len(ids.Ids) != 2 || ids.Ids[0] != "t1" || ids.Ids[1] != "t3" {
		t.Fatalf("GetTeamIdsForUser = %v, %v", ids, err)
	}
	ids, _ = c.GetTeamIdsForUser(ctx, &corepb.IdRequest{Id: "missing"})
	checkAppErr(t, ids.Error, wantAppErr)

	// Groups: lower-case names; deleted and nameless groups are left out.
	devs, ops := "Developers", "ops"
	api.On("GetGroupsForUser", "u1").Return([]*model.Group{{Id: "g1", Name: &devs}, {Id: "g2", Name: &ops, DeleteAt: 7}, {Id: "g3"}}, nil).Once()
	api.On("GetGroupsForUser", "missing").Return(nil, sampleAppErr).Once()
	names, err := c.GetGroupNamesForUser(ctx, &corepb.IdRequest{Id: "u1"})
	if err != nil || names.Error != nil || len(names.Ids) != 1 || names.Ids[0] != "developers" {
		t.Fatalf("GetGroupNamesForUser = %v, %v", names, err)
	}
	names, _ = c.GetGroupNamesForUser(ctx, &corepb.IdRequest{Id: "missing"})
	checkAppErr(t, names.Error, wantAppErr)
	if r, _ := c.GetGroupNamesForUser(ctx, &corepb.IdRequest{}); r.Error.GetStatusCode() != 400 {
		t.Errorf("no user id = %v", r)
	}

	api.On("CreateTeamMember", "t1", "u1").Return(&model.TeamMember{TeamId: "t1", UserId: "u1"}, nil).Once()
	api.On("CreateTeamMember", "t1", "missing").Return(nil, sampleAppErr).Once()
	if r, err := c.CreateTeamMember(ctx, &corepb.TeamMemberRequest{TeamId: "t1", UserId: "u1"}); err != nil || r.Error != nil {
		t.Fatalf("CreateTeamMember = %v, %v", r, err)
	}
	r, _ = c.CreateTeamMember(ctx, &corepb.TeamMemberRequest{TeamId: "t1", UserId: "missing"})
	checkAppErr(t, r.Error, wantAppErr)
	if r, _ := c.CreateTeamMember(ctx, &corepb.TeamMemberRequest{UserId: "u1"}); r.Error.GetStatusCode() != 400 {
		t.Errorf("no team id = %v", r)
	}

	// UpdateUser changes the notification settings it names and keeps the others.
	api.On("GetUser", "u2").Return(&model.User{Id: "u2", Username: "x",
		NotifyProps: model.StringMap{"email": "false", "push": "none", "channel": "true"}}, nil).Once()
	api.On("UpdateUser", mock.MatchedBy(func(u *model.User) bool {
		return u.NotifyProps["email"] == "true" && u.NotifyProps["push"] == "mention" && u.NotifyProps["channel"] == "true"
	})).Return(func(u *model.User) *model.User { return u }, nil).Once()
	up, err := c.UpdateUser(ctx, &corepb.UserRequest{User: &corepb.User{Id: "u2", Username: "x",
		NotifyProps: map[string]string{"email": "true", "push": "mention"}}})
	if err != nil || up.Error != nil {
		t.Fatalf("UpdateUser = %v, %v", up, err)
	}
}

func TestAPICreateSession(t *testing.T) {
	c, api := apiClient(t)
	ctx := context.Background()
	cfg := &model.Config{}
	cfg.SetDefaults()
	cfg.ServiceSettings.SiteURL = model.NewPointer("https://chat.example.com/mm/")
	cfg.ServiceSettings.SessionLengthSSOInHours = model.NewPointer(10)
	api.On("GetConfig").Return(cfg)
	api.On("GetUser", "u1").Return(&model.User{Id: "u1", Roles: "system_user"}, nil)
	api.On("GetUser", "gone").Return(&model.User{Id: "gone", Roles: "system_user", DeleteAt: 5}, nil)
	api.On("GetUser", "bot").Return(&model.User{Id: "bot", IsBot: true}, nil)
	api.On("GetUser", "missing").Return(nil, sampleAppErr)
	var made *model.Session
	api.On("CreateSession", mock.Anything).Return(func(s *model.Session) (*model.Session, *model.AppError) {
		made = s
		out := *s
		out.Token = "tok"
		return &out, nil
	})
	before := model.GetMillis()
	r, err := c.CreateSession(ctx, &corepb.CreateSessionRequest{UserId: "u1", Props: map[string]string{"platform": "Microsoft Teams"}})
	if err != nil || r.Error != nil {
		t.Fatalf("CreateSession = %v, %v", r, err)
	}
	if made.UserId != "u1" || made.Roles != "system_user" || made.Props["platform"] != "Microsoft Teams" ||
		made.Props[model.UserAuthServiceIsOAuth] != "true" || made.GetCSRF() == "" {
		t.Errorf("the session made = %+v", made)
	}
	if r.Token != "tok" || r.Csrf != made.GetCSRF() || r.UserId != "u1" || r.CookiePath != "/mm" {
		t.Errorf("answer = %v", r)
	}
	if want := before + 10*3600*1000; r.ExpiresAt < want || r.ExpiresAt > want+60_000 {
		t.Errorf("expires at %d, want about %d (SessionLengthSSOInHours)", r.ExpiresAt, want)
	}
	for _, id := range []string{"gone", "bot"} {
		r, _ := c.CreateSession(ctx, &corepb.CreateSessionRequest{UserId: id})
		if r.Error.GetStatusCode() != 403 || r.Error.GetId() != "msteams.session.refused" || r.Token != "" {
			t.Errorf("CreateSession(%s) = %v", id, r)
		}
	}
	r, _ = c.CreateSession(ctx, &corepb.CreateSessionRequest{UserId: "missing"})
	checkAppErr(t, r.Error, wantAppErr)
	if r, _ := c.CreateSession(ctx, &corepb.CreateSessionRequest{}); r.Error.GetStatusCode() != 400 {
		t.Errorf("no user id = %v", r)
	}
	api.AssertNumberOfCalls(t, "CreateSession", 1)
}
