package main

// Supervision of the C++ core: private socket directory, the MattermostApi gRPC server, spawning the core, readiness,
// activation, restart with backoff, and a clean stop. See README.md for the contract.

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/backoff"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	"github.com/msteams-bridge/msteams/shim/gen/corepb"
)

const (
	// Hooks (shim → core): HTTP bodies travel in 64 KiB chunks and event batches are bounded by maxBatchBytes, so the
	// largest items are single posts (props up to Mattermost's 800,000 runes). The core's Hooks server accepts the same.
	maxHooksMessage = 16 << 20
	// MattermostApi (core → shim): files travel whole, up to maxFileData (Mattermost's default MaxFileSize is 100 MB).
	// The core's channel uses the same limit (rpc/limits.hpp).
	maxAPIMessage  = 128 << 20
	maxFileData    = maxAPIMessage - 1<<20 // room for the other fields of UploadFile and FileResponse
	maxLogLine     = 4096                  // bytes of one core stdout/stderr line forwarded to the server log
	stderrTailSize = 20                    // lines of core stderr kept for error messages
)

// supervisorOptions configures a supervisor. Zero durations take the defaults of withDefaults.
type supervisorOptions struct {
	Binary  string // the core executable
	WorkDir string // working directory of the core (the bundle directory); "" keeps the shim's
	Log     logger
	// Config returns the configuration to send with Activate and ConfigurationChange; called afresh every time.
	Config func() (*corepb.Configuration, error)
	// RegisterAPI registers the MattermostApi service on the shim's gRPC server.
	RegisterAPI func(*grpc.Server)

	ReadyTimeout      time.Duration // from spawn until Ping answers (10 s)
	ActivateTimeout   time.Duration // deadline of Hooks.Activate (60 s: the core may run migrations)
	DeactivateTimeout time.Duration // deadline of Hooks.Deactivate (5 s)
	ExitGrace         time.Duration // after closing stdin, before SIGTERM (3 s)
	TermGrace         time.Duration // after SIGTERM, before SIGKILL (2 s)
	BackoffInitial    time.Duration // first restart delay (100 ms)
	BackoffMax        time.Duration // cap of the doubling delay (30 s)
	HealthyAfter      time.Duration // a core that ran this long resets the backoff (60 s)
}

func (o *supervisorOptions) withDefaults() {
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&o.ReadyTimeout, 10*time.Second)
	def(&o.ActivateTimeout, 60*time.Second)
	def(&o.DeactivateTimeout, 5*time.Second)
	def(&o.ExitGrace, 3*time.Second)
	def(&o.TermGrace, 2*time.Second)
	def(&o.BackoffInitial, 100*time.Millisecond)
	def(&o.BackoffMax, 30*time.Second)
	def(&o.HealthyAfter, 60*time.Second)
}

// errActivationRefused carries the core's own HookResult.error, returned verbatim from OnActivate.
type errActivationRefused struct{ msg string }

func (e *errActivationRefused) Error() string { return e.msg }

var errStopped = errors.New("the MS Teams core is stopped")

// coreProcess is one running instance of the core.
type coreProcess struct {
	cmd     *exec.Cmd
	pid     int
	stdin   *os.File // write end; closing it tells the core to exit
	stdinMu sync.Mutex
	conn    *grpc.ClientConn
	client  corepb.HooksClient
	done    chan struct{} // closed when the process has exited and been reaped
	waitErr error         // valid after done
	readyAt time.Time
	tail    *lineTail
	outputs sync.WaitGroup // the stdout/stderr forwarders
}

func (p *coreProcess) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

func (p *coreProcess) closeStdin() {
	p.stdinMu.Lock()
	defer p.stdinMu.Unlock()
	if p.stdin != nil {
		_ = p.stdin.Close()
		p.stdin = nil
	}
}

// waitOutputs waits briefly for the output forwarders (a grandchild could hold the pipes open forever).
func (p *coreProcess) waitOutputs() {
	done := make(chan struct{})
	go func() {
		p.outputs.Wait()
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(500 * time.Millisecond):
	}
}

// exitStatus describes how the process ended, e.g. "exit status 1" or "signal: killed".
func (p *coreProcess) exitStatus() string {
	if p.cmd.ProcessState != nil {
		return p.cmd.ProcessState.String()
	}
	if p.waitErr != nil {
		return p.waitErr.Error()
	}
	return "unknown"
}

