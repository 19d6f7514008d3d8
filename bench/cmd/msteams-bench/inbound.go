// The inbound scenario: Teams-only users send chat messages to connected Mattermost users' Teams twins through the
// emulator's control API; the bridge must turn each into exactly one Mattermost DM post, in order.
package main

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/mattermost/mattermost/server/public/model"
	"github.com/msteams-bridge/msteams/tests/e2e/harness"
	"github.com/msteams-bridge/msteams/tests/emulators/graph/m365ctl"
	"github.com/msteams-bridge/msteams/tests/mattermost/mmtest"
)

// inChat is one measured one-on-one chat: a connected Mattermost user, its Teams twin and a Teams-only sender.
type inChat struct {
	idx      int
	mmUser   *mmtest.User
	twin     *m365ctl.User
	sender   *m365ctl.User
	chatID   string
	listener *mmtest.Listener
}

// seen is a "posted" websocket event for a benchmark message.
type seen struct {
	phase, chat, seq int
	postID           string
	userID           string
	channelID        string
	createAt         int64 // ms, Mattermost's
	at               time.Time
}

type inbound struct {
	chats []*inChat
	phase int

	mu       sync.Mutex
	events   []seen         // every benchmark post seen, in arrival order
	channels map[int]string // chat index → DM channel id, from the events
	notify   chan struct{}  // closed and replaced on every event
}

func newInbound() scenario {
	in := &inbound{channels: map[int]string{}, notify: make(chan struct{})}
	return scenario{setup: in.setup, plan: ratePhases,
		run: func(ctx context.Context, env *Env, spec phaseSpec) (*Phase, error) {
			return in.run(ctx, env, spec.Rate)
		}}
}

// msgRe matches the text of a benchmark message: phase, chat, sequence in the chat (phase 0 = warm-up).
var msgRe = regexp.MustCompile(`bench p(\d+) c(\d+) #(\d+)`)

func msgText(phase, chat, seq int) string { return fmt.Sprintf("bench p%d c%d #%d", phase, chat, seq) }

func parseMsg(s string) (phase, chat, seq int, ok bool) {
	m := msgRe.FindStringSubmatch(s)
	if m == nil {
		return 0, 0, 0, false
	}
	phase, _ = strconv.Atoi(m[1])
	chat, _ = strconv.Atoi(m[2])
	seq, _ = strconv.Atoi(m[3])
	return phase, chat, seq, true
}

// forEach runs f for 0..n-1 with at most par at a time and returns the first error.
func forEach(ctx context.Context, n, par int, f func(i int) error) error {
	sem := make(chan struct{}, par)
	errs := make(chan error, n)
	var wg sync.WaitGroup
	for i := 0; i < n; i++ {
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
			wg.Wait()
			return ctx.Err()
		}
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			defer func() { <-sem }()
			if err := f(i); err != nil {
				errs <- err
			}
		}(i)
	}
	wg.Wait()
	close(errs)
	return <-errs // nil when closed and empty
}

