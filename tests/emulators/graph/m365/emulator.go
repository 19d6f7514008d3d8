// Package m365 is an in-process emulator of Microsoft Entra ID (v2 OAuth
// endpoints) and Microsoft Graph v1.0 (users, teams, chats, messages, files,
// subscriptions and change notifications), served over HTTPS with a test CA.
//
// Start one with Start; see README.md in the module root for the routes, the
// control API and the faithfulness notes.
package m365

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"
)

// Options configure an emulator. The zero value is usable.
type Options struct {
	// ListenHost is the loopback address the three listeners bind to
	// (default 127.0.0.1).
	ListenHost string
	// LoginPort, GraphPort, ControlPort: 0 picks a free port.
	LoginPort, GraphPort, ControlPort int
	// LoginHost is the host name in LoginURL and the only name in the login
	// certificate (default "localhost"). GraphHost is the host in GraphURL
	// and the only name in the Graph certificate (default ListenHost, an IP).
	// ControlHost likewise for the control API (default ListenHost).
	LoginHost, GraphHost, ControlHost string
	// StateDir receives ca.pem (and keeps the CA key so restarts keep the
	// same CA). Default: a new temporary directory removed by Close.
	StateDir string
	// Tenant seeds the directory; nil means DefaultTenant().
	Tenant *TenantFile

	// NotificationRootCAs are trusted, in addition to the system roots and
	// the emulator's own CA, when calling notification URLs.
	NotificationRootCAs []*x509.Certificate
	// InsecureNotificationTLS skips verification of notification endpoints.
	InsecureNotificationTLS bool
	// AllowHTTPNotifications accepts http:// notification URLs (Graph
	// requires https; this is for demos behind a plain-HTTP Mattermost).
	AllowHTTPNotifications bool

	Delivery  DeliveryOptions
	Lifetimes *Lifetimes
	// Throttle: nil means the documented limits, enabled.
	Throttle *ThrottleConfig

	// MaxRequestBytes bounds JSON request bodies (default 4 MiB);
	// MaxUploadBytes bounds file uploads and hosted contents (default 64 MiB).
	MaxRequestBytes int64
	MaxUploadBytes  int64

	// Cloud is the national cloud whose issuers and discovery names the
	// emulator uses: global (default), usgov (GCC High), usgovdod (DoD) or china.
	Cloud string

	// Logf receives diagnostic lines; nil discards them.
	Logf func(format string, args ...any)
}

// DeliveryOptions tune change-notification delivery. Zero values take the
// defaults in brackets, which follow Graph's documented behaviour.
type DeliveryOptions struct {
	Timeout           time.Duration // [3s] an endpoint slower than this has failed
	SlowThreshold     time.Duration // [2.9s] a publish slower than this counts as slow
	ValidationTimeout time.Duration // [10s] validation handshake limit
	MaxBatch          int           // [100] notifications per POST
	Concurrency       int           // [4] concurrent POSTs per endpoint
	RetryBase         time.Duration // [2s] first retry delay, doubled each time
	RetryMax          time.Duration // [5m] cap of the retry delay
	RetryFor          time.Duration // [4h] give up (drop) after this long
	QueueLimit        int           // [100000] queued notifications; beyond, dropped and counted
	LifecycleLead     time.Duration // [15m] reauthorizationRequired this long before expiry
	SweepInterval     time.Duration // [1s] expiry/lifecycle sweeper period
	// SlowEndpointRules enables Graph's slow-endpoint penalties (≥10% slow:
	// delay; ≥15%: drop + missed), computed after 100 notifications.
	SlowEndpointRules bool
	// FlaggedDelay is the delay for flagged endpoints [10m].
	FlaggedDelay time.Duration
}

func (d *DeliveryOptions) defaults() {
	def := func(p *time.Duration, v time.Duration) {
		if *p <= 0 {
			*p = v
		}
	}
	def(&d.Timeout, 3*time.Second)
	def(&d.SlowThreshold, 2900*time.Millisecond)
	def(&d.ValidationTimeout, 10*time.Second)
	def(&d.RetryBase, 2*time.Second)
	def(&d.RetryMax, 5*time.Minute)
	def(&d.RetryFor, 4*time.Hour)
	def(&d.LifecycleLead, 15*time.Minute)
	def(&d.SweepInterval, time.Second)
	def(&d.FlaggedDelay, 10*time.Minute)
	if d.MaxBatch <= 0 {
		d.MaxBatch = 100
	}
	if d.Concurrency <= 0 {
		d.Concurrency = 4
	}
	if d.QueueLimit <= 0 {
		d.QueueLimit = 100000
	}
}

