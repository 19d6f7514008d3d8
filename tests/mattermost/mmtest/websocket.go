package mmtest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/mattermost/mattermost/server/public/model"
)

// maxEvents bounds what a Listener remembers; the oldest half is forgotten when it is reached.
const maxEvents = 10000

// Listener records the websocket events of one user from the moment Listen returns.
type Listener struct {
	user   *User
	ws     *model.WebSocketClient
	mu     sync.Mutex
	events []*model.WebSocketEvent // the most recent events, at most maxEvents
	total  int                     // events received since Listen; events[0] is number total-len(events)
	notify chan struct{}           // closed and replaced on every event
	done   chan struct{}           // closed when the connection ends
}

// Listen opens the user's websocket and returns once the server has authenticated it
// (the "hello" event), so no event that happens afterwards is missed. Close it when done.
func (u *User) Listen(ctx context.Context) (*Listener, error) {
	wsURL := "ws" + strings.TrimPrefix(u.server.URL, "http")
	ws, err := model.NewWebSocketClient4(wsURL, u.Client.AuthToken)
	if err != nil {
		return nil, fmt.Errorf("%s websocket: %w", u.Username, err)
	}
	l := &Listener{user: u, ws: ws, notify: make(chan struct{}), done: make(chan struct{})}
	ws.Listen()
	go l.loop()
	if _, err := l.WaitFor(ctx, func(ev *model.WebSocketEvent) bool {
		return ev.EventType() == model.WebsocketEventHello
	}); err != nil {
		ws.Close()
		return nil, fmt.Errorf("%s websocket not authenticated: %w", u.Username, err)
	}
	return l, nil
}

func (l *Listener) loop() {
	defer close(l.done)
	for {
		select {
		case ev, ok := <-l.ws.EventChannel:
			if !ok {
				return
			}
			l.mu.Lock()
			if len(l.events) == maxEvents {
				// Forget the older half into a new array: WaitFor may still be reading the old one.
				l.events = append(make([]*model.WebSocketEvent, 0, maxEvents), l.events[maxEvents/2:]...)
			}
			l.events = append(l.events, ev)
			l.total++
			close(l.notify)
			l.notify = make(chan struct{})
			l.mu.Unlock()
		case _, ok := <-l.ws.ResponseChannel:
			if !ok {
				return
			}
		case <-l.ws.PingTimeoutChannel:
		}
	}
}

// Close closes the websocket.
func (l *Listener) Close() {
	l.ws.Close()
	select {
	case <-l.done:
	case <-time.After(5 * time.Second):
	}
}

// Events returns a copy of every event received so far.
func (l *Listener) Events() []*model.WebSocketEvent {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]*model.WebSocketEvent(nil), l.events...)
}

// WaitFor returns the first event, received since Listen, that satisfies pred; it waits
// for one until ctx ends. Past events count too, so an event that arrived before the call
// is found: make predicates specific (a post id, a message) when events repeat.
func (l *Listener) WaitFor(ctx context.Context, pred func(*model.WebSocketEvent) bool) (*model.WebSocketEvent, error) {
	next := 0 // number of the next event to look at
	for {
		l.mu.Lock()
		events := l.events // appended to only, or replaced by a new array: safe to read unlocked
		first, notify := l.total-len(l.events), l.notify
		l.mu.Unlock()
		if next < first { // forgotten meanwhile
			next = first
		}
		for ; next < first+len(events); next++ {
			if ev := events[next-first]; pred(ev) {
				return ev, nil
			}
		}
		select {
		case <-notify:
		case <-l.done:
			if l.ws.ListenError != nil {
				return nil, fmt.Errorf("websocket closed: %w", l.ws.ListenError)
			}
			return nil, errors.New("websocket closed")
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

// waitPost waits for an event of type typ whose post satisfies pred, and returns the post.
func (l *Listener) waitPost(ctx context.Context, typ model.WebsocketEventType, pred func(*model.Post) bool) (*model.Post, error) {
	var post *model.Post
	_, err := l.WaitFor(ctx, func(ev *model.WebSocketEvent) bool {
		if ev.EventType() != typ {
			return false
		}
		p := EventPost(ev)
		if p != nil && (pred == nil || pred(p)) {
			post = p
			return true
		}
		return false
	})
	if err != nil {
		return nil, fmt.Errorf("waiting for a %s event for %s: %w", typ, l.user.Username, err)
	}
	return post, nil
}

// WaitPosted waits for a post (a "posted" event) that satisfies pred (nil: any).
func (l *Listener) WaitPosted(ctx context.Context, pred func(*model.Post) bool) (*model.Post, error) {
	return l.waitPost(ctx, model.WebsocketEventPosted, pred)
}

// WaitEphemeral waits for an ephemeral post (shown only to this user: slash command
// replies, plugin notices) that satisfies pred (nil: any).
func (l *Listener) WaitEphemeral(ctx context.Context, pred func(*model.Post) bool) (*model.Post, error) {
	return l.waitPost(ctx, model.WebsocketEventEphemeralMessage, pred)
}

// EventPost decodes the post carried by a posted, post_edited, post_deleted or
// ephemeral_message event (nil if there is none).
func EventPost(ev *model.WebSocketEvent) *model.Post {
	raw, ok := ev.GetData()["post"].(string)
	if !ok {
		return nil
	}
	var p model.Post
	if err := json.Unmarshal([]byte(raw), &p); err != nil {
		return nil
	}
	return &p
}
