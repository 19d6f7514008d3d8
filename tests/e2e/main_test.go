package e2e

import (
	"flag"
	"os"
	"path/filepath"
	"testing"
)

var bundleFlag = flag.String("bundle", "", "the plugin bundle to test (default: the newest dist/*.tar.gz)")

// -compat is the run on the oldest Mattermost the plugin supports (min_server_version): every feature against that
// server's plugin API, but not the load and failover experiments. Those measure the core, its database and the
// emulator (pacing, 429s, kill -9, a second node, the subscription planner), which do not change with the Mattermost
// release; they run once, on the newest.
var compatFlag = flag.Bool("compat", false, "compatibility run: skip the load and failover experiments")

// loadExperiment skips t on the compatibility run.
func loadExperiment(t *testing.T) {
	t.Helper()
	if *compatFlag {
		t.Skip("a load or failover experiment: run on the newest Mattermost only (-compat)")
	}
}

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