// Emulator is a running Microsoft 365 emulator.
type Emulator struct {
	LoginURL   string // e.g. https://localhost:41001
	GraphURL   string // e.g. https://127.0.0.1:41002 (API under /v1.0)
	ControlURL string // e.g. https://127.0.0.1:41003
	CAFile     string // PEM of the test CA
	CAPEM      []byte

	TenantID string
	ClientID string
	// ClientSecret is the secret at start; the control API can change it
	// (Env and GET /tenant report the current one).
	ClientSecret string

	opts     Options
	logf     func(string, ...any)
	ca       *testCA
	tmpDir   string
	st       *store
	auth     *authState
	keys     *keyRing
	cloud    cloudInfo
	subs     *subManager
	dlv      *deliverer
	thr      *throttler
	faults   *faultState
	counters *counterSet

	servers []*http.Server
	ctx     context.Context
	cancel  context.CancelFunc
	wg      sync.WaitGroup
	closeMu sync.Once
}

// Start starts an emulator; it stops when ctx is done or Close is called.
func Start(ctx context.Context, opts Options) (*Emulator, error) {
	if opts.ListenHost == "" {
		opts.ListenHost = "127.0.0.1"
	}
	if ip := net.ParseIP(opts.ListenHost); ip == nil || !ip.IsLoopback() {
		return nil, fmt.Errorf("ListenHost %q must be a loopback IP address", opts.ListenHost)
	}
	if opts.LoginHost == "" {
		opts.LoginHost = "localhost"
	}
	if opts.GraphHost == "" {
		opts.GraphHost = opts.ListenHost
	}
	if opts.ControlHost == "" {
		opts.ControlHost = opts.ListenHost
	}
	if opts.MaxRequestBytes <= 0 {
		opts.MaxRequestBytes = 4 << 20
	}
	if opts.MaxUploadBytes <= 0 {
		opts.MaxUploadBytes = 64 << 20
	}
	opts.Delivery.defaults()
	cloud, err := cloudByName(opts.Cloud)
	if err != nil {
		return nil, err
	}
	e := &Emulator{opts: opts, logf: opts.Logf, cloud: cloud}
	if e.logf == nil {
		e.logf = func(string, ...any) {}
	}
	if opts.StateDir == "" {
		dir, err := os.MkdirTemp("", "m365-emulator-")
		if err != nil {
			return nil, err
		}
		e.tmpDir = dir
		opts.StateDir = dir
		e.opts.StateDir = dir
	} else if err := os.MkdirAll(opts.StateDir, 0o755); err != nil {
		return nil, err
	}
	tenant := opts.Tenant
	if tenant == nil {
		tenant = DefaultTenant()
	}
	st, err := newStore(tenant)
	if err != nil {
		return nil, e.cleanupErr(err)
	}
	e.st = st
	e.TenantID, e.ClientID, e.ClientSecret = st.tenantID, st.app.ClientID, st.app.ClientSecret

	ca, err := loadOrCreateCA(opts.StateDir)
	if err != nil {
		return nil, e.cleanupErr(err)
	}
	e.ca, e.CAPEM, e.CAFile = ca, ca.certPEM, filepath.Join(opts.StateDir, "ca.pem")
	if e.keys, err = newKeyRing(time.Now()); err != nil {
		return nil, e.cleanupErr(err)
	}
	lt := defaultLifetimes()
	if opts.Lifetimes != nil {
		lt = *opts.Lifetimes
	}
	e.auth = newAuthState(lt)
	e.counters = newCounterSet()
	e.faults = &faultState{}
	thrCfg := DefaultThrottleConfig()
	if opts.Throttle != nil {
		thrCfg = *opts.Throttle
	}
	e.thr = newThrottler(thrCfg)
	e.ctx, e.cancel = context.WithCancel(ctx)
	e.subs = newSubManager()
	e.dlv = newDeliverer(e)

	type listener struct {
		host, name string
		port       int
		handler    http.Handler
		url        *string
	}
	ls := []listener{
		{opts.LoginHost, "login", opts.LoginPort, e.loginHandler(), &e.LoginURL},
		{opts.GraphHost, "graph", opts.GraphPort, e.graphHandler(), &e.GraphURL},
		{opts.ControlHost, "control", opts.ControlPort, e.controlHandler(), &e.ControlURL},
	}
	for _, l := range ls {
		cert, err := ca.issue(l.host)
		if err != nil {
			e.Close()
			return nil, err
		}
		ln, err := net.Listen("tcp", net.JoinHostPort(opts.ListenHost, strconv.Itoa(l.port)))
		if err != nil {
			e.Close()
			return nil, fmt.Errorf("%s listener: %w", l.name, err)
		}
		port := ln.Addr().(*net.TCPAddr).Port
		*l.url = "https://" + net.JoinHostPort(l.host, strconv.Itoa(port))
		srv := &http.Server{
			Handler:           l.handler,
			TLSConfig:         &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12},
			ReadHeaderTimeout: 10 * time.Second,
			IdleTimeout:       2 * time.Minute,
			MaxHeaderBytes:    64 << 10,
			ErrorLog:          log.New(logWriter{e.logf, l.name}, "", 0),
		}
		e.servers = append(e.servers, srv)
		e.wg.Add(1)
		go func() {
			defer e.wg.Done()
			if err := srv.ServeTLS(ln, "", ""); err != nil && !errors.Is(err, http.ErrServerClosed) {
				e.logf("%s server: %v", l.name, err)
			}
		}()
	}
	e.wg.Add(1)
	go func() { defer e.wg.Done(); e.sweeper() }()
	go func() {
		<-e.ctx.Done()
		e.Close()
	}()
	return e, nil
}