// supervisor owns the socket directory, the API server and the core process across restarts.
type supervisor struct {
	opts      supervisorOptions
	dir       string
	hooksSock string
	apiSock   string
	api       *grpc.Server
	apiDone   chan struct{}

	mu       sync.Mutex
	cur      *coreProcess  // the current process, ready or not; nil between processes
	ready    bool          // cur answered Ping and accepted Activate (and every config change since)
	gen      uint64        // increments every time a process becomes ready
	readyCh  chan struct{} // closed when the current generation becomes ready; replaced when it goes down
	cfgGen   uint64        // increments on every OnConfigurationChange
	pushing  bool          // a ConfigurationChange is in flight to the ready core
	stopping bool
	stopCh   chan struct{}
	restarts int
	exits    int // unexpected exits of the core, each followed by a restart (the core's metrics count them)

	wg sync.WaitGroup
}

// newSupervisor creates the socket directory and serves MattermostApi on it; start then runs the core.
func newSupervisor(opts supervisorOptions) (*supervisor, error) {
	opts.withDefaults()
	if st, err := os.Stat(opts.Binary); err != nil {
		return nil, fmt.Errorf("the MS Teams core executable is missing: %w", err)
	} else if st.IsDir() || st.Mode()&0o111 == 0 {
		return nil, fmt.Errorf("the MS Teams core at %s is not an executable file", opts.Binary)
	}
	dir, err := os.MkdirTemp("", "msteams-")
	if err != nil {
		return nil, fmt.Errorf("cannot create the socket directory: %w", err)
	}
	s := &supervisor{
		opts:      opts,
		dir:       dir,
		hooksSock: filepath.Join(dir, "hooks.sock"),
		apiSock:   filepath.Join(dir, "api.sock"),
		readyCh:   make(chan struct{}),
		stopCh:    make(chan struct{}),
		apiDone:   make(chan struct{}),
	}
	if len(s.hooksSock) > 107 {
		_ = os.RemoveAll(dir)
		return nil, fmt.Errorf("socket path %q is longer than 107 bytes; set TMPDIR to a shorter directory", s.hooksSock)
	}
	lis, err := net.Listen("unix", s.apiSock)
	if err != nil {
		_ = os.RemoveAll(dir)
		return nil, fmt.Errorf("cannot listen on the API socket: %w", err)
	}
	s.api = grpc.NewServer(append(apiMessageLimits(), grpc.ChainUnaryInterceptor(recoverPanics(opts.Log)))...)
	if opts.RegisterAPI != nil {
		opts.RegisterAPI(s.api)
	}
	go func() {
		defer close(s.apiDone)
		if err := s.api.Serve(lis); err != nil {
			s.opts.Log.LogError("MattermostApi server stopped", "error", err.Error())
		}
	}()

	return s, nil
}

// start launches and activates the core, then supervises it. On error everything is torn down again (the
// supervisor cannot be started twice).
func (s *supervisor) start() error {
	p, err := s.launch()
	if err != nil {
		s.mu.Lock()
		s.stopping = true
		close(s.stopCh)
		s.mu.Unlock()
		s.shutdown(nil)
		return err
	}
	s.wg.Add(1)
	go s.run(p)
	return nil
}

// run watches the current process and restarts it with backoff until stop.
func (s *supervisor) run(p *coreProcess) {
	defer s.wg.Done()
	delay := s.opts.BackoffInitial
	for {
		select {
		case <-p.done:
		case <-s.stopCh:
			return
		}
		s.markDown(p)
		if s.isStopping() {
			return
		}
		s.mu.Lock()
		s.exits++
		s.mu.Unlock()
		if !p.readyAt.IsZero() && time.Since(p.readyAt) >= s.opts.HealthyAfter {
			delay = s.opts.BackoffInitial
		}
		s.opts.Log.LogError("MS Teams core exited; restarting it", "pid", p.pid, "status", p.exitStatus(),
			"delay", delay.String(), "last_stderr", p.tail.String())
		for {
			select {
			case <-time.After(delay):
			case <-s.stopCh:
				return
			}
			delay = min(delay*2, s.opts.BackoffMax)
			np, err := s.launch()
			if err == nil {
				s.mu.Lock()
				s.restarts++
				n := s.restarts
				s.mu.Unlock()
				s.opts.Log.LogInfo("MS Teams core restarted", "pid", np.pid, "restarts", n)
				p = np
				break
			}
			if errors.Is(err, errStopped) {
				return
			}
			s.opts.Log.LogError("MS Teams core restart failed", "error", err.Error(), "next_delay", delay.String())
		}
	}
}

