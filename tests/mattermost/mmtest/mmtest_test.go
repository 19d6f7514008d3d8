package mmtest_test

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/mattermost/mattermost/server/public/model"

	"github.com/msteams-bridge/msteams/tests/mattermost/mmtest"
)

const echoID = "com.mmtest.echo"

// The message echoplugin's OnActivate fails with (internal/echoplugin).
const echoActivationFailure = "echoplugin refuses to start: failactivation is set"

// release is the pinned release under test: MMTEST_RELEASE (e.g. v9.11) or the default.
func release() string {
	if r := os.Getenv("MMTEST_RELEASE"); r != "" {
		return r
	}
	return mmtest.DefaultRelease
}

// buildEchoPlugin compiles internal/echoplugin into dir and returns the executable's path.
func buildEchoPlugin(t *testing.T, dir string) string {
	t.Helper()
	exe := filepath.Join(dir, "plugin-linux-amd64")
	cmd := exec.Command("go", "build", "-o", exe, "./internal/echoplugin")
	cmd.Dir = ".." // the module root
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH=amd64")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("building the echo plugin: %v\n%s", err, out)
	}
	return exe
}

// bundle writes a plugin .tar.gz the way plugins ship: <id>/plugin.json and
// <id>/server/dist/plugin-linux-amd64 with mode 0755.
func bundle(t *testing.T, dir, exe, version, minServer string) string {
	t.Helper()
	manifest, err := json.Marshal(map[string]any{
		"id":                 echoID,
		"name":               "mmtest echo",
		"version":            version,
		"min_server_version": minServer,
		"server":             map[string]any{"executables": map[string]string{"linux-amd64": "server/dist/plugin-linux-amd64"}},
		"settings_schema": map[string]any{"settings": []map[string]any{
			{"key": "Greeting", "display_name": "Greeting", "type": "text", "default": "echo"},
			{"key": "FailActivation", "display_name": "Fail activation", "type": "bool", "default": false},
		}},
	})
	if err != nil {
		t.Fatal(err)
	}
	bin, err := os.ReadFile(exe)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	gz := gzip.NewWriter(&buf)
	tw := tar.NewWriter(gz)
	add := func(name string, mode int64, data []byte) {
		if err := tw.WriteHeader(&tar.Header{Name: echoID + "/" + name, Mode: mode, Size: int64(len(data)), Typeflag: tar.TypeReg}); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write(data); err != nil {
			t.Fatal(err)
		}
	}
	add("plugin.json", 0o644, manifest)
	add("server/dist/plugin-linux-amd64", 0o755, bin)
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := gz.Close(); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, echoID+"-"+version+".tar.gz")
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

type echo struct {
	Method, Path, Query, Body string
	UserID                    string `json:"user_id"`
}

func callEcho(t *testing.T, ctx context.Context, s *mmtest.Server, as *mmtest.User, header http.Header) echo {
	t.Helper()
	resp, err := s.PluginRequest(ctx, as, http.MethodPost, "/echo?b=2&a=1", strings.NewReader("ping"), header)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("POST /echo: status %d: %s", resp.StatusCode, resp.Body)
	}
	var e echo
	if err := json.Unmarshal(resp.Body, &e); err != nil {
		t.Fatalf("POST /echo: %v: %s", err, resp.Body)
	}
	return e
}

// pluginProcesses lists the server's descendants running the echo plugin's executable.
func pluginProcesses(t *testing.T, s *mmtest.Server) []mmtest.Process {
	t.Helper()
	all, err := s.Descendants()
	if err != nil {
		t.Fatal(err)
	}
	var out []mmtest.Process
	for _, p := range all {
		if len(p.Cmdline) > 0 && strings.HasSuffix(p.Cmdline[0], "plugin-linux-amd64") {
			out = append(out, p)
		}
	}
	return out
}

func alive(pid int) bool { return syscall.Kill(pid, 0) == nil }

