package mmtest

import (
	"context"
	"testing"
	"time"

	"github.com/mattermost/mattermost/server/public/model"
)

// The Listener's memory is bounded; WaitFor must still find every event that is remembered,
// including ones that arrive while it waits, and must not hang on forgotten ones.
func TestListenerBoundedHistory(t *testing.T) {
	ws := &model.WebSocketClient{
		EventChannel:       make(chan *model.WebSocketEvent),
		ResponseChannel:    make(chan *model.WebSocketResponse),
		PingTimeoutChannel: make(chan bool),
	}
	l := &Listener{ws: ws, notify: make(chan struct{}), done: make(chan struct{})}
	go l.loop()

	seq := func(n int) func(*model.WebSocketEvent) bool {
		return func(ev *model.WebSocketEvent) bool { return ev.GetData()["n"] == n }
	}
	send := func(n int) {
		ev := model.NewWebSocketEvent(model.WebsocketEventPosted, "", "", "", nil, "")
		ws.EventChannel <- ev.SetData(map[string]any{"n": n})
	}

	const total = 2*maxEvents + 123
	found := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_, err := l.WaitFor(ctx, seq(total-1)) // waits while the history wraps around
		found <- err
	}()
	for n := 0; n < total; n++ {
		send(n)
	}
	if err := <-found; err != nil {
		t.Fatalf("the last event was not found: %v", err)
	}
	if got := len(l.Events()); got > maxEvents || got < maxEvents/2 {
		t.Errorf("remembers %d events, want between %d and %d", got, maxEvents/2, maxEvents)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	if _, err := l.WaitFor(ctx, seq(0)); err == nil {
		t.Errorf("found event 0, which should have been forgotten")
	}
	if _, err := l.WaitFor(context.Background(), seq(total-maxEvents/2)); err != nil {
		t.Errorf("a remembered event was not found: %v", err)
	}

	close(ws.EventChannel)
	close(ws.ResponseChannel)
	<-l.done
	if _, err := l.WaitFor(context.Background(), seq(-1)); err == nil {
		t.Errorf("WaitFor on a closed connection did not fail")
	}
}