// launch spawns a core, waits until it answers Ping, activates it with the current configuration and marks it
// ready. On failure the process is stopped again.
func (s *supervisor) launch() (*coreProcess, error) {
	p, err := s.spawn()
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	if s.stopping {
		s.mu.Unlock()
		s.terminate(p)
		return nil, errStopped
	}
	s.cur = p
	s.mu.Unlock()

	fail := func(err error) (*coreProcess, error) {
		s.terminate(p)
		s.mu.Lock()
		if s.cur == p {
			s.cur = nil
		}
		s.mu.Unlock()
		return nil, err
	}
	if err := s.waitPing(p); err != nil {
		return fail(err)
	}

	s.mu.Lock()
	cfgGen := s.cfgGen
	s.mu.Unlock()
	cfg, err := s.config()
	if err != nil {
		return fail(fmt.Errorf("cannot read the configuration: %w", err))
	}
	ctx, cancel := s.stopContext(s.opts.ActivateTimeout)
	res, err := p.client.Activate(ctx, cfg)
	cancel()
	if err != nil {
		return fail(s.processError(p, "activation failed", err))
	}
	if res.GetError() != "" {
		return fail(&errActivationRefused{msg: res.GetError()})
	}

	// A configuration change that arrived while we were activating must reach this process before it counts as
	// ready (OnConfigurationChange only pushes to ready processes).
	for {
		s.mu.Lock()
		if s.stopping {
			s.mu.Unlock()
			return fail(errStopped)
		}
		if s.cfgGen == cfgGen {
			s.ready = true
			s.gen++
			p.readyAt = time.Now()
			close(s.readyCh)
			s.mu.Unlock()
			return p, nil
		}
		cfgGen = s.cfgGen
		s.mu.Unlock()
		if err := s.pushConfig(p); err != nil {
			return fail(err)
		}
	}
}

// spawn starts the core process with its pipes and output forwarders, and dials its hooks socket.
func (s *supervisor) spawn() (*coreProcess, error) {
	_ = os.Remove(s.hooksSock) // a stale socket from the previous process
	stdinR, stdinW, err := os.Pipe()
	if err != nil {
		return nil, fmt.Errorf("cannot create the core's stdin pipe: %w", err)
	}
	outR, outW, err := os.Pipe()
	if err != nil {
		stdinR.Close()
		stdinW.Close()
		return nil, fmt.Errorf("cannot create the core's stdout pipe: %w", err)
	}
	errR, errW, err := os.Pipe()
	if err != nil {
		stdinR.Close()
		stdinW.Close()
		outR.Close()
		outW.Close()
		return nil, fmt.Errorf("cannot create the core's stderr pipe: %w", err)
	}
	cmd := exec.Command(s.opts.Binary, "serve", "--hooks-socket", s.hooksSock, "--api-socket", s.apiSock)
	cmd.Dir = s.opts.WorkDir
	cmd.Env = coreEnvironment()
	cmd.Stdin, cmd.Stdout, cmd.Stderr = stdinR, outW, errW
	err = cmd.Start()
	// The child holds its own copies now; ours would keep the pipes open after it exits.
	stdinR.Close()
	outW.Close()
	errW.Close()
	if err != nil {
		stdinW.Close()
		outR.Close()
		errR.Close()
		return nil, fmt.Errorf("cannot start the MS Teams core %s: %w", s.opts.Binary, err)
	}
	p := &coreProcess{cmd: cmd, pid: cmd.Process.Pid, stdin: stdinW, done: make(chan struct{}), tail: newLineTail(stderrTailSize)}
	p.outputs.Add(2)
	go s.forwardOutput(p, outR, false)
	go s.forwardOutput(p, errR, true)
	go func() {
		p.waitErr = cmd.Wait()
		close(p.done)
	}()

	conn, err := grpc.NewClient("unix://"+s.hooksSock,
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(maxHooksMessage), grpc.MaxCallSendMsgSize(maxHooksMessage)),
		// The socket appears a few milliseconds after spawn; the default 1 s reconnect backoff would dominate.
		grpc.WithConnectParams(grpc.ConnectParams{
			Backoff:           backoff.Config{BaseDelay: 20 * time.Millisecond, Multiplier: 1.6, Jitter: 0.2, MaxDelay: 500 * time.Millisecond},
			MinConnectTimeout: time.Second,
		}))
	if err != nil {
		s.terminate(p)
		return nil, fmt.Errorf("cannot create the gRPC client for the core: %w", err)
	}
	p.conn = conn
	p.client = corepb.NewHooksClient(conn)
	s.opts.Log.LogInfo("MS Teams core started", "pid", p.pid)
	return p, nil
}

