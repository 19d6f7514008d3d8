package wire

// LifecycleInput is POST /subscriptions/{id}/lifecycle; Event is
// reauthorizationRequired, subscriptionRemoved or missed.
type LifecycleInput struct {
	Event string `json:"event"`
}

// LifecycleResult answers POST /subscriptions/{id}/lifecycle and DELETE
// /subscriptions/{id} (which also names the removed subscription).
type LifecycleResult struct {
	LifecycleSent bool   `json:"lifecycleSent"`
	Removed       string `json:"removed,omitempty"`
}

// Quotas are the subscription quotas (GET and PUT /quotas); zero or less
// in PUT keeps the default.
type Quotas struct {
	PerAppPerThread int `json:"perAppPerThread"` // 1: one subscription per app per chat or channel
	PerUser         int `json:"perUser"`         // 10: /users/{id}/chats/getAllMessages per user
	PerTenant       int `json:"perTenant"`       // 10000: all Teams subscriptions in the tenant
}

// Faults is the injectable fault configuration (GET and PUT /faults). GET
// shows what is left of "next N" faults.
type Faults struct {
	// LatencyMs delays every matching request; JitterMs adds up to that much more.
	LatencyMs int `json:"latencyMs"`
	JitterMs  int `json:"jitterMs"`
	// ErrorShare (0..1) of matching requests fail with ErrorStatus (default 503).
	ErrorShare  float64 `json:"errorShare"`
	ErrorStatus int     `json:"errorStatus"`
	// Hosts limits request faults to "graph", "login" or both (empty: graph).
	Hosts []string `json:"hosts,omitempty"`
	// RouteContains limits request faults to routes containing this text.
	RouteContains string `json:"routeContains,omitempty"`
	// DropDeliveries drops the next N notifications; DropShare drops that share.
	DropDeliveries int     `json:"dropDeliveries"`
	DropShare      float64 `json:"dropShare"`
	// DuplicateDeliveries delivers the next N notifications twice;
	// DuplicateShare does so for that share. DuplicateCopies is how many
	// extra copies a duplicated notification gets (default 1: twice).
	DuplicateDeliveries int     `json:"duplicateDeliveries"`
	DuplicateShare      float64 `json:"duplicateShare"`
	DuplicateCopies     int     `json:"duplicateCopies,omitempty"`
	// LateResponseMs applies a matching Graph request at once but holds its
	// answer this long (or until the client gives up): a client whose
	// timeout is shorter sees a timeout for a request that took effect.
	// LateResponses limits it to the next N matching requests (0: every one).
	LateResponseMs int `json:"lateResponseMs,omitempty"`
	LateResponses  int `json:"lateResponses,omitempty"`
	// DeliveryDelayMs holds every notification this long before sending.
	DeliveryDelayMs int `json:"deliveryDelayMs"`
}

// Revoke is POST /tokens/revoke: the refresh tokens (and, unless
// KeepAccessTokens, the access tokens) of one user, of all users, and/or
// of the app.
type Revoke struct {
	UserID           string `json:"userId,omitempty"`
	AllUsers         bool   `json:"allUsers,omitempty"`
	App              bool   `json:"app,omitempty"`
	KeepAccessTokens bool   `json:"keepAccessTokens,omitempty"`
}

// Revoked answers POST /tokens/revoke: how many tokens were revoked.
type Revoked struct {
	Revoked int `json:"revoked"`
}

// Lifetimes are token lifetimes (GET and PUT /lifetimes), for tokens issued
// from then on.
type Lifetimes struct {
	// AccessTokenSeconds: 0 means Entra's default, random 60–90 minutes.
	AccessTokenSeconds int `json:"accessTokenSeconds"`
	// RefreshTokenSeconds: default 90 days.
	RefreshTokenSeconds int `json:"refreshTokenSeconds"`
	// CodeSeconds: authorization code lifetime, default 600.
	CodeSeconds int `json:"codeSeconds"`
	// RevokeRotatedRefreshTokens makes a refresh token single-use (Entra
	// keeps the old one valid; this is stricter, for catching clients that
	// keep using a rotated token).
	RevokeRotatedRefreshTokens bool `json:"revokeRotatedRefreshTokens"`
}

