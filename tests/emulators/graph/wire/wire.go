// Package wire holds the JSON shapes of the Microsoft 365 emulator's control
// API (see README.md in the module root): the bodies it accepts and the
// answers it sends. The emulator (package m365) decodes and encodes these
// types and the client (package m365ctl) sends and reads them, so the two
// sides cannot drift apart. It depends on neither.
//
// Answers that are Graph resources (users, teams, chats, messages, drive
// items, subscriptions) are built by the emulator from its model, the same
// way its Graph endpoints build them; they are not declared here.
package wire

// List is a collection answer: {"value": [...]}.
type List[T any] struct {
	Value []T `json:"value"`
}

// Error is the body of every non-2xx control API answer.
type Error struct {
	Error string `json:"error"`
}

// Health is GET /healthz.
type Health struct {
	OK bool `json:"ok"`
}
