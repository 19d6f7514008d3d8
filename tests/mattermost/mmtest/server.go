// Package mmtest starts a real Mattermost server (a pinned release built from its Go
// modules by ../build.sh) on a throwaway PostgreSQL, installs a plugin bundle the way an
// administrator does, and acts as users through Mattermost's own model.Client4 and
// websocket client. It is the test bed of the end-to-end suites, the demo and the benchmarks.
package mmtest

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/mattermost/mattermost/server/public/model"
)

// DefaultRelease is the pinned release used when Options.Release is empty (pins/<release>).
const DefaultRelease = "v11.4"

// Options say which server to start and what to install in it. Everything is optional.
type Options struct {
	// Release names a pinned release: a directory under tests/mattermost/pins. Default: $MMTEST_RELEASE, else
	// DefaultRelease (so a whole suite can run against another release).
	Release string
	// ServerDir is a directory produced by build.sh (bin/mattermost, i18n, ...). When empty,
	// $MMTEST_SERVER_DIR is used, else build.sh is run for Release (a no-op once cached).
	ServerDir string
	// Bundle is a plugin .tar.gz to upload (POST /api/v4/plugins, as System Console does),
	// configure with PluginSettings and enable. Start fails with the activation error verbatim.
	Bundle string
	// PluginID is the plugin the helpers talk to. Default: the id in Bundle's manifest.
	PluginID string
	// PluginSettings are stored in PluginSettings.Plugins[PluginID] before enabling.
	PluginSettings map[string]any
	// Env is added to the server's environment (the plugin processes inherit it).
	// MM_* variables of the calling process are not passed on.
	Env []string
	// LogDir, when set, receives mattermost.log and postgresql.log and keeps them after Stop.
	// Otherwise they live in the run directory and go away with it.
	LogDir string
	// StartTimeout bounds start-up after the build: PostgreSQL, migrations, first admin and
	// plugin activation. Default 5 minutes (usually it takes a few seconds).
	StartTimeout time.Duration
	// LogLevel is the server's console log level (DEBUG, INFO, WARN, ERROR). Default DEBUG.
	LogLevel string
	// Logf receives progress lines (for example t.Logf). Default: discard.
	Logf func(format string, args ...any)
	// SiteURL is the address users and Microsoft reach the server at, when it is not the server's own (a load
	// balancer in front of several servers, see Balancer). Default: URL.
	SiteURL string
}

// Server is one running Mattermost server with its own database and directories.
type Server struct {
	URL         string         // http://127.0.0.1:<port>: this server itself
	SiteURL     string         // ServiceSettings.SiteURL: Options.SiteURL, else URL
	AdminToken  string         // personal access token of Admin
	AdminClient *model.Client4 // authenticated with AdminToken
	Admin       *User          // the first user, a system admin
	Team        *model.Team    // a team created at start; Admin and every CreateUser user are members
	DataSource  string         // the PostgreSQL DSN the server uses (libpq accepts it too)
	Version     string         // X-Version-Id reported by the server, e.g. "11.4.0.msteams-test.<hash>.false"
	PluginID    string         // the plugin under test (Options.PluginID or the bundle's manifest id)
	ServerDir   string         // the build used (bin/mattermost, i18n, ...)
	RunDir      string         // config.json, data/, plugins/; removed by Stop

	opts    Options
	pg      *postgres
	cmd     *exec.Cmd
	exited  chan struct{}
	logPath string
	logFile *os.File
	port    int
	peerOf  *Server // a server started by StartPeer shares this one's database and file store

	stopOnce sync.Once
	stopErr  error
}

