package main

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/mattermost/mattermost/server/public/model"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	"github.com/msteams-bridge/msteams/shim/gen/corepb"
)

func samplePost(id, msg string) *model.Post {
	remote := "remote-1"
	p := &model.Post{
		Id: id, CreateAt: 1000, UpdateAt: 2000, EditAt: 3000, DeleteAt: 0, IsPinned: true,
		UserId: "user1", ChannelId: "chan1", RootId: "root1", OriginalId: "orig1",
		Message: msg, Type: "custom_x", Hashtags: "#a", FileIds: model.StringArray{"f1", "f2"},
		PendingPostId: "pend1", HasReactions: true, RemoteId: &remote,
	}
	p.SetProps(model.StringInterface{"from_msteams": true, "n": float64(3)})
	return p
}

func wantPost(id, msg string) *corepb.Post {
	// Only the fields the core uses travel (edit_at, is_pinned, hashtags, … do not).
	return &corepb.Post{
		Id: id, CreateAt: 1000, UpdateAt: 2000,
		UserId: "user1", ChannelId: "chan1", RootId: "root1",
		Message: msg, Type: "custom_x", FileIds: []string{"f1", "f2"},
		PropsJson: `{"from_msteams":true,"n":3}`,
	}
}

func TestEveryHookKindIsForwardedWithItsFields(t *testing.T) {
	f := &fakeHooks{}
	p, _, _ := newLinkedPlugin(t, f, true)

	authData := "aad-oid"
	user := &model.User{
		Id: "u1", CreateAt: 1, UpdateAt: 2, DeleteAt: 3, Username: "alice", AuthData: &authData, AuthService: "office365",
		Email: "alice@example.com", EmailVerified: true, Nickname: "al", FirstName: "Alice", LastName: "Liddell",
		Position: "eng", Roles: "system_user", Locale: "en", IsBot: false, Props: model.StringMap{"k": "v"},
		LastPictureUpdate: 9, Password: "hash-must-not-travel", MfaSecret: "mfa-must-not-travel",
	}
	wantUser := &corepb.User{
		Id: "u1", Username: "alice", AuthData: "aad-oid", AuthService: "office365",
		Email: "alice@example.com", EmailVerified: true, Nickname: "al", FirstName: "Alice", LastName: "Liddell",
		Position: "eng", Props: map[string]string{"k": "v"}, Deactivated: true,
	}
	remote := "r9"
	reaction := &model.Reaction{UserId: "u1", PostId: "p1", EmojiName: "tada", CreateAt: 77, ChannelId: "c1", RemoteId: &remote}
	wantReaction := &corepb.Reaction{UserId: "u1", PostId: "p1", EmojiName: "tada", CreateAt: 77, ChannelId: "c1"}
	channel := &model.Channel{Id: "c1", CreateAt: 1, UpdateAt: 2, DeleteAt: 0, TeamId: "t1", Type: model.ChannelTypeDirect,
		DisplayName: "DM", Name: "a__b", Header: "h", Purpose: "p", CreatorId: "u1", LastPostAt: 5}
	wantChannel := &corepb.Channel{Id: "c1", TeamId: "t1", Type: "D", DisplayName: "DM", Name: "a__b", CreatorId: "u1"}

	p.MessageHasBeenPosted(testCtx, samplePost("p1", "hello"))
	p.MessageHasBeenUpdated(testCtx, samplePost("p1", "new"), samplePost("p1", "old"))
	p.MessageHasBeenDeleted(testCtx, samplePost("p1", "gone"))
	p.ReactionHasBeenAdded(testCtx, reaction)
	p.ReactionHasBeenRemoved(testCtx, reaction)
	p.UserHasLoggedIn(testCtx, user)
	p.UserHasBeenCreated(nil, user)
	p.OnPluginClusterEvent(testCtx, model.PluginClusterEvent{Id: "sync", Data: []byte{0, 1, 2}})
	p.ChannelHasBeenCreated(testCtx, channel)

	got := f.waitEvents(t, 9)
	wantCtx := &corepb.RequestContext{SessionId: "sess", RequestId: "req", IpAddress: "10.0.0.1", AcceptLanguage: "de", UserAgent: "ua"}
	want := []*corepb.HookEvent{
		{Event: &corepb.HookEvent_MessagePosted{MessagePosted: wantPost("p1", "hello")}},
		{Event: &corepb.HookEvent_MessageUpdated{MessageUpdated: &corepb.PostUpdate{NewPost: wantPost("p1", "new"), OldPost: wantPost("p1", "old")}}},
		{Event: &corepb.HookEvent_MessageDeleted{MessageDeleted: wantPost("p1", "gone")}},
		{Event: &corepb.HookEvent_ReactionAdded{ReactionAdded: wantReaction}},
		{Event: &corepb.HookEvent_ReactionRemoved{ReactionRemoved: wantReaction}},
		{Event: &corepb.HookEvent_UserLoggedIn{UserLoggedIn: wantUser}},
		{Event: &corepb.HookEvent_UserCreated{UserCreated: wantUser}},
		{Event: &corepb.HookEvent_ClusterEvent{ClusterEvent: &corepb.ClusterEvent{Id: "sync", Data: []byte{0, 1, 2}}}},
		{Event: &corepb.HookEvent_ChannelCreated{ChannelCreated: wantChannel}},
	}
	before := time.Now().Add(-time.Minute).UnixMilli()
	for i := range want {
		want[i].Seq = uint64(i + 1)
		want[i].Context = wantCtx
		if i == 6 {
			want[i].Context = nil // UserHasBeenCreated was called with a nil context
		}
		if got[i].ReceivedAt < before || got[i].ReceivedAt > time.Now().UnixMilli() {
			t.Errorf("event %d received_at %d is not now", i, got[i].ReceivedAt)
		}
		got[i].ReceivedAt = 0
		if !proto.Equal(got[i], want[i]) {
			t.Errorf("event %d:\n got  %s\n want %s", i, protojson.Format(got[i]), protojson.Format(want[i]))
		}
	}
	if len(f.instances) != 1 {
		t.Errorf("shim instances = %v", f.instances)
	}
	for inst := range f.instances {
		if len(inst) != 32 || inst != p.instance {
			t.Errorf("shim instance %q", inst)
		}
	}
	for _, ev := range got {
		if u := ev.GetUserLoggedIn(); u != nil && strings.Contains(u.String(), "must-not-travel") {
			t.Error("password or MFA secret forwarded")
		}
	}
}

