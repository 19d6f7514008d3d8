package main

// The bounded event queue between Mattermost's hooks and the core, and the single sender that delivers it.
//
// Hooks append and return at once. The sender sends the oldest events in batches with DeliverEvents and forgets
// those the core acknowledges (seq <= handled_through). Everything unacknowledged stays at the front of the queue
// and is sent again, in order, once the core is ready again. An acknowledged event is never sent twice.

import (
	"context"
	"sync"
	"time"

	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/msteams-bridge/msteams/shim/gen/corepb"
)

const (
	defaultQueueLimit = 10000
	maxBatch          = 100
	maxBatchBytes     = maxHooksMessage / 2 // a batch is cut here; a single event is always sent, however large
	deliverTimeout    = 30 * time.Second
)

// coreLink is what hooks need from the supervisor: a ready core, now or after waiting.
type coreLink interface {
	readyClient() (corepb.HooksClient, uint64, bool)
	waitReady(ctx context.Context) (corepb.HooksClient, uint64, error)
}

type eventQueue struct {
	mu      sync.Mutex
	limit   int
	events  []*corepb.HookEvent // unacknowledged, in seq order
	nextSeq uint64
	dropped uint64
	closed  bool
	notify  chan struct{} // capacity 1: "something was appended"

	dropLog rateLimiter
	log     logger
}

func newEventQueue(limit int, log logger) *eventQueue {
	if limit <= 0 {
		limit = defaultQueueLimit
	}
	return &eventQueue{limit: limit, notify: make(chan struct{}, 1), log: log,
		dropLog: rateLimiter{interval: 10 * time.Second}}
}

// push gives ev the next sequence number and appends it. When the queue is full the new event is dropped and
// counted; push never blocks on the core.
func (q *eventQueue) push(ev *corepb.HookEvent) bool {
	q.mu.Lock()
	if q.closed {
		q.mu.Unlock()
		return false
	}
	if len(q.events) >= q.limit {
		q.dropped++
		total := q.dropped
		q.mu.Unlock()
		if ok, suppressed := q.dropLog.allow(); ok {
			q.log.LogError("MS Teams event queue is full; dropping new events until the core catches up",
				"dropped_total", total, "dropped_since_last_report", suppressed+1, "queue_limit", q.limit)
		}
		return false
	}
	q.nextSeq++
	ev.Seq = q.nextSeq
	ev.ReceivedAt = time.Now().UnixMilli()
	q.events = append(q.events, ev)
	q.mu.Unlock()
	select {
	case q.notify <- struct{}{}:
	default:
	}
	return true
}

// front returns up to n of the oldest unacknowledged events.
// front returns up to n of the oldest events, fewer when their encoded size passes maxBytes (but at least one).
func (q *eventQueue) front(n, maxBytes int) []*corepb.HookEvent {
	q.mu.Lock()
	defer q.mu.Unlock()
	n = min(n, len(q.events))
	size := 0
	for i, e := range q.events[:n] {
		size += proto.Size(e)
		if i > 0 && size > maxBytes {
			n = i
			break
		}
	}
	return append([]*corepb.HookEvent(nil), q.events[:n]...)
}

// ack forgets every event with seq <= through and returns how many that were.
func (q *eventQueue) ack(through uint64) int {
	q.mu.Lock()
	defer q.mu.Unlock()
	i := 0
	for i < len(q.events) && q.events[i].Seq <= through {
		q.events[i] = nil
		i++
	}
	q.events = q.events[i:]
	if len(q.events) == 0 {
		q.events = nil // let the backing array go
	}
	return i
}

func (q *eventQueue) stats() (pending int, dropped uint64) {
	q.mu.Lock()
	defer q.mu.Unlock()
	return len(q.events), q.dropped
}

func (q *eventQueue) close() {
	q.mu.Lock()
	q.closed = true
	q.mu.Unlock()
}

// eventSender is the single goroutine that delivers the queue.
type eventSender struct {
	q        *eventQueue
	link     coreLink
	instance string
	log      logger
	onAck    func(through uint64) // test hook; nil in production

	cancel context.CancelFunc
	done   chan struct{}
}

func startEventSender(q *eventQueue, link coreLink, instance string, log logger) *eventSender {
	ctx, cancel := context.WithCancel(context.Background())
	s := &eventSender{q: q, link: link, instance: instance, log: log, cancel: cancel, done: make(chan struct{})}
	go s.run(ctx)
	return s
}

// stop ends delivery (an RPC in flight is cancelled; its events stay unacknowledged) and waits for the goroutine.
func (s *eventSender) stop() {
	s.cancel()
	<-s.done
}

func (s *eventSender) run(ctx context.Context) {
	defer close(s.done)
	const minPause, maxPause = 20 * time.Millisecond, time.Second
	pause := minPause
	failLog := rateLimiter{interval: 10 * time.Second}
	sleep := func() bool {
		select {
		case <-time.After(pause):
		case <-ctx.Done():
			return false
		}
		pause = min(pause*2, maxPause)
		return true
	}
	for {
		batch := s.q.front(maxBatch, maxBatchBytes)
		if len(batch) == 0 {
			select {
			case <-s.q.notify:
				continue
			case <-ctx.Done():
				return
			}
		}
		client, _, err := s.link.waitReady(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			if !sleep() { // the supervisor is stopping; keep the events, nothing to deliver to
				return
			}
			continue
		}
		rctx, cancel := context.WithTimeout(ctx, deliverTimeout)
		ack, err := client.DeliverEvents(rctx, &corepb.EventBatch{ShimInstance: s.instance, Events: batch})
		cancel()
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			if ok, suppressed := failLog.allow(); ok {
				pending, _ := s.q.stats()
				s.log.LogWarn("MS Teams event delivery failed; will resend", "error", status.Convert(err).Message(),
					"pending", pending, "failures_since_last_report", suppressed+1)
			}
			if !sleep() {
				return
			}
			continue
		}
		// Never trust an ack beyond what was sent: that would forget events the core has not seen.
		through := min(ack.GetHandledThrough(), batch[len(batch)-1].Seq)
		n := s.q.ack(through)
		if s.onAck != nil && n > 0 {
			s.onAck(through)
		}
		if n == 0 {
			// The core took nothing from this batch; do not spin.
			if !sleep() {
				return
			}
			continue
		}
		pause = minPause
	}
}