// Start builds (or reuses) the server, starts PostgreSQL and Mattermost, waits until it is
// healthy, creates the first admin and a team, and installs Options.Bundle if given.
// On error nothing is left running.
func Start(ctx context.Context, opts Options) (_ *Server, err error) {
	if opts.Release == "" {
		opts.Release = os.Getenv("MMTEST_RELEASE")
	}
	if opts.Release == "" {
		opts.Release = DefaultRelease
	}
	if opts.StartTimeout == 0 {
		opts.StartTimeout = 5 * time.Minute
	}
	if opts.Logf == nil {
		opts.Logf = func(string, ...any) {}
	}
	if opts.LogLevel == "" {
		opts.LogLevel = "DEBUG"
	}
	s := &Server{opts: opts, PluginID: opts.PluginID}
	defer func() {
		if err != nil {
			if t := s.LogTail(40); t != "" {
				err = fmt.Errorf("%w\n--- last lines of %s ---\n%s", err, s.logPath, t)
			}
			_ = s.Stop()
		}
	}()

	// A cold build takes minutes and is bounded by ctx only, not by StartTimeout.
	if s.ServerDir, err = serverDir(ctx, opts); err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, opts.StartTimeout)
	defer cancel()
	began := time.Now()
	if s.RunDir, err = os.MkdirTemp("", "mmtest-mm-"); err != nil {
		return nil, err
	}
	logDir := opts.LogDir
	if logDir == "" {
		logDir = filepath.Join(s.RunDir, "logs")
	}
	if err := os.MkdirAll(logDir, 0o755); err != nil {
		return nil, err
	}
	s.logPath = filepath.Join(logDir, "mattermost.log")

	if s.pg, err = startPostgres(ctx, opts.LogDir); err != nil {
		return nil, err
	}
	s.DataSource = s.pg.dataSource()
	opts.Logf("mmtest: PostgreSQL up on 127.0.0.1:%d (%s)", s.pg.port, time.Since(began).Round(time.Millisecond))

	if err := s.launch(ctx); err != nil {
		return nil, err
	}
	opts.Logf("mmtest: Mattermost %s healthy at %s (%s)", s.Version, s.URL, time.Since(began).Round(time.Millisecond))

	if err := s.createAdmin(ctx); err != nil {
		return nil, fmt.Errorf("creating the first admin: %w", err)
	}
	if opts.Bundle != "" {
		if _, err := s.InstallBundle(ctx, opts.Bundle, opts.PluginSettings); err != nil {
			return nil, err
		}
		opts.Logf("mmtest: plugin %s installed and running (%s)", s.PluginID, time.Since(began).Round(time.Millisecond))
	}
	return s, nil
}

// buildScript finds tests/mattermost/build.sh: next to this source file when its path is real (it is not under
// -trimpath), else in the working directory or one of its parents (as tests/mattermost/build.sh or, from a sibling
// such as tests/e2e, ../mattermost/build.sh).
func buildScript() (string, error) {
	var candidates []string
	if _, file, _, ok := runtime.Caller(0); ok && filepath.IsAbs(file) {
		candidates = append(candidates, filepath.Join(filepath.Dir(file), "..", "build.sh"))
	}
	if wd, err := os.Getwd(); err == nil {
		for dir := wd; ; dir = filepath.Dir(dir) {
			candidates = append(candidates,
				filepath.Join(dir, "build.sh"),
				filepath.Join(dir, "mattermost", "build.sh"),
				filepath.Join(dir, "tests", "mattermost", "build.sh"))
			if dir == filepath.Dir(dir) {
				break
			}
		}
	}
	for _, c := range candidates {
		if st, err := os.Stat(c); err == nil && !st.IsDir() && strings.HasSuffix(filepath.Dir(c), "mattermost") {
			return c, nil
		}
	}
	return "", errors.New("cannot locate tests/mattermost/build.sh; set Options.ServerDir or MMTEST_SERVER_DIR")
}