func TestEventsRaisedWhileCoreIsDownAreDeliveredInOrderOnce(t *testing.T) {
	f := &fakeHooks{}
	p, link, _ := newLinkedPlugin(t, f, false)
	for i := 0; i < 250; i++ { // more than two batches
		p.MessageHasBeenPosted(nil, &model.Post{Id: "p", Message: "m"})
	}
	time.Sleep(50 * time.Millisecond)
	if n := len(f.received()); n != 0 {
		t.Fatalf("%d events delivered while the core was down", n)
	}
	link.setUp(true)
	got := f.waitEvents(t, 250)
	time.Sleep(50 * time.Millisecond)
	if got = f.received(); len(got) != 250 {
		t.Fatalf("%d deliveries, want 250", len(got))
	}
	for i, ev := range got {
		if ev.Seq != uint64(i+1) {
			t.Fatalf("delivery %d has seq %d", i, ev.Seq)
		}
	}
}

func TestQueueFullDropsNewEventsAndCountsThem(t *testing.T) {
	f := &fakeHooks{}
	api := &fakeAPI{}
	p := &Plugin{queueLimit: 5}
	p.SetAPI(api)
	link := newSwitchLink(startFakeCore(t, f), false)
	p.start(nil, link)
	t.Cleanup(func() { p.OnDeactivate() })

	for i := 0; i < 8; i++ {
		p.MessageHasBeenPosted(nil, &model.Post{Id: "p", Message: string(rune('a' + i))})
	}
	pending, dropped := p.queue.stats()
	if pending != 5 || dropped != 3 {
		t.Fatalf("pending %d dropped %d, want 5 and 3", pending, dropped)
	}
	l, ok := api.findLog("event queue is full")
	if !ok || l.level != "error" {
		t.Fatalf("no error log of the drop:\n%s", api.allLogs())
	}
	if !strings.Contains(l.String(), "dropped_total 1") {
		t.Errorf("first drop log: %s", l)
	}
	// Rate-limited: three drops, one log line.
	if n := strings.Count(api.allLogs(), "event queue is full"); n != 1 {
		t.Errorf("%d drop log lines, want 1", n)
	}
	link.setUp(true)
	got := f.waitEvents(t, 5)
	for i, ev := range got {
		// The oldest are kept: the new ones were dropped, and seq has no gaps.
		if ev.Seq != uint64(i+1) || ev.GetMessagePosted().Message != string(rune('a'+i)) {
			t.Errorf("event %d: seq %d message %q", i, ev.Seq, ev.GetMessagePosted().Message)
		}
	}
}

