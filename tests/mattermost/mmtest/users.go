package mmtest

import (
	"context"
	"fmt"
	"sort"

	"github.com/mattermost/mattermost/server/public/model"
)

// User is a Mattermost user with a logged-in model.Client4. Anything the helpers below do
// not cover can be done with Client directly.
type User struct {
	*model.User
	Password string
	Client   *model.Client4 // logged in as this user (session token in Client.AuthToken)

	server *Server
}

// CreateUser creates a user (as the admin), adds it to s.Team and logs it in.
// The email is <username>@mmtest.example.com.
func (s *Server) CreateUser(ctx context.Context, username string) (*User, error) {
	password := randomPassword()
	u, _, err := s.AdminClient.CreateUser(ctx, &model.User{
		Username: username,
		Email:    username + "@mmtest.example.com",
		Password: password,
	})
	if err != nil {
		return nil, fmt.Errorf("creating user %s: %w", username, err)
	}
	if _, _, err := s.AdminClient.AddTeamMember(ctx, s.Team.Id, u.Id); err != nil {
		return nil, fmt.Errorf("adding %s to team %s: %w", username, s.Team.Name, err)
	}
	return s.Login(ctx, username, password)
}

// Login logs a user in with a fresh client (a new session).
func (s *Server) Login(ctx context.Context, username, password string) (*User, error) {
	c := model.NewAPIv4Client(s.URL)
	u, _, err := c.Login(ctx, username, password)
	if err != nil {
		return nil, fmt.Errorf("logging in as %s: %w", username, err)
	}
	return &User{User: u, Password: password, Client: c, server: s}, nil
}

// CreateTeam creates an open team (as the admin) with the given members.
func (s *Server) CreateTeam(ctx context.Context, name string, members ...*User) (*model.Team, error) {
	t, _, err := s.AdminClient.CreateTeam(ctx, &model.Team{Name: name, DisplayName: name, Type: model.TeamOpen})
	if err != nil {
		return nil, fmt.Errorf("creating team %s: %w", name, err)
	}
	for _, m := range members {
		if _, _, err := s.AdminClient.AddTeamMember(ctx, t.Id, m.Id); err != nil {
			return nil, fmt.Errorf("adding %s to team %s: %w", m.Username, name, err)
		}
	}
	return t, nil
}

// CreateChannel creates a channel in teamID (as the admin; typ is model.ChannelTypeOpen or
// model.ChannelTypePrivate) and adds the members, who must be in that team.
func (s *Server) CreateChannel(ctx context.Context, teamID, name string, typ model.ChannelType, members ...*User) (*model.Channel, error) {
	ch, _, err := s.AdminClient.CreateChannel(ctx, &model.Channel{TeamId: teamID, Name: name, DisplayName: name, Type: typ})
	if err != nil {
		return nil, fmt.Errorf("creating channel %s: %w", name, err)
	}
	for _, m := range members {
		if _, _, err := s.AdminClient.AddChannelMember(ctx, ch.Id, m.Id); err != nil {
			return nil, fmt.Errorf("adding %s to channel %s: %w", m.Username, name, err)
		}
	}
	return ch, nil
}

// DirectChannel opens (or finds) the DM between u and other.
func (u *User) DirectChannel(ctx context.Context, other *User) (*model.Channel, error) {
	ch, _, err := u.Client.CreateDirectChannel(ctx, u.Id, other.Id)
	if err != nil {
		return nil, fmt.Errorf("DM %s-%s: %w", u.Username, other.Username, err)
	}
	return ch, nil
}

// GroupChannel opens (or finds) the GM of u and others (2 to 7 others).
func (u *User) GroupChannel(ctx context.Context, others ...*User) (*model.Channel, error) {
	ids := []string{u.Id}
	for _, o := range others {
		ids = append(ids, o.Id)
	}
	ch, _, err := u.Client.CreateGroupChannel(ctx, ids)
	if err != nil {
		return nil, fmt.Errorf("GM of %d users: %w", len(ids), err)
	}
	return ch, nil
}

// Post creates a post in a channel.
func (u *User) Post(ctx context.Context, channelID, message string) (*model.Post, error) {
	p, _, err := u.Client.CreatePost(ctx, &model.Post{ChannelId: channelID, Message: message})
	if err != nil {
		return nil, fmt.Errorf("%s posting: %w", u.Username, err)
	}
	return p, nil
}

// Reply creates a reply in the thread of rootID.
func (u *User) Reply(ctx context.Context, root *model.Post, message string) (*model.Post, error) {
	rootID := root.Id
	if root.RootId != "" {
		rootID = root.RootId
	}
	p, _, err := u.Client.CreatePost(ctx, &model.Post{ChannelId: root.ChannelId, RootId: rootID, Message: message})
	if err != nil {
		return nil, fmt.Errorf("%s replying: %w", u.Username, err)
	}
	return p, nil
}

