package mmtest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/mattermost/mattermost/server/public/model"
)

// StartPeer starts another Mattermost server beside s, the way a second node of a deployment runs: the same
// PostgreSQL database, the same file store (so it installs s's plugins from it at start-up) and a copy of s's
// configuration as it is now (plugin settings and states included), on its own port with its own plugin
// directories and log. Mattermost's own clustering is not enabled (it needs an Enterprise license): the servers
// share only what the database and the file store hold. env is added to the peer's environment instead of
// Options.Env (e.g. its own MM_METRICSSETTINGS_LISTENADDRESS). The peer waits until s's plugin runs on it. Stop the
// peer before s.
func (s *Server) StartPeer(ctx context.Context, env []string) (_ *Server, err error) {
	ctx, cancel := context.WithTimeout(ctx, s.opts.StartTimeout)
	defer cancel()
	opts := s.opts
	opts.Env = env
	opts.SiteURL = s.SiteURL
	p := &Server{opts: opts, PluginID: s.PluginID, ServerDir: s.ServerDir, DataSource: s.DataSource, pg: s.pg,
		peerOf: s, Team: s.Team, AdminToken: s.AdminToken}
	defer func() {
		if err != nil {
			if t := p.LogTail(40); t != "" {
				err = fmt.Errorf("%w\n--- last lines of %s ---\n%s", err, p.logPath, t)
			}
			_ = p.Stop()
		}
	}()
	if p.RunDir, err = os.MkdirTemp("", "mmtest-mm-peer-"); err != nil {
		return nil, err
	}
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	logDir := opts.LogDir
	if logDir == "" {
		logDir = filepath.Join(p.RunDir, "logs")
	}
	if err := os.MkdirAll(logDir, 0o755); err != nil {
		return nil, err
	}
	p.logPath = filepath.Join(logDir, fmt.Sprintf("mattermost-%d.log", port))
	if err := writePeerConfig(filepath.Join(s.RunDir, "config.json"), p.RunDir, port); err != nil {
		return nil, err
	}
	if err := p.launchOn(ctx, port); err != nil {
		return nil, err
	}
	p.AdminClient = model.NewAPIv4Client(p.URL)
	p.AdminClient.SetToken(p.AdminToken)
	if s.Admin != nil {
		admin := *s.Admin
		admin.Client = model.NewAPIv4Client(p.URL)
		admin.Client.SetToken(s.Admin.Client.AuthToken)
		admin.server = p
		p.Admin = &admin
	}
	if p.PluginID != "" {
		if err := p.waitPluginRunning(ctx); err != nil {
			return nil, err
		}
	}
	opts.Logf("mmtest: peer Mattermost at %s, sharing the database and file store of %s", p.URL, s.URL)
	return p, nil
}

// writePeerConfig copies the configuration at from into runDir for a server listening on port, with its own plugin
// directories. Everything else (the database, the file store, the SiteURL, plugin settings) stays shared.
func writePeerConfig(from, runDir string, port int) error {
	data, err := os.ReadFile(from)
	if err != nil {
		return err
	}
	var cfg map[string]any
	if err := json.Unmarshal(data, &cfg); err != nil {
		return fmt.Errorf("reading %s: %w", from, err)
	}
	service, _ := cfg["ServiceSettings"].(map[string]any)
	plugins, _ := cfg["PluginSettings"].(map[string]any)
	if service == nil || plugins == nil {
		return fmt.Errorf("%s has no ServiceSettings or PluginSettings", from)
	}
	service["ListenAddress"] = fmt.Sprintf("127.0.0.1:%d", port)
	plugins["Directory"] = filepath.Join(runDir, "plugins")
	plugins["ClientDirectory"] = filepath.Join(runDir, "client-plugins")
	out, err := json.MarshalIndent(cfg, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(runDir, "config.json"), out, 0o600)
}

