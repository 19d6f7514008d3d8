package m365

// feed is one user's activity feed: what sendActivityNotification delivered.
type feed struct {
	entries []*feedEntry
}

type feedEntry struct{}
