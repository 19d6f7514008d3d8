package main

// ServeHTTP: one bidirectional gRPC stream per request. The request body is streamed to the core in chunks as it
// arrives (never buffered whole) and the core's response is streamed back chunk by chunk.

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/mattermost/mattermost/server/public/plugin"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/msteams-bridge/msteams/shim/gen/corepb"
)

const (
	httpChunkSize   = 64 << 10
	maxRequestBody  = 64 << 20
	httpTimeout     = 5 * time.Minute
	retryAfterSecs  = "5"
	maxHeaderValues = 1000 // response headers accepted from the core
	// Requests in progress at once; more are answered 503 with Retry-After, so that slow clients cannot pile up
	// streams (and core threads: the core caps its own at 64 running requests and 200 threads, see
	// core/rpc/limits.hpp).
	maxConcurrentHTTP = 128
)

// writeBusy answers 503 with Retry-After: the plugin is overloaded (or restarting) and the client should come back.
func writeBusy(w http.ResponseWriter) {
	w.Header().Set("Retry-After", retryAfterSecs)
	writeJSONError(w, http.StatusServiceUnavailable, "The MS Teams plugin is busy. Try again shortly.")
}

func writeJSONError(w http.ResponseWriter, status int, msg string) {
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	b, _ := json.Marshal(map[string]string{"error": msg})
	_, _ = w.Write(b)
}

// requestContentLength is the client's Content-Length, or -1 when unknown. The SDK rebuilds the request without
// ContentLength, so the header is the reliable source.
func requestContentLength(r *http.Request) int64 {
	if v := r.Header.Get("Content-Length"); v != "" {
		if n, err := strconv.ParseInt(v, 10, 64); err == nil && n >= 0 {
			return n
		}
	}
	if r.ContentLength > 0 {
		return r.ContentLength
	}
	if r.Body == nil || r.Body == http.NoBody {
		return 0
	}
	return -1
}

func requestHead(c *plugin.Context, r *http.Request) *corepb.HttpRequestHead {
	headers := make([]*corepb.Header, 0, len(r.Header)+1)
	hasHost := false
	for name, values := range r.Header {
		if http.CanonicalHeaderKey(name) == "Host" {
			hasHost = true
		}
		headers = append(headers, &corepb.Header{Name: name, Values: append([]string(nil), values...)})
	}
	if !hasHost && r.Host != "" {
		headers = append(headers, &corepb.Header{Name: "Host", Values: []string{r.Host}})
	}
	head := &corepb.HttpRequestHead{
		Method:         r.Method,
		Headers:        headers,
		UserId:         r.Header.Get("Mattermost-User-Id"),
		SourcePluginId: r.Header.Get("Mattermost-Plugin-ID"),
		RemoteAddr:     r.RemoteAddr,
		Context:        contextToProto(c),
		ContentLength:  requestContentLength(r),
	}
	if r.URL != nil {
		head.Path = r.URL.Path
		head.RawQuery = r.URL.RawQuery
	}
	return head
}

// Why the body pump stopped without sending everything.
const (
	pumpOK int32 = iota
	pumpTooLarge
	pumpReadError
	pumpShortBody // the body ended before (or ran past) its Content-Length: e.g. the client disconnected
	pumpSendError
	pumpStopped
)

func (p *Plugin) ServeHTTP(c *plugin.Context, w http.ResponseWriter, r *http.Request) {
	p.serve(c, w, r, false)
}

// ServeMetrics answers the server's metrics listener (/plugins/com.mattermost.msteams/metrics on the metrics port)
// with the core's Prometheus exposition. While the core is not running it answers msteams_core_up 0 itself, so that
// an alert sees the bridge down rather than a failed scrape.
func (p *Plugin) ServeMetrics(c *plugin.Context, w http.ResponseWriter, r *http.Request) {
	p.serve(c, w, r, true)
}

// coreDownExposition is what the metrics listener gets while the core cannot answer.
func coreDownExposition(node string) string {
	return "# HELP msteams_core_up 1 while the core answers (the shim answers 0 while it restarts).\n" +
		"# TYPE msteams_core_up gauge\n" +
		"msteams_core_up{node=\"" + escapeLabelValue(node) + "\"} 0\n"
}