type logWriter struct {
	logf func(string, ...any)
	name string
}

func (w logWriter) Write(p []byte) (int, error) {
	w.logf("%s: %s", w.name, string(p))
	return len(p), nil
}

func (e *Emulator) cleanupErr(err error) error {
	if e.tmpDir != "" {
		os.RemoveAll(e.tmpDir)
	}
	return err
}

// Close stops the servers and delivery and removes a temporary state dir.
func (e *Emulator) Close() error {
	e.closeMu.Do(func() {
		if e.cancel != nil {
			e.cancel()
		}
		// A short grace for in-flight requests, then close everything
		// (HTTP/2 clients can otherwise hold a graceful shutdown for seconds).
		ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
		defer cancel()
		var swg sync.WaitGroup
		for _, s := range e.servers {
			swg.Add(1)
			go func() {
				defer swg.Done()
				s.Shutdown(ctx)
				s.Close()
			}()
		}
		swg.Wait()
		if e.dlv != nil {
			e.dlv.close()
		}
		e.wg.Wait()
		if e.tmpDir != "" {
			os.RemoveAll(e.tmpDir)
		}
	})
	return nil
}

// CertPool returns a pool holding the emulator's CA.
func (e *Emulator) CertPool() *x509.CertPool {
	p := x509.NewCertPool()
	p.AddCert(e.ca.cert)
	return p
}

// HTTPClient returns a client that trusts the emulator's CA (and only it).
func (e *Emulator) HTTPClient() *http.Client {
	return &http.Client{
		Timeout: 30 * time.Second,
		Transport: &http.Transport{
			TLSClientConfig:     &tls.Config{RootCAs: e.CertPool(), MinVersion: tls.VersionTLS12},
			MaxIdleConnsPerHost: 64,
			ForceAttemptHTTP2:   true,
		},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// TLSConfigForServer issues a certificate for host from the emulator's CA,
// for tests that run their own HTTPS notification endpoint.
func (e *Emulator) TLSConfigForServer(host string) (*tls.Config, error) {
	cert, err := e.ca.issue(host)
	if err != nil {
		return nil, err
	}
	return &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}, nil
}

// Env returns the KEY=value lines the CLI prints.
func (e *Emulator) Env() []string {
	return []string{
		"M365_LOGIN_URL=" + e.LoginURL,
		"M365_GRAPH_URL=" + e.GraphURL,
		"M365_CONTROL_URL=" + e.ControlURL,
		"M365_CA_FILE=" + e.CAFile,
		"M365_TENANT_ID=" + e.TenantID,
		"M365_CLIENT_ID=" + e.ClientID,
		"M365_CLIENT_SECRET=" + e.currentSecret(),
	}
}

func (e *Emulator) currentSecret() string {
	e.st.mu.RLock()
	defer e.st.mu.RUnlock()
	return e.st.app.ClientSecret
}

// sweeper expires subscriptions, sends lifecycle notifications and prunes tokens.
func (e *Emulator) sweeper() {
	t := time.NewTicker(e.opts.Delivery.SweepInterval)
	defer t.Stop()
	for {
		select {
		case <-e.ctx.Done():
			return
		case now := <-t.C:
			e.sweepSubscriptions(now)
			e.auth.prune(now)
			e.keys.prune(now)
		}
	}
}
