package m365_test

import (
	"errors"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/msteams-bridge/msteams/tests/emulators/graph/m365ctl"
)

// A late answer: the POST takes effect, but the client gives up before the answer comes; only the next N matching
// requests are late, others answer at once.
func TestLateResponseFaultAppliesTheRequest(t *testing.T) {
	e := start(t)
	chat := e.chat(adele, bianca)
	at, _ := e.userToken(adele)
	if err := e.ctl.SetFaults(e.ctx, m365ctl.Faults{LateResponseMs: 60_000, LateResponses: 1,
		RouteContains: "POST /v1.0/chats/{chid}/messages"}); err != nil {
		t.Fatal(err)
	}
	// Not matching the route: answered at once, and the count is not spent.
	if r := e.graph("GET", "/chats/"+chat+"/messages", at, nil); r.status != 200 {
		t.Fatalf("GET messages: %d %s", r.status, r.body)
	}
	impatient := *e.hc
	impatient.Timeout = 300 * time.Millisecond
	req, err := http.NewRequest("POST", e.emu.GraphURL+"/v1.0/chats/"+chat+"/messages",
		strings.NewReader(`{"body":{"content":"late one"}}`))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+at)
	req.Header.Set("Content-Type", "application/json")
	res, err := impatient.Do(req)
	var uerr *url.Error
	if err == nil {
		res.Body.Close()
		t.Fatalf("answered %d before the client's timeout", res.StatusCode)
	} else if !errors.As(err, &uerr) || !uerr.Timeout() {
		t.Fatalf("want a client timeout, got %v", err)
	}
	// The next POST is answered at once: the fault was for one request.
	if r := e.graph("POST", "/chats/"+chat+"/messages", at, map[string]any{"body": map[string]any{"content": "on time"}}); r.status != 201 {
		t.Fatalf("second POST: %d %s", r.status, r.body)
	}
	msgs, err := e.ctl.Messages(e.ctx, m365ctl.InChat(chat))
	if err != nil {
		t.Fatal(err)
	}
	var bodies []string
	for _, m := range msgs {
		bodies = append(bodies, m.Body.Content)
	}
	if len(bodies) != 2 || !strings.Contains(bodies[0], "late one") || !strings.Contains(bodies[1], "on time") {
		t.Fatalf("the timed-out POST must have taken effect once, before the second: %q", bodies)
	}
	if f, _ := e.ctl.GetFaults(e.ctx); f.LateResponseMs != 0 || f.LateResponses != 0 {
		t.Fatalf("the fault should have ended with its count: %+v", f)
	}
	if err := e.ctl.SetFaults(e.ctx, m365ctl.Faults{LateResponseMs: -1}); err == nil {
		t.Fatal("a negative lateResponseMs was accepted")
	}
}

// duplicateCopies: a duplicated notification arrives 1 + copies times.
func TestDuplicateCopies(t *testing.T) {
	e := start(t)
	app := e.appToken()
	rc := e.receiver()
	chat := e.chat(adele, bianca)
	e.subscribe(app, subBody("/chats/getAllMessages", rc.URL, 30*time.Minute))
	if err := e.ctl.SetFaults(e.ctx, m365ctl.Faults{DuplicateDeliveries: 1, DuplicateCopies: 2}); err != nil {
		t.Fatal(err)
	}
	m, err := e.ctl.Send(e.ctx, m365ctl.InChat(chat), m365ctl.Post{From: adele, Text: "thrice"})
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 3; i++ {
		n := rc.next()
		if id := n["resourceData"].(map[string]any)["id"]; id != m.ID {
			t.Fatalf("delivery %d: %v, want %s", i+1, id, m.ID)
		}
	}
	rc.none(300 * time.Millisecond)
	if c, _ := e.ctl.Counters(e.ctx); c.Delivery.Duplicated != 2 {
		t.Fatalf("duplicated counter: %d, want 2", c.Delivery.Duplicated)
	}
}
