package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/msteams-bridge/msteams/shim/gen/corepb"
)

// readHead receives the request head and fails the stream if the first part is anything else.
func readHead(s corepb.Hooks_ServeHTTPServer) (*corepb.HttpRequestHead, error) {
	part, err := s.Recv()
	if err != nil {
		return nil, err
	}
	h := part.GetHead()
	if h == nil {
		return nil, errors.New("first part is not a head")
	}
	return h, nil
}

func sendHead(s corepb.Hooks_ServeHTTPServer, status int32, headers ...*corepb.Header) error {
	return s.Send(&corepb.HttpResponsePart{Part: &corepb.HttpResponsePart_Head{Head: &corepb.HttpResponseHead{Status: status, Headers: headers}}})
}

func sendBody(s corepb.Hooks_ServeHTTPServer, b []byte) error {
	return s.Send(&corepb.HttpResponsePart{Part: &corepb.HttpResponsePart_Body{Body: b}})
}

// bodyStats reads the whole request body and records chunk sizes.
type bodyStats struct {
	mu       sync.Mutex
	chunks   int
	maxChunk int
	total    int64
	eof      bool
}

func (b *bodyStats) drain(s corepb.Hooks_ServeHTTPServer) error {
	for {
		part, err := s.Recv()
		if errors.Is(err, io.EOF) {
			b.mu.Lock()
			b.eof = true
			b.mu.Unlock()
			return nil
		}
		if err != nil {
			return err
		}
		n := len(part.GetBody())
		b.mu.Lock()
		b.chunks++
		b.maxChunk = max(b.maxChunk, n)
		b.total += int64(n)
		b.mu.Unlock()
	}
}

func (b *bodyStats) get() (int, int, int64, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.chunks, b.maxChunk, b.total, b.eof
}

func TestServeHTTPRoundTripsHeadersStatusAndBody(t *testing.T) {
	var head *corepb.HttpRequestHead
	var body []byte
	f := &fakeHooks{serveHTTP: func(s corepb.Hooks_ServeHTTPServer) error {
		var err error
		if head, err = readHead(s); err != nil {
			return err
		}
		for {
			part, err := s.Recv()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				return err
			}
			body = append(body, part.GetBody()...)
		}
		if err := sendHead(s, 201, &corepb.Header{Name: "Content-Type", Values: []string{"application/json"}},
			&corepb.Header{Name: "X-Multi", Values: []string{"a", "b"}}); err != nil {
			return err
		}
		if err := sendBody(s, []byte(`{"echo":`)); err != nil {
			return err
		}
		if err := sendBody(s, append(body, '}')); err != nil {
			return err
		}
		return nil
	}}
	p, _, _ := newLinkedPlugin(t, f, true)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// What the SDK gives the plugin: the path below /plugins/<id>, Mattermost-User-Id set by the server.
		r.URL.Path = strings.TrimPrefix(r.URL.Path, "/plugins/com.mattermost.msteams")
		p.ServeHTTP(testCtx, w, r)
	}))
	defer srv.Close()

	req, _ := http.NewRequest("POST", srv.URL+"/plugins/com.mattermost.msteams/changes?validationToken=a%20b&x=1", strings.NewReader(`"payload"`))
	req.Header.Set("Mattermost-User-Id", "user-26")
	req.Header.Set("Mattermost-Plugin-ID", "other.plugin")
	req.Header.Add("X-Test", "1")
	req.Header.Add("X-Test", "2")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	got, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 201 || resp.Header.Get("Content-Type") != "application/json" ||
		strings.Join(resp.Header.Values("X-Multi"), ",") != "a,b" || string(got) != `{"echo":"payload"}` {
		t.Fatalf("response %d %v %q", resp.StatusCode, resp.Header, got)
	}
	if head.Method != "POST" || head.Path != "/changes" || head.RawQuery != "validationToken=a%20b&x=1" ||
		head.UserId != "user-26" || head.SourcePluginId != "other.plugin" || head.ContentLength != 9 ||
		head.RemoteAddr == "" || head.Context.GetRequestId() != "req" {
		t.Errorf("head = %v", head)
	}
	headers := map[string][]string{}
	for _, h := range head.Headers {
		headers[h.Name] = h.Values
	}
	if strings.Join(headers["X-Test"], ",") != "1,2" || len(headers["Host"]) != 1 {
		t.Errorf("headers = %v", headers)
	}
}

