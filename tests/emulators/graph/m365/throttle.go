package m365

import (
	"math"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/msteams-bridge/msteams/tests/emulators/graph/wire"
)

// Limit allows Count requests (or resource units) per PerSeconds, as a
// token bucket holding at most Count.
type Limit = wire.Limit

// ThrottleConfig is the throttling configuration (control API /throttle);
// wire.Throttle names its limits.
type ThrottleConfig = wire.Throttle

func per(count float64, d time.Duration) Limit {
	return Limit{Count: count, PerSeconds: d.Seconds()}
}

// DefaultThrottleConfig returns the documented Teams, identity and
// subscription limits, enabled.
func DefaultThrottleConfig() ThrottleConfig {
	s := time.Second
	return ThrottleConfig{Enabled: true, Limits: map[string]Limit{
		"global.app":                    per(2000, s),
		"chatMessageGet.app":            per(20, s),
		"chatMessageGet.thread":         per(1, s),
		"chatMessagePost.app":           per(20, s),
		"chatMessagePost.thread":        per(1, s),
		"chatMessagePost.userThread":    per(1, s),
		"chatMessageOther.app":          per(30, s),
		"chatMessageOther.thread":       per(1, s),
		"channelMessageGet.app":         per(20, s),
		"channelMessageGet.thread":      per(1, s),
		"channelMessagePost.app":        per(50, s),
		"channelMessagePost.thread":     per(1, s),
		"channelMessagePost.userThread": per(1, s),
		"channelMessageOther.app":       per(30, s),
		"channelMessageOther.thread":    per(1, s),
		// Every request about a team's channel messages also counts against 4 per second per app on the team,
		// and a channel takes at most 3,000 messages (roots and replies) per app per day.
		"channelTeam.team":           per(4, s),
		"channelMessageDaily.thread": per(3000, 24*time.Hour),
		"chatCreate.app":             per(20, s),
		"chatMember.app":             per(30, s),
		"chatMember.thread":          per(4, time.Minute),
		"chatList.user":              per(5, s),
		"chatList.app":               per(30, s),
		"teamGet.app":                per(30, s),
		"teamGet.team":               per(4, s),
		"teamMembers.app":            per(60, s),
		"allMessages.app":            per(200, s),
		"activity.app":               per(5, s),
		"activity.thread":            per(1, s),
		"activityRecipients.app":     per(2, s),
		"teamsOtherGet.app":          per(30, s),
		"teamsOtherGet.thread":       per(1, s),
		"teamsOther.app":             per(30, s),
		"identity.app":               per(3500, 10*s),
		"subscriptionWrite.app":      per(1000, 20*s),
		"subscriptionWrite.all":      per(5000, 20*s),
		"subscriptionRead.all":       per(5000, 20*s),
		"files.app":                  per(1250, 60*s),
	}}
}

type bucket struct {
	tokens float64
	last   time.Time
}

type throttler struct {
	mu      sync.Mutex
	cfg     ThrottleConfig
	buckets map[string]*bucket
	limited map[string]int64
}

func newThrottler(cfg ThrottleConfig) *throttler {
	t := &throttler{buckets: map[string]*bucket{}, limited: map[string]int64{}}
	t.set(cfg)
	return t
}

func (t *throttler) set(cfg ThrottleConfig) {
	lim := map[string]Limit{}
	for k, v := range cfg.Limits {
		if v.PerSeconds <= 0 {
			v.PerSeconds = 1
		}
		lim[k] = v
	}
	t.mu.Lock()
	t.cfg = ThrottleConfig{Enabled: cfg.Enabled, Limits: lim}
	t.buckets = map[string]*bucket{}
	t.mu.Unlock()
}

func (t *throttler) config() ThrottleConfig {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := ThrottleConfig{Enabled: t.cfg.Enabled, Limits: map[string]Limit{}}
	for k, v := range t.cfg.Limits {
		out.Limits[k] = v
	}
	return out
}

func (t *throttler) stats() map[string]int64 {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := map[string]int64{}
	for k, v := range t.limited {
		out[k] = v
	}
	return out
}

