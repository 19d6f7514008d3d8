// The outbound scenario: two connected Mattermost users (each with a Teams twin) DM each other; the bridge must
// send each post exactly once to their one-on-one Teams chat, as its author, in the Mattermost order, within Graph's
// post limits (1/s per chat, 20/s per tenant), and its echo must not come back as a second Mattermost post.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/mattermost/mattermost/server/public/model"
	"github.com/msteams-bridge/msteams/tests/emulators/graph/m365ctl"
	"github.com/msteams-bridge/msteams/tests/mattermost/mmtest"
)

// outChat is one bridged DM: two connected Mattermost users, their Teams twins, and the Teams chat the bridge
// created for them (found after the warm-up post).
type outChat struct {
	idx    int
	a, b   *mmtest.User
	ta, tb *m365ctl.User
	dm     *model.Channel
	chatID string
}

// OutboundFigures are the outbound scenario's own figures for a phase.
type OutboundFigures struct {
	Kind string `json:"kind"` // burst or steady
	// Graph's post budget as the emulator enforces it (its throttle configuration).
	ChatBudget   float64 `json:"chatBudgetPerSec"`   // chatMessagePost.thread (and .userThread)
	TenantBudget float64 `json:"tenantBudgetPerSec"` // chatMessagePost.app
	// Achieved post rates, from the Teams messages' createdDateTime: (n−1) ÷ (first → last).
	ChatRateMean float64 `json:"chatPostsPerSecMean"`
	ChatRateMax  float64 `json:"chatPostsPerSecMax"`
	TenantRate   float64 `json:"tenantPostsPerSec"`
	// Share of the budget used: achieved ÷ budget. The headline is per chat for the burst, per tenant for steady.
	ChatBudgetShare   float64 `json:"chatBudgetShare"`   // ChatRateMax ÷ ChatBudget
	TenantBudgetShare float64 `json:"tenantBudgetShare"` // TenantRate ÷ TenantBudget
	BudgetShare       float64 `json:"budgetShare"`
	BudgetBasis       string  `json:"budgetBasis"`
	ExpectedDrainS    float64 `json:"expectedDrainS"` // the busiest chat's (posts − 1) ÷ ChatBudget: the floor

	QueueDelayMs Dist `json:"queueDelayMs"` // Mattermost post CreateAt → Teams message createdDateTime

	WrongAuthor          int     `json:"wrongAuthor"`          // Teams messages not from the poster's twin
	MattermostPosts      int     `json:"mattermostPosts"`      // the phase's posts in the DMs afterwards
	MattermostDuplicates int     `json:"mattermostDuplicates"` // posts beyond the one created (an echo came back)
	EchoWaitS            float64 `json:"echoWaitS"`            // waited after the last Teams message for the echoes
	GraphPosts           int64   `json:"graphPosts"`           // POST …/messages requests, 429s included
	GraphPosts429        int64   `json:"graphPosts429"`
}

type outbound struct {
	chats  []*outChat
	phase  int
	limits map[string]m365ctl.Limit
}

func newOutbound() scenario {
	o := &outbound{}
	return scenario{setup: o.setup, plan: o.plan, run: o.run, failed: o.failed, summary: outboundSummary}
}

// plan: the burst (when -burst > 0), then one steady phase per rate.
func (o *outbound) plan(cfg Config) []phaseSpec {
	var out []phaseSpec
	if cfg.Burst > 0 {
		out = append(out, phaseSpec{Name: fmt.Sprintf("burst N=%d", cfg.Burst), Kind: "burst"})
	}
	for _, r := range cfg.Rates {
		out = append(out, phaseSpec{Name: fmt.Sprintf("steady R=%g/s", r), Kind: "steady", Rate: r})
	}
	return out
}

// failed: a post lost, doubled (in Teams or back in Mattermost), out of order or sent as someone else.
func (o *outbound) failed(p *Phase) bool {
	return p.Lost > 0 || p.Duplicates > 0 || p.OrderViolations > 0 ||
		(p.Outbound != nil && (p.Outbound.MattermostDuplicates > 0 || p.Outbound.WrongAuthor > 0))
}

// outRe matches the text of a benchmark post: kind, phase, chat, sequence in the chat (phase 0 = warm-up).
var outRe = regexp.MustCompile(`\b(burst|steady|warmup) p(\d+) c(\d+) #(\d+)`)

