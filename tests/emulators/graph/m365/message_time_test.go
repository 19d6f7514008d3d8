package m365

import (
	"testing"
	"time"
)

// Changes in the same millisecond as the creation (a reaction right after the post) or as each other still move
// lastModifiedDateTime strictly forward at the precision Graph shows; a clock that steps back does not reverse it.
func TestMessageLastModifiedStrictlyIncreases(t *testing.T) {
	created := time.Date(2026, 12, 2, 18, 0, 0, 123_456_789, time.UTC)
	m := &Message{Created: created, LastModified: created}
	prev := graphTime(m.Created)
	for i, now := range []time.Time{
		created,                             // same instant as the creation
		created.Add(100 * time.Microsecond), // same millisecond
		created.Add(100 * time.Microsecond),
		created.Add(-time.Second), // the clock stepped back
		created.Add(time.Hour),
	} {
		m.touch(now)
		got := graphTime(m.LastModified)
		if got <= prev {
			t.Fatalf("change %d: lastModifiedDateTime %s is not after %s", i, got, prev)
		}
		prev = got
	}
	if want := graphTime(created.Add(time.Hour)); prev != want {
		t.Errorf("a later change: %s, want %s", prev, want)
	}
}
