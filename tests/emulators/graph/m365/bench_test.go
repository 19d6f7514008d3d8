package m365_test

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/msteams-bridge/msteams/tests/emulators/graph/m365"
	"github.com/msteams-bridge/msteams/tests/emulators/graph/m365ctl"
)

// BenchmarkGraphGetUser: requests/s served for GET /v1.0/users/{id} (app token).
func BenchmarkGraphGetUser(b *testing.B) {
	e := start(b)
	app := e.appToken()
	hc := e.emu.HTTPClient()
	u := e.emu.GraphURL + "/v1.0/users/" + adele
	benchRequests(b, hc, func() (*http.Request, error) {
		req, err := http.NewRequest("GET", u, nil)
		if req != nil {
			req.Header.Set("Authorization", "Bearer "+app)
		}
		return req, err
	}, 200)
}

// BenchmarkGraphListChatMessages: requests/s for GET /v1.0/chats/{id}/messages
// (delegated token, 20 messages per page).
func BenchmarkGraphListChatMessages(b *testing.B) {
	e := start(b)
	chat := e.chat(adele, bianca)
	for i := 0; i < 20; i++ {
		e.ctl.Send(e.ctx, m365ctl.InChat(chat), m365ctl.Post{From: bianca, Text: fmt.Sprint("message ", i)})
	}
	at, _ := e.userToken(adele)
	hc := e.emu.HTTPClient()
	u := e.emu.GraphURL + "/v1.0/chats/" + chat + "/messages"
	benchRequests(b, hc, func() (*http.Request, error) {
		req, err := http.NewRequest("GET", u, nil)
		if req != nil {
			req.Header.Set("Authorization", "Bearer "+at)
		}
		return req, err
	}, 200)
}

// BenchmarkGraphPostChatMessage: requests/s for POST /v1.0/chats/{id}/messages.
func BenchmarkGraphPostChatMessage(b *testing.B) {
	e := start(b)
	chat := e.chat(adele, bianca)
	at, _ := e.userToken(adele)
	hc := e.emu.HTTPClient()
	u := e.emu.GraphURL + "/v1.0/chats/" + chat + "/messages"
	body := []byte(`{"body":{"contentType":"html","content":"<p>hello from the bridge</p>"}}`)
	benchRequests(b, hc, func() (*http.Request, error) {
		req, err := http.NewRequest("POST", u, bytes.NewReader(body))
		if req != nil {
			req.Header.Set("Authorization", "Bearer "+at)
			req.Header.Set("Content-Type", "application/json")
		}
		return req, err
	}, 201)
}

func benchRequests(b *testing.B, hc *http.Client, mk func() (*http.Request, error), want int) {
	b.SetParallelism(8)
	var bad atomic.Int64
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			req, err := mk()
			if err != nil {
				b.Error(err)
				return
			}
			res, err := hc.Do(req)
			if err != nil {
				b.Error(err)
				return
			}
			io.Copy(io.Discard, res.Body)
			res.Body.Close()
			if res.StatusCode != want {
				bad.Add(1)
			}
		}
	})
	b.StopTimer()
	if n := bad.Load(); n > 0 {
		b.Fatalf("%d responses were not %d", n, want)
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "req/s")
}

// benchDelivery posts b.N messages (as Teams users, through the control
// API) into a 10-member group chat whose members each have a per-user
// subscription: every message fans out to 10 notifications.
func benchDelivery(b *testing.B, encrypted bool) {
	e := start(b, func(o *m365.Options) { o.Delivery.QueueLimit = 1 << 22 })
	var received atomic.Int64
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if tok := r.URL.Query().Get("validationToken"); tok != "" {
			w.Header().Set("Content-Type", "text/plain")
			w.Write([]byte(tok))
			return
		}
		body, _ := io.ReadAll(r.Body)
		received.Add(int64(bytes.Count(body, []byte(`"subscriptionId"`))))
		w.WriteHeader(202)
	}))
	cfg, _ := e.emu.TLSConfigForServer("127.0.0.1")
	srv.TLS = cfg
	srv.StartTLS()
	defer srv.Close()
	var members []string
	for i := 0; i < 10; i++ {
		u, err := e.ctl.CreateUser(e.ctx, m365ctl.UserSpec{DisplayName: fmt.Sprintf("Bench User %d", i)})
		if err != nil {
			b.Fatal(err)
		}
		members = append(members, u.ID)
	}
	chat := e.chat(members...)
	app := e.appToken()
	_, der := selfSigned(b)
	for _, m := range members {
		body := subBody("/users/"+m+"/chats/getAllMessages", srv.URL, 30*time.Minute)
		if encrypted {
			body["includeResourceData"] = true
			body["encryptionCertificate"] = base64.StdEncoding.EncodeToString(der)
			body["encryptionCertificateId"] = "bench"
		}
		if r := e.subscribe(app, body); r.status != 201 {
			b.Fatalf("subscribe: %d %s", r.status, r.body)
		}
	}
	b.SetParallelism(4)
	b.ResetTimer()
	start := time.Now()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := e.ctl.Send(e.ctx, m365ctl.InChat(chat), m365ctl.Post{From: members[0], Text: "load"}); err != nil {
				b.Error(err)
				return
			}
		}
	})
	want := int64(b.N) * int64(len(members))
	deadline := time.Now().Add(60 * time.Second)
	for received.Load() < want && time.Now().Before(deadline) {
		time.Sleep(2 * time.Millisecond)
	}
	elapsed := time.Since(start)
	b.StopTimer()
	if got := received.Load(); got < want {
		b.Fatalf("delivered %d of %d notifications", got, want)
	}
	c, _ := e.ctl.Counters(e.ctx)
	b.ReportMetric(float64(want)/elapsed.Seconds(), "notifications/s")
	b.ReportMetric(float64(c.Delivery.Delivered)/float64(c.Delivery.Batches), "notifications/batch")
}

// BenchmarkDeliveryBasic: notifications/s delivered (basic notifications).
func BenchmarkDeliveryBasic(b *testing.B) { benchDelivery(b, false) }

// BenchmarkDeliveryEncrypted: notifications/s delivered with rich, encrypted content.
func BenchmarkDeliveryEncrypted(b *testing.B) { benchDelivery(b, true) }