// take consumes cost from every applicable bucket, or none; on refusal it
// returns the wait until the call would pass and the limit's name.
func (t *throttler) take(keys [][2]string, cost float64, now time.Time) (time.Duration, string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if !t.cfg.Enabled {
		return 0, ""
	}
	type hit struct {
		b   *bucket
		lim Limit
	}
	hits := make([]hit, 0, len(keys))
	var wait time.Duration
	var which string
	for _, k := range keys {
		lim, ok := t.cfg.Limits[k[0]]
		if !ok || lim.Count <= 0 {
			continue
		}
		b := t.buckets[k[1]]
		if b == nil {
			if len(t.buckets) > 200000 { // bound memory: forget idle buckets
				t.buckets = map[string]*bucket{}
			}
			b = &bucket{tokens: lim.Count, last: now}
			t.buckets[k[1]] = b
		}
		rate := lim.Count / lim.PerSeconds
		b.tokens = math.Min(lim.Count, b.tokens+now.Sub(b.last).Seconds()*rate)
		b.last = now
		if b.tokens < cost {
			w := time.Duration((cost - b.tokens) / rate * float64(time.Second))
			if w > wait {
				wait, which = w, k[0]
			}
		}
		hits = append(hits, hit{b, lim})
	}
	if which != "" {
		t.limited[which]++
		return wait, which
	}
	for _, h := range hits {
		h.b.tokens -= cost
	}
	return 0, ""
}

// throttle applies the limits of a category to this call; thread is the
// chat, channel or team id for per-thread limits. It answers 429 itself.
func (c *call) throttle(category, thread string) bool {
	return c.throttleCost(category, thread, 1)
}

func (c *call) identityThrottle(units int) bool {
	c.w.Header().Set("x-ms-resource-unit", strconv.Itoa(units))
	return c.throttleCost("identity", "", float64(units))
}

func (c *call) throttleCost(category, thread string, cost float64) bool {
	app := c.p.appID
	user := c.p.userID
	keys := [][2]string{
		{category + ".app", category + ".app|" + app},
		{category + ".all", category + ".all|" + app},
	}
	if user != "" {
		keys = append(keys, [2]string{category + ".user", category + ".user|" + user})
	}
	if tid := c.r.PathValue("tid"); tid != "" && strings.HasPrefix(category, "channelMessage") {
		keys = append(keys, [2]string{"channelTeam.team", "channelTeam.team|" + app + "|" + tid})
		if category == "channelMessagePost" {
			keys = append(keys, [2]string{"channelMessageDaily.thread", "channelMessageDaily.thread|" + app + "|" + thread})
		}
	}
	if thread != "" {
		keys = append(keys, [2]string{category + ".thread", category + ".thread|" + app + "|" + thread},
			[2]string{category + ".team", category + ".team|" + app + "|" + thread})
		if user != "" {
			keys = append(keys, [2]string{category + ".userThread", category + ".userThread|" + user + "|" + thread})
		}
	}
	wait, which := c.e.thr.take(keys, cost, time.Now())
	if which == "" {
		return true
	}
	secs := int(math.Ceil(wait.Seconds()))
	if secs < 1 {
		secs = 1
	}
	h := c.w.Header()
	h.Set("Retry-After", strconv.Itoa(secs))
	if category == "identity" {
		h.Set("x-ms-throttle-scope", "Tenant_Application/ReadWrite/"+c.e.TenantID+"/"+app)
		h.Set("x-ms-throttle-information", "ResourceUnitLimitExceeded")
	}
	inner := map[string]any{"code": "429", "date": time.Now().UTC().Format("2006-01-02T15:04:05"), "message": "Please retry after",
		"request-id": c.reqID, "status": "429", "client-request-id": clientRequestID(c.r, c.reqID), "limit": which}
	writeJSON(c.w, 429, map[string]any{"error": map[string]any{"code": "TooManyRequests", "innerError": inner, "message": "Please retry again later."}})
	return false
}
