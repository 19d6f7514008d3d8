package main

import (
	"bufio"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// buildShim builds this package's binary once for the handshake tests.
func buildShim(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "plugin-linux-amd64")
	cmd := exec.Command("go", "build", "-o", bin, ".")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// environWithout drops the variables go-plugin reads, so each case sets exactly what it tests.
func environWithout() []string {
	var env []string
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, "MATTERMOST_PLUGIN=") || strings.HasPrefix(kv, "PLUGIN_") {
			continue
		}
		env = append(env, kv)
	}
	return env
}

func TestBinaryHandshake(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the shim binary")
	}
	bin := buildShim(t)

	t.Run("with Mattermost's magic cookie the first stdout line is the netrpc handshake", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		cmd := exec.CommandContext(ctx, bin)
		cmd.Env = append(environWithout(), "MATTERMOST_PLUGIN=Securely message teams, anywhere.",
			"PLUGIN_MIN_PORT=10000", "PLUGIN_MAX_PORT=25000", "PLUGIN_PROTOCOL_VERSIONS=1")
		stdout, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
		line, err := bufio.NewReader(stdout).ReadString('\n')
		if err != nil {
			t.Fatalf("reading the first line: %v", err)
		}
		if !regexp.MustCompile(`^1\|1\|unix\|/[^|]+\|netrpc\|\n$`).MatchString(line) {
			t.Fatalf("first stdout line %q, want 1|1|unix|<socket>|netrpc|", line)
		}
	})

	t.Run("without it the binary says it is a plugin and exits non-zero", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		cmd := exec.CommandContext(ctx, bin)
		cmd.Env = environWithout()
		out, err := cmd.CombinedOutput()
		exit, ok := err.(*exec.ExitError)
		if !ok || exit.ExitCode() == 0 {
			t.Fatalf("exit %v, want a non-zero exit", err)
		}
		if !strings.Contains(string(out), "This binary is a plugin") {
			t.Fatalf("output %q does not say it is a plugin", out)
		}
	})
}
