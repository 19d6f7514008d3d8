package m365

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"errors"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/msteams-bridge/msteams/tests/emulators/graph/wire"
)

// statusWriter records the status written by a handler.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = 200
	}
	return w.ResponseWriter.Write(b)
}

func (w *statusWriter) Flush() {
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

// call is one Graph request being served.
type call struct {
	e       *Emulator
	w       *statusWriter
	r       *http.Request
	p       *principal
	route   string
	q       url.Values
	reqID   string
	inBatch bool
}

// graphError writes Graph's error JSON.
func (c *call) fail(status int, code, msg string) {
	writeGraphError(c.w, c.r, c.reqID, status, code, msg)
}

func writeGraphError(w http.ResponseWriter, r *http.Request, reqID string, status int, code, msg string) {
	inner := map[string]any{
		"date":              time.Now().UTC().Format("2006-01-02T15:04:05"),
		"request-id":        reqID,
		"client-request-id": clientRequestID(r, reqID),
	}
	body := map[string]any{"error": map[string]any{"code": code, "message": msg, "innerError": inner}}
	writeJSON(w, status, body)
}

func clientRequestID(r *http.Request, reqID string) string {
	if v := r.Header.Get("client-request-id"); v != "" {
		return v
	}
	return reqID
}

func (c *call) failErr(err error) {
	var se *storeError
	if errors.As(err, &se) {
		c.fail(se.status, se.code, se.msg)
		return
	}
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		c.fail(413, "RequestEntityTooLarge", "Request Entity too large.")
		return
	}
	c.fail(400, "BadRequest", err.Error())
}

func (c *call) json(status int, v any) { writeJSON(c.w, status, v) }

func writeJSON(w http.ResponseWriter, status int, v any) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		http.Error(w, err.Error(), 500)
		return
	}
	w.Header().Set("Content-Type", "application/json; odata.metadata=minimal; odata.streaming=true; IEEE754Compatible=false; charset=utf-8")
	w.Header().Set("Content-Length", strconv.Itoa(buf.Len()))
	w.WriteHeader(status)
	w.Write(buf.Bytes())
}

// decode reads a JSON body into v within the request size limit.
func (c *call) decode(v any) bool {
	if err := decodeJSONBody(c.w, c.r, c.e.opts.MaxRequestBytes, v); err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			c.fail(413, "RequestEntityTooLarge", "Request Entity too large.")
		} else {
			c.fail(400, "BadRequest", "Invalid request body was sent: "+err.Error())
		}
		return false
	}
	return true
}

func decodeJSONBody(w http.ResponseWriter, r *http.Request, limit int64, v any) error {
	body := http.MaxBytesReader(w, r.Body, limit)
	data, err := io.ReadAll(body)
	if err != nil {
		return err
	}
	if len(bytes.TrimSpace(data)) == 0 {
		return errors.New("empty body")
	}
	return json.Unmarshal(data, v)
}

// unreadablePayload is Graph's message for a request body it cannot read (msgraph-sdk-design
// middleware/CompressionHandler.md quotes it for a gzip body sent where Graph did not decompress yet).
const unreadablePayload = "Unable to read JSON request payload. Please ensure Content-Type header is set and payload is of valid JSON format."

// decodeContentEncoding undoes a gzip Content-Encoding of the request body before any handler reads it, as
// Graph's gateway does. The Graph SDKs compress request bodies by default (kiota-http-go CompressionHandler,
// one of the Go SDK's default middlewares: gzip, "Content-Encoding: gzip", a retry without compression only
// after a 415), and Graph accepts them (msgraph-sdk-design PR #71: the gateway decompresses request payloads;
// the spec's fallback on 400 "Unable to read JSON request payload" is for environments that do not yet).
// Other codings, and gzip that does not decompress, get that 400; the decompressed body is held to the
// emulator's upload limit (413 above it) and each handler still applies its own.
func (c *call) decodeContentEncoding() bool {
	enc := strings.ToLower(strings.TrimSpace(c.r.Header.Get("Content-Encoding")))
	if enc == "" || enc == "identity" || c.r.Body == nil || c.r.Body == http.NoBody {
		return true
	}
	if enc != "gzip" && enc != "x-gzip" {
		c.fail(400, "BadRequest", unreadablePayload)
		return false
	}
	limit := max(c.e.opts.MaxRequestBytes, c.e.opts.MaxUploadBytes)
	zr, err := gzip.NewReader(http.MaxBytesReader(c.w, c.r.Body, limit))
	var data []byte
	if err == nil {
		data, err = io.ReadAll(io.LimitReader(zr, limit+1))
	}
	var mbe *http.MaxBytesError
	switch {
	case errors.As(err, &mbe) || int64(len(data)) > limit:
		c.fail(413, "RequestEntityTooLarge", "Request Entity too large.")
		return false
	case err != nil:
		c.fail(400, "BadRequest", unreadablePayload)
		return false
	}
	c.r.Body = io.NopCloser(bytes.NewReader(data))
	c.r.ContentLength = int64(len(data))
	c.r.Header.Del("Content-Encoding")
	return true
}

// ---- request counters ----

// CounterKey identifies one counter; GET /counters lists it as a
// wire.CounterRow.
type CounterKey struct {
	Host     string // login, graph or control
	Route    string // the route pattern, e.g. "GET /v1.0/chats/{id}/messages"
	Caller   string // app, user or none
	CallerID string // client id or user id
	Status   int
}

// CounterRow is one counter in GET /counters.
type CounterRow = wire.CounterRow

type counterSet struct {
	m sync.Map // CounterKey → *atomic.Int64
}