// gatedReader yields size bytes in writes of step bytes; after the first `gateAfter` bytes it waits on gate.
type gatedReader struct {
	remaining int64
	sent      int64
	gateAfter int64
	gate      <-chan struct{}
}

func (g *gatedReader) Read(p []byte) (int, error) {
	if g.remaining == 0 {
		return 0, io.EOF
	}
	if g.sent == g.gateAfter && g.gate != nil {
		select {
		case <-g.gate:
		case <-time.After(5 * time.Second):
			return 0, errors.New("gate never opened: the shim buffered instead of streaming")
		}
	}
	n := min(int64(len(p)), g.remaining, 100_000) // an odd size: chunks must still be <= 64 KiB
	if g.sent < g.gateAfter {
		n = min(n, g.gateAfter-g.sent)
	}
	g.remaining -= n
	g.sent += n
	return int(n), nil
}

func TestServeHTTPStreamsALargeBodyInChunks(t *testing.T) {
	const size = 20 << 20
	stats := &bodyStats{}
	firstMiB := make(chan struct{})
	var once sync.Once
	f := &fakeHooks{serveHTTP: func(s corepb.Hooks_ServeHTTPServer) error {
		if _, err := readHead(s); err != nil {
			return err
		}
		go func() {
			for {
				if _, _, total, _ := stats.get(); total >= 1<<20 {
					once.Do(func() { close(firstMiB) })
					return
				}
				time.Sleep(time.Millisecond)
			}
		}()
		if err := stats.drain(s); err != nil {
			return err
		}
		_, _, total, _ := stats.get()
		if err := sendHead(s, 200); err != nil {
			return err
		}
		return sendBody(s, []byte(fmt.Sprint(total)))
	}}
	p, _, _ := newLinkedPlugin(t, f, true)
	// The client sends 1 MiB and then waits until the core has received it: a shim that buffered the whole body
	// before forwarding would never get there.
	body := &gatedReader{remaining: size, gateAfter: 1 << 20, gate: firstMiB}
	r := httptest.NewRequest("PUT", "/files", body)
	r.Header.Del("Content-Length")
	r.ContentLength = -1
	w := httptest.NewRecorder()
	p.ServeHTTP(testCtx, w, r)
	if w.Code != 200 || w.Body.String() != fmt.Sprint(size) {
		t.Fatalf("response %d %q", w.Code, w.Body.String())
	}
	chunks, maxChunk, total, eof := stats.get()
	if total != size || !eof || maxChunk > httpChunkSize || chunks < size/httpChunkSize {
		t.Fatalf("core saw %d bytes in %d chunks (max %d), eof %v", total, chunks, maxChunk, eof)
	}
}

