package e2e

import (
	"flag"
	"os"
	"path/filepath"
	"testing"
)

var bundleFlag = flag.String("bundle", "", "the plugin bundle to test (default: the newest dist/*.tar.gz)")

// bundlePath is the bundle under test: -bundle, else the one `make dist` wrote.
func bundlePath(t *testing.T) string {
	t.Helper()
	if *bundleFlag != "" {
		return *bundleFlag
	}
	matches, _ := filepath.Glob("../../dist/com.mattermost.msteams-*.tar.gz")
	if len(matches) == 0 {
		t.Fatal("no bundle: run `make dist` first or pass -bundle")
	}
	abs, err := filepath.Abs(matches[len(matches)-1])
	if err != nil {
		t.Fatal(err)
	}
	return abs
}

func TestMain(m *testing.M) {
	flag.Parse()
	os.Exit(m.Run())
}