// PostFile uploads a file to a channel and posts it with a message.
func (u *User) PostFile(ctx context.Context, channelID, message, filename string, data []byte) (*model.Post, error) {
	up, _, err := u.Client.UploadFile(ctx, data, channelID, filename)
	if err != nil {
		return nil, fmt.Errorf("%s uploading %s: %w", u.Username, filename, err)
	}
	ids := make([]string, 0, len(up.FileInfos))
	for _, fi := range up.FileInfos {
		ids = append(ids, fi.Id)
	}
	p, _, err := u.Client.CreatePost(ctx, &model.Post{ChannelId: channelID, Message: message, FileIds: ids})
	if err != nil {
		return nil, fmt.Errorf("%s posting %s: %w", u.Username, filename, err)
	}
	return p, nil
}

// Edit changes a post's message.
func (u *User) Edit(ctx context.Context, postID, message string) (*model.Post, error) {
	p, _, err := u.Client.PatchPost(ctx, postID, &model.PostPatch{Message: &message})
	if err != nil {
		return nil, fmt.Errorf("%s editing %s: %w", u.Username, postID, err)
	}
	return p, nil
}

// Delete deletes a post.
func (u *User) Delete(ctx context.Context, postID string) error {
	if _, err := u.Client.DeletePost(ctx, postID); err != nil {
		return fmt.Errorf("%s deleting %s: %w", u.Username, postID, err)
	}
	return nil
}

// React adds an emoji reaction (a name such as "thumbsup") to a post.
func (u *User) React(ctx context.Context, postID, emoji string) error {
	if _, _, err := u.Client.SaveReaction(ctx, &model.Reaction{UserId: u.Id, PostId: postID, EmojiName: emoji}); err != nil {
		return fmt.Errorf("%s reacting :%s: to %s: %w", u.Username, emoji, postID, err)
	}
	return nil
}

// Unreact removes the user's reaction from a post.
func (u *User) Unreact(ctx context.Context, postID, emoji string) error {
	if _, err := u.Client.DeleteReaction(ctx, &model.Reaction{UserId: u.Id, PostId: postID, EmojiName: emoji}); err != nil {
		return fmt.Errorf("%s removing :%s: from %s: %w", u.Username, emoji, postID, err)
	}
	return nil
}

// Posts returns a channel's most recent posts (up to 200), oldest first.
func (u *User) Posts(ctx context.Context, channelID string) ([]*model.Post, error) {
	list, _, err := u.Client.GetPostsForChannel(ctx, channelID, 0, 200, "", false, false)
	if err != nil {
		return nil, fmt.Errorf("%s reading channel %s: %w", u.Username, channelID, err)
	}
	posts := make([]*model.Post, 0, len(list.Posts))
	for _, p := range list.Posts {
		posts = append(posts, p)
	}
	sort.Slice(posts, func(i, j int) bool { return posts[i].CreateAt < posts[j].CreateAt })
	return posts, nil
}

// File downloads a file's content and returns its info too.
func (u *User) File(ctx context.Context, fileID string) ([]byte, *model.FileInfo, error) {
	info, _, err := u.Client.GetFileInfo(ctx, fileID)
	if err != nil {
		return nil, nil, fmt.Errorf("%s reading file info %s: %w", u.Username, fileID, err)
	}
	data, _, err := u.Client.GetFile(ctx, fileID)
	if err != nil {
		return nil, nil, fmt.Errorf("%s downloading file %s: %w", u.Username, fileID, err)
	}
	return data, info, nil
}

// Command runs a slash command ("/msteams help") in a channel and returns the server's
// response. Ephemeral posts the command causes arrive on the user's websocket: use a
// Listener (Listen before running the command) and WaitEphemeral.
func (u *User) Command(ctx context.Context, channelID, command string) (*model.CommandResponse, error) {
	ch, _, err := u.Client.GetChannel(ctx, channelID)
	if err != nil {
		return nil, fmt.Errorf("%s reading channel %s: %w", u.Username, channelID, err)
	}
	teamID := ch.TeamId
	if teamID == "" { // DMs and GMs belong to no team; commands still need one
		teamID = u.server.Team.Id
	}
	resp, _, err := u.Client.ExecuteCommandWithTeam(ctx, channelID, teamID, command)
	if err != nil {
		return nil, fmt.Errorf("%s running %q: %w", u.Username, command, err)
	}
	return resp, nil
}