// apiMessageLimits are the message size limits of the MattermostApi server.
func apiMessageLimits() []grpc.ServerOption {
	return []grpc.ServerOption{grpc.MaxRecvMsgSize(maxAPIMessage), grpc.MaxSendMsgSize(maxAPIMessage)}
}

// recoverPanics turns a panic in an API handler into an Internal status: a bad call must not take the shim (and with
// it the plugin) down.
func recoverPanics(log logger) grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (resp any, err error) {
		defer func() {
			if r := recover(); r != nil {
				log.LogError("MattermostApi handler panicked", "method", info.FullMethod, "panic", fmt.Sprint(r))
				resp, err = nil, status.Errorf(codes.Internal, "%s panicked in the shim", info.FullMethod)
			}
		}()
		return handler(ctx, req)
	}
}

// coreEnvironment is the shim's environment without go-plugin's variables, so the core cannot mistake itself for
// a plugin.
func coreEnvironment() []string {
	var env []string
	for _, kv := range os.Environ() {
		name, _, _ := strings.Cut(kv, "=")
		switch name {
		case "MATTERMOST_PLUGIN", "PLUGIN_MIN_PORT", "PLUGIN_MAX_PORT", "PLUGIN_PROTOCOL_VERSIONS":
			continue
		}
		env = append(env, kv)
	}
	return env
}

// forwardOutput copies the core's stdout or stderr to the server log line by line, each line bounded.
func (s *supervisor) forwardOutput(p *coreProcess, r *os.File, isStderr bool) {
	defer p.outputs.Done()
	defer r.Close()
	br := bufio.NewReaderSize(r, maxLogLine)
	for {
		line, err := readBoundedLine(br, maxLogLine)
		if line != "" {
			stream := "stdout"
			if isStderr {
				stream = "stderr"
				p.tail.add(line)
			}
			level, text := lineLevel(line, isStderr)
			kv := []any{"source", "core", "stream", stream, "pid", p.pid}
			switch level {
			case "debug":
				s.opts.Log.LogDebug(text, kv...)
			case "info":
				s.opts.Log.LogInfo(text, kv...)
			case "warn":
				s.opts.Log.LogWarn(text, kv...)
			default:
				s.opts.Log.LogError(text, kv...)
			}
		}
		if err != nil {
			return
		}
	}
}

// lineLevel takes the level from a go-plugin style prefix ("[DEBUG] ", "[INFO] ", "[WARN] ", "[ERROR] ", "[TRACE] ");
// without one, stdout is info and stderr is warn.
func lineLevel(line string, isStderr bool) (level, text string) {
	for prefix, lvl := range map[string]string{"[TRACE]": "debug", "[DEBUG]": "debug", "[INFO]": "info",
		"[WARN]": "warn", "[ERROR]": "error"} {
		if rest, ok := strings.CutPrefix(line, prefix); ok {
			return lvl, strings.TrimLeft(rest, " ")
		}
	}
	if isStderr {
		return "warn", line
	}
	return "info", line
}

// readBoundedLine reads one line of at most limit bytes (the rest of a longer line is discarded and marked).
func readBoundedLine(br *bufio.Reader, limit int) (string, error) {
	var b strings.Builder
	truncated := false
	for {
		chunk, err := br.ReadSlice('\n')
		if b.Len() < limit {
			take := min(len(chunk), limit-b.Len())
			b.Write(chunk[:take])
			truncated = truncated || take < len(chunk)
		} else if len(chunk) > 0 {
			truncated = true
		}
		if errors.Is(err, bufio.ErrBufferFull) {
			continue
		}
		line := validUTF8(strings.TrimRight(b.String(), "\r\n"))
		if truncated {
			line += " …(truncated)"
		}
		if err == io.EOF && line == "" {
			return "", err
		}
		return line, err
	}
}

