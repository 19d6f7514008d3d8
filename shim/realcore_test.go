package main

// Opt-in: the shim against the real C++ core. MSTEAMS_CORE_BIN=/path/to/msteams-core go test -run RealCore -v

import (
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/mattermost/mattermost/server/public/model"
)

// permissiveAPI answers the API calls a core makes on activation with success.
type permissiveAPI struct{ fakeAPI }

func (a *permissiveAPI) RegisterCommand(*model.Command) error   { return nil }
func (a *permissiveAPI) UnregisterCommand(string, string) error { return nil }
func (a *permissiveAPI) EnsureBotUser(*model.Bot) (string, error) {
	return "bot-user-id-000000000000000", nil
}
func (a *permissiveAPI) SetProfileImage(string, []byte) *model.AppError                          { return nil }
func (a *permissiveAPI) SavePluginConfig(map[string]any) *model.AppError                         { return nil }
func (a *permissiveAPI) PublishWebSocketEvent(string, map[string]any, *model.WebsocketBroadcast) {}

func TestRealCore(t *testing.T) {
	bin := os.Getenv("MSTEAMS_CORE_BIN")
	if bin == "" {
		t.Skip("MSTEAMS_CORE_BIN not set")
	}
	bin, _ = filepath.Abs(bin)
	bundle := filepath.Join(t.TempDir(), "bundle")
	if err := os.MkdirAll(filepath.Join(bundle, "server", "dist"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(bin, filepath.Join(bundle, coreRelPath)); err != nil {
		t.Fatal(err)
	}
	api := &permissiveAPI{fakeAPI{bundle: bundle}}
	if s := os.Getenv("MSTEAMS_CORE_SETTINGS"); s != "" {
		cfg, err := unmarshalObject(s)
		if err != nil {
			t.Fatal(err)
		}
		api.settings = cfg
	}
	p := &Plugin{}
	p.SetAPI(api)
	err := p.OnActivate()
	t.Logf("OnActivate: %v", err)
	t.Logf("server log:\n%s", api.allLogs())
	if err != nil {
		if pids := processesRunning(bundle); len(pids) > 0 {
			t.Fatalf("refused activation left processes %v", pids)
		}
		return
	}
	w := httptest.NewRecorder()
	p.ServeHTTP(testCtx, w, httptest.NewRequest("GET", "/no-such-route", nil))
	t.Logf("GET /no-such-route -> %d %q", w.Code, w.Body.String())
	resp, appErr := p.ExecuteCommand(testCtx, &model.CommandArgs{Command: "/msteams", UserId: "u1"})
	t.Logf("/msteams -> %+v %v", resp, appErr)

	pid := p.sup.cur.pid
	_, gen, _ := p.sup.readyClient()
	killed := time.Now()
	syscall.Kill(pid, syscall.SIGKILL) //nolint:errcheck
	p.MessageHasBeenPosted(testCtx, &model.Post{Id: "p1", Message: "during the gap"})
	eventually(t, 2*time.Second, "restart", func() bool {
		_, g, ok := p.sup.readyClient()
		return ok && g > gen
	})
	t.Logf("restarted in %s", time.Since(killed))
	eventually(t, 2*time.Second, "gap event delivered", func() bool {
		n, _ := p.queue.stats()
		return n == 0
	})
	newPid := p.sup.cur.pid
	p.OnDeactivate()
	if !processGone(newPid) || !processGone(pid) {
		t.Fatal("core survived deactivation")
	}
	if strings.Contains(api.allLogs(), "s3cret") {
		t.Error("database password in the log")
	}
}