// serverDir finds the built server: Options.ServerDir, $MMTEST_SERVER_DIR, or build.sh's answer.
func serverDir(ctx context.Context, opts Options) (string, error) {
	dir := opts.ServerDir
	if dir == "" {
		dir = os.Getenv("MMTEST_SERVER_DIR")
	}
	if dir == "" {
		script, err := buildScript()
		if err != nil {
			return "", err
		}
		var out bytes.Buffer
		cmd := exec.CommandContext(ctx, script, opts.Release)
		cmd.Stdout = &out
		cmd.Stderr = os.Stderr // build progress and timing
		if err := cmd.Run(); err != nil {
			return "", fmt.Errorf("%s %s: %w", script, opts.Release, err)
		}
		lines := strings.Split(strings.TrimSpace(out.String()), "\n")
		dir = lines[len(lines)-1]
	}
	if _, err := os.Stat(filepath.Join(dir, "bin", "mattermost")); err != nil {
		return "", fmt.Errorf("no Mattermost build in %s: %w", dir, err)
	}
	return dir, nil
}

// launch writes the config, starts the server process and waits until /api/v4/system/ping answers.
func (s *Server) launch(ctx context.Context) error {
	port, err := freePort()
	if err != nil {
		return err
	}
	return s.launchOn(ctx, port)
}

// launchOn is launch on a given port (Restart keeps the URL).
func (s *Server) launchOn(ctx context.Context, port int) (err error) {
	s.port = port
	s.URL = fmt.Sprintf("http://127.0.0.1:%d", port)
	if s.SiteURL = s.opts.SiteURL; s.SiteURL == "" {
		s.SiteURL = s.URL
	}
	// Written once: the server keeps its own changes (plugin settings and states) there across a Restart.
	configPath := filepath.Join(s.RunDir, "config.json")
	if _, err := os.Stat(configPath); errors.Is(err, os.ErrNotExist) {
		if err := writeConfig(configPath, s.RunDir, port, s.SiteURL, s.DataSource, s.opts.LogLevel); err != nil {
			return err
		}
	}
	if s.logFile, err = os.OpenFile(s.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644); err != nil {
		return err
	}

	cmd := exec.Command(filepath.Join(s.ServerDir, "bin", "mattermost"), "server", "--config", configPath)
	cmd.Dir = s.RunDir // ./logs, ./data and friends land here; i18n etc. are found beside the binary
	cmd.Env = append(serverEnv(os.Environ()), s.opts.Env...)
	cmd.Stdout, cmd.Stderr = s.logFile, s.logFile
	// Own process group: Stop can sweep up plugin processes too. Pdeathsig: if this process
	// dies, the server dies with it (and its plugins lose their parent and exit).
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return err
	}
	s.cmd = cmd
	s.exited = make(chan struct{})
	go func() { _ = cmd.Wait(); close(s.exited) }()

	client := &http.Client{Timeout: 2 * time.Second}
	for {
		resp, err := client.Get(s.URL + "/api/v4/system/ping")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				s.Version = resp.Header.Get(model.HeaderVersionId)
				return nil
			}
		}
		select {
		case <-s.exited:
			return fmt.Errorf("mattermost exited during start-up: %v", cmd.ProcessState)
		case <-ctx.Done():
			return fmt.Errorf("mattermost not healthy at %s: %w", s.URL, ctx.Err())
		case <-time.After(250 * time.Millisecond):
		}
	}
}

// serverEnv drops MM_* variables: they would override the generated config (and lock the
// overridden settings against changes through the API).
func serverEnv(env []string) []string {
	out := env[:0:0]
	for _, kv := range env {
		if !strings.HasPrefix(kv, "MM_") {
			out = append(out, kv)
		}
	}
	return out
}

