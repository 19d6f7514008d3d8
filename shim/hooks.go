package main

// Hook forwarding. Event hooks enqueue and return at once; ExecuteCommand is synchronous.

import (
	"context"
	"time"

	"github.com/mattermost/mattermost/server/public/model"
	"github.com/mattermost/mattermost/server/public/plugin"
	"google.golang.org/grpc/status"

	"github.com/msteams-bridge/msteams/shim/gen/corepb"
)

const (
	commandTimeout          = 30 * time.Second
	defaultCommandReadyWait = 5 * time.Second
	restartingText          = "The MS Teams plugin is restarting. Please try again in a few seconds."
)

// enqueue hands an event to the sender; without an active plugin the event has nowhere to go.
func (p *Plugin) enqueue(c *plugin.Context, ev *corepb.HookEvent) {
	_, q := p.current()
	if q == nil {
		return
	}
	ev.Context = contextToProto(c)
	q.push(ev)
}

func (p *Plugin) MessageHasBeenPosted(c *plugin.Context, post *model.Post) {
	p.enqueue(c, &corepb.HookEvent{Event: &corepb.HookEvent_MessagePosted{MessagePosted: postToProto(post)}})
}

func (p *Plugin) MessageHasBeenUpdated(c *plugin.Context, newPost, oldPost *model.Post) {
	p.enqueue(c, &corepb.HookEvent{Event: &corepb.HookEvent_MessageUpdated{
		MessageUpdated: &corepb.PostUpdate{NewPost: postToProto(newPost), OldPost: postToProto(oldPost)},
	}})
}

func (p *Plugin) MessageHasBeenDeleted(c *plugin.Context, post *model.Post) {
	p.enqueue(c, &corepb.HookEvent{Event: &corepb.HookEvent_MessageDeleted{MessageDeleted: postToProto(post)}})
}

func (p *Plugin) ReactionHasBeenAdded(c *plugin.Context, reaction *model.Reaction) {
	p.enqueue(c, &corepb.HookEvent{Event: &corepb.HookEvent_ReactionAdded{ReactionAdded: reactionToProto(reaction)}})
}

func (p *Plugin) ReactionHasBeenRemoved(c *plugin.Context, reaction *model.Reaction) {
	p.enqueue(c, &corepb.HookEvent{Event: &corepb.HookEvent_ReactionRemoved{ReactionRemoved: reactionToProto(reaction)}})
}

func (p *Plugin) UserHasLoggedIn(c *plugin.Context, user *model.User) {
	p.enqueue(c, &corepb.HookEvent{Event: &corepb.HookEvent_UserLoggedIn{UserLoggedIn: userToProto(user)}})
}

func (p *Plugin) UserHasBeenCreated(c *plugin.Context, user *model.User) {
	p.enqueue(c, &corepb.HookEvent{Event: &corepb.HookEvent_UserCreated{UserCreated: userToProto(user)}})
}

func (p *Plugin) OnPluginClusterEvent(c *plugin.Context, ev model.PluginClusterEvent) {
	p.enqueue(c, &corepb.HookEvent{Event: &corepb.HookEvent_ClusterEvent{
		ClusterEvent: &corepb.ClusterEvent{Id: ev.Id, Data: append([]byte(nil), ev.Data...)},
	}})
}

func (p *Plugin) ChannelHasBeenCreated(c *plugin.Context, channel *model.Channel) {
	p.enqueue(c, &corepb.HookEvent{Event: &corepb.HookEvent_ChannelCreated{ChannelCreated: channelToProto(channel)}})
}

// ExecuteCommand forwards a slash command and waits for the core's answer.
func (p *Plugin) ExecuteCommand(c *plugin.Context, args *model.CommandArgs) (*model.CommandResponse, *model.AppError) {
	link, _ := p.current()
	if link == nil {
		return restartingResponse(), nil
	}
	wait := p.commandReadyWait
	if wait <= 0 {
		wait = defaultCommandReadyWait
	}
	wctx, cancel := context.WithTimeout(context.Background(), wait)
	client, _, err := link.waitReady(wctx)
	cancel()
	if err != nil {
		return restartingResponse(), nil
	}

	ctx, cancel := context.WithTimeout(context.Background(), commandTimeout)
	defer cancel()
	res, err := client.ExecuteCommand(ctx, &corepb.CommandRequest{Context: contextToProto(c), Args: commandArgsToProto(args)})
	if err != nil {
		return nil, &model.AppError{
			Id:              "plugin.msteams.command.core_unavailable",
			Message:         "The MS Teams plugin could not run the command. Please try again in a few seconds.",
			DetailedError:   status.Convert(err).Message(),
			StatusCode:      503,
			Where:           "msteams.ExecuteCommand",
			SkipTranslation: true,
		}
	}
	if appErr := appErrorFromProto(res.GetError()); appErr != nil {
		return nil, appErr
	}
	resp, err := commandResponseFromProto(res.GetResponse())
	if err != nil {
		return nil, &model.AppError{
			Id:              "plugin.msteams.command.bad_response",
			Message:         "The MS Teams plugin answered the command with an invalid response.",
			DetailedError:   err.Error(),
			StatusCode:      500,
			Where:           "msteams.ExecuteCommand",
			SkipTranslation: true,
		}
	}
	return resp, nil
}

func restartingResponse() *model.CommandResponse {
	return &model.CommandResponse{ResponseType: model.CommandResponseTypeEphemeral, Text: restartingText}
}
