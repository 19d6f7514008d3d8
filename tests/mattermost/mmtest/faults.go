package mmtest

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"time"
)

// StopDatabase shuts PostgreSQL down the way `pg_ctl stop -m fast` does (SIGINT to the postmaster: clients are
// disconnected, the data kept) and waits until it has exited. The server keeps running without its database.
func (s *Server) StopDatabase() error {
	pg := s.pg
	if pg == nil || pg.cmd == nil || pg.cmd.Process == nil {
		return errors.New("PostgreSQL is not running")
	}
	_ = pg.cmd.Process.Signal(syscall.SIGINT)
	select {
	case <-pg.exited:
	case <-time.After(30 * time.Second):
		_ = syscall.Kill(-pg.cmd.Process.Pid, syscall.SIGKILL)
		<-pg.exited
		pg.cmd = nil
		return errors.New("postgres did not stop within 30s; killed")
	}
	_ = syscall.Kill(-pg.cmd.Process.Pid, syscall.SIGKILL) // no backend left behind
	pg.cmd = nil
	return nil
}

// StartDatabase starts PostgreSQL again on the same data directory and port (as `pg_ctl start`) and waits until it
// accepts connections.
func (s *Server) StartDatabase(ctx context.Context) error {
	pg := s.pg
	if pg == nil {
		return errors.New("no PostgreSQL cluster")
	}
	if pg.cmd != nil {
		return errors.New("PostgreSQL is already running")
	}
	logFile, err := os.OpenFile(pg.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	defer logFile.Close()
	if err := pg.launch(ctx, filepath.Join(pg.dir, "data"), logFile); err != nil {
		return fmt.Errorf("restarting postgres (log %s): %w\n%s", pg.logPath, err, tail(pg.logPath, 20))
	}
	return nil
}

// Restart stops the Mattermost server (SIGTERM; SIGKILL of its process group after 30s, plugin processes included)
// and starts it again on the same port, configuration and database, then waits until it answers its ping. Plugins
// enabled in the configuration start with it; PluginStatus tells when.
func (s *Server) Restart(ctx context.Context) error {
	if s.cmd == nil || s.cmd.Process == nil {
		return errors.New("the server is not running")
	}
	pid := s.cmd.Process.Pid
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.exited:
	case <-time.After(30 * time.Second):
		_ = syscall.Kill(-pid, syscall.SIGKILL)
		<-s.exited
	}
	_ = syscall.Kill(-pid, syscall.SIGKILL)
	if s.logFile != nil {
		s.logFile.Close()
		s.logFile = nil
	}
	return s.launchOn(ctx, s.port)
}