func newCounterSet() *counterSet { return &counterSet{} }

func (cs *counterSet) inc(k CounterKey) {
	v, ok := cs.m.Load(k)
	if !ok {
		v, _ = cs.m.LoadOrStore(k, new(atomic.Int64))
	}
	v.(*atomic.Int64).Add(1)
}

func (cs *counterSet) rows() []CounterRow {
	var out []CounterRow
	cs.m.Range(func(k, v any) bool {
		key := k.(CounterKey)
		out = append(out, CounterRow{Host: key.Host, Route: key.Route, Caller: key.Caller, CallerID: key.CallerID,
			Status: key.Status, Count: v.(*atomic.Int64).Load()})
		return true
	})
	sort.Slice(out, func(i, j int) bool {
		a, b := out[i], out[j]
		if a.Host != b.Host {
			return a.Host < b.Host
		}
		if a.Route != b.Route {
			return a.Route < b.Route
		}
		if a.Caller != b.Caller {
			return a.Caller < b.Caller
		}
		if a.CallerID != b.CallerID {
			return a.CallerID < b.CallerID
		}
		return a.Status < b.Status
	})
	return out
}

func (cs *counterSet) reset() { cs.m.Clear() }

// ---- faults ----

// Faults is the injectable fault configuration (control API /faults).
type Faults = wire.Faults

type faultState struct {
	mu  sync.Mutex
	cur atomic.Pointer[Faults]
}

func (f *faultState) get() *Faults {
	if p := f.cur.Load(); p != nil {
		return p
	}
	return &Faults{}
}

func (f *faultState) set(v Faults) {
	f.mu.Lock()
	f.cur.Store(&v)
	f.mu.Unlock()
}

// take decrements a "next N" counter and reports whether it applied.
func (f *faultState) take(which func(*Faults) *int) bool {
	if f.cur.Load() == nil {
		return false
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	cur := f.cur.Load()
	if cur == nil || *which(cur) <= 0 {
		return false
	}
	nv := *cur
	*which(&nv)--
	f.cur.Store(&nv)
	return true
}

// takeLate reports how long to hold the answer of a request to host and
// route, counting down LateResponses; the fault ends when the count does.
func (f *faultState) takeLate(host, route string) time.Duration {
	cur := f.cur.Load()
	if cur == nil || cur.LateResponseMs <= 0 || !faultApplies(cur, host, route) {
		return 0
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	cur = f.cur.Load()
	if cur == nil || cur.LateResponseMs <= 0 {
		return 0
	}
	d := time.Duration(cur.LateResponseMs) * time.Millisecond
	if cur.LateResponses > 0 {
		nv := *cur
		nv.LateResponses--
		if nv.LateResponses == 0 {
			nv.LateResponseMs = 0
		}
		f.cur.Store(&nv)
	}
	return d
}

// heldWriter keeps a response (headers go to the real writer's map, the
// status and body are buffered) until release writes it.
type heldWriter struct {
	w      http.ResponseWriter
	status int
	body   bytes.Buffer
}

func (h *heldWriter) Header() http.Header { return h.w.Header() }

func (h *heldWriter) WriteHeader(code int) {
	if h.status == 0 {
		h.status = code
	}
}

func (h *heldWriter) Write(b []byte) (int, error) {
	if h.status == 0 {
		h.status = http.StatusOK
	}
	return h.body.Write(b)
}

// release waits d, or until the client has gone, then sends the response.
func (h *heldWriter) release(r *http.Request, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-r.Context().Done():
	}
	if h.status == 0 {
		h.status = http.StatusOK
	}
	h.w.WriteHeader(h.status)
	_, _ = h.w.Write(h.body.Bytes())
}

// faultApplies reports whether f's request faults apply to host and route.
func faultApplies(f *Faults, host, route string) bool {
	if len(f.Hosts) == 0 {
		if host != "graph" {
			return false
		}
	} else {
		ok := false
		for _, h := range f.Hosts {
			if h == host {
				ok = true
			}
		}
		if !ok {
			return false
		}
	}
	return f.RouteContains == "" || strings.Contains(route, f.RouteContains)
}

// requestFault applies latency and error faults; true means it answered.
func (e *Emulator) requestFault(host, route string, w http.ResponseWriter, r *http.Request, reqID string) bool {
	f := e.faults.get()
	if (f.LatencyMs == 0 && f.ErrorShare == 0) || !faultApplies(f, host, route) {
		return false
	}
	if f.LatencyMs > 0 || f.JitterMs > 0 {
		d := time.Duration(f.LatencyMs) * time.Millisecond
		if f.JitterMs > 0 {
			d += time.Duration(rand.IntN(f.JitterMs+1)) * time.Millisecond
		}
		select {
		case <-time.After(d):
		case <-r.Context().Done():
		}
	}
	if f.ErrorShare > 0 && rand.Float64() < f.ErrorShare {
		status := f.ErrorStatus
		if status == 0 {
			status = 503
		}
		if status == 503 || status == 429 {
			w.Header().Set("Retry-After", "1")
		}
		if host == "login" {
			writeJSON(w, status, map[string]any{"error": "temporarily_unavailable",
				"error_description": "AADSTS90033: A transient error has occurred. Please try again.", "error_codes": []int{90033}})
			return true
		}
		code := map[int]string{500: "InternalServerError", 502: "BadGateway", 503: "ServiceUnavailable", 504: "GatewayTimeout", 429: "TooManyRequests"}[status]
		if code == "" {
			code = "UnknownError"
		}
		writeGraphError(w, r, reqID, status, code, "Injected fault.")
		return true
	}
	return false
}
