package main

import (
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/mattermost/mattermost/server/public/plugin"
)

// logger is the part of plugin.API the shim's own machinery logs through, so supervision and delivery can be tested
// without a Mattermost server. Key/value pairs follow Mattermost's convention.
type logger interface {
	LogDebug(msg string, keyValuePairs ...any)
	LogInfo(msg string, keyValuePairs ...any)
	LogWarn(msg string, keyValuePairs ...any)
	LogError(msg string, keyValuePairs ...any)
}

var _ logger = (plugin.API)(nil)

// utf8Prefix is s cut to at most n bytes without splitting a UTF-8 sequence.
func utf8Prefix(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

// validUTF8 replaces every invalid byte sequence with U+FFFD: every line the shim logs is valid UTF-8.
func validUTF8(s string) string {
	if utf8.ValidString(s) {
		return s
	}
	return strings.ToValidUTF8(s, "\uFFFD")
}

// rateLimiter lets one message through per interval and counts what it held back.
type rateLimiter struct {
	mu         sync.Mutex
	interval   time.Duration
	last       time.Time
	suppressed uint64
}

// allow reports whether to log now and how many calls were suppressed since the last allowed one.
func (r *rateLimiter) allow() (bool, uint64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	now := time.Now()
	if !r.last.IsZero() && now.Sub(r.last) < r.interval {
		r.suppressed++
		return false, 0
	}
	r.last = now
	n := r.suppressed
	r.suppressed = 0
	return true, n
}
