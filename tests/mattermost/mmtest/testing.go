package mmtest

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"testing"
)

// StartT starts a server for a test and stops it in t.Cleanup. If the test failed, the end
// of the server log is printed and both logs are copied to a directory that is kept (its
// path is printed), unless Options.LogDir already keeps them.
func StartT(t testing.TB, opts Options) *Server {
	t.Helper()
	if opts.Logf == nil {
		opts.Logf = t.Logf
	}
	s, err := Start(context.Background(), opts)
	if err != nil {
		t.Fatalf("mmtest.Start: %v", err)
	}
	t.Cleanup(func() {
		if t.Failed() && s.logPath != "" {
			t.Logf("--- last 100 lines of the Mattermost log ---\n%s", s.LogTail(100))
			if opts.LogDir == "" {
				if dir, err := keepLogs(s); err == nil {
					t.Logf("Mattermost and PostgreSQL logs kept in %s", dir)
				}
			}
		}
		if err := s.Stop(); err != nil {
			t.Errorf("stopping Mattermost: %v", err)
		}
	})
	return s
}

func keepLogs(s *Server) (string, error) {
	dir, err := os.MkdirTemp("", "mmtest-failed-logs-")
	if err != nil {
		return "", err
	}
	for _, src := range []string{s.logPath, s.pg.logPath} {
		if err := copyFile(src, filepath.Join(dir, filepath.Base(src))); err != nil {
			return dir, err
		}
	}
	return dir, nil
}

func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.Create(dst)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}