// waitPing polls Hooks.Ping until it answers, the process exits, the deadline passes or the supervisor stops.
func (s *supervisor) waitPing(p *coreProcess) error {
	deadline := time.Now().Add(s.opts.ReadyTimeout)
	var lastErr error
	for {
		ctx, cancel := s.stopContext(min(time.Second, max(time.Until(deadline), time.Millisecond)))
		_, err := p.client.Ping(ctx, &corepb.PingRequest{})
		cancel()
		if err == nil {
			return nil
		}
		lastErr = err
		if s.isStopping() {
			return errStopped
		}
		if p.exited() {
			p.waitOutputs() // so the tail holds everything the core said
			return fmt.Errorf("the MS Teams core exited during startup (%s)%s", p.exitStatus(), p.tail.suffix())
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("the MS Teams core did not become ready within %s (last error: %s)%s",
				s.opts.ReadyTimeout, status.Convert(lastErr).Message(), p.tail.suffix())
		}
		select {
		case <-time.After(50 * time.Millisecond):
		case <-p.done:
		case <-s.stopCh:
		}
	}
}

// processError describes an RPC failure, preferring "the core exited" when that is what happened.
func (s *supervisor) processError(p *coreProcess, what string, err error) error {
	select {
	case <-p.done:
	case <-time.After(200 * time.Millisecond):
	}
	if p.exited() {
		p.waitOutputs()
		return fmt.Errorf("%s: the MS Teams core exited (%s)%s", what, p.exitStatus(), p.tail.suffix())
	}
	return fmt.Errorf("%s: %s", what, status.Convert(err).Message())
}

// stopContext is a context with a timeout that also ends when the supervisor stops.
func (s *supervisor) stopContext(d time.Duration) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	go func() {
		select {
		case <-s.stopCh:
			cancel()
		case <-ctx.Done():
		}
	}()
	return ctx, cancel
}

func (s *supervisor) isStopping() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.stopping
}

// markDown records that p is gone: delivery and HTTP see "not ready" from here on.
func (s *supervisor) markDown(p *coreProcess) {
	s.mu.Lock()
	if s.cur == p {
		s.cur = nil
		if s.ready {
			s.ready = false
			s.readyCh = make(chan struct{})
		}
	}
	s.mu.Unlock()
	if p.conn != nil {
		_ = p.conn.Close()
	}
	p.closeStdin()
}

// readyClient returns the client of a ready core without waiting.
func (s *supervisor) readyClient() (corepb.HooksClient, uint64, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.ready || s.cur == nil {
		return nil, 0, false
	}
	return s.cur.client, s.gen, true
}

// waitReady returns the client of a ready core, waiting while it (re)starts.
func (s *supervisor) waitReady(ctx context.Context) (corepb.HooksClient, uint64, error) {
	for {
		s.mu.Lock()
		if s.stopping {
			s.mu.Unlock()
			return nil, 0, errStopped
		}
		if s.ready && s.cur != nil {
			c, g := s.cur.client, s.gen
			s.mu.Unlock()
			return c, g, nil
		}
		ch := s.readyCh
		s.mu.Unlock()
		select {
		case <-ch:
		case <-s.stopCh:
			return nil, 0, errStopped
		case <-ctx.Done():
			return nil, 0, ctx.Err()
		}
	}
}

// configurationChanged forwards a configuration change to a ready core. While the core is (re)starting the change
// is only remembered: the activation in progress, or the next one, carries the fresh configuration.
//
// Pushes are coalesced instead of serialised on a lock: the core may itself cause a configuration change while it
// handles one (SavePluginConfig), and waiting for the push in flight would deadlock until the deadline. A change
// that arrives during a push is sent by the pusher right after it, so the core always ends with the latest.
func (s *supervisor) configurationChanged() error {
	s.mu.Lock()
	s.cfgGen++
	p, gen := s.cur, s.gen
	if !s.ready || p == nil || s.pushing {
		s.mu.Unlock()
		return nil
	}
	s.pushing = true
	s.mu.Unlock()

	var result error
	for first := true; ; first = false {
		s.mu.Lock()
		cfgGen := s.cfgGen
		s.mu.Unlock()
		err := s.pushConfig(p)
		if first {
			result = err
		} else if err != nil {
			s.opts.Log.LogError("MS Teams core refused a configuration change", "error", err.Error())
		}
		s.mu.Lock()
		if s.cfgGen == cfgGen || s.cur != p || !s.ready {
			s.pushing = false
			s.mu.Unlock()
			break
		}
		s.mu.Unlock()
	}
	if result == nil {
		return nil
	}
	var refused *errActivationRefused
	if errors.As(result, &refused) {
		return result
	}
	// A transport failure because the core died in the meantime is not the administrator's problem: the restart
	// activates with the fresh configuration.
	if _, g, ok := s.readyClient(); !ok || g != gen {
		return nil
	}
	return result
}

