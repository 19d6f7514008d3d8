package wire

// SigningKey is one key of the tenant's published key set (GET /keys): the
// kid (the certificate's x5t), whether it signs tokens now, and when it was made.
type SigningKey struct {
	Kid     string `json:"kid"`
	Active  bool   `json:"active"`
	Created string `json:"created"`
}

// KeyAdd is POST /keys: publish a new key; Activate makes it sign from now on
// (otherwise it is announced only, as Entra announces keys before using them).
type KeyAdd struct {
	Activate bool `json:"activate"`
}