// TestServer drives one real server through everything the library offers. It takes a
// minute or more (a fresh database runs all of Mattermost's migrations), so -short skips it.
func TestServer(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a real Mattermost server; skipped with -short")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()

	dir := t.TempDir()
	exe := buildEchoPlugin(t, dir)
	v1 := bundle(t, dir, exe, "0.1.0", "9.11.0")

	began := time.Now()
	s := mmtest.StartT(t, mmtest.Options{
		Release:        release(),
		Bundle:         v1,
		PluginSettings: map[string]any{"Greeting": "hello"},
	})
	t.Logf("server %s with the plugin running after %s", s.Version, time.Since(began).Round(time.Millisecond))

	want := strings.TrimPrefix(release(), "v") + "."
	if !strings.HasPrefix(s.Version, want) {
		t.Errorf("server reports version %q, want %s*", s.Version, want)
	}
	if s.PluginID != echoID {
		t.Fatalf("PluginID = %q, want %q", s.PluginID, echoID)
	}

	alice, err := s.CreateUser(ctx, "alice")
	if err != nil {
		t.Fatal(err)
	}
	bob, err := s.CreateUser(ctx, "bob")
	if err != nil {
		t.Fatal(err)
	}
	carol, err := s.CreateUser(ctx, "carol")
	if err != nil {
		t.Fatal(err)
	}

	t.Run("installed plugin runs its executable", func(t *testing.T) {
		st, err := s.PluginStatus(ctx, echoID)
		if err != nil {
			t.Fatal(err)
		}
		if st.State != model.PluginStateRunning || st.Version != "0.1.0" {
			t.Errorf("status: state %d version %q, want running 0.1.0", st.State, st.Version)
		}
		if n := len(pluginProcesses(t, s)); n != 1 {
			t.Errorf("%d plugin processes under the server, want 1", n)
		}
	})

	t.Run("route with a session carries the user id", func(t *testing.T) {
		e := callEcho(t, ctx, s, alice, nil)
		if e.UserID != alice.Id || e.Method != http.MethodPost || e.Path != "/echo" || e.Body != "ping" {
			t.Errorf("plugin saw %+v, want alice's id %s, POST /echo, body ping", e, alice.Id)
		}
		if e.Query != "a=1&b=2" && e.Query != "b=2&a=1" {
			t.Errorf("query %q lost its parameters", e.Query)
		}
	})

	t.Run("forged Mattermost-User-Id is stripped", func(t *testing.T) {
		forged := http.Header{"Mattermost-User-Id": {alice.Id}}
		if e := callEcho(t, ctx, s, nil, forged); e.UserID != "" {
			t.Errorf("without a session the plugin saw user %q, want none", e.UserID)
		}
		if e := callEcho(t, ctx, s, bob, forged); e.UserID != bob.Id {
			t.Errorf("with bob's session and alice's forged id the plugin saw %q, want bob %s", e.UserID, bob.Id)
		}
		bad := http.Header{"Mattermost-User-Id": {alice.Id}, "Authorization": {"Bearer notavalidtoken0000000000000"}}
		if e := callEcho(t, ctx, s, nil, bad); e.UserID != "" {
			t.Errorf("with an invalid token the plugin saw user %q, want none", e.UserID)
		}
	})

	town, _, err := alice.Client.GetChannelByName(ctx, "town-square", s.Team.Id, "")
	if err != nil {
		t.Fatal(err)
	}

	t.Run("slash command replies and posts an ephemeral message", func(t *testing.T) {
		l, err := alice.Listen(ctx)
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		resp, err := alice.Command(ctx, town.Id, "/mmtest-echo hi there")
		if err != nil {
			t.Fatal(err)
		}
		if resp.Text != "hello: hi there" {
			t.Errorf("command response %q, want %q", resp.Text, "hello: hi there")
		}
		wctx, wcancel := context.WithTimeout(ctx, 10*time.Second)
		defer wcancel()
		p, err := l.WaitEphemeral(wctx, func(p *model.Post) bool { return p.ChannelId == town.Id })
		if err != nil {
			t.Fatal(err)
		}
		if p.Message != "hello: hi there" {
			t.Errorf("ephemeral post %q, want %q", p.Message, "hello: hi there")
		}
	})

	t.Run("settings change reaches the plugin", func(t *testing.T) {
		if err := s.SetPluginSettings(ctx, echoID, map[string]any{"Greeting": "bonjour"}); err != nil {
			t.Fatal(err)
		}
		got, err := s.PluginSettings(ctx, echoID)
		if err != nil {
			t.Fatal(err)
		}
		if got["greeting"] != "bonjour" {
			t.Errorf("stored settings %v, want greeting bonjour", got)
		}
		// The server calls OnConfigurationChange after saving; allow it a bounded moment.
		deadline := time.Now().Add(10 * time.Second)
		for {
			resp, err := alice.Command(ctx, town.Id, "/mmtest-echo again")
			if err != nil {
				t.Fatal(err)
			}
			if resp.Text == "bonjour: again" {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("after the settings change the command still answers %q", resp.Text)
			}
			time.Sleep(200 * time.Millisecond)
		}
	})

	t.Run("users post, edit, react, delete and share files", func(t *testing.T) {
		dm, err := alice.DirectChannel(ctx, bob)
		if err != nil {
			t.Fatal(err)
		}
		gm, err := alice.GroupChannel(ctx, bob, carol)
		if err != nil {
			t.Fatal(err)
		}
		if gm.Type != model.ChannelTypeGroup || dm.Type != model.ChannelTypeDirect {
			t.Fatalf("channel types %q and %q, want D and G", dm.Type, gm.Type)
		}
		priv, err := s.CreateChannel(ctx, s.Team.Id, "secret", model.ChannelTypePrivate, alice, carol)
		if err != nil {
			t.Fatal(err)
		}

		lb, err := bob.Listen(ctx)
		if err != nil {
			t.Fatal(err)
		}
		defer lb.Close()
		wctx, wcancel := context.WithTimeout(ctx, 20*time.Second)
		defer wcancel()

		p, err := alice.Post(ctx, dm.Id, "hello bob")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := lb.WaitPosted(wctx, func(q *model.Post) bool { return q.Id == p.Id && q.Message == "hello bob" }); err != nil {
			t.Fatal(err)
		}
		if _, err := alice.Edit(ctx, p.Id, "hello bob (edited)"); err != nil {
			t.Fatal(err)
		}
		if _, err := lb.WaitFor(wctx, func(ev *model.WebSocketEvent) bool {
			q := mmtest.EventPost(ev)
			return ev.EventType() == model.WebsocketEventPostEdited && q != nil && q.Message == "hello bob (edited)"
		}); err != nil {
			t.Fatal(err)
		}
		if err := bob.React(ctx, p.Id, "thumbsup"); err != nil {
			t.Fatal(err)
		}
		reactions, _, err := alice.Client.GetReactions(ctx, p.Id)
		if err != nil || len(reactions) != 1 || reactions[0].UserId != bob.Id {
			t.Errorf("reactions on the post: %v (err %v), want bob's thumbsup", reactions, err)
		}
		if err := bob.Unreact(ctx, p.Id, "thumbsup"); err != nil {
			t.Fatal(err)
		}

		reply, err := bob.Reply(ctx, p, "hi alice")
		if err != nil {
			t.Fatal(err)
		}
		if reply.RootId != p.Id {
			t.Errorf("reply root %q, want %q", reply.RootId, p.Id)
		}

		data := []byte("a file shared in a group message\n")
		fp, err := alice.PostFile(ctx, gm.Id, "see attached", "notes.txt", data)
		if err != nil {
			t.Fatal(err)
		}
		got, info, err := carol.File(ctx, fp.FileIds[0])
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, data) || info.Name != "notes.txt" {
			t.Errorf("carol downloaded %q named %q, want %q named notes.txt", got, info.Name, data)
		}

		if err := alice.Delete(ctx, p.Id); err != nil {
			t.Fatal(err)
		}
		if _, err := lb.WaitFor(wctx, func(ev *model.WebSocketEvent) bool {
			q := mmtest.EventPost(ev)
			return ev.EventType() == model.WebsocketEventPostDeleted && q != nil && q.Id == p.Id
		}); err != nil {
			t.Fatal(err)
		}
		posts, err := bob.Posts(ctx, dm.Id)
		if err != nil {
			t.Fatal(err)
		}
		for _, q := range posts {
			if q.Id == p.Id {
				t.Errorf("deleted post %s still listed", p.Id)
			}
		}

		if _, err := carol.Post(ctx, priv.Id, "only alice and carol"); err != nil {
			t.Fatal(err)
		}
		if _, err := bob.Posts(ctx, priv.Id); err == nil {
			t.Errorf("bob read a private channel he is not in")
		}
	})

	t.Run("activation error is reported verbatim", func(t *testing.T) {
		if err := s.DisablePlugin(ctx, echoID); err != nil {
			t.Fatal(err)
		}
		if err := s.SetPluginSettings(ctx, echoID, map[string]any{"Greeting": "hello", "FailActivation": true}); err != nil {
			t.Fatal(err)
		}
		err := s.EnablePlugin(ctx, echoID)
		var ae *mmtest.ActivationError
		if !errors.As(err, &ae) {
			t.Fatalf("enable with failactivation: %v, want an ActivationError", err)
		}
		if !strings.Contains(ae.Message, echoActivationFailure) {
			t.Errorf("activation error %q does not carry the plugin's message %q", ae.Message, echoActivationFailure)
		}
		t.Logf("activation error: %v", err)
		if err := s.DisablePlugin(ctx, echoID); err != nil {
			t.Fatal(err)
		}
		if err := s.SetPluginSettings(ctx, echoID, map[string]any{"Greeting": "hello"}); err != nil {
			t.Fatal(err)
		}
		if err := s.EnablePlugin(ctx, echoID); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("disable stops the plugin process and its routes", func(t *testing.T) {
		procs := pluginProcesses(t, s)
		if len(procs) != 1 {
			t.Fatalf("%d plugin processes before disabling, want 1", len(procs))
		}
		if err := s.DisablePlugin(ctx, echoID); err != nil {
			t.Fatal(err)
		}
		deadline := time.Now().Add(10 * time.Second)
		for alive(procs[0].PID) {
			if time.Now().After(deadline) {
				t.Fatalf("plugin process %d still running 10s after disabling", procs[0].PID)
			}
			time.Sleep(100 * time.Millisecond)
		}
		resp, err := s.PluginRequest(ctx, alice, http.MethodGet, "/echo", nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		if resp.StatusCode != http.StatusNotFound {
			t.Errorf("route of a disabled plugin answered %d, want 404", resp.StatusCode)
		}
	})

	t.Run("re-upload replaces the plugin", func(t *testing.T) {
		v2 := bundle(t, dir, exe, "0.2.0", "9.11.0")
		m, err := s.InstallBundle(ctx, v2, nil)
		if err != nil {
			t.Fatal(err)
		}
		st, err := s.PluginStatus(ctx, echoID)
		if err != nil {
			t.Fatal(err)
		}
		if m.Version != "0.2.0" || st.Version != "0.2.0" || st.State != model.PluginStateRunning {
			t.Errorf("after re-upload: manifest %s, status %+v, want 0.2.0 running", m.Version, st)
		}
		if e := callEcho(t, ctx, s, carol, nil); e.UserID != carol.Id {
			t.Errorf("after re-upload the plugin saw user %q, want carol", e.UserID)
		}
	})

	t.Run("the database stops and starts, the server restarts on its URL with its data and plugin", func(t *testing.T) {
		ch, err := alice.DirectChannel(ctx, bob)
		if err != nil {
			t.Fatal(err)
		}
		before, err := alice.Post(ctx, ch.Id, "before the faults")
		if err != nil {
			t.Fatal(err)
		}
		if err := s.StopDatabase(); err != nil {
			t.Fatal(err)
		}
		if err := s.StopDatabase(); err == nil {
			t.Error("stopping a stopped database succeeded")
		}
		if err := s.StartDatabase(ctx); err != nil {
			t.Fatal(err)
		}
		// The server reconnects on its own: a post goes through again.
		deadline := time.Now().Add(60 * time.Second)
		for {
			if _, err := alice.Post(ctx, ch.Id, "after the database restart"); err == nil {
				break
			} else if time.Now().After(deadline) {
				t.Fatalf("no post 60s after the database came back: %v", err)
			}
			time.Sleep(250 * time.Millisecond)
		}
		url, oldPID := s.URL, s.PID()
		if err := s.Restart(ctx); err != nil {
			t.Fatal(err)
		}
		if s.URL != url || s.PID() == oldPID || alive(oldPID) {
			t.Errorf("after restart: URL %s (was %s), pid %d (was %d, alive %v)", s.URL, url, s.PID(), oldPID, alive(oldPID))
		}
		deadline = time.Now().Add(60 * time.Second)
		for {
			st, err := s.PluginStatus(ctx, echoID)
			if err == nil && st.State == model.PluginStateRunning {
				break
			} else if time.Now().After(deadline) {
				t.Fatalf("plugin not running 60s after the restart: %+v %v", st, err)
			}
			time.Sleep(250 * time.Millisecond)
		}
		if e := callEcho(t, ctx, s, carol, nil); e.UserID != carol.Id {
			t.Errorf("after restart the plugin saw user %q, want carol", e.UserID)
		}
		posts, err := alice.Posts(ctx, ch.Id)
		if err != nil {
			t.Fatal(err)
		}
		found := false
		for _, p := range posts {
			found = found || p.Id == before.Id
		}
		if !found {
			t.Error("a post from before the restart is gone")
		}
	})

	t.Run("a too new min_server_version is refused verbatim", func(t *testing.T) {
		tooNew := bundle(t, dir, exe, "0.3.0", "99.0.0")
		_, err := s.InstallBundle(ctx, tooNew, nil)
		if err == nil {
			t.Fatal("installing a plugin that requires Mattermost 99.0.0 succeeded")
		}
		if !strings.Contains(err.Error(), "99.0.0") {
			t.Errorf("error does not name the required version: %v", err)
		}
		t.Logf("min_server_version error: %v", err)
	})

	t.Run("stop leaves no process and no files", func(t *testing.T) {
		pid := s.PID()
		var pgPID int
		if b, err := os.ReadFile(filepath.Join(strings.TrimSpace(pgDataDir(t, s)), "postmaster.pid")); err == nil {
			pgPID = atoiFirstLine(string(b))
		}
		procs, _ := s.Descendants()
		if err := s.Stop(); err != nil {
			t.Fatal(err)
		}
		if alive(pid) {
			t.Errorf("server %d still running", pid)
		}
		for _, p := range procs {
			if alive(p.PID) {
				t.Errorf("server child %d %v still running", p.PID, p.Cmdline)
			}
		}
		if pgPID == 0 {
			t.Errorf("could not find the postmaster's pid")
		} else if alive(pgPID) {
			t.Errorf("postmaster %d still running", pgPID)
		}
		if _, err := os.Stat(s.RunDir); !os.IsNotExist(err) {
			t.Errorf("run directory %s not removed (%v)", s.RunDir, err)
		}
	})
}

// pgDataDir asks PostgreSQL itself where its data directory is.
func pgDataDir(t *testing.T, s *mmtest.Server) string {
	t.Helper()
	cmd := exec.Command("psql", "-XAtc", "SHOW data_directory")
	cmd.Env = append(os.Environ(), s.PGEnv()...)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("psql with PGEnv: %v", err)
	}
	return string(out)
}

func atoiFirstLine(s string) int {
	n := 0
	for _, c := range strings.SplitN(s, "\n", 2)[0] {
		if c < '0' || c > '9' {
			break
		}
		n = n*10 + int(c-'0')
	}
	return n
}