func TestServeHTTPRefusesBodiesOverTheCap(t *testing.T) {
	stats := &bodyStats{}
	coreDone := make(chan error, 1)
	f := &fakeHooks{serveHTTP: func(s corepb.Hooks_ServeHTTPServer) error {
		if _, err := readHead(s); err != nil {
			return err
		}
		err := stats.drain(s) // a core that waits for the whole body before answering
		coreDone <- err
		return err
	}}
	p, _, _ := newLinkedPlugin(t, f, true)

	// Unknown length: the shim streams up to the cap, then answers 413 itself and cancels the stream.
	r := httptest.NewRequest("POST", "/changes", &gatedReader{remaining: maxRequestBody + 1, gateAfter: -1})
	r.ContentLength = -1
	w := httptest.NewRecorder()
	p.ServeHTTP(testCtx, w, r)
	if w.Code != http.StatusRequestEntityTooLarge || !strings.Contains(w.Body.String(), `"error"`) {
		t.Fatalf("response %d %q", w.Code, w.Body.String())
	}
	select {
	case err := <-coreDone:
		if err == nil {
			t.Error("the core's stream ended normally: it took a truncated body for a complete one")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the core's stream was not cancelled")
	}
	if _, _, total, eof := stats.get(); eof || total > maxRequestBody {
		t.Errorf("core got %d bytes, eof %v", total, eof)
	}

	// Declared length over the cap: refused before the core sees anything.
	r = httptest.NewRequest("POST", "/changes", strings.NewReader("x"))
	r.Header.Set("Content-Length", fmt.Sprint(maxRequestBody+1))
	w = httptest.NewRecorder()
	p.ServeHTTP(testCtx, w, r)
	if w.Code != http.StatusRequestEntityTooLarge {
		t.Fatalf("declared oversize: %d", w.Code)
	}

	// Exactly the cap is fine.
	stats2 := &bodyStats{}
	f.serveHTTP = func(s corepb.Hooks_ServeHTTPServer) error {
		if _, err := readHead(s); err != nil {
			return err
		}
		if err := stats2.drain(s); err != nil {
			return err
		}
		return sendHead(s, 204)
	}
	r = httptest.NewRequest("POST", "/changes", &gatedReader{remaining: maxRequestBody, gateAfter: -1})
	w = httptest.NewRecorder()
	p.ServeHTTP(testCtx, w, r)
	if _, _, total, eof := stats2.get(); w.Code != 204 || total != maxRequestBody || !eof {
		t.Fatalf("exactly the cap: %d, core got %d eof %v", w.Code, total, eof)
	}
}

// A client that disconnects mid-body: Mattermost relays what arrived and then a clean EOF. The shim compares the
// body with its Content-Length, answers 400 and cancels the core's stream instead of closing it as complete.
func TestServeHTTPRefusesABodyShorterThanItsContentLength(t *testing.T) {
	for _, tc := range []struct {
		name     string
		body     string
		declared int
	}{
		{"cut short", "{\"value\":[{\"id\":", 120},
		{"longer than declared", strings.Repeat("x", 200), 100},
	} {
		t.Run(tc.name, func(t *testing.T) {
			stats := &bodyStats{}
			coreDone := make(chan error, 1)
			f := &fakeHooks{serveHTTP: func(s corepb.Hooks_ServeHTTPServer) error {
				if _, err := readHead(s); err != nil {
					coreDone <- err
					return err
				}
				err := stats.drain(s)
				coreDone <- err
				if err != nil {
					return err
				}
				return sendHead(s, 204) // a core that took the body as complete
			}}
			p, _, _ := newLinkedPlugin(t, f, true)
			r := httptest.NewRequest("POST", "/changes", io.NopCloser(strings.NewReader(tc.body)))
			r.Header.Set("Content-Length", fmt.Sprint(tc.declared))
			w := httptest.NewRecorder()
			p.ServeHTTP(testCtx, w, r)
			if w.Code != http.StatusBadRequest || !strings.Contains(w.Body.String(), "Content-Length") {
				t.Fatalf("response %d %q", w.Code, w.Body.String())
			}
			select {
			case err := <-coreDone:
				if err == nil {
					t.Error("the core's stream ended normally: it took a truncated body for a complete one")
				}
			case <-time.After(5 * time.Second):
				t.Fatal("the core's stream was not cancelled")
			}
			if _, _, _, eof := stats.get(); eof {
				t.Error("the core saw the end of the body")
			}
		})
	}
}

// Slow requests pile up to the cap, then the shim answers 503 with Retry-After without opening another stream; a
// core at its own thread limit (RESOURCE_EXHAUSTED) is a busy answer too, not a 502.
func TestServeHTTPAnswers503WithRetryAfterBeyondTheConcurrencyCap(t *testing.T) {
	release := make(chan struct{})
	var streams atomic.Int32
	f := &fakeHooks{serveHTTP: func(s corepb.Hooks_ServeHTTPServer) error {
		head, err := readHead(s)
		if err != nil {
			return err
		}
		if head.Path == "/exhausted" {
			return status.Error(codes.ResourceExhausted, "Server Threadpool Exhausted")
		}
		streams.Add(1)
		<-release // a slow client: the request never completes until released
		return sendHead(s, 204)
	}}
	p, _, _ := newLinkedPlugin(t, f, true)
	var wg sync.WaitGroup
	codesSeen := make(chan int, maxConcurrentHTTP)
	for range maxConcurrentHTTP {
		wg.Add(1)
		go func() {
			defer wg.Done()
			w := httptest.NewRecorder()
			p.ServeHTTP(testCtx, w, httptest.NewRequest("GET", "/slow", nil))
			codesSeen <- w.Code
		}()
	}
	eventually(t, 10*time.Second, "all slow requests at the core", func() bool {
		return streams.Load() == maxConcurrentHTTP
	})
	w := httptest.NewRecorder()
	p.ServeHTTP(testCtx, w, httptest.NewRequest("GET", "/slow", nil))
	if w.Code != http.StatusServiceUnavailable || w.Header().Get("Retry-After") == "" {
		t.Errorf("beyond the cap: %d, Retry-After %q", w.Code, w.Header().Get("Retry-After"))
	}
	if n := streams.Load(); n != maxConcurrentHTTP {
		t.Errorf("the core got %d streams", n)
	}
	close(release)
	wg.Wait()
	close(codesSeen)
	for c := range codesSeen {
		if c != http.StatusNoContent {
			t.Errorf("a request under the cap got %d", c)
		}
	}

	w = httptest.NewRecorder()
	p.ServeHTTP(testCtx, w, httptest.NewRequest("GET", "/exhausted", nil))
	if w.Code != http.StatusServiceUnavailable || w.Header().Get("Retry-After") == "" {
		t.Errorf("core out of threads: %d, Retry-After %q", w.Code, w.Header().Get("Retry-After"))
	}
}

// countingReader counts what the shim read from the client.
type countingReader struct {
	n     atomic.Int64
	inner io.Reader
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.inner.Read(p)
	c.n.Add(int64(n))
	return n, err
}

func TestServeHTTPStopsSendingWhenTheCoreAnswersEarly(t *testing.T) {
	f := &fakeHooks{serveHTTP: func(s corepb.Hooks_ServeHTTPServer) error {
		if _, err := readHead(s); err != nil {
			return err
		}
		if err := sendHead(s, 413, &corepb.Header{Name: "Content-Type", Values: []string{"text/plain"}}); err != nil {
			return err
		}
		return sendBody(s, []byte("too big for /changes"))
	}}
	p, _, _ := newLinkedPlugin(t, f, true)
	// A client that trickles an endless body.
	pr, pw := io.Pipe()
	go func() {
		chunk := bytes.Repeat([]byte("x"), 1024)
		for {
			if _, err := pw.Write(chunk); err != nil {
				return
			}
			time.Sleep(time.Millisecond)
		}
	}()
	defer pw.Close()
	body := &countingReader{inner: pr}
	r := httptest.NewRequest("POST", "/changes", body)
	r.ContentLength = -1
	w := httptest.NewRecorder()
	done := make(chan struct{})
	go func() {
		p.ServeHTTP(testCtx, w, r)
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("ServeHTTP kept sending after the core answered")
	}
	if w.Code != 413 || w.Body.String() != "too big for /changes" {
		t.Fatalf("response %d %q", w.Code, w.Body.String())
	}
	n1 := body.n.Load()
	time.Sleep(50 * time.Millisecond)
	if n2 := body.n.Load(); n2 > n1+httpChunkSize {
		t.Errorf("the shim kept reading the body after answering: %d -> %d", n1, n2)
	}
}

func TestServeHTTPAnswers503WithRetryAfterWhileTheCoreIsDown(t *testing.T) {
	f := &fakeHooks{serveHTTP: func(corepb.Hooks_ServeHTTPServer) error { t.Error("core called"); return nil }}
	p, _, _ := newLinkedPlugin(t, f, false)
	w := httptest.NewRecorder()
	p.ServeHTTP(testCtx, w, httptest.NewRequest("POST", "/changes", strings.NewReader("{}")))
	if w.Code != 503 || w.Header().Get("Retry-After") != "5" || w.Header().Get("Content-Type") != "application/json" ||
		!strings.HasPrefix(w.Body.String(), `{"error":`) {
		t.Fatalf("response %d %v %q", w.Code, w.Header(), w.Body.String())
	}
	// Not activated at all: the same answer.
	p2 := &Plugin{}
	p2.SetAPI(&fakeAPI{})
	w = httptest.NewRecorder()
	p2.ServeHTTP(testCtx, w, httptest.NewRequest("GET", "/", nil))
	if w.Code != 503 || w.Header().Get("Retry-After") != "5" {
		t.Fatalf("inactive plugin: %d", w.Code)
	}
}

func TestServeHTTPCoreFailureBeforeAnsweringIs502(t *testing.T) {
	f := &fakeHooks{serveHTTP: func(s corepb.Hooks_ServeHTTPServer) error {
		return errors.New("handler blew up")
	}}
	p, _, _ := newLinkedPlugin(t, f, true)
	w := httptest.NewRecorder()
	p.ServeHTTP(testCtx, w, httptest.NewRequest("GET", "/x", nil))
	if w.Code != 502 || !strings.HasPrefix(w.Body.String(), `{"error":`) {
		t.Fatalf("response %d %q", w.Code, w.Body.String())
	}

	// A body before the head is a protocol error: 502, not a guess.
	f.serveHTTP = func(s corepb.Hooks_ServeHTTPServer) error { return sendBody(s, []byte("oops")) }
	w = httptest.NewRecorder()
	p.ServeHTTP(testCtx, w, httptest.NewRequest("GET", "/x", nil))
	if w.Code != 502 {
		t.Fatalf("body before head: %d", w.Code)
	}

	// A failure after the head: the status stays, the body is cut short, and nothing panics.
	f.serveHTTP = func(s corepb.Hooks_ServeHTTPServer) error {
		if err := sendHead(s, 200); err != nil {
			return err
		}
		if err := sendBody(s, []byte("partial")); err != nil {
			return err
		}
		return errors.New("died mid-response")
	}
	w = httptest.NewRecorder()
	p.ServeHTTP(testCtx, w, httptest.NewRequest("GET", "/x", nil))
	if w.Code != 200 || w.Body.String() != "partial" {
		t.Fatalf("mid-response failure: %d %q", w.Code, w.Body.String())
	}
}

// failingWriter is a client that went away after the head.
type failingWriter struct {
	header http.Header
	code   int
}

func (f *failingWriter) Header() http.Header       { return f.header }
func (f *failingWriter) WriteHeader(c int)         { f.code = c }
func (f *failingWriter) Write([]byte) (int, error) { return 0, errors.New("client gone") }

func TestServeHTTPCancelsTheStreamWhenTheClientGoesAway(t *testing.T) {
	cancelled := make(chan struct{})
	f := &fakeHooks{serveHTTP: func(s corepb.Hooks_ServeHTTPServer) error {
		if _, err := readHead(s); err != nil {
			return err
		}
		if err := sendHead(s, 200); err != nil {
			return err
		}
		for {
			if err := sendBody(s, []byte("tick")); err != nil {
				close(cancelled)
				return err
			}
			time.Sleep(time.Millisecond)
		}
	}}
	p, _, _ := newLinkedPlugin(t, f, true)
	p.ServeHTTP(testCtx, &failingWriter{header: http.Header{}}, httptest.NewRequest("GET", "/stream", nil))
	select {
	case <-cancelled:
	case <-time.After(5 * time.Second):
		t.Fatal("the core kept streaming to a client that went away")
	}
}

func TestServeMetricsForwardsToTheCoreMarkedAsTheMetricsListener(t *testing.T) {
	var head *corepb.HttpRequestHead
	f := &fakeHooks{serveHTTP: func(s corepb.Hooks_ServeHTTPServer) error {
		var err error
		if head, err = readHead(s); err != nil {
			return err
		}
		if err := sendHead(s, 200, &corepb.Header{Name: "Content-Type", Values: []string{"text/plain; version=0.0.4"}}); err != nil {
			return err
		}
		return sendBody(s, []byte("msteams_core_up{node=\"n\"} 1\n"))
	}}
	p, _, _ := newLinkedPlugin(t, f, true)
	w := httptest.NewRecorder()
	p.ServeMetrics(testCtx, w, httptest.NewRequest("GET", "/", nil))
	if w.Code != 200 || w.Body.String() != "msteams_core_up{node=\"n\"} 1\n" {
		t.Fatalf("response %d %q", w.Code, w.Body.String())
	}
	if head == nil || !head.GetMetricsListener() || head.GetPath() != "/" {
		t.Fatalf("head %+v: want the metrics listener's request", head)
	}
	// The plugin's own routes never carry the mark.
	head = nil
	w = httptest.NewRecorder()
	p.ServeHTTP(testCtx, w, httptest.NewRequest("GET", "/metrics", nil))
	if head == nil || head.GetMetricsListener() {
		t.Fatalf("head %+v: a plugin route marked as the metrics listener", head)
	}
}

func TestServeMetricsAnswersCoreDownWhileTheCoreIsNotRunning(t *testing.T) {
	f := &fakeHooks{serveHTTP: func(corepb.Hooks_ServeHTTPServer) error { t.Error("core called"); return nil }}
	p, _, _ := newLinkedPlugin(t, f, false)
	w := httptest.NewRecorder()
	p.ServeMetrics(testCtx, w, httptest.NewRequest("GET", "/", nil))
	if w.Code != 200 || !strings.HasPrefix(w.Header().Get("Content-Type"), "text/plain; version=0.0.4") ||
		!strings.Contains(w.Body.String(), "\nmsteams_core_up{node=\"") || !strings.HasSuffix(w.Body.String(), "\"} 0\n") {
		t.Fatalf("response %d %v %q", w.Code, w.Header(), w.Body.String())
	}
	if got := coreDownExposition("a\"b\\c\nd"); !strings.Contains(got, `{node="a\"b\\c\nd"} 0`) {
		t.Fatalf("node label not escaped: %q", got)
	}
}
