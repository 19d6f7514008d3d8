package mmtest

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// postgres is one throwaway PostgreSQL cluster: its own data directory in a temp dir, a
// free loopback port, fsync off. The postmaster is a direct child of this process (no
// pg_ctl), so it dies with us (Pdeathsig) and Stop knows its pid.
type postgres struct {
	bin     string // directory holding initdb, postgres, pg_isready, createdb
	dir     string // temp dir: data/, the socket, postgresql.log
	port    int
	logPath string
	cmd     *exec.Cmd
	exited  chan struct{}
	cred    *syscall.Credential // non-nil when we are root and run as "postgres"
}

const pgDatabase = "mattermost"

func findPostgresBin() (string, error) {
	if dir := os.Getenv("MMTEST_PGBIN"); dir != "" {
		return dir, nil
	}
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	sort.Slice(dirs, func(i, j int) bool { return pgMajor(dirs[i]) < pgMajor(dirs[j]) })
	for i := len(dirs) - 1; i >= 0; i-- {
		if _, err := os.Stat(filepath.Join(dirs[i], "initdb")); err == nil {
			return dirs[i], nil
		}
	}
	if p, err := exec.LookPath("initdb"); err == nil {
		return filepath.Dir(p), nil
	}
	return "", errors.New("no PostgreSQL server binaries (initdb) in /usr/lib/postgresql/*/bin or on PATH; set MMTEST_PGBIN")
}

func pgMajor(binDir string) int {
	n, _ := strconv.Atoi(filepath.Base(filepath.Dir(binDir)))
	return n
}

// startPostgres creates and starts a cluster and a database named "mattermost".
// logDir, when not empty, receives postgresql.log instead of the temp dir.
func startPostgres(ctx context.Context, logDir string) (_ *postgres, err error) {
	bin, err := findPostgresBin()
	if err != nil {
		return nil, err
	}
	pg := &postgres{bin: bin}
	// initdb refuses to run as root: run the cluster as the "postgres" account.
	if os.Geteuid() == 0 {
		u, err := user.Lookup("postgres")
		if err != nil {
			return nil, fmt.Errorf("running as root needs a 'postgres' account for the cluster: %w", err)
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		pg.cred = &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}
	}
	pg.dir, err = os.MkdirTemp("", "mmtest-pg-")
	if err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			pg.stop()
		}
	}()
	if pg.cred != nil {
		if err := os.Chown(pg.dir, int(pg.cred.Uid), int(pg.cred.Gid)); err != nil {
			return nil, err
		}
	}
	pg.logPath = filepath.Join(pg.dir, "postgresql.log")
	if logDir != "" {
		pg.logPath = filepath.Join(logDir, "postgresql.log")
	}

	data := filepath.Join(pg.dir, "data")
	initdb := pg.command(ctx, "initdb", "-D", data, "-A", "trust", "-U", "postgres",
		"--no-sync", "-E", "UTF8", "--locale=C.UTF-8")
	if out, err := initdb.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("initdb: %v\n%s", err, out)
	}

	logFile, err := os.OpenFile(pg.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	defer logFile.Close()
	if pg.cred != nil {
		_ = os.Chown(pg.logPath, int(pg.cred.Uid), int(pg.cred.Gid))
	}

	// A free port can be taken by someone else before the postmaster binds it: retry a few times.
	const attempts = 3
	for attempt := 1; ; attempt++ {
		pg.port, err = freePort()
		if err != nil {
			return nil, err
		}
		err = pg.launch(ctx, data, logFile)
		if err == nil {
			break
		}
		if attempt == attempts || ctx.Err() != nil {
			return nil, fmt.Errorf("postgres did not start (log %s):\n%v\n%s", pg.logPath, err, tail(pg.logPath, 20))
		}
	}

	createdb := pg.command(ctx, "createdb", "-h", "127.0.0.1", "-p", strconv.Itoa(pg.port), "-U", "postgres", pgDatabase)
	if out, err := createdb.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("createdb: %v\n%s", err, out)
	}
	return pg, nil
}

// launch starts the postmaster and waits (bounded) until it accepts connections.
func (pg *postgres) launch(ctx context.Context, data string, logFile *os.File) error {
	cmd := exec.Command(filepath.Join(pg.bin, "postgres"), "-D", data,
		"-k", pg.dir, "-c", "listen_addresses=127.0.0.1", "-p", strconv.Itoa(pg.port),
		"-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off",
		"-c", "max_connections=300")
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL, Credential: pg.cred}
	if err := cmd.Start(); err != nil {
		return err
	}
	pg.cmd = cmd
	pg.exited = make(chan struct{})
	go func() { _ = cmd.Wait(); close(pg.exited) }()

	deadline := time.Now().Add(30 * time.Second)
	for {
		ready := pg.command(ctx, "pg_isready", "-q", "-h", "127.0.0.1", "-p", strconv.Itoa(pg.port), "-t", "1")
		if ready.Run() == nil {
			return nil
		}
		select {
		case <-pg.exited:
			pg.cmd = nil
			return errors.New("postmaster exited during start-up")
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return errors.New("postmaster not ready after 30s")
		}
	}
}

func (pg *postgres) command(ctx context.Context, name string, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, filepath.Join(pg.bin, name), args...)
	cmd.Dir = pg.dir
	if pg.cred != nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: pg.cred}
	}
	return cmd
}

// dataSource is the DSN the server uses; libpq understands it too. It has no '&', so a
// MM_PG_DSN=... line printed by serve can be sourced by a shell as it is.
func (pg *postgres) dataSource() string {
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/%s?sslmode=disable", pg.port, pgDatabase)
}

// stop shuts the cluster down (fast shutdown, then kill after a deadline) and removes it.
func (pg *postgres) stop() error {
	var errs []error
	if pg.cmd != nil && pg.cmd.Process != nil {
		_ = pg.cmd.Process.Signal(syscall.SIGINT) // "fast" shutdown
		select {
		case <-pg.exited:
		case <-time.After(20 * time.Second):
			errs = append(errs, errors.New("postgres did not stop within 20s; killed"))
			_ = syscall.Kill(-pg.cmd.Process.Pid, syscall.SIGKILL)
			<-pg.exited
		}
		// Backends are the postmaster's children in its process group; none should be left.
		_ = syscall.Kill(-pg.cmd.Process.Pid, syscall.SIGKILL)
		pg.cmd = nil
	}
	if pg.dir != "" {
		if err := os.RemoveAll(pg.dir); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// env is what libpq and psql read to reach the database.
func (pg *postgres) env() []string {
	return []string{
		"PGHOST=127.0.0.1",
		"PGPORT=" + strconv.Itoa(pg.port),
		"PGUSER=postgres",
		"PGDATABASE=" + pgDatabase,
		"PGSSLMODE=disable",
	}
}

func tail(path string, lines int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	all := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(all) > lines {
		all = all[len(all)-lines:]
	}
	return strings.Join(all, "\n")
}