// config is the configuration to send the core, with how often the core exited and was started again.
func (s *supervisor) config() (*corepb.Configuration, error) {
	cfg, err := s.opts.Config()
	if err != nil {
		return nil, err
	}
	if cfg.GetServer() != nil {
		s.mu.Lock()
		cfg.Server.CoreRestarts = int64(s.exits)
		s.mu.Unlock()
	}
	return cfg, nil
}

// pushConfig sends the current configuration to p with ConfigurationChange.
func (s *supervisor) pushConfig(p *coreProcess) error {
	cfg, err := s.config()
	if err != nil {
		return fmt.Errorf("cannot read the configuration: %w", err)
	}
	ctx, cancel := s.stopContext(s.opts.ActivateTimeout)
	defer cancel()
	res, err := p.client.ConfigurationChange(ctx, cfg)
	if err != nil {
		return fmt.Errorf("the MS Teams core did not take the configuration: %s", status.Convert(err).Message())
	}
	if res.GetError() != "" {
		return &errActivationRefused{msg: res.GetError()}
	}
	return nil
}

// stop deactivates and stops the core, the API server and removes the socket directory. No process remains.
func (s *supervisor) stop() {
	s.mu.Lock()
	if s.stopping {
		s.mu.Unlock()
		return
	}
	// From here on nothing restarts, waits for readiness or activates: the run loop and a launch in progress end.
	s.stopping = true
	close(s.stopCh)
	wasReady := s.ready
	p := s.cur
	s.ready = false
	s.mu.Unlock()

	if p != nil && wasReady && !p.exited() {
		ctx, cancel := context.WithTimeout(context.Background(), s.opts.DeactivateTimeout)
		res, err := p.client.Deactivate(ctx, &corepb.DeactivateRequest{})
		cancel()
		if err != nil {
			s.opts.Log.LogWarn("MS Teams core did not answer Deactivate", "error", status.Convert(err).Message())
		} else if res.GetError() != "" {
			s.opts.Log.LogWarn("MS Teams core reported an error on Deactivate", "error", res.GetError())
		}
	}
	s.wg.Wait() // the run loop; a launch it had in progress has terminated its own process

	s.mu.Lock()
	p = s.cur
	s.mu.Unlock()
	s.shutdown(p)
}

// shutdown terminates p (if any), stops the API server and removes the socket directory.
func (s *supervisor) shutdown(p *coreProcess) {
	if p != nil {
		s.terminate(p)
	}
	stopped := make(chan struct{})
	go func() {
		s.api.GracefulStop()
		close(stopped)
	}()
	select {
	case <-stopped:
	case <-time.After(time.Second):
		s.api.Stop()
		<-stopped
	}
	<-s.apiDone
	_ = os.RemoveAll(s.dir)
}

// terminate ends a core process: close stdin (the core exits by itself), then SIGTERM, then SIGKILL. Safe to call
// more than once and concurrently.
func (s *supervisor) terminate(p *coreProcess) {
	p.closeStdin()
	if p.conn != nil {
		defer p.conn.Close()
	}
	select {
	case <-p.done:
		return
	case <-time.After(s.opts.ExitGrace):
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
		return
	case <-time.After(s.opts.TermGrace):
	}
	s.opts.Log.LogWarn("MS Teams core ignored stdin EOF and SIGTERM; killing it", "pid", p.pid)
	_ = p.cmd.Process.Kill()
	<-p.done
}

// lineTail keeps the last n lines written to it.
type lineTail struct {
	mu    sync.Mutex
	n     int
	lines []string
}

func newLineTail(n int) *lineTail { return &lineTail{n: n} }

func (t *lineTail) add(line string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.lines = append(t.lines, line)
	if len(t.lines) > t.n {
		t.lines = t.lines[len(t.lines)-t.n:]
	}
}

func (t *lineTail) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return strings.Join(t.lines, "\n")
}

// suffix renders the tail for an error message: "; last output of the core:\n..." or "".
func (t *lineTail) suffix() string {
	s := t.String()
	if s == "" {
		return ""
	}
	return "; last output of the core:\n" + s
}