// waitPluginRunning waits until the server reports its plugin running (a peer installs it from the file store).
func (s *Server) waitPluginRunning(ctx context.Context) error {
	for {
		st, err := s.PluginStatus(ctx, s.PluginID)
		if err == nil {
			switch st.State {
			case model.PluginStateRunning:
				return nil
			case model.PluginStateFailedToStart, model.PluginStateFailedToStayRunning:
				return &ActivationError{PluginID: s.PluginID, State: st.State, Message: st.Error}
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("plugin %s not running on %s (%v): %w", s.PluginID, s.URL, err, ctx.Err())
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// Kill ends the server the way a power cut does: SIGKILL to its whole process group (the server and its plugin
// processes), no shutdown hooks. The database, the file store and the run directory stay; Stop still cleans up.
func (s *Server) Kill() error {
	if s.cmd == nil || s.cmd.Process == nil {
		return errors.New("the server is not running")
	}
	if err := syscall.Kill(-s.cmd.Process.Pid, syscall.SIGKILL); err != nil {
		return err
	}
	<-s.exited
	return nil
}

// Balancer is a load balancer in front of several servers (a stand-in for the proxy of a real deployment): each
// request goes to a server chosen at random among those still running; one refused at the connection is tried on
// another. Websocket upgrades are proxied too.
type Balancer struct {
	URL string

	srv      *http.Server
	mu       sync.Mutex
	backends []*Server
	served   map[string]map[string]int // server URL → path → requests
}

// StartBalancer listens on a free local port. Add servers before sending requests.
func StartBalancer() (*Balancer, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	b := &Balancer{URL: "http://" + l.Addr().String(), served: map[string]map[string]int{}}
	b.srv = &http.Server{Handler: http.HandlerFunc(b.serve), ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = b.srv.Serve(l) }()
	return b, nil
}

// Add puts a server behind the balancer.
func (b *Balancer) Add(s *Server) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.backends = append(b.backends, s)
}

// Served counts the requests each server answered whose path starts with prefix, by server URL.
func (b *Balancer) Served(prefix string) map[string]int {
	b.mu.Lock()
	defer b.mu.Unlock()
	out := map[string]int{}
	for server, paths := range b.served {
		for path, n := range paths {
			if strings.HasPrefix(path, prefix) {
				out[server] += n
			}
		}
	}
	return out
}

// Close stops listening and ends open connections.
func (b *Balancer) Close() error { return b.srv.Close() }

func (b *Balancer) live() []*Server {
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []*Server
	for _, s := range b.backends {
		if s.exited == nil {
			continue
		}
		select {
		case <-s.exited:
		default:
			out = append(out, s)
		}
	}
	rand.Shuffle(len(out), func(i, j int) { out[i], out[j] = out[j], out[i] })
	return out
}

func (b *Balancer) serve(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(io.LimitReader(r.Body, 128<<20))
	if err != nil {
		http.Error(w, "reading the request: "+err.Error(), http.StatusBadRequest)
		return
	}
	for _, s := range b.live() {
		target, err := url.Parse(s.URL)
		if err != nil {
			continue
		}
		var refused error
		proxy := &httputil.ReverseProxy{
			Rewrite: func(pr *httputil.ProxyRequest) {
				pr.SetURL(target)
				pr.SetXForwarded()
				pr.Out.Host = pr.In.Host // as a proxy of a deployment does: the server sees its SiteURL's host
			},
			ErrorHandler: func(w http.ResponseWriter, _ *http.Request, err error) {
				var op *net.OpError
				if errors.As(err, &op) && op.Op == "dial" {
					refused = err // nothing reached the server: another one may take the request
					return
				}
				http.Error(w, "the server did not answer: "+err.Error(), http.StatusBadGateway)
			},
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		r.ContentLength = int64(len(body))
		proxy.ServeHTTP(w, r)
		if refused == nil {
			b.mu.Lock()
			if b.served[s.URL] == nil {
				b.served[s.URL] = map[string]int{}
			}
			b.served[s.URL][r.URL.Path]++
			b.mu.Unlock()
			return
		}
	}
	http.Error(w, "no server is running behind the balancer", http.StatusBadGateway)
}