func escapeLabelValue(v string) string {
	return strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`).Replace(v)
}

func (p *Plugin) serve(c *plugin.Context, w http.ResponseWriter, r *http.Request, metricsListener bool) {
	if n := p.httpRunning.Add(1); n > maxConcurrentHTTP {
		p.httpRunning.Add(-1)
		writeBusy(w)
		return
	}
	defer p.httpRunning.Add(-1)
	if !metricsListener && p.serveTestHook(c, w, r) {
		return
	}
	link, _ := p.current()
	var client corepb.HooksClient
	ready := false
	if link != nil {
		client, _, ready = link.readyClient()
	}
	if !ready || client == nil {
		if metricsListener {
			w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
			_, _ = io.WriteString(w, coreDownExposition(p.nodeName()))
			return
		}
		w.Header().Set("Retry-After", retryAfterSecs)
		writeJSONError(w, http.StatusServiceUnavailable, "The MS Teams plugin is restarting. Try again shortly.")
		return
	}
	head := requestHead(c, r)
	head.MetricsListener = metricsListener
	if head.ContentLength > maxRequestBody {
		writeJSONError(w, http.StatusRequestEntityTooLarge, "The request body is too large.")
		return
	}

	ctx, cancel := context.WithTimeout(context.Background(), httpTimeout)
	defer cancel()
	stream, err := client.ServeHTTP(ctx)
	if err != nil {
		writeJSONError(w, http.StatusBadGateway, "The MS Teams plugin could not handle the request.")
		return
	}
	if err := stream.Send(&corepb.HttpRequestPart{Part: &corepb.HttpRequestPart_Head{Head: head}}); err != nil {
		// The real reason, if any, comes with Recv below.
		cancel()
	}

	var (
		pumpResult atomic.Int32
		answered   atomic.Bool // the core's head arrived: stop sending
		stopPump   = make(chan struct{})
	)
	go func() {
		res := p.pumpBody(stream, r.Body, head.ContentLength, stopPump, &answered)
		pumpResult.Store(res)
		if res != pumpOK && res != pumpStopped && !answered.Load() {
			// Wake up Recv below: the core must not take a truncated body for a complete one.
			cancel()
		}
	}()
	defer func() {
		select {
		case <-stopPump:
		default:
			close(stopPump)
		}
	}()

	wrote := false
	fail := func(status int, msg string) {
		if !wrote {
			writeJSONError(w, status, msg)
			wrote = true
		}
	}
	flusher, _ := w.(http.Flusher)
	for {
		part, err := stream.Recv()
		if err != nil {
			if errors.Is(err, io.EOF) {
				if !wrote {
					fail(http.StatusBadGateway, "The MS Teams plugin sent no response.")
				}
				return
			}
			cancel()
			if status.Code(err) == codes.ResourceExhausted && !wrote {
				// The core is at its thread limit: a busy answer the client may retry, not a failure.
				writeBusy(w)
				return
			}
			switch pumpResult.Load() {
			case pumpTooLarge:
				fail(http.StatusRequestEntityTooLarge, "The request body is too large.")
			case pumpReadError:
				fail(http.StatusBadRequest, "The request body could not be read.")
			case pumpShortBody:
				fail(http.StatusBadRequest, "The request body does not match its Content-Length.")
			default:
				fail(http.StatusBadGateway, "The MS Teams plugin could not handle the request.")
			}
			if wrote {
				p.API.LogWarn("MS Teams HTTP response aborted", "path", head.Path, "error", err.Error())
			}
			return
		}
		switch x := part.Part.(type) {
		case *corepb.HttpResponsePart_Head:
			if answered.Load() {
				cancel()
				p.API.LogError("MS Teams core sent a second response head", "path", head.Path)
				return
			}
			answered.Store(true)
			close(stopPump)
			status := int(x.Head.GetStatus())
			if status < 200 || status > 599 {
				cancel()
				p.API.LogError("MS Teams core sent an invalid HTTP status", "path", head.Path, "status", status)
				fail(http.StatusBadGateway, "The MS Teams plugin sent an invalid response.")
				return
			}
			h := w.Header()
			n := 0
			for _, hd := range x.Head.GetHeaders() {
				if hd.GetName() == "" {
					continue
				}
				for _, v := range hd.GetValues() {
					if n++; n > maxHeaderValues {
						break
					}
					h.Add(hd.GetName(), v)
				}
			}
			w.WriteHeader(status)
			wrote = true
		case *corepb.HttpResponsePart_Body:
			if !answered.Load() {
				cancel()
				p.API.LogError("MS Teams core sent a response body before its head", "path", head.Path)
				fail(http.StatusBadGateway, "The MS Teams plugin sent an invalid response.")
				return
			}
			if len(x.Body) == 0 {
				continue
			}
			if _, err := w.Write(x.Body); err != nil {
				// The client went away: tell the core by cancelling the stream.
				cancel()
				return
			}
			if flusher != nil {
				flusher.Flush()
			}
		default:
			// An empty part from a newer core: ignore.
		}
	}
}

// pumpBody streams the request body to the core in chunks of at most httpChunkSize as it arrives. It closes the
// send side only after the whole body went out; a body beyond maxRequestBody, a read error or an early answer of
// the core stop it without closing, so the core can never mistake a partial body for a complete one. A body that
// ends before its declared length (declared ≥ 0) — what a client disconnect looks like once Mattermost relayed the
// request — or runs past it is not complete either.
func (p *Plugin) pumpBody(stream corepb.Hooks_ServeHTTPClient, body io.Reader, declared int64, stop <-chan struct{}, answered *atomic.Bool) int32 {
	if body == nil {
		if declared > 0 {
			return pumpShortBody
		}
		if err := stream.CloseSend(); err != nil {
			return pumpSendError
		}
		return pumpOK
	}
	var total int64
	for {
		select {
		case <-stop:
			return pumpStopped
		default:
		}
		buf := make([]byte, httpChunkSize) // fresh per chunk: gRPC may hold on to a sent message
		n, err := body.Read(buf)
		if n > 0 {
			total += int64(n)
			if total > maxRequestBody {
				return pumpTooLarge
			}
			if declared >= 0 && total > declared {
				return pumpShortBody
			}
			if answered.Load() {
				return pumpStopped
			}
			if serr := stream.Send(&corepb.HttpRequestPart{Part: &corepb.HttpRequestPart_Body{Body: buf[:n]}}); serr != nil {
				return pumpSendError
			}
		}
		if errors.Is(err, io.EOF) {
			if declared >= 0 && total != declared {
				return pumpShortBody
			}
			if err := stream.CloseSend(); err != nil {
				return pumpSendError
			}
			return pumpOK
		}
		if err != nil {
			return pumpReadError
		}
	}
}