// ackHooks acknowledges at most through ackThrough, as a core that falls behind may: whatever it was sent
// after that stays unacknowledged.
type ackHooks struct {
	fakeHooks
	ackThrough uint64
}

func (a *ackHooks) DeliverEvents(ctx context.Context, b *corepb.EventBatch) (*corepb.EventAck, error) {
	if _, err := a.fakeHooks.DeliverEvents(ctx, b); err != nil {
		return nil, err
	}
	last := b.Events[len(b.Events)-1].Seq
	return &corepb.EventAck{HandledThrough: min(last, a.ackThrough)}, nil
}

func TestPartialAcknowledgementResendsOnlyTheRest(t *testing.T) {
	f := &ackHooks{ackThrough: 3}
	client := startFakeCore(t, f)
	api := &fakeAPI{}
	p := &Plugin{}
	p.SetAPI(api)
	p.start(nil, newSwitchLink(client, true))
	t.Cleanup(func() { p.OnDeactivate() })
	for i := 0; i < 5; i++ {
		p.MessageHasBeenPosted(nil, &model.Post{Id: "p"})
	}
	// However the five are batched, every batch is acked through min(its last seq, 3): 1..3 leave the queue once
	// acked, and 4..5 are resent with no progress. This core never acks 4 and 5, so they must stay queued and
	// never be dropped.
	eventually(t, 5*time.Second, "seq 1..3 acknowledged", func() bool {
		pending, _ := p.queue.stats()
		return pending == 2
	})
	// Resent without progress: still queued, never dropped.
	eventually(t, 5*time.Second, "seq 4 resent", func() bool { return countSeq(f.received(), 4) >= 2 })
	if pending, _ := p.queue.stats(); pending != 2 {
		t.Fatalf("pending %d, want 2 (seq 4 and 5)", pending)
	}
	for _, ev := range f.received() {
		if ev.Seq <= 3 && countSeq(f.received(), ev.Seq) > 1 {
			t.Fatalf("acknowledged seq %d sent again", ev.Seq)
		}
	}
}

func countSeq(evs []*corepb.HookEvent, seq uint64) int {
	n := 0
	for _, e := range evs {
		if e.Seq == seq {
			n++
		}
	}
	return n
}

// ---- ExecuteCommand ----

func TestExecuteCommandForwardsArgsAndMapsResponse(t *testing.T) {
	var gotReq *corepb.CommandRequest
	f := &fakeHooks{command: func(r *corepb.CommandRequest) (*corepb.CommandResult, error) {
		gotReq = r
		return &corepb.CommandResult{Response: &corepb.CommandResponse{
			ResponseType: "ephemeral", Text: "help text", Username: "msteams", PropsJson: `{"a":1}`, SkipSlackParsing: true,
		}}, nil
	}}
	p, _, _ := newLinkedPlugin(t, f, true)
	resp, appErr := p.ExecuteCommand(testCtx, &model.CommandArgs{
		UserId: "u1", ChannelId: "c1", TeamId: "t1", RootId: "r1", ParentId: "pa", TriggerId: "tr",
		Command: "/msteams help", SiteURL: "http://mm", UserMentions: model.UserMentionMap{"@bob": "u2"},
		ChannelMentions: model.ChannelMentionMap{"~town": "c9"},
	})
	if appErr != nil {
		t.Fatal(appErr)
	}
	want := &corepb.CommandArgs{UserId: "u1", ChannelId: "c1", TeamId: "t1", RootId: "r1", ParentId: "pa", TriggerId: "tr",
		Command: "/msteams help", SiteUrl: "http://mm", UserMentions: map[string]string{"@bob": "u2"},
		ChannelMentions: map[string]string{"~town": "c9"}}
	if !proto.Equal(gotReq.Args, want) || gotReq.Context.GetSessionId() != "sess" {
		t.Errorf("request = %s", protojson.Format(gotReq))
	}
	if resp.ResponseType != "ephemeral" || resp.Text != "help text" || resp.Username != "msteams" ||
		resp.Props["a"] != float64(1) || !resp.SkipSlackParsing {
		t.Errorf("response = %+v", resp)
	}
}

