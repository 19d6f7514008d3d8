// Command m365-emulator runs the Microsoft 365 emulator until SIGTERM.
//
//	m365-emulator --listen 127.0.0.1:0 --state-dir DIR [--tenant FILE]
//
// It prints KEY=value lines (M365_LOGIN_URL, M365_GRAPH_URL,
// M365_CONTROL_URL, M365_CA_FILE, M365_TENANT_ID, M365_CLIENT_ID,
// M365_CLIENT_SECRET) on stdout, and writes them to DIR/env too.
package main

import (
	"context"
	"crypto/x509"
	"encoding/pem"
	"flag"
	"fmt"
	"log"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

	"github.com/msteams-bridge/msteams/tests/emulators/graph/m365"
)

type multi []string

func (m *multi) String() string     { return strings.Join(*m, ",") }
func (m *multi) Set(v string) error { *m = append(*m, v); return nil }

func main() {
	listen := flag.String("listen", "127.0.0.1:0", "loopback host:port; port P serves login on P, Graph on P+1, control on P+2 (0: free ports)")
	stateDir := flag.String("state-dir", "", "directory for ca.pem, ca-key.pem and env (required)")
	tenant := flag.String("tenant", "", "tenant JSON file (default: the built-in tenant)")
	loginHost := flag.String("login-host", "localhost", "host name of the login URL (the login certificate names only it)")
	allowHTTP := flag.Bool("allow-http-notifications", false, "accept http:// notification URLs (Graph requires https)")
	insecure := flag.Bool("insecure-notifications", false, "do not verify notification endpoints' certificates")
	noThrottle := flag.Bool("no-throttle", false, "start with throttling switched off")
	verbose := flag.Bool("v", false, "log diagnostics to stderr")
	cloud := flag.String("cloud", "global", "national cloud of the issuers and discovery names: global, usgov, usgovdod or china")
	var trust multi
	flag.Var(&trust, "trust-ca", "PEM file of a CA trusted for notification endpoints (repeatable)")
	flag.Parse()
	if *stateDir == "" {
		fmt.Fprintln(os.Stderr, "m365-emulator: --state-dir is required")
		os.Exit(2)
	}
	host, portStr, err := net.SplitHostPort(*listen)
	if err != nil {
		log.Fatalf("m365-emulator: --listen: %v", err)
	}
	port, err := strconv.Atoi(portStr)
	if err != nil || port < 0 || port > 65533 {
		log.Fatalf("m365-emulator: bad port %q", portStr)
	}
	opts := m365.Options{ListenHost: host, LoginHost: *loginHost, StateDir: *stateDir,
		AllowHTTPNotifications: *allowHTTP, InsecureNotificationTLS: *insecure, Cloud: *cloud}
	if port != 0 {
		opts.LoginPort, opts.GraphPort, opts.ControlPort = port, port+1, port+2
	}
	if *tenant != "" {
		t, err := m365.LoadTenantFile(*tenant)
		if err != nil {
			log.Fatalf("m365-emulator: %v", err)
		}
		opts.Tenant = t
	}
	for _, f := range trust {
		data, err := os.ReadFile(f)
		if err != nil {
			log.Fatalf("m365-emulator: --trust-ca: %v", err)
		}
		for len(data) > 0 {
			var b *pem.Block
			b, data = pem.Decode(data)
			if b == nil {
				break
			}
			if c, err := x509.ParseCertificate(b.Bytes); err == nil {
				opts.NotificationRootCAs = append(opts.NotificationRootCAs, c)
			}
		}
	}
	if *noThrottle {
		cfg := m365.DefaultThrottleConfig()
		cfg.Enabled = false
		opts.Throttle = &cfg
	}
	if *verbose {
		l := log.New(os.Stderr, "m365: ", log.LstdFlags|log.Lmicroseconds)
		opts.Logf = l.Printf
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	emu, err := m365.Start(ctx, opts)
	if err != nil {
		log.Fatalf("m365-emulator: %v", err)
	}
	env := strings.Join(emu.Env(), "\n") + "\n"
	if err := os.WriteFile(filepath.Join(*stateDir, "env"), []byte(env), 0o600); err != nil {
		log.Fatalf("m365-emulator: %v", err)
	}
	fmt.Print(env)
	os.Stdout.Sync()
	<-ctx.Done()
	emu.Close()
}