func (in *inbound) setup(ctx context.Context, env *Env) (map[string]any, error) {
	b, k := env.Bridge, env.Cfg.Chats
	// Who is in chat i: by default its own connected user and its own Teams-only sender; with -senders S, S senders
	// shared by ceil(k/S) connected users, chat i between user i/S and sender i%S (many chats, few Mattermost users:
	// an unlicensed server refuses more than a few hundred).
	users, senders := k, k
	owner, from := func(i int) int { return i }, func(i int) int { return i }
	if s := env.Cfg.Senders; s > 0 && s < k {
		users, senders = (k+s-1)/s, s
		owner, from = func(i int) int { return i / s }, func(i int) int { return i % s }
	}
	in.chats = make([]*inChat, k)
	people := make([]*inChat, users) // mmUser and twin
	teamsOnly := make([]*m365ctl.User, senders)
	env.Logf("creating and connecting %d Mattermost users through OAuth, and %d Teams-only senders, for %d chats", users, senders, k)
	t0 := time.Now()
	err := forEach(ctx, max(users, senders), 4, func(i int) error {
		if i < users {
			c := &inChat{idx: i}
			var err error
			if c.mmUser, err = b.MM.CreateUser(ctx, fmt.Sprintf("bench%03d", i)); err != nil {
				return fmt.Errorf("creating Mattermost user %d: %w", i, err)
			}
			if c.twin, err = b.TeamsTwin(ctx, c.mmUser, fmt.Sprintf("Bench User %03d", i)); err != nil {
				return fmt.Errorf("creating the Teams twin of %s: %w", c.mmUser.Username, err)
			}
			if _, err = b.Connect(ctx, c.mmUser, c.twin.ID); err != nil {
				return fmt.Errorf("connecting %s: %w", c.mmUser.Username, err)
			}
			people[i] = c
		}
		if i < senders {
			mail := fmt.Sprintf("sender%03d@contoso.example", i)
			sender, err := b.Ctl.CreateUser(ctx, m365ctl.UserSpec{DisplayName: fmt.Sprintf("Sender %03d", i),
				Mail: mail, UserPrincipalName: mail})
			if err != nil {
				return fmt.Errorf("creating Teams sender %d: %w", i, err)
			}
			teamsOnly[i] = sender
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	connectS := time.Since(t0).Seconds()

	env.Logf("waiting for the bridge's chats subscription")
	sub, err := waitChatsSubscription(ctx, b.Ctl, 60*time.Second)
	if err != nil {
		return nil, err
	}
	for _, u := range people {
		if u.listener, err = u.mmUser.Listen(ctx); err != nil {
			return nil, err
		}
	}
	for i := range in.chats {
		u := people[owner(i)]
		c := &inChat{idx: i, mmUser: u.mmUser, twin: u.twin, sender: teamsOnly[from(i)], listener: u.listener}
		chat, err := b.Ctl.CreateChat(ctx, m365ctl.ChatSpec{ChatType: "oneOnOne", Members: []string{c.sender.ID, c.twin.ID}})
		if err != nil {
			return nil, fmt.Errorf("creating chat %d: %w", c.idx, err)
		}
		c.chatID = chat.ID
		in.chats[i] = c
	}
	for u, p := range people {
		go in.collect(ctx, p.listener, func(chat int) bool { return chat < k && owner(chat) == u })
	}

	out := map[string]any{"chats": k, "connectS": round2(connectS), "subscription": sub.Resource}
	if env.Cfg.Warmup {
		// One message per chat, unmeasured: the first message of a chat creates the synthetic user and the DM.
		env.Logf("warm-up: one message per chat")
		t1 := time.Now()
		for _, c := range in.chats {
			if _, err := b.Ctl.Send(ctx, m365ctl.InChat(c.chatID), m365ctl.Post{From: c.sender.ID, Text: msgText(0, c.idx, 0)}); err != nil {
				return nil, fmt.Errorf("warm-up send in chat %d: %w", c.idx, err)
			}
		}
		// A first message makes a synthetic user and a DM: allow a second per ten chats beyond the first minute.
		warmupFor := 60*time.Second + time.Duration(k)*100*time.Millisecond
		wctx, cancel := context.WithTimeout(ctx, warmupFor)
		defer cancel()
		for {
			in.mu.Lock()
			n, notify := len(in.channels), in.notify
			in.mu.Unlock()
			if n == k {
				break
			}
			select {
			case <-notify:
			case <-wctx.Done():
				return nil, fmt.Errorf("warm-up: %d of %d chats have a post after %s", n, k, warmupFor)
			}
		}
		out["warmupS"] = round2(time.Since(t1).Seconds())
	}
	return out, nil
}

// waitChatsSubscription waits until the bridge holds the global chats subscription.
func waitChatsSubscription(ctx context.Context, ctl *m365ctl.Client, timeout time.Duration) (*m365ctl.Subscription, error) {
	deadline := time.Now().Add(timeout)
	last := ""
	for time.Now().Before(deadline) {
		subs, err := ctl.Subscriptions(ctx)
		if err != nil {
			last = err.Error()
		} else {
			for _, s := range subs {
				if strings.HasPrefix(s.Resource, "chats/getAllMessages") {
					return &s, nil
				}
			}
			last = fmt.Sprintf("no chats subscription among %d", len(subs))
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
	return nil, fmt.Errorf("after %s: %s", timeout, last)
}

// collect records every benchmark post a Mattermost user sees (the DM channels of the chats that are `mine`), until
// ctx ends. WaitFor calls the predicate once per event as it arrives, in order; it never matches.
func (in *inbound) collect(ctx context.Context, listener *mmtest.Listener, mine func(chat int) bool) {
	_, _ = listener.WaitFor(ctx, func(ev *model.WebSocketEvent) bool {
		if ev.EventType() != model.WebsocketEventPosted {
			return false
		}
		p := mmtest.EventPost(ev)
		if p == nil {
			return false
		}
		phase, chat, seq, ok := parseMsg(p.Message)
		if !ok {
			return false
		}
		s := seen{phase: phase, chat: chat, seq: seq, postID: p.Id, userID: p.UserId, channelID: p.ChannelId, createAt: p.CreateAt, at: time.Now()}
		in.mu.Lock()
		in.events = append(in.events, s)
		if mine(chat) {
			in.channels[chat] = p.ChannelId
		}
		close(in.notify)
		in.notify = make(chan struct{})
		in.mu.Unlock()
		return false
	})
}

// sendRecord is one message the benchmark sent.
type sendRecord struct {
	chat, seq int
	sentAt    time.Time // before the control API call
	createdAt time.Time // the message's createdDateTime (emulator clock = ours)
	callMs    float64
}

// sender sends one benchmark message into a chat and returns when it was created (the latency's start).
type sender func(ctx context.Context, c *inChat, text string) (time.Time, error)

// teamsSender sends as the chat's Teams-only user through the emulator's control API: the message's createdDateTime
// is its creation (the emulator's clock is ours).
func teamsSender(b *harness.Bridge) sender {
	return func(ctx context.Context, c *inChat, text string) (time.Time, error) {
		t0 := time.Now()
		m, err := b.Ctl.Send(ctx, m365ctl.InChat(c.chatID), m365ctl.Post{From: c.sender.ID, Text: text})
		if err != nil {
			return t0, err
		}
		created, perr := time.Parse(time.RFC3339Nano, m.CreatedDateTime)
		if perr != nil {
			created = t0
		}
		return created, nil
	}
}

func (in *inbound) run(ctx context.Context, env *Env, rate float64) (*Phase, error) {
	return in.runWith(ctx, env, rate, teamsSender(env.Bridge))
}

// runWith is one phase at `rate`, each message sent by `send`.
func (in *inbound) runWith(ctx context.Context, env *Env, rate float64, send sender) (*Phase, error) {
	b, k, dur := env.Bridge, len(in.chats), env.Cfg.Duration
	in.phase++
	phase := in.phase
	p := &Phase{Rate: rate, Chats: k, DurationS: dur.Seconds()}
	env.Logf("phase %d: %g messages/s over %d chats for %s", phase, rate, k, dur)

	base, err := startPhase(ctx, b)
	if err != nil {
		return nil, err
	}
	defer base.stopRSS()

	// Chat j sends its i-th message at start + (j + i·K)/R: R per second in total, evenly interleaved, each chat
	// sequential (so its order is defined).
	var (
		mu      sync.Mutex
		records []sendRecord
		errs    []string
	)
	start := time.Now().Add(100 * time.Millisecond)
	var wg sync.WaitGroup
	for _, c := range in.chats {
		wg.Add(1)
		go func(c *inChat) {
			defer wg.Done()
			for i := 0; ; i++ {
				offset := time.Duration(float64(c.idx+i*k) / rate * float64(time.Second))
				if offset >= dur {
					return
				}
				select {
				case <-ctx.Done():
					return
				case <-time.After(time.Until(start.Add(offset))):
				}
				sctx, cancel := context.WithTimeout(ctx, 30*time.Second)
				t0 := time.Now()
				created, err := send(sctx, c, msgText(phase, c.idx, i))
				callMs := float64(time.Since(t0).Microseconds()) / 1000
				cancel()
				mu.Lock()
				if err != nil {
					errs = append(errs, fmt.Sprintf("chat %d #%d: %v", c.idx, i, err))
				} else {
					records = append(records, sendRecord{chat: c.idx, seq: i, sentAt: t0, createdAt: created, callMs: callMs})
				}
				mu.Unlock()
			}
		}(c)
	}
	wg.Wait()
	if ctx.Err() != nil {
		return p, ctx.Err()
	}
	p.Sent, p.SendErrors = len(records), len(errs)
	for i, e := range errs {
		if i == 5 {
			p.Problems = append(p.Problems, fmt.Sprintf("… %d more send errors", len(errs)-5))
			break
		}
		p.Problems = append(p.Problems, "send: "+e)
	}
	if len(records) == 0 {
		return p, errors.New("no message was accepted by the control API")
	}
	firstSend, lastSend := records[0].sentAt, records[0].sentAt
	var callMs []float64
	want := map[[2]int]sendRecord{}
	for _, r := range records {
		if r.sentAt.Before(firstSend) {
			firstSend = r.sentAt
		}
		if r.sentAt.After(lastSend) {
			lastSend = r.sentAt
		}
		callMs = append(callMs, r.callMs)
		want[[2]int{r.chat, r.seq}] = r
	}
	p.SendCallMs = summarize(callMs)
	p.SendWindowS = round2(lastSend.Sub(firstSend).Seconds())
	if p.SendWindowS > 0 {
		p.OfferedPerSec = round2(float64(len(records)-1) / p.SendWindowS)
	}
	env.Logf("phase %d: sent %d (%d refused) in %.1fs; waiting for the posts (at most %s)", phase, p.Sent,
		p.SendErrors, p.SendWindowS, env.Cfg.DrainTimeout)

	// Wait until every sent message has been seen as a post, or the drain timeout.
	deadline := time.Now().Add(env.Cfg.DrainTimeout)
	lastLog := time.Now()
	for {
		in.mu.Lock()
		got := map[[2]int]bool{}
		for _, s := range in.events {
			if s.phase == phase {
				got[[2]int{s.chat, s.seq}] = true
			}
		}
		notify := in.notify
		in.mu.Unlock()
		missing := 0
		for key := range want {
			if !got[key] {
				missing++
			}
		}
		if missing == 0 {
			break
		}
		if time.Now().After(deadline) {
			p.TimedOut = true
			p.Problems = append(p.Problems, fmt.Sprintf("%d messages not delivered %s after the last send", missing, env.Cfg.DrainTimeout))
			break
		}
		if time.Since(lastLog) > 10*time.Second {
			env.Logf("phase %d: %d of %d still missing", phase, missing, len(want))
			lastLog = time.Now()
		}
		select {
		case <-notify:
		case <-time.After(500 * time.Millisecond):
		case <-ctx.Done():
			return p, ctx.Err()
		}
	}
	// Late duplicates would come right behind: give them a moment before counting.
	select {
	case <-time.After(2 * time.Second):
	case <-ctx.Done():
		return p, ctx.Err()
	}
	p.CoreRSS = base.stopRSS()

	if err := in.tally(ctx, env, phase, base.start, want, firstSend, lastSend, p); err != nil {
		return p, err
	}

	// What it cost: Graph requests, webhook acks, the plugin's counters.
	counters, err := b.Ctl.Counters(ctx)
	if err != nil {
		return p, fmt.Errorf("emulator counters: %w", err)
	}
	if counters.Throttled == nil {
		counters.Throttled = map[string]int64{}
	}
	for name, n := range base.counters.Throttled {
		counters.Throttled[name] -= n
	}
	p.Graph = graphUsage(counters, p.Delivered)
	// Delegated calls carry the connected user's Teams id: attribute them (and their 429s) to that user's chat.
	byTwin := map[string]int{}
	for _, c := range in.chats {
		byTwin[c.twin.ID] = c.idx
	}
	for _, r := range counters.Requests {
		if i, ok := byTwin[r.CallerID]; ok && r.Host == "graph" && i < len(p.PerChat) {
			p.PerChat[i].Graph += r.Count
			if r.Status == 429 {
				p.PerChat[i].Status429 += r.Count
			}
		}
	}
	if err := base.finish(ctx, b, p); err != nil {
		return p, err
	}
	env.Logf("phase %d: delivered %d/%d, %.2f/s, post latency p50 %.0f ms p99 %.0f ms, %d Graph requests, %d × 429",
		phase, p.Delivered, p.Sent, p.DeliveredPerSec, p.PostLatencyMs.P50, p.PostLatencyMs.P99, p.Graph.Total, p.Graph.Status429)
	return p, nil
}

// tally counts deliveries, losses, duplicates and order violations from what Mattermost holds (the DM channels'
// posts since the phase started) together with the websocket events, and computes latencies.
func (in *inbound) tally(ctx context.Context, env *Env, phase int, phaseStart time.Time, want map[[2]int]sendRecord,
	firstSend, lastSend time.Time, p *Phase) error {
	in.mu.Lock()
	var events []seen
	for _, s := range in.events {
		if s.phase == phase {
			events = append(events, s)
		}
	}
	channels := map[int]string{}
	for c, ch := range in.channels {
		channels[c] = ch
	}
	in.mu.Unlock()

	type post struct {
		id       string
		seq      int
		createAt int64
	}
	firstSeen := map[string]time.Time{} // post id → websocket arrival
	for _, s := range events {
		if _, ok := firstSeen[s.postID]; !ok {
			firstSeen[s.postID] = s.at
		}
	}
	perChat := make([]ChatResult, len(in.chats))
	var postLat, seenLat []float64
	var lastPost time.Time
	for _, c := range in.chats {
		cr := ChatResult{Chat: c.idx}
		for key := range want {
			if key[0] == c.idx {
				cr.Sent++
			}
		}
		// Mattermost's view: every post of this phase in the chat's DM (websocket posts as a fallback when the
		// channel is unknown or the REST call fails).
		var posts []post
		byID := map[string]bool{}
		if ch := channels[c.idx]; ch != "" {
			list, _, err := c.mmUser.Client.GetPostsSince(ctx, ch, phaseStart.Add(-time.Second).UnixMilli(), false)
			if err != nil {
				p.Problems = append(p.Problems, fmt.Sprintf("chat %d: reading posts: %v", c.idx, err))
			} else {
				for _, po := range list.Posts {
					ph, chat, seq, ok := parseMsg(po.Message)
					if !ok || ph != phase || chat != c.idx || po.DeleteAt != 0 {
						continue
					}
					posts = append(posts, post{id: po.Id, seq: seq, createAt: po.CreateAt})
					byID[po.Id] = true
				}
			}
		}
		for _, s := range events {
			if s.chat == c.idx && !byID[s.postID] {
				posts = append(posts, post{id: s.postID, seq: s.seq, createAt: s.createAt})
				byID[s.postID] = true
			}
		}
		sort.SliceStable(posts, func(i, j int) bool {
			if posts[i].createAt != posts[j].createAt {
				return posts[i].createAt < posts[j].createAt
			}
			return firstSeen[posts[i].id].Before(firstSeen[posts[j].id])
		})
		count := map[int]int{}
		maxSeq := -1
		for _, po := range posts {
			count[po.seq]++
			if count[po.seq] > 1 {
				cr.Duplicates++
				continue
			}
			if po.seq < maxSeq {
				cr.OrderViolations++
			}
			if po.seq > maxSeq {
				maxSeq = po.seq
			}
			rec, ok := want[[2]int{c.idx, po.seq}]
			if !ok {
				continue // sent, but the control API call failed on our side
			}
			cr.Delivered++
			created := time.UnixMilli(po.createAt)
			if created.After(lastPost) {
				lastPost = created
			}
			postLat = append(postLat, float64(po.createAt-rec.createdAt.UnixMilli()))
			if at, ok := firstSeen[po.id]; ok {
				seenLat = append(seenLat, float64(at.Sub(rec.createdAt).Microseconds())/1000)
			}
		}
		cr.Lost = cr.Sent - cr.Delivered
		perChat[c.idx] = cr
		p.Delivered += cr.Delivered
		p.Lost += cr.Lost
		p.Duplicates += cr.Duplicates
		p.OrderViolations += cr.OrderViolations
	}
	p.PerChat = perChat
	p.PostLatencyMs = summarize(postLat)
	p.SeenLatencyMs = summarize(seenLat)
	if !lastPost.IsZero() {
		if span := lastPost.Sub(firstSend).Seconds(); span > 0 {
			p.DeliveredPerSec = round2(float64(p.Delivered) / span)
		}
		p.DrainS = round2(lastPost.Sub(lastSend).Seconds())
	}
	if p.Lost > 0 {
		p.Problems = append(p.Problems, fmt.Sprintf("%d messages lost", p.Lost))
	}
	if p.Duplicates > 0 {
		p.Problems = append(p.Problems, fmt.Sprintf("%d duplicate posts", p.Duplicates))
	}
	if p.OrderViolations > 0 {
		p.Problems = append(p.Problems, fmt.Sprintf("%d posts out of order", p.OrderViolations))
	}
	return nil
}