// Limit allows Count requests (or resource units) per PerSeconds, as a
// token bucket holding at most Count; PerSeconds 0 means 1.
type Limit struct {
	Count      float64 `json:"count"`
	PerSeconds float64 `json:"perSeconds"`
}

// Throttle is the throttling configuration (GET /throttle, and the answer
// of PUT /throttle). Limit names are "<category>.<scope>", scope being app
// (per app per tenant), thread (per app per chat or channel), team (per app
// per team), user (per user) or userThread (per user per chat or channel).
type Throttle struct {
	Enabled bool             `json:"enabled"`
	Limits  map[string]Limit `json:"limits"`
}

// ThrottleUpdate is PUT /throttle: Reset restores the documented defaults
// first, Enabled switches throttling, Limits override the named limits.
type ThrottleUpdate struct {
	Enabled *bool            `json:"enabled,omitempty"`
	Limits  map[string]Limit `json:"limits,omitempty"`
	Reset   bool             `json:"reset,omitempty"`
}

// CounterRow is one request counter of GET /counters.
type CounterRow struct {
	Host     string `json:"host"`     // login, graph or control
	Route    string `json:"route"`    // the route pattern, e.g. "GET /v1.0/chats/{id}/messages"
	Caller   string `json:"caller"`   // app, user or none
	CallerID string `json:"callerId"` // client id or user id
	Status   int    `json:"status"`
	Count    int64  `json:"count"`
}

// DeliveryStats are the notification delivery counters (in GET /counters,
// and the answer of POST /deliveries/wait).
type DeliveryStats struct {
	Enqueued           int64 `json:"enqueued"`
	Delivered          int64 `json:"delivered"`
	Batches            int64 `json:"batches"`
	Attempts           int64 `json:"attempts"`
	FailedAttempts     int64 `json:"failedAttempts"`
	Retries            int64 `json:"retries"`
	Slow               int64 `json:"slow"`
	DroppedByFault     int64 `json:"droppedByFault"`
	Duplicated         int64 `json:"duplicated"`
	DroppedQueueFull   int64 `json:"droppedQueueFull"`
	DroppedExpired     int64 `json:"droppedExpired"`
	DroppedSlow        int64 `json:"droppedSlowEndpoint"`
	DroppedPaused      int64 `json:"droppedNeedsReauthorization"`
	Lifecycle          int64 `json:"lifecycle"`
	Validations        int64 `json:"validations"`
	ValidationFailures int64 `json:"validationFailures"`
	Queued             int64 `json:"queued"`
}

// Counters is GET /counters: request counters, delivery counters, and how
// often each throttling limit refused a request.
type Counters struct {
	Requests  []CounterRow     `json:"requests"`
	Delivery  DeliveryStats    `json:"delivery"`
	Throttled map[string]int64 `json:"throttled"`
}

// Count sums request counters matching host, route, caller and status;
// empty strings and status 0 match anything.
func (c *Counters) Count(host, route, caller string, status int) int64 {
	var n int64
	for _, r := range c.Requests {
		if (host == "" || r.Host == host) && (route == "" || r.Route == route) && (caller == "" || r.Caller == caller) && (status == 0 || r.Status == status) {
			n += r.Count
		}
	}
	return n
}

// Batch is one notification delivery attempt (GET /deliveries).
type Batch struct {
	Time       string `json:"time"`
	URL        string `json:"url"`
	Items      int    `json:"items"`
	Status     int    `json:"status"`
	Error      string `json:"error,omitempty"`
	DurationMs int64  `json:"durationMs"`
	Attempt    int    `json:"attempt"`
}