func outText(kind string, phase, chat, seq int) string {
	return fmt.Sprintf("%s p%d c%d #%03d", kind, phase, chat, seq)
}

func parseOut(s string) (phase, chat, seq int, ok bool) {
	m := outRe.FindStringSubmatch(s)
	if m == nil {
		return 0, 0, 0, false
	}
	phase, _ = strconv.Atoi(m[2])
	chat, _ = strconv.Atoi(m[3])
	seq, _ = strconv.Atoi(m[4])
	return phase, chat, seq, true
}

// throttleLimits reads the emulator's throttle configuration (GET /throttle).
func throttleLimits(ctx context.Context, ctl *m365ctl.Client) (*m365ctl.Throttle, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, ctl.BaseURL+"/throttle", nil)
	if err != nil {
		return nil, err
	}
	resp, err := ctl.HTTP.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET /throttle: %s", resp.Status)
	}
	var t m365ctl.Throttle
	return &t, json.NewDecoder(resp.Body).Decode(&t)
}

// perSec is a limit as a rate, or def when the emulator has no such limit.
func (o *outbound) perSec(name string, def float64) float64 {
	if l, ok := o.limits[name]; ok && l.PerSeconds > 0 {
		return l.Count / l.PerSeconds
	}
	return def
}

func (o *outbound) setup(ctx context.Context, env *Env) (map[string]any, error) {
	b, k := env.Bridge, env.Cfg.Chats
	o.chats = make([]*outChat, k)
	for i := range o.chats {
		o.chats[i] = &outChat{idx: i}
	}
	thr, err := throttleLimits(ctx, b.Ctl)
	if err != nil {
		return nil, err
	}
	if !thr.Enabled {
		return nil, errors.New("the emulator's throttling is off")
	}
	o.limits = thr.Limits

	env.Logf("creating and connecting %d Mattermost users (%d DMs of two) through OAuth", 2*k, k)
	t0 := time.Now()
	// Each goroutine fills one side (a or b) of one chat: distinct fields.
	err = forEach(ctx, 2*k, 4, func(n int) error {
		c, side := o.chats[n/2], "a"
		if n%2 == 1 {
			side = "b"
		}
		u, err := b.MM.CreateUser(ctx, fmt.Sprintf("out%03d%s", c.idx, side))
		if err != nil {
			return fmt.Errorf("creating Mattermost user %d%s: %w", c.idx, side, err)
		}
		t, err := b.TeamsTwin(ctx, u, fmt.Sprintf("Out User %03d%s", c.idx, strings.ToUpper(side)))
		if err != nil {
			return fmt.Errorf("creating the Teams twin of %s: %w", u.Username, err)
		}
		if _, err = b.Connect(ctx, u, t.ID); err != nil {
			return fmt.Errorf("connecting %s: %w", u.Username, err)
		}
		if side == "a" {
			c.a, c.ta = u, t
		} else {
			c.b, c.tb = u, t
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	connectS := time.Since(t0).Seconds()

	// The echoes arrive through the chats subscription: without it the round-trip check would prove nothing.
	env.Logf("waiting for the bridge's chats subscription")
	sub, err := waitChatsSubscription(ctx, b.Ctl, 60*time.Second)
	if err != nil {
		return nil, err
	}
	for _, c := range o.chats {
		if c.dm, err = c.a.DirectChannel(ctx, c.b); err != nil {
			return nil, err
		}
	}

	// Warm-up (always: the first post of a DM creates the Teams chat, whose id the phases read): one post per DM,
	// unmeasured, then find each Teams chat holding it.
	env.Logf("warm-up: one post per DM; the bridge creates the %d Teams chats", k)
	t1 := time.Now()
	for _, c := range o.chats {
		if _, err := c.a.Post(ctx, c.dm.Id, outText("warmup", 0, c.idx, 0)); err != nil {
			return nil, fmt.Errorf("warm-up post in DM %d: %w", c.idx, err)
		}
	}
	deadline := time.Now().Add(90 * time.Second)
	for {
		missing := 0
		for _, c := range o.chats {
			if c.chatID != "" {
				continue
			}
			if id, err := o.findChat(ctx, env, c); err != nil {
				return nil, err
			} else if id != "" {
				c.chatID = id
			} else {
				missing++
			}
		}
		if missing == 0 {
			break
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("warm-up: %d of %d DMs have no Teams chat with the post after 90s", missing, k)
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(500 * time.Millisecond):
		}
	}
	warmupS := time.Since(t1).Seconds()
	// Let the warm-up echoes come back and be recognised before the first phase counts anything.
	select {
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-time.After(3 * time.Second):
	}
	return map[string]any{"chats": k, "connectedUsers": 2 * k, "connectS": round2(connectS), "subscription": sub.Resource,
		"warmupS": round2(warmupS), "postLimits": map[string]float64{
			"chatMessagePost.thread":     o.perSec("chatMessagePost.thread", 1),
			"chatMessagePost.userThread": o.perSec("chatMessagePost.userThread", 1),
			"chatMessagePost.app":        o.perSec("chatMessagePost.app", 20)}}, nil
}

// findChat returns the one-on-one Teams chat of the pair that holds the warm-up post, or "" when none does yet.
func (o *outbound) findChat(ctx context.Context, env *Env, c *outChat) (string, error) {
	chats, err := env.Bridge.Ctl.Chats(ctx, c.ta.ID)
	if err != nil {
		return "", fmt.Errorf("chats of %s: %w", c.ta.DisplayName, err)
	}
	for _, ch := range chats {
		if ch.ChatType != "oneOnOne" {
			continue
		}
		other := false
		for _, m := range ch.Members {
			other = other || m.UserID == c.tb.ID
		}
		if !other {
			continue
		}
		msgs, err := env.Bridge.Ctl.Messages(ctx, m365ctl.InChat(ch.ID))
		if err != nil {
			return "", err
		}
		for _, m := range msgs {
			if ph, chat, _, ok := parseOut(m.Body.Content); ok && ph == 0 && chat == c.idx {
				return ch.ID, nil
			}
		}
	}
	return "", nil
}

// outRecord is one post the benchmark created in Mattermost.
type outRecord struct {
	chat, seq int
	postID    string
	author    string // the Teams twin the message must come from
	createAt  int64  // ms, Mattermost's
	sentAt    time.Time
	callMs    float64
}

func (o *outbound) run(ctx context.Context, env *Env, spec phaseSpec) (*Phase, error) {
	b := env.Bridge
	o.phase++
	phase := o.phase
	chats := o.chats
	if spec.Kind == "burst" {
		chats = o.chats[:1]
	}
	k := len(chats)
	p := &Phase{Rate: spec.Rate, Chats: k}
	of := &OutboundFigures{Kind: spec.Kind, ChatBudget: o.perSec("chatMessagePost.thread", 1),
		TenantBudget: o.perSec("chatMessagePost.app", 20)}
	if ut := o.perSec("chatMessagePost.userThread", of.ChatBudget); ut < of.ChatBudget && spec.Kind == "burst" {
		of.ChatBudget = ut // a single author is bound by the stricter of the two
	}
	p.Outbound = of
	if spec.Kind == "burst" {
		env.Logf("phase %d: burst of %d posts into one DM, as fast as Mattermost takes them", phase, env.Cfg.Burst)
	} else {
		p.DurationS = env.Cfg.Duration.Seconds()
		env.Logf("phase %d: steady %g posts/s over %d DMs for %s", phase, spec.Rate, k, env.Cfg.Duration)
	}

	base, err := startPhase(ctx, b)
	if err != nil {
		return nil, err
	}
	defer base.stopRSS()

	var (
		mu      sync.Mutex
		records []outRecord
		errs    []string
	)
	post := func(c *outChat, as *mmtest.User, twin *m365ctl.User, seq int) {
		sctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		t0 := time.Now()
		po, err := as.Post(sctx, c.dm.Id, outText(spec.Kind, phase, c.idx, seq))
		callMs := float64(time.Since(t0).Microseconds()) / 1000
		mu.Lock()
		defer mu.Unlock()
		if err != nil {
			errs = append(errs, fmt.Sprintf("chat %d #%d: %v", c.idx, seq, err))
			return
		}
		records = append(records, outRecord{chat: c.idx, seq: seq, postID: po.Id, author: twin.ID, createAt: po.CreateAt,
			sentAt: t0, callMs: callMs})
	}
	if spec.Kind == "burst" {
		// One author, sequential calls: the Mattermost order is the call order.
		c := chats[0]
		for i := 1; i <= env.Cfg.Burst && ctx.Err() == nil; i++ {
			post(c, c.a, c.ta, i)
		}
	} else {
		// Chat j posts its i-th message at start + (j + i·K)/R, sequentially per chat; the authors alternate (a, b,
		// a, …), so the chat's order spans two users' tokens.
		start := time.Now().Add(100 * time.Millisecond)
		var wg sync.WaitGroup
		for _, c := range chats {
			wg.Add(1)
			go func(c *outChat) {
				defer wg.Done()
				for i := 0; ; i++ {
					offset := time.Duration(float64(c.idx+i*k) / spec.Rate * float64(time.Second))
					if offset >= env.Cfg.Duration {
						return
					}
					select {
					case <-ctx.Done():
						return
					case <-time.After(time.Until(start.Add(offset))):
					}
					if i%2 == 0 {
						post(c, c.a, c.ta, i+1)
					} else {
						post(c, c.b, c.tb, i+1)
					}
				}
			}(c)
		}
		wg.Wait()
	}
	if ctx.Err() != nil {
		return p, ctx.Err()
	}
	p.Sent, p.SendErrors = len(records), len(errs)
	for i, e := range errs {
		if i == 5 {
			p.Problems = append(p.Problems, fmt.Sprintf("… %d more post errors", len(errs)-5))
			break
		}
		p.Problems = append(p.Problems, "post: "+e)
	}
	if len(records) == 0 {
		return p, errors.New("no post was accepted by Mattermost")
	}
	want := map[[2]int]outRecord{}
	perChatSent := map[int]int{}
	firstSend, lastSend := records[0].sentAt, records[0].sentAt
	var callMs []float64
	for _, r := range records {
		want[[2]int{r.chat, r.seq}] = r
		perChatSent[r.chat]++
		if r.sentAt.Before(firstSend) {
			firstSend = r.sentAt
		}
		if r.sentAt.After(lastSend) {
			lastSend = r.sentAt
		}
		callMs = append(callMs, r.callMs)
	}
	busiest := 0
	for _, n := range perChatSent {
		busiest = max(busiest, n)
	}
	of.ExpectedDrainS = round2(float64(busiest-1) / of.ChatBudget)
	p.SendCallMs = summarize(callMs)
	p.SendWindowS = round2(lastSend.Sub(firstSend).Seconds())
	if p.SendWindowS > 0 {
		p.OfferedPerSec = round2(float64(len(records)-1) / p.SendWindowS)
	}
	// The busiest chat drains at its budget at best: wait that long on top of the drain timeout.
	wait := env.Cfg.DrainTimeout + time.Duration(of.ExpectedDrainS*float64(time.Second))
	env.Logf("phase %d: posted %d (%d refused) in %.1fs; waiting for them in Teams (at most %s)", phase, p.Sent,
		p.SendErrors, p.SendWindowS, wait.Round(time.Second))

	// Poll the Teams chats until every post is there, or the deadline.
	deadline := lastSend.Add(wait)
	lastLog := time.Now()
	var final map[int][]m365ctl.Message
	for {
		final = map[int][]m365ctl.Message{}
		got := map[[2]int]bool{}
		for _, c := range chats {
			msgs, err := b.Ctl.Messages(ctx, m365ctl.InChat(c.chatID))
			if err != nil {
				return p, fmt.Errorf("reading Teams chat %d: %w", c.idx, err)
			}
			final[c.idx] = msgs
			for _, m := range msgs {
				if ph, chat, seq, ok := parseOut(m.Body.Content); ok && ph == phase && chat == c.idx {
					got[[2]int{chat, seq}] = true
				}
			}
		}
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
			p.Problems = append(p.Problems, fmt.Sprintf("%d posts not in Teams %s after the last post", missing, wait.Round(time.Second)))
			break
		}
		if time.Since(lastLog) > 10*time.Second {
			env.Logf("phase %d: %d of %d in Teams", phase, len(want)-missing, len(want))
			lastLog = time.Now()
		}
		select {
		case <-ctx.Done():
			return p, ctx.Err()
		case <-time.After(time.Second):
		}
	}

	// The echoes: each sent message comes back through the chats subscription and must be recognised (the
	// plugin's "echoes" counter) rather than posted. Wait until the counter covers every delivered post (at most
	// 30 s), then 2 s for anything late.
	t0 := time.Now()
	for time.Since(t0) < 30*time.Second {
		st, err := pluginStats(ctx, b.MM)
		if err == nil && st["echoes"]-base.stats["echoes"] >= int64(len(want)) {
			break
		}
		select {
		case <-ctx.Done():
			return p, ctx.Err()
		case <-time.After(500 * time.Millisecond):
		}
	}
	select {
	case <-ctx.Done():
		return p, ctx.Err()
	case <-time.After(2 * time.Second):
	}
	of.EchoWaitS = round2(time.Since(t0).Seconds())
	p.CoreRSS = base.stopRSS()

	// Re-read Teams after the echo wait: late duplicates count too.
	for _, c := range chats {
		if msgs, err := b.Ctl.Messages(ctx, m365ctl.InChat(c.chatID)); err == nil {
			final[c.idx] = msgs
		}
	}
	o.tally(ctx, phase, base.start, chats, want, final, firstSend, lastSend, p)

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
	p.Graph = graphUsage(counters, p.Sent) // per sent post
	byTwin := map[string]int{}
	for i, c := range chats {
		byTwin[c.ta.ID], byTwin[c.tb.ID] = i, i
	}
	for _, r := range counters.Requests {
		if r.Host != "graph" {
			continue
		}
		if requestKind(r) == "POST message" {
			of.GraphPosts += r.Count
			if r.Status == http.StatusTooManyRequests {
				of.GraphPosts429 += r.Count
			}
		}
		if i, ok := byTwin[r.CallerID]; ok {
			p.PerChat[i].Graph += r.Count
			if r.Status == http.StatusTooManyRequests {
				p.PerChat[i].Status429 += r.Count
			}
		}
	}
	if err := base.finish(ctx, b, p); err != nil {
		return p, err
	}
	if spec.Kind == "burst" && p.DrainS > 0 {
		p.Notes = append(p.Notes, fmt.Sprintf("the burst drained in %.1fs after the last post; %d posts at %g/s per chat take ≥ %.0fs",
			p.DrainS, busiest, of.ChatBudget, of.ExpectedDrainS))
	}
	env.Logf("phase %d: %d/%d in Teams, %.2f posts/s (tenant), queue delay p50 %.0f ms p99 %.0f ms, %d Graph requests, %d × 429",
		phase, p.Delivered, p.Sent, of.TenantRate, of.QueueDelayMs.P50, of.QueueDelayMs.P99, p.Graph.Total, p.Graph.Status429)
	return p, nil
}

// tally compares each Teams chat (in the emulator's order: creation order) with the Mattermost posts, and reads
// the DMs back to check that no echo became a second post.
func (o *outbound) tally(ctx context.Context, phase int, phaseStart time.Time, chats []*outChat,
	want map[[2]int]outRecord, final map[int][]m365ctl.Message, firstSend, lastSend time.Time, p *Phase) {
	of := p.Outbound
	var delays, chatRates []float64
	var first, last time.Time
	for _, c := range chats {
		cr := ChatResult{Chat: c.idx}
		for key := range want {
			if key[0] == c.idx {
				cr.Sent++
			}
		}
		count := map[int]int{}
		maxSeq := -1
		var cFirst, cLast time.Time
		n := 0
		for _, m := range final[c.idx] {
			ph, chat, seq, ok := parseOut(m.Body.Content)
			if !ok || ph != phase || chat != c.idx || m.DeletedDateTime != nil {
				continue
			}
			count[seq]++
			if count[seq] > 1 {
				cr.Duplicates++
				continue
			}
			if seq < maxSeq {
				cr.OrderViolations++
			}
			maxSeq = max(maxSeq, seq)
			rec, ok := want[[2]int{c.idx, seq}]
			if !ok {
				continue // posted, but the create call failed on our side
			}
			cr.Delivered++
			if m.From == nil || m.From.User == nil || m.From.User.ID != rec.author {
				of.WrongAuthor++
			}
			created, err := time.Parse(time.RFC3339Nano, m.CreatedDateTime)
			if err != nil {
				p.Problems = append(p.Problems, fmt.Sprintf("chat %d #%d: createdDateTime %q", c.idx, seq, m.CreatedDateTime))
				continue
			}
			delays = append(delays, float64(created.UnixMilli()-rec.createAt))
			n++
			if cFirst.IsZero() || created.Before(cFirst) {
				cFirst = created
			}
			if created.After(cLast) {
				cLast = created
			}
		}
		if n > 1 && cLast.After(cFirst) {
			cr.PostsPerSec = round2(float64(n-1) / cLast.Sub(cFirst).Seconds())
			chatRates = append(chatRates, cr.PostsPerSec)
		}
		if !cFirst.IsZero() && (first.IsZero() || cFirst.Before(first)) {
			first = cFirst
		}
		if cLast.After(last) {
			last = cLast
		}
		cr.Lost = cr.Sent - cr.Delivered

		// Mattermost's side: the phase's posts in the DM, one per created post.
		list, _, err := c.a.Client.GetPostsSince(ctx, c.dm.Id, phaseStart.Add(-time.Second).UnixMilli(), false)
		if err != nil {
			p.Problems = append(p.Problems, fmt.Sprintf("chat %d: reading the DM: %v", c.idx, err))
		} else {
			mmCount := map[int]int{}
			for _, po := range list.Posts {
				ph, chat, seq, ok := parseOut(po.Message)
				if !ok || ph != phase || chat != c.idx || po.DeleteAt != 0 {
					continue
				}
				of.MattermostPosts++
				mmCount[seq]++
				if mmCount[seq] > 1 {
					cr.MMDuplicates++
				}
			}
		}
		p.PerChat = append(p.PerChat, cr)
		p.Delivered += cr.Delivered
		p.Lost += cr.Lost
		p.Duplicates += cr.Duplicates
		p.OrderViolations += cr.OrderViolations
		of.MattermostDuplicates += cr.MMDuplicates
	}
	of.QueueDelayMs = summarize(delays)
	if len(chatRates) > 0 {
		sum := 0.0
		for _, r := range chatRates {
			sum += r
			of.ChatRateMax = max(of.ChatRateMax, r)
		}
		of.ChatRateMean = round2(sum / float64(len(chatRates)))
	}
	if p.Delivered > 1 && last.After(first) {
		of.TenantRate = round2(float64(p.Delivered-1) / last.Sub(first).Seconds())
	}
	of.ChatBudgetShare = round2(of.ChatRateMax / of.ChatBudget)
	of.TenantBudgetShare = round2(of.TenantRate / of.TenantBudget)
	if of.Kind == "burst" {
		of.BudgetShare, of.BudgetBasis = of.ChatBudgetShare, fmt.Sprintf("per chat (%g/s)", of.ChatBudget)
	} else {
		of.BudgetShare, of.BudgetBasis = of.TenantBudgetShare, fmt.Sprintf("per tenant (%g/s)", of.TenantBudget)
	}
	if !last.IsZero() {
		if span := last.Sub(firstSend).Seconds(); span > 0 {
			p.DeliveredPerSec = round2(float64(p.Delivered) / span)
		}
		p.DrainS = round2(last.Sub(lastSend).Seconds())
	}
	sort.Slice(p.PerChat, func(i, j int) bool { return p.PerChat[i].Chat < p.PerChat[j].Chat })
	if p.Lost > 0 {
		p.Problems = append(p.Problems, fmt.Sprintf("%d posts lost (not in Teams)", p.Lost))
	}
	if p.Duplicates > 0 {
		p.Problems = append(p.Problems, fmt.Sprintf("%d duplicate Teams messages", p.Duplicates))
	}
	if p.OrderViolations > 0 {
		p.Problems = append(p.Problems, fmt.Sprintf("%d Teams messages out of order", p.OrderViolations))
	}
	if of.MattermostDuplicates > 0 {
		p.Problems = append(p.Problems, fmt.Sprintf("%d Mattermost posts appeared twice (an echo came back)", of.MattermostDuplicates))
	}
	if of.WrongAuthor > 0 {
		p.Problems = append(p.Problems, fmt.Sprintf("%d Teams messages not from the author's Teams account", of.WrongAuthor))
	}
}