// createAdmin creates the first user (the server makes it a system admin), a personal
// access token for it, and a team.
func (s *Server) createAdmin(ctx context.Context) error {
	password := randomPassword()
	anon := model.NewAPIv4Client(s.URL)
	u, _, err := anon.CreateUser(ctx, &model.User{Username: "admin", Email: "admin@mmtest.example.com", Password: password})
	if err != nil {
		return err
	}
	if !strings.Contains(u.Roles, model.SystemAdminRoleId) {
		return fmt.Errorf("the first user got roles %q, not %s", u.Roles, model.SystemAdminRoleId)
	}
	admin := &User{User: u, Password: password, Client: model.NewAPIv4Client(s.URL), server: s}
	if _, _, err := admin.Client.Login(ctx, u.Username, password); err != nil {
		return err
	}
	tok, _, err := admin.Client.CreateUserAccessToken(ctx, u.Id, "mmtest")
	if err != nil {
		return err
	}
	s.AdminToken = tok.Token
	s.AdminClient = model.NewAPIv4Client(s.URL)
	s.AdminClient.SetToken(s.AdminToken)
	s.Admin = admin
	s.Team, _, err = s.AdminClient.CreateTeam(ctx, &model.Team{Name: "mmtest", DisplayName: "mmtest", Type: model.TeamOpen})
	return err
}

// Stop shuts down the server (SIGTERM, then SIGKILL of its whole process group after 30s),
// PostgreSQL, and removes the run directory. Logs survive only in Options.LogDir. A peer (StartPeer) leaves the
// database and the file store it shares alone; stop peers before the server they share them with.
// It is safe to call more than once.
func (s *Server) Stop() error {
	s.stopOnce.Do(func() {
		var errs []error
		if s.cmd != nil && s.cmd.Process != nil {
			pid := s.cmd.Process.Pid
			_ = s.cmd.Process.Signal(syscall.SIGTERM)
			select {
			case <-s.exited:
			case <-time.After(30 * time.Second):
				errs = append(errs, errors.New("mattermost did not stop within 30s; killed"))
				_ = syscall.Kill(-pid, syscall.SIGKILL)
				<-s.exited
			}
			// Anything still in the group (a plugin process that outlived the server) goes too.
			_ = syscall.Kill(-pid, syscall.SIGKILL)
		}
		if s.logFile != nil {
			s.logFile.Close()
		}
		if s.pg != nil && s.peerOf == nil {
			if err := s.pg.stop(); err != nil {
				errs = append(errs, err)
			}
		}
		if s.RunDir != "" {
			if err := os.RemoveAll(s.RunDir); err != nil {
				errs = append(errs, err)
			}
		}
		s.stopErr = errors.Join(errs...)
	})
	return s.stopErr
}

// PID is the server process id (0 when not running).
func (s *Server) PID() int {
	if s.cmd == nil || s.cmd.Process == nil {
		return 0
	}
	return s.cmd.Process.Pid
}

// Done is closed when the server process has exited (after Stop, or on a crash).
func (s *Server) Done() <-chan struct{} { return s.exited }

// PGEnv returns PGHOST, PGPORT, PGUSER, PGDATABASE and PGSSLMODE for libpq and psql.
func (s *Server) PGEnv() []string { return s.pg.env() }

// LogPath is the server's log (console output, plain text, DEBUG level; plugin logs included).
func (s *Server) LogPath() string { return s.logPath }

// LogContains reports whether the server log contains substr.
func (s *Server) LogContains(substr string) bool {
	b, err := os.ReadFile(s.logPath)
	return err == nil && bytes.Contains(b, []byte(substr))
}

// WaitForLog waits until the server log contains substr.
func (s *Server) WaitForLog(ctx context.Context, substr string) error {
	for !s.LogContains(substr) {
		select {
		case <-ctx.Done():
			return fmt.Errorf("server log has no %q: %w", substr, ctx.Err())
		case <-time.After(100 * time.Millisecond):
		}
	}
	return nil
}

// LogTail returns the last n lines of the server log.
func (s *Server) LogTail(n int) string {
	if s.logPath == "" {
		return ""
	}
	return tail(s.logPath, n)
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// randomPassword satisfies any password policy of the pinned releases.
func randomPassword() string {
	b := make([]byte, 12)
	_, _ = rand.Read(b)
	return "Aa1!" + hex.EncodeToString(b)
}
