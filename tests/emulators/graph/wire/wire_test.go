package wire

import (
	"encoding/json"
	"go/parser"
	"go/token"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// TestNoEmulatorDependency keeps wire and the client free of the emulator:
// m365ctl drives emulators in other processes.
func TestNoEmulatorDependency(t *testing.T) {
	for _, dir := range []string{".", "../m365ctl"} {
		files, err := filepath.Glob(filepath.Join(dir, "*.go"))
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range files {
			if strings.HasSuffix(f, "_test.go") {
				continue
			}
			af, err := parser.ParseFile(token.NewFileSet(), f, nil, parser.ImportsOnly)
			if err != nil {
				t.Fatal(err)
			}
			for _, imp := range af.Imports {
				p, _ := strconv.Unquote(imp.Path.Value)
				if strings.HasPrefix(p, "github.com/msteams-bridge/") && !strings.HasSuffix(p, "/emulators/graph/wire") {
					t.Errorf("%s imports %s", f, p)
				}
			}
		}
	}
}

// TestShapes pins the JSON the emulator has always sent and clients rely on:
// member names, their order and which fields are left out when empty.
func TestShapes(t *testing.T) {
	tr := true
	for _, c := range []struct {
		v    any
		want string
	}{
		{Faults{}, `{"latencyMs":0,"jitterMs":0,"errorShare":0,"errorStatus":0,"dropDeliveries":0,"dropShare":0,"duplicateDeliveries":0,"duplicateShare":0,"deliveryDelayMs":0}`},
		{Tenant{}, `{"applicationPermissions":null,"caFile":"","cloud":"","clientId":"","clientSecret":"","controlUrl":"","delegatedPermissions":null,"displayName":"","domain":"","graphUrl":"","identifierUris":null,"loginUrl":"","redirectUris":null,"requirePkce":false,"secretExpiresAt":"","tenantId":""}`},
		{AppPatch{SecretExpired: &tr}, `{"secretExpired":true}`},
		{UserPatch{Presence: &Presence{Availability: "Away"}}, `{"presence":{"availability":"Away","activity":""}}`},
		{ThrottleUpdate{Enabled: &tr}, `{"enabled":true}`},
		{Revoke{UserID: "u"}, `{"userId":"u"}`},
		{PostMessage{From: "u", MessageInput: MessageInput{Body: &Body{ContentType: "text", Content: "hi"}}}, `{"from":"u","body":{"contentType":"text","content":"hi"}}`},
		{FileInput{Name: "f", ContentBase64: "aGk="}, `{"name":"f","contentBase64":"aGk="}`},
		{LifecycleResult{LifecycleSent: true}, `{"lifecycleSent":true}`},
		{LifecycleResult{Removed: "s"}, `{"lifecycleSent":false,"removed":"s"}`},
		{Batch{}, `{"time":"","url":"","items":0,"status":0,"durationMs":0,"attempt":0}`},
		{CounterRow{Host: "graph"}, `{"host":"graph","route":"","caller":"","callerId":"","status":0,"count":0}`},
		{Activity{}, `{"time":"","target":"","recipients":null,"callerAppId":"","body":null}`},
		{List[int]{}, `{"value":null}`},
		{SigningKey{Kid: "k"}, `{"kid":"k","active":false,"created":""}`},
		{SSOTokenRequest{User: "u"}, `{"user":"u"}`},
	} {
		b, err := json.Marshal(c.v)
		if err != nil {
			t.Fatal(err)
		}
		if string(b) != c.want {
			t.Errorf("%T:\n got %s\nwant %s", c.v, b, c.want)
		}
	}
}

func TestCount(t *testing.T) {
	c := Counters{Requests: []CounterRow{
		{Host: "graph", Route: "GET /a", Caller: "app", Status: 200, Count: 2},
		{Host: "graph", Route: "GET /a", Caller: "user", Status: 429, Count: 3},
		{Host: "login", Route: "POST /t", Caller: "none", Status: 200, Count: 5},
	}}
	if n := c.Count("", "", "", 0); n != 10 {
		t.Errorf("all: %d", n)
	}
	if n := c.Count("graph", "GET /a", "", 0); n != 5 {
		t.Errorf("route: %d", n)
	}
	if n := c.Count("", "", "", 429); n != 3 {
		t.Errorf("status: %d", n)
	}
}