func TestExecuteCommandErrorBecomesAppError(t *testing.T) {
	f := &fakeHooks{command: func(*corepb.CommandRequest) (*corepb.CommandResult, error) {
		return &corepb.CommandResult{Error: &corepb.AppError{
			Id: "msteams.command.forbidden", Message: "Only system admins can link channels.",
			DetailedError: "user u1 lacks manage_system", RequestId: "rq", StatusCode: 403, Where: "commands.link",
		}}, nil
	}}
	p, _, _ := newLinkedPlugin(t, f, true)
	resp, appErr := p.ExecuteCommand(testCtx, &model.CommandArgs{Command: "/msteams link"})
	if resp != nil {
		t.Errorf("response %+v with an error", resp)
	}
	want := &model.AppError{Id: "msteams.command.forbidden", Message: "Only system admins can link channels.",
		DetailedError: "user u1 lacks manage_system", RequestId: "rq", StatusCode: 403, Where: "commands.link", SkipTranslation: true}
	if appErr == nil || appErr.Error() != want.Error() || appErr.StatusCode != 403 || appErr.RequestId != "rq" || !appErr.SkipTranslation {
		t.Fatalf("appErr = %#v", appErr)
	}
}

func TestExecuteCommandWithoutResponseOrErrorAnswersEmpty(t *testing.T) {
	f := &fakeHooks{command: func(*corepb.CommandRequest) (*corepb.CommandResult, error) {
		return &corepb.CommandResult{}, nil
	}}
	p, _, _ := newLinkedPlugin(t, f, true)
	resp, appErr := p.ExecuteCommand(testCtx, &model.CommandArgs{})
	if appErr != nil || resp == nil {
		t.Fatalf("resp %v err %v", resp, appErr)
	}
}

func TestExecuteCommandTransportErrorBecomesAppError(t *testing.T) {
	f := &fakeHooks{command: func(*corepb.CommandRequest) (*corepb.CommandResult, error) {
		return nil, status.Error(codes.Internal, "core crashed mid-call")
	}}
	p, _, _ := newLinkedPlugin(t, f, true)
	_, appErr := p.ExecuteCommand(testCtx, &model.CommandArgs{})
	if appErr == nil || appErr.StatusCode != 503 || !strings.Contains(appErr.DetailedError, "core crashed mid-call") {
		t.Fatalf("appErr = %#v", appErr)
	}
}

func TestExecuteCommandWhileRestartingWaitsThenAnswersEphemerally(t *testing.T) {
	called := make(chan struct{}, 1)
	f := &fakeHooks{command: func(*corepb.CommandRequest) (*corepb.CommandResult, error) {
		called <- struct{}{}
		return &corepb.CommandResult{Response: &corepb.CommandResponse{Text: "ok"}}, nil
	}}
	p, link, _ := newLinkedPlugin(t, f, false)
	p.commandReadyWait = 200 * time.Millisecond
	start := time.Now()
	resp, appErr := p.ExecuteCommand(testCtx, &model.CommandArgs{})
	if appErr != nil || resp.ResponseType != model.CommandResponseTypeEphemeral || resp.Text != restartingText {
		t.Fatalf("resp %+v err %v", resp, appErr)
	}
	if d := time.Since(start); d < 200*time.Millisecond || d > time.Second {
		t.Errorf("waited %s", d)
	}
	// A core that comes back within the wait gets the command.
	p.commandReadyWait = 2 * time.Second
	go func() {
		time.Sleep(100 * time.Millisecond)
		link.setUp(true)
	}()
	resp, appErr = p.ExecuteCommand(testCtx, &model.CommandArgs{})
	if appErr != nil || resp.Text != "ok" {
		t.Fatalf("resp %+v err %v", resp, appErr)
	}
	<-called
}

func TestQueueFrontCutsBatchesBySizeButAlwaysSendsOne(t *testing.T) {
	q := newEventQueue(100, &fakeAPI{})
	big := strings.Repeat("x", 1000)
	for i := 0; i < 5; i++ {
		q.push(&corepb.HookEvent{Event: &corepb.HookEvent_MessagePosted{MessagePosted: &corepb.Post{Message: big}}})
	}
	if got := len(q.front(100, 2500)); got != 2 {
		t.Errorf("batch of %d events, want 2 (each is over 1000 bytes)", got)
	}
	if got := len(q.front(100, 10)); got != 1 {
		t.Errorf("batch of %d events, want the first alone although it is over the size", got)
	}
	if got := len(q.front(3, 1<<20)); got != 3 {
		t.Errorf("batch of %d events, want 3 (the count limit)", got)
	}
}
